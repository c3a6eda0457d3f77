// Capability tokens end to end (docs/FORMAT.md §Attenuation chains, docs/API.md): attenuation written here from
// FORMAT.md alone (node's own Ed25519), every widening and splicing attempt refused by a real vaultd, revocation of
// roots and blocks (also after a restart), capability ceilings, introspection and the signed revocation list.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.ZKVAULT_BIN || fileURLToPath(new URL('../../build/zkvault', import.meta.url));

// --- a vaultd of our own, restartable on the same data ---
async function startVaultd(dir, authToken, groupId) {
  const portFile = join(dir, `port-${Date.now()}`);
  const proc = spawn(BIN, ['vaultd', '--port', '0', '--port-file', portFile, '--data-dir', join(dir, 'data')], {
    env: { ...process.env, AUTH_TOKEN: authToken, GROUP_ID: groupId },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  for (let i = 0; i < 400 && !existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(existsSync(portFile), `vaultd did not start: ${err}`);
  const url = `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`;
  return { proc, url, stderr: () => err };
}

class Vault {
  static async start() {
    const v = new Vault();
    v.dir = mkdtempSync(join(tmpdir(), 'zkvault-tokens-'));
    v.authToken = randomBytes(24).toString('hex');
    v.groupId = 'tokens-e2e';
    Object.assign(v, await startVaultd(v.dir, v.authToken, v.groupId));
    return v;
  }
  async call(method, path, { body, token, agent, auth = true } = {}) {
    const headers = { 'content-type': 'application/json', connection: 'close' };
    if (auth) headers['x-auth-token'] = this.authToken;
    if (token) headers['x-capability-token'] = token;
    if (agent) headers['x-agent-id'] = agent;
    const res = await fetch(this.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, body: json };
  }
  get(token, name, agent) { return this.call('GET', `/secrets/${name}`, { token, agent, auth: false }); }
  async stop() {
    await new Promise((resolve) => { this.proc.once('exit', resolve); this.proc.kill('SIGTERM'); });
  }
  async restart() {
    await this.stop();
    Object.assign(this, await startVaultd(this.dir, this.authToken, this.groupId));
  }
  async close() {
    if (this.proc.exitCode === null) await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// --- the chain format, from docs/FORMAT.md ---
const PERMS = { read: 1, write: 2, delete: 4, use: 8, admin: 16 };
const b64u = (b) => Buffer.from(b).toString('base64url');
const privateKey = (seed) => createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8',
});
const publicRaw = (seed) => Buffer.from(createPublicKey(privateKey(seed)).export({ format: 'jwk' }).x, 'base64url');

function splitToken(token) {
  const parts = token.split('~');
  const root = parts[0];
  const body = Buffer.from(root.split('.')[2], 'base64url');
  return {
    root,
    rootSig: body.subarray(body.length - 64),
    claims: JSON.parse(body.subarray(0, body.length - 64).toString('utf8')),
    blocks: parts.slice(1, -1).map((p) => Buffer.from(p, 'base64url')),
    proof: Buffer.from(parts[parts.length - 1], 'base64url'),
  };
}

function encodePayload({ depth, exp, perms, patterns, aud = '', maxUses = 0 }, nextPk) {
  const head = Buffer.alloc(19);
  head.write('zkb1', 0, 'ascii');
  head.writeUInt8(depth, 4);
  head.writeBigUInt64LE(BigInt(exp), 5);
  head.writeUInt8(perms.reduce((a, p) => a | PERMS[p], 0), 13);
  head.writeUInt32LE(maxUses, 14);
  head.writeUInt8(aud.length, 18);
  const pats = patterns.flatMap((p) => [Buffer.from([p.length]), Buffer.from(p, 'ascii')]);
  return Buffer.concat([head, Buffer.from(aud, 'ascii'), Buffer.from([patterns.length]), ...pats, nextPk]);
}

/** Appends a block with caveats c, signed with the token's proof key; returns the new token. */
function attenuate(token, c, { signSeed, prevSig, depth } = {}) {
  const t = splitToken(token);
  const seed = randomBytes(32);
  const payload = encodePayload({ depth: depth ?? t.blocks.length + 1, ...c }, publicRaw(seed));
  const prev = prevSig ?? (t.blocks.length ? t.blocks[t.blocks.length - 1].subarray(-64) : t.rootSig);
  const sig = sign(null, Buffer.concat([Buffer.from('zkv1blk\0', 'latin1'), prev, payload]), privateKey(signSeed ?? t.proof));
  const keep = token.slice(0, token.lastIndexOf('~'));
  return `${keep}~${b64u(Buffer.concat([payload, sig]))}~${b64u(seed)}`;
}

const parts = (token) => token.split('~');
const join_ = (p) => p.join('~');

// --- the tests ---
let v;
const password = `pw-${randomBytes(12).toString('hex')}`;
const user = randomUUID();
const hour = 3600 * 1000;

async function issue(body) {
  const r = await v.call('POST', '/tokens', { body: { userId: user, ...body } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

before(async () => {
  v = await Vault.start();
  assert.equal((await v.call('POST', '/init', { body: { password } })).status, 200);
  assert.equal((await v.call('POST', '/unlock', { body: { password } })).status, 200);
  const admin = await issue({ permissions: ['read', 'write'], allowedSecrets: ['*'] });
  for (const name of ['db-prod-main', 'db-prod-replica', 'db-dev', 'api'])
    assert.equal((await v.call('POST', `/secrets/${name}`, { token: admin.token, auth: false, body: { value: `v-${name}` } })).status, 200);
});
after(async () => { await v?.close(); });

describe('attenuation', () => {
  test('every narrowing works, offline, and is enforced', async () => {
    const root = await issue({ permissions: ['read', 'write'], allowedSecrets: ['db-*', 'api'], ttlSeconds: 3600 });
    const t = splitToken(root.token);
    assert.equal(t.blocks.length, 0);
    const exp = Date.parse(t.claims.exp);
    const t1 = attenuate(root.token, { exp: exp - 60000, perms: ['read'], patterns: ['db-prod*'] });
    assert.equal((await v.get(t1, 'db-prod-main')).status, 200);
    assert.equal((await v.get(t1, 'db-dev')).status, 403);
    assert.equal((await v.get(t1, 'api')).status, 403);
    assert.equal((await v.call('POST', '/secrets/db-prod-main', { token: t1, auth: false, body: { value: 'x' } })).status, 403);
    const t2 = attenuate(t1, { exp: exp - 120000, perms: ['read'], patterns: ['db-prod-main'], aud: 'agent-7' });
    assert.equal((await v.get(t2, 'db-prod-main', 'agent-7')).status, 200);
    assert.equal((await v.get(t2, 'db-prod-replica', 'agent-7')).status, 403);
    // An audience is enforced: no X-Agent-Id, or another one, is refused.
    assert.equal((await v.get(t2, 'db-prod-main')).status, 401);
    assert.equal((await v.get(t2, 'db-prod-main', 'agent-8')).status, 401);
    // Listing shows only what the chain allows.
    const list = await v.call('GET', '/secrets', { token: t1, auth: false });
    assert.deepEqual(list.body.keys.map((k) => k.key), ['db-prod-main', 'db-prod-replica']);
    // An earlier expiry that has passed.
    const t3 = attenuate(root.token, { exp: Date.now() - 1000, perms: ['read'], patterns: ['api'] });
    assert.equal((await v.get(t3, 'api')).status, 401);
  });

  test('a chain near the 8 KiB limit fits the request head; a head over 16 KiB gets 431', async () => {
    const names = Array.from({ length: 60 }, (_, i) => `long-${String(i).padStart(2, '0')}-${'n'.repeat(55)}`);
    const root = await issue({ permissions: ['read', 'write'], allowedSecrets: names });
    assert.equal((await v.call('POST', `/secrets/${names[3]}`, { token: root.token, auth: false, body: { value: 'far' } })).status, 200);
    const exp = Date.parse(splitToken(root.token).claims.exp);
    const t = attenuate(root.token, { exp, perms: ['read'], patterns: names.slice(0, 15) });
    assert.ok(t.length > 7000 && t.length <= 8192, `token of ${t.length} bytes`);
    const r = await v.get(t, names[3]);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.value, 'far');
    assert.equal((await v.get(t, names[20])).status, 403);
    assert.equal((await v.get(`${t}${'A'.repeat(8193 - t.length)}`, names[3])).status, 401);
    // libmicrohttpd refuses a request head its connection pool cannot hold before vaultd sees it (docs/API.md).
    const big = await fetch(`${v.url}/health`, { headers: { 'x-padding': 'p'.repeat(17 * 1024), connection: 'close' } });
    assert.equal(big.status, 431);
    await big.arrayBuffer();
  });

  test('every widening attempt is refused', async () => {
    const root = await issue({ permissions: ['read'], allowedSecrets: ['db-prod*'], ttlSeconds: 3600 });
    const exp = Date.parse(splitToken(root.token).claims.exp);
    const ok = { exp: exp - 1000, perms: ['read'], patterns: ['db-prod-main'] };
    assert.equal((await v.get(attenuate(root.token, ok), 'db-prod-main')).status, 200);
    const widened = [
      ['more secrets', { ...ok, patterns: ['db-prod-main', 'api'] }],
      ['a wider pattern', { ...ok, patterns: ['db-*'] }],
      ['everything', { ...ok, patterns: ['*'] }],
      ['more permissions', { ...ok, perms: ['read', 'write'] }],
      ['a later expiry', { ...ok, exp: exp + 1 }],
    ];
    for (const [what, c] of widened)
      assert.equal((await v.get(attenuate(root.token, c), 'db-prod-main')).status, 401, what);
    // Audience and use limit: once set, they cannot be dropped or loosened.
    const a1 = attenuate(root.token, { ...ok, aud: 'agent-7', maxUses: 10 });
    assert.equal((await v.get(a1, 'db-prod-main', 'agent-7')).status, 200);
    for (const [what, c] of [
      ['dropped audience', { ...ok, maxUses: 5 }],
      ['another audience', { ...ok, aud: 'agent-8', maxUses: 5 }],
      ['dropped use limit', { ...ok, aud: 'agent-7' }],
      ['a higher use limit', { ...ok, aud: 'agent-7', maxUses: 11 }],
    ]) {
      const t = attenuate(a1, c);
      assert.equal((await v.get(t, 'db-prod-main', 'agent-7')).status, 401, what);
      assert.equal((await v.get(t, 'db-prod-main', c.aud)).status, 401, what);
    }
  });

  test('re-signed, truncated, reordered and transplanted blocks are refused', async () => {
    const root = await issue({ permissions: ['read'], allowedSecrets: ['db-*'], ttlSeconds: 3600 });
    const exp = Date.parse(splitToken(root.token).claims.exp) - 1000;
    const t1 = attenuate(root.token, { exp, perms: ['read'], patterns: ['db-prod*'] });
    const t2 = attenuate(t1, { exp, perms: ['read'], patterns: ['db-prod-main'] });
    assert.equal((await v.get(t2, 'db-prod-main')).status, 200);
    const [r, b1, b2, proof] = parts(t2);
    // Truncation: without the last block the proof's key matches nothing; the root alone has no key.
    for (const t of [join_([r, b1, proof]), join_([r, proof]), r, join_([r, b1])])
      assert.equal((await v.get(t, 'db-prod-replica')).status, 401);
    // Reordered.
    assert.equal((await v.get(join_([r, b2, b1, proof]), 'db-prod-main')).status, 401);
    // Re-signed: a wider block 2 signed with the holder's own key (the proof) instead of block 1's key.
    const wide = attenuate(t1, { exp, perms: ['read'], patterns: ['db-prod*'] }, { signSeed: splitToken(t2).proof });
    assert.equal((await v.get(join_([...parts(wide).slice(0, 2), parts(wide)[2], parts(wide)[3]]), 'db-prod-replica')).status, 401);
    const resigned = join_([r, b1, parts(wide)[2], proof]);
    assert.equal((await v.get(resigned, 'db-prod-replica')).status, 401);
    // A block from another chain: a second root, its own block 1, grafted onto this chain.
    const other = await issue({ permissions: ['read'], allowedSecrets: ['db-*'], ttlSeconds: 3600 });
    const o1 = attenuate(other.token, { exp, perms: ['read'], patterns: ['db-*'] });
    assert.equal((await v.get(o1, 'db-dev')).status, 200);
    assert.equal((await v.get(join_([r, parts(o1)[1], parts(o1)[2]]), 'db-dev')).status, 401);
    // Even signed with this chain's own handed-down key, a block bound to the other root's signature fails.
    const bound = attenuate(root.token, { exp, perms: ['read'], patterns: ['db-*'] }, { prevSig: splitToken(other.token).rootSig });
    assert.equal((await v.get(bound, 'db-dev')).status, 401);
    // A depth field that lies.
    assert.equal((await v.get(attenuate(root.token, { exp, perms: ['read'], patterns: ['db-*'] }, { depth: 2 }), 'db-dev')).status, 401);
  });

  test('a use limit counts every use of the chain and of its descendants', async () => {
    const root = await issue({ permissions: ['read'], allowedSecrets: ['api'] });
    const exp = Date.parse(splitToken(root.token).claims.exp) - 1000;
    const t1 = attenuate(root.token, { exp, perms: ['read'], patterns: ['api'], maxUses: 3 });
    const t2 = attenuate(t1, { exp, perms: ['read'], patterns: ['api'], maxUses: 3 });
    assert.equal((await v.get(t1, 'api')).status, 200);
    assert.equal((await v.get(t2, 'api')).status, 200);
    assert.equal((await v.get(t2, 'api')).status, 200);
    assert.equal((await v.get(t2, 'api')).status, 401); // block 1's limit of 3 is spent by both
    assert.equal((await v.get(t1, 'api')).status, 401);
    assert.equal((await v.get(root.token, 'api')).status, 200); // the root had no limit
    // A root issued with maxUses binds itself and every descendant together.
    const one = await issue({ permissions: ['read'], allowedSecrets: ['api'], maxUses: 2 });
    assert.equal(splitToken(one.token).claims.maxUses, 2);
    const child = attenuate(one.token, { exp, perms: ['read'], patterns: ['api'], maxUses: 2 });
    assert.equal((await v.get(attenuate(one.token, { exp, perms: ['read'], patterns: ['api'] }), 'api')).status, 401);
    assert.equal((await v.get(child, 'api')).status, 200);
    assert.equal((await v.get(one.token, 'api')).status, 200);
    assert.equal((await v.get(child, 'api')).status, 401);
    assert.equal((await v.get(one.token, 'api')).status, 401);
    for (const bad of [0, -1, 1.5, 'x', 4294967296])
      assert.equal((await v.call('POST', '/tokens', { body: { userId: user, maxUses: bad } })).status, 400);
  });
});

describe('revocation', () => {
  test('revoking a root kills its descendants, also after a restart; revoking a block kills its subtree', async () => {
    const root = await issue({ permissions: ['read'], allowedSecrets: ['db-*'] });
    const exp = Date.parse(splitToken(root.token).claims.exp) - 1000;
    const a = attenuate(root.token, { exp, perms: ['read'], patterns: ['db-prod*'] });
    const a2 = attenuate(a, { exp, perms: ['read'], patterns: ['db-prod-main'] });
    const b = attenuate(root.token, { exp, perms: ['read'], patterns: ['db-dev'] });
    for (const [t, n] of [[a, 'db-prod-main'], [a2, 'db-prod-main'], [b, 'db-dev']])
      assert.equal((await v.get(t, n)).status, 200);
    // Introspection names every revocation id of a chain.
    const info = (await v.call('POST', '/tokens/introspect', { body: { token: a2 } })).body;
    assert.equal(info.active, true);
    assert.equal(info.depth, 2);
    assert.equal(info.revocationIds[0], root.id);
    assert.equal(info.revocationIds.length, 3);
    // Revoke block 1 of chain a: a and a2 die, b lives.
    assert.equal((await v.call('DELETE', `/tokens/${info.revocationIds[1]}`)).status, 200);
    assert.equal((await v.get(a, 'db-prod-main')).status, 401);
    assert.equal((await v.get(a2, 'db-prod-main')).status, 401);
    assert.equal((await v.get(b, 'db-dev')).status, 200);
    await v.restart();
    assert.equal((await v.call('POST', '/unlock', { body: { password } })).status, 200);
    assert.equal((await v.get(a2, 'db-prod-main')).status, 401);
    assert.equal((await v.get(b, 'db-dev')).status, 200);
    // Revoke the root: every descendant dies, and stays dead after a restart.
    assert.equal((await v.call('DELETE', `/tokens/${root.id}`)).status, 200);
    for (const t of [root.token, b]) assert.equal((await v.get(t, 'db-dev')).status, 401);
    await v.restart();
    assert.equal((await v.call('POST', '/unlock', { body: { password } })).status, 200);
    for (const t of [root.token, a, a2, b]) assert.equal((await v.get(t, 'db-dev')).status, 401);
    assert.deepEqual((await v.call('POST', '/tokens/introspect', { body: { token: b } })).body, { active: false });
  });

  test('GET /revocations: a signed full snapshot, then deltas per epoch', async () => {
    const full = await v.call('GET', '/revocations', { auth: false });
    assert.equal(full.status, 200);
    assert.equal(full.body.kind, 'full');
    const e0 = full.body.epoch;
    assert.ok(e0 >= 2);
    const blob = Buffer.from(full.body.snapshot, 'base64');
    assert.equal(blob.subarray(0, 4).toString(), 'ZKR1');
    assert.equal(blob.readBigUInt64LE(21), BigInt(e0));
    const t = await issue({ permissions: ['read'], allowedSecrets: ['api'] });
    assert.equal((await v.call('DELETE', `/tokens/${t.id}`)).status, 200);
    const d = await v.call('GET', `/revocations?since=${e0}`, { auth: false });
    assert.equal(d.status, 200);
    assert.deepEqual([d.body.kind, d.body.since, d.body.epoch, d.body.ids], ['delta', e0, e0 + 1, 1]);
    const dblob = Buffer.from(d.body.snapshot, 'base64');
    const n = dblob.readUInt32LE(149 + 4);
    assert.equal(n, 1);
    assert.equal(dblob.subarray(157, 173).toString('hex'), t.id);
    // Nothing new: an empty delta, freshly signed.
    const same = await v.call('GET', `/revocations?since=${e0 + 1}`, { auth: false });
    assert.deepEqual([same.body.kind, same.body.ids], ['delta', 0]);
    assert.equal((await v.call('GET', '/revocations?since=x', { auth: false })).status, 400);
    // A user revocation is one epoch listing that user's live tokens.
    const u = randomUUID();
    const ut = await v.call('POST', '/tokens', { body: { userId: u } });
    assert.equal((await v.call('DELETE', `/tokens/user/${u}`)).body.revokedCount.db, 1);
    const d2 = await v.call('GET', `/revocations?since=${e0 + 1}`, { auth: false });
    assert.deepEqual([d2.body.epoch, d2.body.ids], [e0 + 2, 1]);
    assert.equal(Buffer.from(d2.body.snapshot, 'base64').subarray(157, 173).toString('hex'), ut.body.id);
  });
});

describe('capability ceilings', () => {
  test('a grant above the ceiling is refused; lowering the ceiling narrows live tokens', async () => {
    const sub = randomUUID();
    const wide = await v.call('POST', '/tokens', { body: { userId: sub, permissions: ['read', 'write'], allowedSecrets: ['db-*'] } });
    assert.equal(wide.status, 200);
    assert.equal((await v.get(wide.body.token, 'db-dev')).status, 200);
    const put = await v.call('PUT', `/policy/ceilings/${sub}`, {
      body: { allowedSecrets: ['db-prod*'], permissions: ['read'], maxTtlSeconds: 600 },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body.allowedSecrets, ['db-prod*']);
    assert.equal((await v.call('PUT', `/policy/ceilings/${sub}`, { auth: false, body: {} })).status, 401);
    assert.equal((await v.call('PUT', '/policy/ceilings/nobody', { body: put.body })).status, 400);
    assert.equal((await v.call('PUT', `/policy/ceilings/${sub}`, { body: { allowedSecrets: ['a b'], permissions: [] } })).status, 400);
    for (const b of [
      { permissions: ['read', 'write'], allowedSecrets: ['db-prod-main'] },
      { permissions: ['read'], allowedSecrets: ['db-*'] },
      { permissions: ['read'], allowedSecrets: ['db-prod-main'], ttlSeconds: 601 },
    ]) {
      const r = await v.call('POST', '/tokens', { body: { userId: sub, ...b } });
      assert.equal(r.status, 403, JSON.stringify(b));
      assert.equal(r.body.code, 'CEILING_EXCEEDED');
    }
    const ok = await v.call('POST', '/tokens', { body: { userId: sub, permissions: ['read'], allowedSecrets: ['db-prod-main'], ttlSeconds: 600 } });
    assert.equal(ok.status, 200);
    // The live wide token is narrowed to the ceiling now: db-dev and writes are gone, db-prod-* stays.
    assert.equal((await v.get(wide.body.token, 'db-dev')).status, 403);
    assert.equal((await v.get(wide.body.token, 'db-prod-main')).status, 200);
    assert.equal((await v.call('POST', '/secrets/db-prod-main', { token: wide.body.token, auth: false, body: { value: 'y' } })).status, 403);
    const info = (await v.call('POST', '/tokens/introspect', { body: { token: wide.body.token } })).body;
    assert.deepEqual([info.scope, info.allowedSecrets], ['read', ['db-prod*']]);
    assert.ok(info.exp - info.iat <= 600);
    // Persisted: after a restart the ceiling still holds; deleting it restores the token.
    await v.restart();
    assert.equal((await v.call('POST', '/unlock', { body: { password } })).status, 200);
    assert.equal((await v.get(wide.body.token, 'db-dev')).status, 403);
    assert.deepEqual((await v.call('GET', '/policy/ceilings', {})).body.ceilings.map((c) => c.subject), [sub]);
    assert.equal((await v.call('DELETE', `/policy/ceilings/${sub}`)).status, 200);
    assert.equal((await v.call('DELETE', `/policy/ceilings/${sub}`)).status, 404);
    assert.equal((await v.get(wide.body.token, 'db-dev')).status, 200);
    // The default ceiling caps subjects without their own.
    assert.equal((await v.call('PUT', '/policy/ceilings/default', { body: { allowedSecrets: ['api'], permissions: ['read'] } })).status, 200);
    assert.equal((await v.call('POST', '/tokens', { body: { userId: randomUUID(), allowedSecrets: ['db-dev'] } })).status, 403);
    assert.equal((await v.call('DELETE', '/policy/ceilings/default')).status, 200);
    const audit = (await v.call('GET', '/audit?limit=1000')).body.logs.map((l) => l.action);
    assert.ok(audit.includes('ceiling.set') && audit.includes('ceiling.deleted'));
  });
});

describe('verification cache', () => {
  // Each miss is a full chain verification; a direct-mapped cache of 4,096 slots let two of 200 live tokens evict
  // each other on alternate uses in 99 vaults out of 100 (the birthday bound), and every such use verified again.
  test('200 live tokens used in turn are each verified once', async () => {
    const verifications = async () => {
      const res = await fetch(`${v.url}/metrics`, { headers: { 'x-auth-token': v.authToken, connection: 'close' } });
      const m = (await res.text()).match(/^zkvault_token_verifications_total (\d+)$/m);
      assert.ok(m, 'zkvault_token_verifications_total in /metrics');
      return Number(m[1]);
    };
    const tokens = [];
    for (let i = 0; i < 200; i++) {
      const r = await v.call('POST', '/tokens', { body: { userId: randomUUID(), permissions: ['read'], allowedSecrets: ['api'] } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      tokens.push(r.body.token);
    }
    const start = await verifications();
    for (let pass = 0; pass < 3; pass++) {
      for (const t of tokens) assert.equal((await v.get(t, 'api')).status, 200);
      assert.equal(await verifications(), start + tokens.length, `after pass ${pass + 1}`);
    }
  });
});

describe('introspection', () => {
  test('RFC 7662 shape, management auth only', async () => {
    const root = await issue({ permissions: ['read', 'delete'], allowedSecrets: ['api'], aud: 'agent-1' });
    const r = await v.call('POST', '/tokens/introspect', { body: { token: root.token } });
    assert.equal(r.status, 200);
    const i = r.body;
    assert.deepEqual([i.active, i.sub, i.jti, i.scope, i.aud, i.depth], [true, user, root.id, 'read delete', 'agent-1', 0]);
    assert.equal(i.exp - i.iat, 3600);
    assert.equal((await v.call('POST', '/tokens/introspect', { auth: false, body: { token: root.token } })).status, 401);
    assert.equal((await v.call('POST', '/tokens/introspect', { body: {} })).status, 400);
    assert.deepEqual((await v.call('POST', '/tokens/introspect', { body: { token: 'v4.public.nope' } })).body, { active: false });
    // The audience the root was issued for is enforced.
    assert.equal((await v.get(root.token, 'api')).status, 401);
    assert.equal((await v.get(root.token, 'api', 'agent-1')).status, 200);
  });
});

describe('zkvault token verify (offline)', () => {
  const cli = (args) => spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, ZKVAULT_TOKEN: '' } });
  const verify = (token, extra = []) => {
    const r = cli(['token', 'verify', token, '--vault-key', v.key, '--json', ...extra]);
    return { status: r.status, ...(r.stdout ? JSON.parse(r.stdout) : {}), stderr: r.stderr };
  };

  test('a chain verifies against the published key and the signed revocation list, exactly', async () => {
    v.key = (await v.call('GET', '/.well-known/zkvault', { auth: false })).body.tokenPublicKey;
    const root = await issue({ permissions: ['read', 'write'], allowedSecrets: ['db-*'] });
    const exp = Date.parse(splitToken(root.token).claims.exp) - 1000;
    const t1 = attenuate(root.token, { exp, perms: ['read'], patterns: ['db-prod*'], aud: 'agent-9' });
    let r = verify(t1, ['--aud', 'agent-9']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual([r.valid, r.jti, r.depth, r.permissions, r.allowedSecrets, r.aud], [true, root.id, 1, ['read'], ['db-prod*'], 'agent-9']);
    assert.equal(verify(t1).status, 5); // for another audience
    assert.equal(verify(t1, ['--aud', 'agent-8']).reason, 'for another audience (see --aud)');
    // Widened, or checked against another vault's key.
    const wide = attenuate(root.token, { exp, perms: ['read', 'write', 'delete'], patterns: ['db-*'] });
    assert.equal(verify(wide).status, 5);
    const other = cli(['token', 'verify', t1, '--vault-key', `k4.public.${Buffer.alloc(32, 9).toString('base64url')}`, '--aud', 'agent-9']);
    assert.equal(other.status, 5);
    assert.equal(cli(['token', 'verify', t1]).status, 2); // --vault-key is required

    // The full list, then a delta: a revoked block and a revoked root are seen offline.
    const dir = mkdtempSync(join(tmpdir(), 'zkvault-revs-'));
    const full = (await v.call('GET', '/revocations', { auth: false })).body;
    writeFileSync(join(dir, 'full.json'), JSON.stringify(full));
    r = verify(t1, ['--aud', 'agent-9', '--revocations', join(dir, 'full.json')]);
    assert.deepEqual([r.status, r.valid, r.revocationEpoch], [0, true, full.epoch]);
    const later = await issue({ permissions: ['read'], allowedSecrets: ['api'] }); // issued after the snapshot
    assert.equal(verify(later.token, ['--revocations', join(dir, 'full.json')]).valid, true);
    assert.equal((await v.call('DELETE', `/tokens/${r.revocationIds[1]}`)).status, 200);
    assert.equal((await v.call('DELETE', `/tokens/${later.id}`)).status, 200);
    const delta = (await v.call('GET', `/revocations?since=${full.epoch}`, { auth: false })).body;
    writeFileSync(join(dir, 'both.json'), JSON.stringify([full, delta]));
    r = verify(t1, ['--aud', 'agent-9', '--revocations', join(dir, 'both.json')]);
    assert.deepEqual([r.status, r.valid, r.reason], [5, false, 'revoked']);
    assert.equal(verify(later.token, ['--revocations', join(dir, 'both.json')]).reason, 'revoked');
    assert.equal(verify(root.token, ['--revocations', join(dir, 'both.json')]).valid, true); // only block 1 was revoked
    // A fresh full snapshot says the same, from its cascade alone.
    const full2 = (await v.call('GET', '/revocations', { auth: false })).body;
    writeFileSync(join(dir, 'full2.json'), JSON.stringify(full2));
    assert.equal(verify(later.token, ['--revocations', join(dir, 'full2.json')]).reason, 'revoked');
    assert.equal(verify(t1, ['--aud', 'agent-9', '--revocations', join(dir, 'full2.json')]).reason, 'revoked');
    assert.equal(verify(root.token, ['--revocations', join(dir, 'full2.json')]).valid, true);
    // A delta that does not follow, or a list signed for another vault key, is refused.
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([full2, delta]));
    assert.equal(cli(['token', 'verify', root.token, '--vault-key', v.key, '--revocations', join(dir, 'bad.json')]).status, 1);
    rmSync(dir, { recursive: true, force: true });
  });
});
