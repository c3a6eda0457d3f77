// Recovery and threshold unlock (docs/RECOVERY.md): password change, rekey (also killed half-way), BIP39
// phrase, hardware key, social recovery and k-of-n threshold unlock, against the real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vaultd, assertJson, newPassword, readAllFiles, sleep, uuid } from './lib/vaultd.mjs';
import sodiumModule from '../interop/node_modules/libsodium-wrappers-sumo/dist/modules-sumo/libsodium-wrappers.js';

await sodiumModule.ready;
const na = sodiumModule;
const b64 = (u) => na.to_base64(u, na.base64_variants.ORIGINAL);
const unb64 = (t) => na.from_base64(t, na.base64_variants.ORIGINAL);
const holders = (n, prefix) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, kp: na.crypto_box_keypair() }));
const publicOf = (hs) => hs.map((h) => ({ id: h.id, publicKey: b64(h.kp.publicKey) }));
const openShare = (sealed, h) => na.to_string(na.crypto_box_seal_open(unb64(sealed), h.kp.publicKey, h.kp.privateKey));

async function fresh(t, args = []) {
  const v = await Vaultd.start({ args });
  t.after(() => v.close());
  const password = newPassword();
  await v.initAndUnlock(password);
  return { v, password };
}

test('password change: the old password stops working at once', async (t) => {
  const { v, password } = await fresh(t);
  const next = newPassword();
  assertJson(await v.mgmt('POST', '/password', { currentPassword: 'wrong password!!', newPassword: next }), 401,
    { error: 'Invalid password' });
  assertJson(await v.mgmt('POST', '/password', { currentPassword: password, newPassword: 'short' }), 400);
  assertJson(await v.mgmt('POST', '/password', { currentPassword: password, newPassword: next }), 200, { success: true });
  await v.lock();
  assertJson(await v.unlockRaw(password), 401, { error: 'Invalid password' });
  await v.unlock(next);
});

test('BIP39 phrase: named errors, recovery forces a new password, phrase survives password changes', async (t) => {
  const { v, password } = await fresh(t);
  const tok = await v.issueToken({ permissions: ['read', 'write'] });
  await v.put(tok.token, 'kept', 'value-1');
  const r = assertJson(await v.mgmt('POST', '/recovery/phrase'), 200);
  const words = r.phrase.split(' ');
  assert.equal(words.length, 12);
  assertJson(await v.mgmt('GET', '/recovery'), 200);
  assert.equal((await v.mgmt('GET', '/recovery')).json.phrase, true);
  await v.lock();

  const typo = [...words];
  typo[4] = 'abandn';
  assertJson(await v.mgmt('POST', '/recover', { phrase: typo.join(' '), newPassword: newPassword() }), 400,
    { error: 'Invalid request body', details: 'phrase: word 5 is not in the BIP39 English list' });
  const swapped = [words[1], words[0], ...words.slice(2)];
  if (swapped.join(' ') !== r.phrase) {
    const res = await v.mgmt('POST', '/recover', { phrase: swapped.join(' '), newPassword: newPassword() });
    // A swap keeps every word valid; the checksum catches it (or, 1 time in 16, the wrapper does).
    assert.ok(res.status === 400 || res.status === 401, res.text);
  }
  assertJson(await v.mgmt('POST', '/recover', { phrase: r.phrase }), 400);
  const p2 = newPassword();
  const ok = assertJson(await v.mgmt('POST', '/recover', { phrase: r.phrase.toUpperCase(), newPassword: p2 }), 200);
  assert.equal(ok.passwordChanged, true);
  assert.equal((await v.status()).unlocked, true);
  assert.equal((await v.get(tok.token, 'kept')).json.value, 'value-1');
  await v.lock();
  assertJson(await v.unlockRaw(password), 401);
  await v.unlock(p2);
  const p3 = newPassword();
  assertJson(await v.mgmt('POST', '/password', { currentPassword: p2, newPassword: p3 }), 200);
  await v.lock();
  assertJson(await v.mgmt('POST', '/recover', { phrase: r.phrase, newPassword: newPassword() }), 200);
});

test('hardware key unlocks, in any case and without dashes; a wrong one is refused', async (t) => {
  const { v } = await fresh(t);
  const { hardwareKey } = assertJson(await v.mgmt('POST', '/recovery/hardware'), 200);
  assert.match(hardwareKey, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){12}$/);
  await v.lock();
  const wrong = (hardwareKey[0] === 'A' ? 'B' : 'A') + hardwareKey.slice(1);
  assertJson(await v.mgmt('POST', '/unlock', { hardwareKey: wrong }), 401, { error: 'Invalid hardware key' });
  assertJson(await v.mgmt('POST', '/unlock', { hardwareKey: hardwareKey.replaceAll('-', '').toLowerCase() }), 200);
  await v.lock();
  assertJson(await v.mgmt('POST', '/recover', { hardwareKey, newPassword: newPassword() }), 200);
});

