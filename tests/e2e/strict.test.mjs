// Strict mode (--strict, docs/API.md §Strict mode): the management token alone no longer grants access; the
// routes that issue tokens or widen access also need X-Vault-Session, which the vault hands, sealed to a key the
// unlocking client chose, only to that client. So whoever merely holds AUTH_TOKEN (a management server, a
// supervisor) cannot mint itself a token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Vaultd, assertJson, newPassword, readAllFiles, request, uuid } from './lib/vaultd.mjs';
import { spawnZk } from './lib/cli.mjs';
import sodiumModule from '../interop/node_modules/libsodium-wrappers-sumo/dist/modules-sumo/libsodium-wrappers.js';

await sodiumModule.ready;
const na = sodiumModule;
const b64 = (u) => na.to_base64(u, na.base64_variants.ORIGINAL);
const unb64 = (t) => na.from_base64(t, na.base64_variants.ORIGINAL);

const issueBody = () => ({ userId: uuid(), allowedSecrets: ['*'], permissions: ['read'], ttlSeconds: 600 });

async function strictVault(t, args = []) {
  const v = await Vaultd.start({ args: ['--strict', ...args] });
  t.after(() => v.close());
  const password = newPassword();
  await v.init(password);
  return { v, password };
}

/** Unlocks with a fresh client key pair; returns the session opened with it. */
async function unlockWithSession(v, password) {
  const kp = na.crypto_box_keypair();
  const r = await v.unlockRaw(password, { sessionPublicKey: b64(kp.publicKey) });
  assertJson(r, 200);
  assert.equal(typeof r.json.session, 'string', 'strict unlock with a key returns a session');
  const session = na.crypto_box_seal_open(unb64(r.json.session), kp.publicKey, kp.privateKey);
  assert.equal(session.length, 32);
  return { session, sealed: r.json.session };
}

const issue = (v, session) =>
  v.mgmt('POST', '/tokens', issueBody(), session ? { 'X-Vault-Session': b64(session) } : {});

test('strict: the management token alone cannot issue tokens or widen access', async (t) => {
  const { v, password } = await strictVault(t);
  const plain = await v.unlockRaw(password);
  assertJson(plain, 200);
  assert.equal(plain.json.session, undefined, 'no session without a client key');

  let r = await issue(v);
  assertJson(r, 403);
  assert.equal(r.json.code, 'SESSION_REQUIRED');
  for (const [method, path, body] of [
    ['POST', '/tokens/introspect', { token: 'x' }],
    ['POST', '/password', { currentPassword: password, newPassword: newPassword() }],
    ['POST', '/rekey', { password }],
    ['POST', '/recovery/hardware', {}],
    ['POST', '/threshold/setup', { k: 2, admins: [] }],
    ['PUT', `/policy/ceilings/${uuid()}`, { allowedSecrets: ['*'], permissions: ['read'] }],
    ['DELETE', `/policy/ceilings/${uuid()}`, undefined],
  ]) {
    r = await v.mgmt(method, path, body);
    assertJson(r, 403);
    assert.equal(r.json.code, 'SESSION_REQUIRED', `${method} ${path}`);
  }
  // Lifecycle routes stay with the management token.
  assertJson(await v.mgmt('GET', '/status'), 200);
  assertJson(await v.mgmt('POST', '/extend'), 200);
  // The password still works: nothing was changed by the refused calls.
  await v.lock();
  await v.unlock(password);
});

test('strict: the unlocking client gets the session sealed to its key, and it opens the guarded routes', async (t) => {
  const { v, password } = await strictVault(t);
  const { session } = await unlockWithSession(v, password);

  let r = await issue(v, session);
  assertJson(r, 200);
  assert.ok(r.json.token);
  r = await v.mgmt('POST', '/tokens/introspect', { token: r.json.token }, { 'X-Vault-Session': b64(session) });
  assertJson(r, 200);
  assert.equal(r.json.active, true);

  // A wrong session, a malformed one, and none at all.
  for (const value of [b64(na.randombytes_buf(32)), 'not base64!', b64(session.subarray(0, 31))]) {
    r = await v.mgmt('POST', '/tokens', issueBody(), { 'X-Vault-Session': value });
    assertJson(r, 403);
    assert.equal(r.json.code, 'SESSION_REQUIRED');
  }

  // A lock ends the session; the next unlock makes a new one and the old one stops working.
  await v.lock();
  r = await issue(v, session);
  assertJson(r, 403);
  const next = await unlockWithSession(v, password);
  assert.notDeepEqual(Buffer.from(next.session), Buffer.from(session));
  assertJson(await issue(v, session), 403);
  assertJson(await issue(v, next.session), 200);
  // An unlock without a key ends it too.
  await v.lock();
  await v.unlock(password);
  assertJson(await issue(v, next.session), 403);
});

