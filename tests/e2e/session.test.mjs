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
    const logs = await v.audit('?limit=5');
    assert.equal(logs[0].action, 'vault.unlocked');
    assert.equal(logs[1].action, 'vault.locked');
    assert.equal(logs[1].error, 'session expired');
    assert.equal(logs[1].userId, 'system');
  });

  test('reads do not extend the session', async () => {
    const t0 = await unlockedAt();
    while (Date.now() - t0 < 1100) {
      assertJson(await v.get(token, 's'), 200);
      await sleep(100);
    }
    await sleep(Math.max(0, 2400 - (Date.now() - t0)));
    assertJson(await v.get(token, 's'), 423, LOCKED);
  });

  test('POST /extend renews the session', async () => {
    const t0 = await unlockedAt();
    await sleep(1200);
    assertJson(await v.mgmt('POST', '/extend'), 200, { success: true, expiresIn: 2 });
    const t1 = Date.now();
    await sleep(Math.max(0, 2400 - (Date.now() - t0))); // past the first deadline, before the new one
    assert.ok(Date.now() - t1 < 1900, 'the host was too slow for this timing');
    assertJson(await v.get(token, 's'), 200);
    assert.equal((await v.status()).unlocked, true);
    await sleep(Math.max(0, 2600 - (Date.now() - t1)));
    assertJson(await v.get(token, 's'), 423, LOCKED);
    assertJson(await v.mgmt('POST', '/extend'), 423, LOCKED);
  });

  test('an explicit lock ends the session at once', async () => {
    await unlockedAt();
    await v.lock();
    assertJson(await v.get(token, 's'), 423, LOCKED);
    assertJson(await v.mgmt('POST', '/extend'), 423, LOCKED);
  });
});