test('social recovery: k of n contact shares; fewer, foreign or corrupted shares are refused', async (t) => {
  const { v } = await fresh(t);
  const contacts = holders(4, 'friend');
  const setup = assertJson(await v.mgmt('POST', '/recovery/social', { threshold: 3, contacts: publicOf(contacts) }), 200);
  assert.equal(setup.contacts.length, 4);
  const shares = setup.contacts.map((c, i) => openShare(c.sealedShare, contacts[i]));
  for (const s of shares) assert.match(s, /^zks1-/);

  await v.lock();
  const tooFew = assertJson(await v.mgmt('POST', '/recover', { shares: shares.slice(0, 2), newPassword: newPassword() }), 400);
  assert.match(tooFew.details, /not enough shares/);
  const corrupt = shares[0].slice(0, -3) + (shares[0].at(-3) === 'A' ? 'B' : 'A') + shares[0].slice(-2);
  const bad = assertJson(await v.mgmt('POST', '/recover', { shares: [corrupt, shares[1], shares[2]], newPassword: newPassword() }), 400);
  assert.match(bad.details, /corrupt/i);
  const p2 = newPassword();
  assertJson(await v.mgmt('POST', '/recover', { shares: shares.slice(1), newPassword: p2 }), 200);

  // A new split replaces the set: a share of the old one is detected, not combined.
  const ours2 = holders(3, 'again');
  const second = assertJson(await v.mgmt('POST', '/recovery/social', { threshold: 2, contacts: publicOf(ours2) }), 200);
  const stale = shares; // shares of the replaced set
  const fresh2 = second.contacts.map((c, i) => openShare(c.sealedShare, ours2[i]));
  await v.lock();
  const mixed = assertJson(await v.mgmt('POST', '/recover', { shares: [stale[0], fresh2[1]], newPassword: newPassword() }), 400);
  assert.match(mixed.details, /another recovery set/);
  assertJson(await v.mgmt('POST', '/recover', { shares: [fresh2[2], fresh2[0]], newPassword: newPassword() }), 200);
});

test('threshold unlock: k-1 approvals do not unlock; wrong, foreign, replayed or expired approvals fail', async (t) => {
  const { v } = await fresh(t, ['--threshold-ttl', '2']);
  const admins = holders(3, 'admin');
  const setup = assertJson(await v.mgmt('POST', '/threshold/setup', { k: 2, admins: publicOf(admins) }), 200);
  for (const [i, a] of setup.admins.entries()) {
    const fp = na.to_hex(na.crypto_generichash(32, admins[i].kp.publicKey)).slice(0, 16);
    assert.equal(a.fingerprint.replaceAll('-', ''), fp, 'each admin can confirm its own key');
  }
  const share = (i) => openShare(setup.admins[i].sealedShare, admins[i]);
  const fetched = assertJson(await v.mgmt('GET', `/threshold/shares/${admins[1].id}`), 200);
  assert.equal(openShare(fetched.sealedShare, admins[1]), share(1));
  await v.lock();

  let req = assertJson(await v.mgmt('POST', '/threshold/unlock/request', { requestedBy: admins[0].id }), 200);
  assert.equal(req.required, 2);
  assertJson(await v.mgmt('POST', '/threshold/unlock/request', {}), 409);
  const approve = (id, body) => v.mgmt('POST', `/threshold/unlock/${id}/approve`, body);
  assertJson(await approve(req.requestId, { adminId: admins[0].id, share: share(1) }), 400);
  assertJson(await approve(req.requestId, { adminId: 'nobody', share: share(0) }), 403);
  const one = assertJson(await approve(req.requestId, { adminId: admins[0].id, share: share(0) }), 200);
  assert.equal(one.approvals, 1);
  assert.equal(one.unlocked, false);
  assert.equal((await v.status()).unlocked, false, 'k-1 approvals must not unlock');
  assertJson(await approve(req.requestId, { adminId: admins[0].id, share: share(0) }), 409);

  await sleep(3000); // the request expires; its share is wiped
  assertJson(await approve(req.requestId, { adminId: admins[1].id, share: share(1) }), 404);
  assert.equal((await v.status()).unlocked, false);

  // Sealed approvals are bound to one request: a box made for an old request is refused.
  const wk = assertJson(await v.req('GET', '/.well-known/zkvault'), 200);
  const seal = (requestId, x, s) => b64(na.crypto_box_seal(JSON.stringify({ purpose: 'threshold-approve', vaultId: wk.vaultId,
    requestId, x, share: s }), unb64(wk.transportPublicKey)));
  const oldBox = seal(req.requestId, 2, share(1));
  req = assertJson(await v.mgmt('POST', '/threshold/unlock/request', {}), 200);
  assertJson(await approve(req.requestId, { adminId: admins[1].id, sealed: oldBox }), 400);
  assertJson(await approve(req.requestId, { adminId: admins[1].id, sealed: seal(req.requestId, 2, share(1)) }), 200);
  assertJson(await v.mgmt('POST', `/threshold/unlock/${req.requestId}/deny`, { adminId: admins[2].id }), 200);
  assertJson(await approve(req.requestId, { adminId: admins[2].id, share: share(2) }), 404);

  req = assertJson(await v.mgmt('POST', '/threshold/unlock/request', {}), 200);
  assertJson(await approve(req.requestId, { adminId: admins[2].id, sealed: seal(req.requestId, 3, share(2)) }), 200);
  const done = assertJson(await approve(req.requestId, { adminId: admins[0].id, share: share(0) }), 200);
  assert.equal(done.success, true);
  assert.equal((await v.status()).unlocked, true);

  // Re-split without admin-2: its old share belongs to another set now.
  const kept = admins.slice(0, 2);
  const again = assertJson(await v.mgmt('POST', '/threshold/setup', { k: 2, admins: publicOf(kept) }), 200);
  await v.lock();
  req = assertJson(await v.mgmt('POST', '/threshold/unlock/request', {}), 200);
  assertJson(await approve(req.requestId, { adminId: admins[0].id, share: share(0) }), 400);
  const nshare = (i) => openShare(again.admins[i].sealedShare, kept[i]);
  assertJson(await approve(req.requestId, { adminId: kept[0].id, share: nshare(0) }), 200);
  assertJson(await approve(req.requestId, { adminId: kept[1].id, share: nshare(1) }), 200);
  assert.equal((await v.status()).unlocked, true);
  const log = assertJson(await v.mgmt('GET', '/audit?limit=100'), 200).logs.map((e) => e.action);
  for (const a of ['threshold.requested', 'threshold.approved', 'threshold.expired', 'threshold.denied', 'vault.threshold_unlocked'])
    assert.ok(log.includes(a), `audit has ${a}`);
});