test('strict: a malformed sessionPublicKey is a 400 before any key derivation', async (t) => {
  const { v, password } = await strictVault(t);
  for (const bad of ['abc', b64(na.randombytes_buf(31)), 42]) {
    const r = await v.unlockRaw(password, { sessionPublicKey: bad });
    assertJson(r, 400);
    assert.match(r.json.details, /sessionPublicKey/);
  }
  assert.equal((await v.mgmt('GET', '/status')).json.unlocked, false);
});

test('strict: a sealed unlock takes the session key from inside the box, not from beside it', async (t) => {
  const { v, password } = await strictVault(t);
  const wk = (await v.req('GET', '/.well-known/zkvault')).json;
  const kek = na.crypto_pwhash(32, password, unb64(wk.kdf.salt), wk.kdf.opslimit, wk.kdf.memlimit,
    na.crypto_pwhash_ALG_ARGON2ID13);
  const ch = (await v.mgmt('GET', '/unlock/challenge')).json.challenge;
  const client = na.crypto_box_keypair(), proxy = na.crypto_box_keypair();
  const inner = JSON.stringify({ purpose: 'unlock', vaultId: wk.vaultId, challenge: ch, kek: b64(kek),
    sessionPublicKey: b64(client.publicKey) });
  const sealed = b64(na.crypto_box_seal(na.from_string(inner), unb64(wk.transportPublicKey)));
  // A forwarder adds its own key beside the box: it must not get the session.
  const r = await v.mgmt('POST', '/unlock', { sealed, sessionPublicKey: b64(proxy.publicKey) });
  assertJson(r, 200);
  assert.throws(() => na.crypto_box_seal_open(unb64(r.json.session), proxy.publicKey, proxy.privateKey));
  const session = na.crypto_box_seal_open(unb64(r.json.session), client.publicKey, client.privateKey);
  assertJson(await issue(v, session), 200);
});

test('strict: recovery and hardware-key unlocks seal the session to the key in their own body', async (t) => {
  const { v, password } = await strictVault(t);
  const { session } = await unlockWithSession(v, password);
  const guard = { 'X-Vault-Session': b64(session) };
  const { phrase } = assertJson(await v.mgmt('POST', '/recovery/phrase', undefined, guard), 200);
  const { hardwareKey } = assertJson(await v.mgmt('POST', '/recovery/hardware', undefined, guard), 200);
  const opened = (r, kp) => {
    assertJson(r, 200);
    assert.equal(typeof r.json.session, 'string', 'a session for the client that sent a key');
    return na.crypto_box_seal_open(unb64(r.json.session), kp.publicKey, kp.privateKey);
  };
  for (const [what, body] of [['recovery phrase', { phrase, newPassword: newPassword() }],
    ['hardware key, recovering', { hardwareKey, newPassword: newPassword() }]]) {
    await v.lock();
    const kp = na.crypto_box_keypair();
    const s = opened(await v.mgmt('POST', '/recover', { ...body, sessionPublicKey: b64(kp.publicKey) }), kp);
    assert.equal((await issue(v, s)).status, 200, what);
  }
  await v.lock();
  const kp = na.crypto_box_keypair();
  const s = opened(await v.mgmt('POST', '/unlock', { hardwareKey, sessionPublicKey: b64(kp.publicKey) }), kp);
  assertJson(await issue(v, s), 200);
  // Without a key there is no session to hand out, and the old one died with the lock.
  await v.lock();
  const r = await v.mgmt('POST', '/unlock', { hardwareKey });
  assertJson(r, 200);
  assert.equal(r.json.session, undefined);
  assertJson(await issue(v, s), 403);
});

test('strict: the session is never written to disk', async (t) => {
  const { v, password } = await strictVault(t);
  const { session } = await unlockWithSession(v, password);
  assertJson(await issue(v, session), 200);
  await v.stop();
  const needles = [Buffer.from(session), Buffer.from(b64(session)), Buffer.from(Buffer.from(session).toString('hex'))];
  for (const f of await readAllFiles(v.dir))
    for (const n of needles) assert.ok(!f.data.includes(n), `session found in ${f.path}`);
});

test('standalone (default): the management token issues tokens as before, and no session is handed out', async (t) => {
  const v = await Vaultd.start();
  t.after(() => v.close());
  const password = newPassword();
  await v.init(password);
  const kp = na.crypto_box_keypair();
  const r = await v.unlockRaw(password, { sessionPublicKey: b64(kp.publicKey) });
  assertJson(r, 200);
  assert.equal(r.json.session, undefined);
  assertJson(await issue(v), 200);
  assert.equal((await request(v.port, 'GET', '/health')).status, 200);
});

