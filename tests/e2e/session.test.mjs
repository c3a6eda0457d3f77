// Sessions: auto-lock after --session-timeout, /extend renews, reads do not, and the 423 answers carry the
// --unlock-url.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertJson, newPassword, sleep, uuid, Vaultd } from './lib/vaultd.mjs';

const UNLOCK_URL = 'https://vault.example.test/unlock?group=g&x="1"';
const LOCKED = { error: 'Vault is locked', code: 'VAULT_LOCKED', unlockUrl: UNLOCK_URL };

let v;
const password = newPassword();
let token;

before(async () => {
  v = await Vaultd.start({ args: ['--session-timeout', '2', '--unlock-url', UNLOCK_URL] });
  await v.init(password);
});
after(async () => {
  await v?.close();
});

/** Polls until the vault answers 423 (returns the time), failing after the deadline. */
async function waitLocked(deadline) {
  for (;;) {
    const r = await v.get(token, 's');
    if (r.status === 423) {
      assertJson(r, 423, LOCKED);
      return Date.now();
    }
    assertJson(r, 200);
    assert.ok(Date.now() < deadline, 'the session did not end');
    await sleep(50);
  }
}

async function unlockedAt() {
  const r = await v.unlockRaw(password);
  const t = Date.now();
  assertJson(r, 200);
  assert.equal(r.json.expiresIn, 2);
  return t;
}

describe('auto-lock', () => {
  test('every locked answer carries unlockUrl', async () => {
    assertJson(await v.mgmt('POST', '/extend'), 423, LOCKED);
    assertJson(await v.mgmt('POST', '/tokens', { userId: uuid() }), 423, LOCKED);
    assertJson(await v.mgmt('GET', '/audit'), 423, LOCKED);
    assertJson(await v.mgmt('GET', '/audit/secret/x'), 423, LOCKED);
  });

  test('the session ends by itself after the timeout', async () => {
    await unlockedAt();
    token = (await v.issueToken({ permissions: ['read', 'write', 'delete'] })).token;
    await v.put(token, 's', 'value');
    assertJson(await v.get(token, 's'), 200, { key: 's', value: 'value', metadata: {}, version: 1 });
    const s = await v.status();
    assert.equal(s.unlocked, true);
    assert.ok(s.expiresIn >= 0 && s.expiresIn <= 2, `expiresIn ${s.expiresIn}`);
    await sleep(3000);
    assertJson(await v.get(token, 's'), 423, LOCKED);
    assertJson(await v.cap(token, 'GET', '/secrets'), 423, LOCKED);
    assertJson(await v.cap(token, 'GET', '/secrets/s/versions'), 423, LOCKED);
    assertJson(await v.cap(token, 'POST', '/secrets/s', { value: 'x' }), 423, LOCKED);
    assertJson(await v.cap(token, 'DELETE', '/secrets/s'), 423, LOCKED);
    assertJson(await v.mgmt('POST', '/tokens', { userId: uuid() }), 423, LOCKED);
    assertJson(await v.mgmt('GET', '/audit'), 423, LOCKED);
    assertJson(await v.mgmt('POST', '/extend'), 423, LOCKED);
    const after = await v.status();
    assert.equal(after.unlocked, false);
    assert.equal(after.expiresIn, 0);
    assertJson(await v.req('GET', '/health'), 200, {
      status: 'ok', groupId: v.groupId, vaultInitialized: true, vaultUnlocked: false,
    });
  });

  test('the automatic lock is audited and the data is intact', async () => {
    await unlockedAt();
    assertJson(await v.get(token, 's'), 200, { key: 's', value: 'value', metadata: {}, version: 1 });
    // (The read just made may or may not be in the log yet: look at the vault's own events.)
    const logs = (await v.audit('?limit=10')).filter((e) => e.action.startsWith('vault.'));
    assert.equal(logs[0].action, 'vault.unlocked');
    assert.equal(logs[1].action, 'vault.locked');
    assert.equal(logs[1].error, 'session expired');
    assert.equal(logs[1].userId, 'system');
  });

  test('reads do not extend the session', async () => {
    const t0 = await unlockedAt(); // the session ends at t0 + 2 s at the latest
    while (Date.now() - t0 < 1000) {
      assertJson(await v.get(token, 's'), 200);
      await sleep(100);
    }
    // Had the reads extended it, it would last until 2 s after the last read (t0 + 3 s and more).
    await sleep(Math.max(0, 2000 - (Date.now() - t0)));
    const locked = await waitLocked(t0 + 5000);
    assert.ok(locked - t0 < 2900, `locked ${locked - t0} ms after unlock`);
  });

  test('POST /extend renews the session (--session-timeout 4)', async () => {
    v.args = ['--session-timeout', '4', '--unlock-url', UNLOCK_URL];
    await v.restart();
    const r = await v.unlockRaw(password);
    const t0 = Date.now(); // the first deadline is at most t0 + 4 s
    assertJson(r, 200);
    assert.equal(r.json.expiresIn, 4);
    await sleep(2000);
    const e0 = Date.now(); // the new deadline is at least e0 + 4 s
    assertJson(await v.mgmt('POST', '/extend'), 200, { success: true, expiresIn: 4 });
    const e1 = Date.now();
    await sleep(Math.max(0, 4500 - (Date.now() - t0))); // past the first deadline
    assert.ok(Date.now() < e0 + 3800, 'the host was too slow for this timing');
    assertJson(await v.get(token, 's'), 200);
    assert.equal((await v.status()).unlocked, true);
    const locked = await waitLocked(e1 + 4000 + 3000);
    assert.ok(locked >= e0 + 4000, `locked ${locked - e0} ms after the extension`);
    assertJson(await v.mgmt('POST', '/extend'), 423, LOCKED);
  });

  test('an explicit lock ends the session at once', async () => {
    await v.unlock(password);
    await v.lock();
    assertJson(await v.get(token, 's'), 423, LOCKED);
    assertJson(await v.mgmt('POST', '/extend'), 423, LOCKED);
  });
});