test('threshold-only: no password, no single-holder recovery, and the vault is rekeyed', async (t) => {
  const { v, password } = await fresh(t);
  const tok = await v.issueToken({ permissions: ['read', 'write'] });
  await v.put(tok.token, 'db', 'threshold-secret');
  assertJson(await v.mgmt('POST', '/recovery/phrase'), 200);
  const admins = holders(2, 'admin');
  const setup = assertJson(await v.mgmt('POST', '/threshold/setup', { k: 2, admins: publicOf(admins), thresholdOnly: true }), 200);
  assert.deepEqual(setup.removedWrappers, [1, 2]);
  assertJson(await v.cap(tok.token, 'GET', '/secrets/db'), 401); // a rekey invalidates every token
  assertJson(await v.mgmt('POST', '/recovery/phrase'), 403);
  await v.lock();
  assertJson(await v.unlockRaw(password), 403);
  const req = assertJson(await v.mgmt('POST', '/threshold/unlock/request', {}), 200);
  for (const [i, a] of admins.entries())
    assertJson(await v.mgmt('POST', `/threshold/unlock/${req.requestId}/approve`,
      { adminId: a.id, share: openShare(setup.admins[i].sealedShare, a) }), 200);
  const tok2 = await v.issueToken({ permissions: ['read'] });
  assert.equal((await v.get(tok2.token, 'db')).json.value, 'threshold-secret');
});