test('strict from the command line: unlock --session-file, then ZKVAULT_SESSION_FILE for token issue', async (t) => {
  const { v, password } = await strictVault(t);
  const env = (extra = {}) => ({ PATH: process.env.PATH, ZKVAULT_ADDR: `http://127.0.0.1:${v.port}`,
    ZKVAULT_AUTH_TOKEN: v.authToken, ...extra });
  const zk = (args, extra, input) => spawnZk(args, { env: env(extra), input }).done;
  const file = join(v.dir, 'session'), sealedFile = join(v.dir, 'session-sealed');

  let r = await zk(['unlock', '--password-stdin', '--session-file', file], {}, `${password}\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal(unb64((await readFile(file, 'utf8')).trim()).length, 32);

  const issueArgs = ['token', 'issue', '--user', uuid(), '--allow', 'api.*'];
  r = await zk(issueArgs);
  assert.equal(r.code, 5, 'denied without the session');
  assert.match(r.stderr, /X-Vault-Session/);
  r = await zk(issueArgs, { ZKVAULT_SESSION_FILE: file });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^v4\.public\./);

  // The sealed unlock puts the key in the box; the new session replaces the old one.
  r = await zk(['unlock', '--sealed', '--password-stdin', '--session-file', sealedFile], {}, `${password}\n`);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await zk(issueArgs, { ZKVAULT_SESSION_FILE: file })).code, 5);
  assert.equal((await zk(issueArgs, { ZKVAULT_SESSION_FILE: sealedFile })).code, 0);
});

test('unlock --session-file on a vault not in strict mode unlocks it and says there is no session', async (t) => {
  const v = await Vaultd.start();
  t.after(() => v.close());
  const password = newPassword();
  await v.init(password);
  const file = join(v.dir, 'session');
  const r = await spawnZk(['unlock', '--password-stdin', '--session-file', file], {
    env: { PATH: process.env.PATH, ZKVAULT_ADDR: `http://127.0.0.1:${v.port}`, ZKVAULT_AUTH_TOKEN: v.authToken },
    input: `${password}\n` }).done;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not in strict mode/);
  assert.equal((await v.mgmt('GET', '/status')).json.unlocked, true);
  await assert.rejects(stat(file));
});

test('strict threshold unlock: the approval that unlocks gets the session, sealed inside its approval box', async (t) => {
  const { v, password } = await strictVault(t);
  const env = (extra = {}) => ({ PATH: process.env.PATH, ZKVAULT_ADDR: `http://127.0.0.1:${v.port}`,
    ZKVAULT_AUTH_TOKEN: v.authToken, ...extra });
  const zk = (args, extra, input) => spawnZk(args, { env: env(extra), input }).done;
  const ok = (r, what) => {
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    return r;
  };
  const owner = join(v.dir, 'owner.session');
  ok(await zk(['unlock', '--password-stdin', '--session-file', owner], {}, `${password}\n`), 'unlock');
  const admins = [];
  for (const id of ['ana', 'ben']) {
    const file = join(v.dir, `${id}.key`);
    const out = ok(await zk(['keygen', '-o', file]), 'keygen').stdout;
    admins.push({ id, file, publicKey: out.match(/^public key: +(\S+)$/m)[1] });
  }
  const setup = ['threshold', 'setup', '-k', '2', ...admins.flatMap((a) => ['--admin', `${a.id}=${a.publicKey}`])];
  assert.equal((await zk(setup)).code, 5, 'setup needs the session');
  ok(await zk(setup, { ZKVAULT_SESSION_FILE: owner }), 'setup');

  ok(await zk(['lock']), 'lock');
  const req = ok(await zk(['threshold', 'request']), 'request').stdout.trim();
  const ana = join(v.dir, 'ana.session'), ben = join(v.dir, 'ben.session');
  let r = ok(await zk(['threshold', 'approve', req, '--admin', 'ana', '--key', admins[0].file, '--session-file', ana]),
    'approve ana');
  assert.match(r.stdout, /still locked/);
  await assert.rejects(stat(ana), 'no session from an approval that did not unlock');
  r = ok(await zk(['threshold', 'approve', req, '--admin', 'ben', '--key', admins[1].file, '--session-file', ben]),
    'approve ben');
  assert.match(r.stdout, /unlocked/);
  const issueArgs = ['token', 'issue', '--user', uuid()];
  assert.equal((await zk(issueArgs, { ZKVAULT_SESSION_FILE: owner })).code, 5, 'the old session ended at lock');
  ok(await zk(issueArgs, { ZKVAULT_SESSION_FILE: ben }), 'issue with the approver\'s session');
});
