// Sealed unlock (docs/API.md §Sealed unlock) through a forwarding proxy that logs every byte it forwards: the
// client derives the KEK itself with the vault's published Argon2id parameters and seals it, with a fresh
// challenge, to the vault's transport key. The proxy log must hold no password, KEK or VMK, and replaying the
// captured box must fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Vaultd, assertJson, newPassword, request, sqlite, uuid, waitFor } from './lib/vaultd.mjs';
import { spawnZk } from './lib/cli.mjs';
import sodiumModule from '../interop/node_modules/libsodium-wrappers-sumo/dist/modules-sumo/libsodium-wrappers.js';

await sodiumModule.ready;
const na = sodiumModule;
const b64 = (u) => na.to_base64(u, na.base64_variants.ORIGINAL);
const unb64 = (t) => na.from_base64(t, na.base64_variants.ORIGINAL);

/** A proxy that forwards to port and keeps every byte of both directions. */
async function loggingProxy(t, port) {
  const log = [];
  const server = http.createServer((req, res) => {
    log.push(Buffer.from(`${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n`));
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      log.push(Buffer.from(`${ur.statusCode}\n${JSON.stringify(ur.headers)}\n`));
      res.writeHead(ur.statusCode, ur.headers);
      ur.on('data', (c) => {
        log.push(Buffer.from(c));
        res.write(c);
      });
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.on('data', (c) => {
      log.push(Buffer.from(c));
      up.write(c);
    });
    req.on('end', () => up.end());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => server.close(r)));
  return { port: server.address().port, log, text: () => Buffer.concat(log) };
}

/** The client side: KDF with the published parameters (floor enforced here too), challenge, seal. */
async function sealedUnlockBox(port, authToken, password, { purpose = 'unlock', vaultId, kdfOverride } = {}) {
  const wk = (await request(port, 'GET', '/.well-known/zkvault')).json;
  const kdf = kdfOverride ?? wk.kdf;
  assert.equal(kdf.algorithm, 'argon2id13');
  if (!(kdf.opslimit >= 3 && kdf.memlimit >= 64 * 1024 * 1024)) throw new Error('KDF parameters below the floor');
  const kek = na.crypto_pwhash(32, password, unb64(kdf.salt), kdf.opslimit, kdf.memlimit, na.crypto_pwhash_ALG_ARGON2ID13);
  const ch = await request(port, 'GET', '/unlock/challenge', { headers: { 'X-Auth-Token': authToken } });
  assertJson(ch, 200);
  assert.equal(unb64(ch.json.challenge).length, 32);
  assert.equal(ch.json.vaultId, wk.vaultId);
  const inner = JSON.stringify({ purpose, vaultId: vaultId ?? wk.vaultId, challenge: ch.json.challenge, kek: b64(kek) });
  const sealed = b64(na.crypto_box_seal(na.from_string(inner), unb64(wk.transportPublicKey)));
  return { kek, sealed, challenge: ch.json.challenge };
}

const unlockSealed = (port, authToken, sealed, extra = {}) =>
  request(port, 'POST', '/unlock', { body: { sealed, ...extra }, headers: { 'X-Auth-Token': authToken } });

async function fresh(t, args = ['--kind', 'user']) {
  const v = await Vaultd.start({ args });
  t.after(() => v.close());
  const password = newPassword();
  await v.init(password);
  return { v, password };
}

test('sealed unlock through a logging proxy: no password, KEK or VMK in the log; a replayed box is refused', async (t) => {
  const { v, password } = await fresh(t);
  const proxy = await loggingProxy(t, v.port);
  const { kek, sealed } = await sealedUnlockBox(proxy.port, v.authToken, password);
  const r = await unlockSealed(proxy.port, v.authToken, sealed);
  assertJson(r, 200);
  assert.equal(r.json.success, true);
  assert.equal((await v.status()).unlocked, true);

  // The captured box again, through the proxy, on a locked vault: the challenge is gone.
  await v.lock();
  const replay = await unlockSealed(proxy.port, v.authToken, sealed);
  assertJson(replay, 401);
  assert.equal(replay.json.code, 'CHALLENGE_INVALID');
  assert.equal((await v.status()).unlocked, false);
  await v.unlock(password);
  assert.ok(await waitFor(async () => (await v.audit('?limit=20')).some((e) => e.action === 'vault.unlock_failed' && e.success === false)));

  // The VMK, from the password wrapper opened with the KEK the client derived.
  await v.stop();
  const hexBlob = (await sqlite(v.dbPath, 'SELECT hex(blob) FROM wrappers WHERE type=1')).trim();
  const blob = Buffer.from(hexBlob, 'hex');
  const aad = Buffer.concat([Buffer.from('zkv1wrap'), Buffer.from((await sqliteVaultId(v)), 'hex'), blob.subarray(0, 40)]);
  const vmk = na.crypto_aead_xchacha20poly1305_ietf_decrypt(null, blob.subarray(64), aad, blob.subarray(40, 64), kek);
  assert.equal(vmk.length, 32);

  const log = proxy.text();
  assert.ok(log.includes(Buffer.from('"sealed"')), 'the proxy saw the unlock');
  const forms = (name, bytes) => [
    [`${name} hex`, Buffer.from(bytes).toString('hex')],
    [`${name} HEX`, Buffer.from(bytes).toString('hex').toUpperCase()],
    [`${name} base64`, Buffer.from(bytes).toString('base64')],
    [`${name} base64url`, Buffer.from(bytes).toString('base64url')],
    [`${name} raw`, Buffer.from(bytes)],
  ];
  for (const [what, needle] of [['password', password], ...forms('KEK', kek), ...forms('VMK', vmk)])
    assert.ok(!log.includes(typeof needle === 'string' ? Buffer.from(needle) : needle), `${what} in the proxy log`);
});