test('rekey re-encrypts everything; kill -9 at any point leaves the old or the new state, never a mix', async (t) => {
  const { v, password } = await fresh(t);
  const tok = await v.issueToken({ permissions: ['read', 'write'], allowedSecrets: ['*'] });
  const N = 1500;
  for (let i = 0; i < N; i += 50)
    await Promise.all(Array.from({ length: 50 }, (_, j) => v.put(tok.token, `s${i + j}`, `value-${i + j}`)));
  assertJson(await v.mgmt('POST', '/rekey', { password: 'wrong password!!' }), 401);
  const t0 = Date.now();
  const ok = assertJson(await v.mgmt('POST', '/rekey', { password }), 200);
  const full = Date.now() - t0;
  assert.ok(ok.revision > N);
  assertJson(await v.cap(tok.token, 'GET', '/secrets/s1'), 401);

  // Kill at points spread over a whole rekey (KDF, re-encryption, commit) and just after it.
  const outcomes = new Set();
  for (const f of [0.1, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0, 1.1, 1.6]) {
    const before = await v.issueToken({ permissions: ['read'] });
    const pending = v.mgmt('POST', '/rekey', { password }).catch(() => null);
    await sleep(Math.round(full * f));
    await v.kill9();
    await pending;
    await v.start();
    await v.unlock(password); // a mixed state would fail the integrity check here (500)
    const old = await v.get(before.token, 's0');
    outcomes.add(old.status === 200 ? 'old' : 'new');
    const t2 = old.status === 200 ? before : await v.issueToken({ permissions: ['read'] });
    const list = assertJson(await v.cap(t2.token, 'GET', '/secrets'), 200);
    assert.equal(list.keys.length, N, `after a kill at ${f} of a rekey`);
    for (const i of [0, 1, N - 1, Math.floor(N / 2)])
      assert.equal((await v.get(t2.token, `s${i}`)).json.value, `value-${i}`);
  }
  // Whatever the timing, an acknowledged rekey is durable: kill -9 right after its 200.
  const before = await v.issueToken({ permissions: ['read'] });
  assertJson(await v.mgmt('POST', '/rekey', { password }), 200);
  await v.kill9();
  await v.start();
  await v.unlock(password);
  assertJson(await v.get(before.token, 's0'), 401);
  const t3 = await v.issueToken({ permissions: ['read'] });
  assert.equal(assertJson(await v.cap(t3.token, 'GET', '/secrets'), 200).keys.length, N);
  assert.ok(outcomes.has('old'), 'a kill early in a rekey leaves the old state');
  const verify = await import('./lib/vaultd.mjs').then((m) => m.runZkvault(['vaultd', '--verify-audit', '--data-dir', v.dataDir]));
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});

test('a rekey in the middle of a write storm: every acknowledged write survives it, sealed with the new keys', async (t) => {
  // Writes the writer runs after a rekey in the same batch used to be sealed with the old keys into a vault
  // already re-encrypted with the new ones: the next unlock failed its integrity check.
  const { v, password } = await fresh(t);
  const acked = new Map();
  for (let round = 0; round < 3; round++) {
    const tok = await v.issueToken({ permissions: ['read', 'write'] }); // a rekey invalidates every token
    let stop = false;
    let i = 0;
    const storm = (async () => {
      while (!stop) {
        await Promise.all(Array.from({ length: 32 }, async () => {
          const name = `storm-${round}-${i++}`;
          const value = uuid();
          const r = await v.cap(tok.token, 'POST', `/secrets/${name}`, { value });
          if (r.status === 200) acked.set(name, value);
          else assert.equal(r.status, 401, r.text); // only once the rekey has invalidated the token
        }));
      }
    })();
    await sleep(50);
    assertJson(await v.mgmt('POST', '/rekey', { password }), 200);
    stop = true;
    await storm;
    assertJson(await v.mgmt('POST', '/lock'), 200);
    assertJson(await v.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: acked.size });
  }
  const reader = await v.issueToken({ permissions: ['read'] });
  for (const [name, value] of acked) assert.equal(assertJson(await v.get(reader.token, name), 200).value, value);
});

test('canary: no phrase, hardware key or share is stored, logged or exported in the clear', async (t) => {
  const { v } = await fresh(t);
  const phrase = assertJson(await v.mgmt('POST', '/recovery/phrase'), 200).phrase;
  const hw = assertJson(await v.mgmt('POST', '/recovery/hardware'), 200).hardwareKey;
  const contacts = holders(3, 'c');
  const social = assertJson(await v.mgmt('POST', '/recovery/social', { threshold: 2, contacts: publicOf(contacts) }), 200);
  const shares = social.contacts.map((c, i) => openShare(c.sealedShare, contacts[i]));
  const admins = holders(2, 'a');
  const th = assertJson(await v.mgmt('POST', '/threshold/setup', { k: 2, admins: publicOf(admins) }), 200);
  const tshares = th.admins.map((a, i) => openShare(a.sealedShare, admins[i]));
  const exp = await v.mgmt('GET', '/export');
  await v.lock();
  await v.mgmt('POST', '/recover', { phrase, newPassword: 'canary new password' });
  await v.stop();
  const needles = [phrase, phrase.split(' ').slice(0, 3).join(' '), hw, hw.replaceAll('-', ''), ...shares, ...tshares]
    .flatMap((s) => [s, Buffer.from(s).toString('base64')]);
  const hay = [...(await readAllFiles(v.dataDir)).map((f) => [f.path, f.data]), ['export', Buffer.from(exp.text)],
    ['stdout', v.stdout], ['stderr', v.stderr]];
  for (const [where, data] of hay)
    for (const n of needles) assert.equal(data.includes(Buffer.from(n)), false, `${where} holds a recovery secret`);
});
