// An independent reader of the signed revocation list (docs/FORMAT.md §Revocation cascade, §Revocation list),
// written from that page alone with libsodium.js: it checks the certificate and signature under the published
// PASERK, decodes the filter cascade, and must answer exactly for every token the vault issued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import sodiumModule from 'libsodium-wrappers-sumo';
import { startVault } from './lib.mjs';

const le64 = (b, o) => Number(Buffer.from(b).readBigUInt64LE(o));
const le32 = (b, o) => Buffer.from(b).readUInt32LE(o);

/** Parses and verifies a "snapshot" blob; throws if anything is off. */
function openList(sodium, blob, tokenPk) {
  const b = Buffer.from(blob);
  assert.equal(b.subarray(0, 4).toString('latin1'), 'ZKR1');
  const s = {
    kind: b[4], vaultId: b.subarray(5, 21).toString('hex'), epoch: le64(b, 21), since: le64(b, 29),
    built: le64(b, 37), covered: le64(b, 45), revPk: b.subarray(53, 85), cert: b.subarray(85, 149),
  };
  const clen = le32(b, 149);
  s.cascade = b.subarray(153, 153 + clen);
  const nids = le32(b, 153 + clen);
  const idsAt = 157 + clen;
  s.ids = Array.from({ length: nids }, (_, i) => b.subarray(idsAt + 16 * i, idsAt + 16 * i + 16).toString('hex'));
  const sigAt = idsAt + 16 * nids;
  assert.equal(b.length, sigAt + 64);
  const certMsg = Buffer.concat([Buffer.from('zkv1rvk\0', 'latin1'), b.subarray(5, 21), s.revPk]);
  assert.ok(sodium.crypto_sign_verify_detached(s.cert, certMsg, tokenPk), 'certificate');
  const sigMsg = Buffer.concat([Buffer.from('zkv1rvl\0', 'latin1'), b.subarray(0, sigAt)]);
  assert.ok(sodium.crypto_sign_verify_detached(b.subarray(sigAt), sigMsg, s.revPk), 'signature');
  return s;
}

/** The cascade's answer for a 16-byte id (hex). */
function cascadeRevoked(sodium, cascade, idHex) {
  const c = Buffer.from(cascade);
  assert.equal(c.subarray(0, 4).toString('latin1'), 'ZKC1');
  const salt = c.subarray(4, 20);
  const levels = c[20];
  const id = Buffer.from(idHex, 'hex');
  let p = 21;
  for (let i = 0; i < levels; i++) {
    const k = c[p];
    const m = BigInt(le32(c, p + 1));
    const bits = c.subarray(p + 5, p + 5 + Number((m + 7n) / 8n));
    p += 5 + bits.length;
    const key = sodium.crypto_generichash(16, Buffer.concat([Buffer.from('zkv1cas\0', 'latin1'), Buffer.from([i])]), salt);
    const h = Buffer.from(sodium.crypto_shorthash_siphashx24(id, key));
    const h1 = h.readBigUInt64LE(0);
    const h2 = h.readBigUInt64LE(8) | 1n;
    let all = true;
    for (let j = 0n; j < BigInt(k); j++) {
      const bit = ((h1 + j * h2) & 0xffffffffffffffffn) % m;
      if (!(bits[Number(bit >> 3n)] & (1 << Number(bit & 7n)))) { all = false; break; }
    }
    if (!all) return i % 2 === 1;
  }
  assert.equal(p, c.length);
  return levels % 2 === 1;
}

test('the revocation list reads exactly with an independent reader', async (t) => {
  await sodiumModule.ready;
  const sodium = sodiumModule;
  const v = await startVault();
  t.after(() => v.stop());
  const password = `interop password ${randomUUID()}`;
  assert.equal((await v.call('POST', '/init', { body: { password } })).status, 200);
  assert.equal((await v.call('POST', '/unlock', { body: { password } })).status, 200);
  const wk = (await v.call('GET', '/.well-known/zkvault', { auth: false })).body;
  const tokenPk = sodium.from_base64(wk.tokenPublicKey.slice('k4.public.'.length), sodium.base64_variants.URLSAFE_NO_PADDING);

  // 120 tokens over 6 users; revoke 20 by id and all of one user's (20 more).
  const users = Array.from({ length: 6 }, () => randomUUID());
  const issued = [];
  for (let i = 0; i < 120; i++) {
    const r = await v.call('POST', '/tokens', { body: { userId: users[i % 6] } });
    assert.equal(r.status, 200);
    issued.push({ id: r.body.id, user: users[i % 6] });
  }
  const revoked = new Set();
  for (const x of issued.filter((_, i) => i % 6 === 1 || (i % 6 === 2 && i < 60)).slice(0, 20)) {
    assert.equal((await v.call('DELETE', `/tokens/${x.id}`)).status, 200);
    revoked.add(x.id);
  }
  assert.equal((await v.call('DELETE', `/tokens/user/${users[3]}`)).status, 200);
  for (const x of issued) if (x.user === users[3]) revoked.add(x.id);
  // A block id revoked outside the issued set is listed explicitly.
  const blockId = Buffer.alloc(16, 0xab).toString('hex');
  assert.equal((await v.call('DELETE', `/tokens/${blockId}`)).status, 200);

  const full = (await v.call('GET', '/revocations', { auth: false })).body;
  assert.equal(full.kind, 'full');
  const s = openList(sodium, Buffer.from(full.snapshot, 'base64'), tokenPk);
  assert.deepEqual([s.kind, s.vaultId, s.epoch], [1, wk.vaultId, full.epoch]);
  assert.deepEqual(s.ids, [blockId]);
  for (const x of issued)
    assert.equal(cascadeRevoked(sodium, s.cascade, x.id), revoked.has(x.id), `token ${x.id}`);

  // A tampered byte anywhere breaks the signature.
  const bad = Buffer.from(full.snapshot, 'base64');
  bad[30] ^= 1;
  assert.throws(() => openList(sodium, bad, tokenPk));
  // A delta after one more revocation lists exactly that id.
  assert.equal((await v.call('DELETE', `/tokens/${issued[0].id}`)).status, 200);
  const d = (await v.call('GET', `/revocations?since=${full.epoch}`, { auth: false })).body;
  const ds = openList(sodium, Buffer.from(d.snapshot, 'base64'), tokenPk);
  assert.deepEqual([ds.kind, ds.since, ds.epoch, ds.ids], [2, full.epoch, full.epoch + 1, [issued[0].id]]);
});