async function sqliteVaultId(v) {
  return (await sqlite(v.dbPath, "SELECT hex(v) FROM meta WHERE k='vault_id'")).trim().toLowerCase();
}

test('sealed unlock: wrong vault, purpose, KEK and stale challenges fail and count as failed unlocks', async (t) => {
  const { v, password } = await fresh(t);
  const port = v.port;
  const other = await sealedUnlockBox(port, v.authToken, password, { vaultId: 'ab'.repeat(16) });
  let r = await unlockSealed(port, v.authToken, other.sealed);
  assertJson(r, 401);
  assert.equal(r.json.code, 'SEALED_MISMATCH');

  const wrongPurpose = await sealedUnlockBox(port, v.authToken, password, { purpose: 'threshold-approve' });
  r = await unlockSealed(port, v.authToken, wrongPurpose.sealed);
  assert.equal(r.json.code, 'SEALED_MISMATCH');
  // Its challenge went with it, although the box failed for another reason.
  const inner = JSON.stringify({ purpose: 'unlock', vaultId: (await v.status()).vaultId, challenge: wrongPurpose.challenge,
    kek: b64(wrongPurpose.kek) });
  const wk = (await v.req('GET', '/.well-known/zkvault')).json;
  r = await unlockSealed(port, v.authToken, b64(na.crypto_box_seal(na.from_string(inner), unb64(wk.transportPublicKey))));
  assert.equal(r.json.code, 'CHALLENGE_INVALID');

  const wrongPw = await sealedUnlockBox(port, v.authToken, 'not the password at all');
  r = await unlockSealed(port, v.authToken, wrongPw.sealed);
  assertJson(r, 401, { error: 'Invalid password' });
  // Four failures so far: the fifth is the last the limiter allows, then 429.
  const foreign = b64(na.crypto_box_seal(na.from_string('{}'), na.crypto_box_keypair().publicKey));
  r = await unlockSealed(port, v.authToken, foreign);
  assertJson(r, 401);
  assert.equal(r.json.code, 'SEALED_INVALID');
  r = await unlockSealed(port, v.authToken, foreign);
  assertJson(r, 429);
  assert.equal(r.json.code, 'RATE_LIMIT_EXCEEDED');
  assert.equal((await v.status()).unlocked, false);
});

test('sealed unlock: validation, the bounded challenge table, and the client-side KDF floor', async (t) => {
  const { v, password } = await fresh(t);
  assertJson(await v.req('GET', '/unlock/challenge'), 401);
  assertJson(await v.mgmt('POST', '/unlock', { sealed: 'not base64!' }), 400);
  assertJson(await v.mgmt('POST', '/unlock', { sealed: 42 }), 400);
  assertJson(await v.mgmt('POST', '/unlock', { sealed: b64(new Uint8Array(100)), password }), 400);
  assertJson(await v.mgmt('POST', '/unlock', { sealed: b64(new Uint8Array(100)), userId: 'nope' }), 400);

  // The oldest of 65 outstanding challenges is evicted.
  const first = await sealedUnlockBox(v.port, v.authToken, password);
  for (let i = 0; i < 64; i++) assertJson(await v.mgmt('GET', '/unlock/challenge'), 200);
  let r = await unlockSealed(v.port, v.authToken, first.sealed);
  assert.equal(r.json.code, 'CHALLENGE_INVALID');
  const next = await sealedUnlockBox(v.port, v.authToken, password);
  r = await unlockSealed(v.port, v.authToken, next.sealed, { userId: uuid() });
  assertJson(r, 200);
  assert.equal(r.json.success, true);

  // A vault (or a proxy rewriting /.well-known) that publishes weak parameters gets no KDF from this client.
  const wk = (await v.req('GET', '/.well-known/zkvault')).json;
  await assert.rejects(sealedUnlockBox(v.port, v.authToken, password, { kdfOverride: { ...wk.kdf, opslimit: 1 } }),
    /below the floor/);
  await assert.rejects(sealedUnlockBox(v.port, v.authToken, password, { kdfOverride: { ...wk.kdf, memlimit: 8192 } }),
    /below the floor/);
});

test('sealed unlock works on a group vault too', async (t) => {
  const { v, password } = await fresh(t, []);
  const { sealed } = await sealedUnlockBox(v.port, v.authToken, password);
  assertJson(await unlockSealed(v.port, v.authToken, sealed), 200);
});

test('zkvault unlock --sealed: through the logging proxy, with the transport key pinned', async (t) => {
  const { v, password } = await fresh(t);
  const proxy = await loggingProxy(t, v.port);
  const env = { PATH: process.env.PATH, ZKVAULT_ADDR: `http://127.0.0.1:${proxy.port}`, ZKVAULT_AUTH_TOKEN: v.authToken };
  let r = await spawnZk(['unlock', '--sealed', '--password-stdin'], { env, input: `${password}\n` }).done;
  assert.equal(r.code, 0, r.stderr);
  const fp = /fingerprint (\S+)/.exec(r.stderr)?.[1];
  assert.match(fp, /^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
  assert.equal((await v.status()).unlocked, true);
  await v.lock();
  r = await spawnZk(['unlock', '--sealed', '--transport-key', '0000-0000-0000-0000', '--password-stdin'],
    { env, input: `${password}\n` }).done;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /refusing/);
  r = await spawnZk(['unlock', '--sealed', '--transport-key', fp, '--password-stdin'], { env, input: 'wrong password here\n' }).done;
  assert.equal(r.code, 1, r.stderr);
  r = await spawnZk(['unlock', '--sealed', '--transport-key', fp, '--password-stdin', '--json'], { env, input: `${password}\n` }).done;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).success, true);
  const log = proxy.text();
  assert.ok(log.includes(Buffer.from('"sealed"')));
  assert.ok(!log.includes(Buffer.from(password)), 'password in the proxy log');
});

test('sealed password change: both KEKs derived by the client; the old password stops working', async (t) => {
  const { v, password } = await fresh(t);
  await v.unlock(password);
  const proxy = await loggingProxy(t, v.port);
  const next = newPassword();
  const wk = (await request(proxy.port, 'GET', '/.well-known/zkvault')).json;
  const cur = na.crypto_pwhash(32, password, unb64(wk.kdf.salt), wk.kdf.opslimit, wk.kdf.memlimit, na.crypto_pwhash_ALG_ARGON2ID13);
  const salt = na.randombytes_buf(16);
  const kdf = { opslimit: 3, memlimit: 64 * 1024 * 1024, salt: b64(salt) };
  const nk = na.crypto_pwhash(32, next, salt, kdf.opslimit, kdf.memlimit, na.crypto_pwhash_ALG_ARGON2ID13);
  const box = async (fields) => {
    const ch = (await request(proxy.port, 'GET', '/unlock/challenge', { headers: { 'X-Auth-Token': v.authToken } })).json.challenge;
    const inner = { purpose: 'password', vaultId: wk.vaultId, challenge: ch, currentKek: b64(cur), newKek: b64(nk), kdf, ...fields };
    return b64(na.crypto_box_seal(na.from_string(JSON.stringify(inner)), unb64(wk.transportPublicKey)));
  };
  const post = (sealed, extra = {}) =>
    request(proxy.port, 'POST', '/password', { body: { sealed, ...extra }, headers: { 'X-Auth-Token': v.authToken } });

  assertJson(await post(await box({ kdf: { ...kdf, opslimit: 1 } })), 400);
  assertJson(await post(await box({}), { currentPassword: 'not sent in the clear' }), 400);
  let r = await post(await box({ purpose: 'unlock' }));
  assert.equal(r.json.code, 'SEALED_MISMATCH');
  r = await post(await box({ currentKek: b64(new Uint8Array(32)) }));
  assertJson(r, 401, { error: 'Invalid password' });
  const good = await box({});
  assertJson(await post(good), 200, { success: true });
  r = await post(good);
  assert.equal(r.json.code, 'CHALLENGE_INVALID');

  assert.equal((await v.req('GET', '/.well-known/zkvault')).json.kdf.salt, b64(salt));
  await v.lock();
  assertJson(await v.unlockRaw(password), 401, { error: 'Invalid password' });
  await v.unlock(next);
  const log = proxy.text();
  for (const needle of [password, next, Buffer.from(cur).toString('base64'), Buffer.from(nk).toString('base64'),
    Buffer.from(cur).toString('hex'), Buffer.from(nk).toString('hex')])
    assert.ok(!log.includes(Buffer.from(needle)), 'a secret in the proxy log');
});
