// GET /export and POST /import of the native envelope: export while locked and unlocked, restore into a fresh
// vault, refusal over another vault, rollback protection (409 ROLLBACK unless forced), malformed envelopes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertJson, newPassword, uuid, Vaultd } from './lib/vaultd.mjs';

const INVALID = { error: 'Invalid vault format' };
const ALREADY = { error: 'Vault already initialized' };
const ROLLBACK = {
  error: 'Refusing to import an older revision than this vault has seen; pass "force": true to roll back',
  code: 'ROLLBACK',
};

let a; // the source vault
const password = newPassword();
let token; // a token of vault a (tokens travel with the vault: same key)
let first; // export at 3 secrets

before(async () => {
  a = await Vaultd.start();
  await a.initAndUnlock(password);
  token = (await a.issueToken({ permissions: ['read', 'write', 'delete'] })).token;
  await a.put(token, 'one', 'first value', { n: 1 });
  await a.put(token, 'two', 'second value');
  await a.put(token, 'three', 'third value');
});
after(async () => a?.close());

const fresh = (opts = {}) => Vaultd.start({ groupId: a.groupId, ...opts });

describe('export', () => {
  test('needs auth; works unlocked and locked, with the same content', async () => {
    assertJson(await a.req('GET', '/export'), 401, { error: 'Unauthorized' });
    const unlocked = await a.exportVault();
    assert.equal(unlocked.format, 'zkvault-export');
    assert.equal(unlocked.version, 1);
    const s = await a.status();
    assert.equal(unlocked.vaultId, s.vaultId);
    assert.equal(unlocked.revision, s.revision);
    assert.equal(unlocked.revision, 3);
    assert.equal(unlocked.records.length, 3);
    assert.equal(unlocked.wrappers.length, 1);
    assert.equal(Buffer.from(unlocked.meta.vault_id, 'base64').toString('hex'), s.vaultId);
    assert.equal(unlocked.meta.group_id, a.groupId);
    await a.lock();
    const locked = await a.exportVault();
    assert.equal(locked.revision, 3);
    // The same records, wrappers and header; the audit log grew by the lock (and the export itself).
    for (const k of ['records', 'wrappers', 'tokens', 'revocations', 'subjects'])
      assert.deepEqual(locked[k], unlocked[k], k);
    assert.equal(locked.meta.header, unlocked.meta.header);
    assert.ok(locked.audit.length > unlocked.audit.length);
    assert.deepEqual(locked.audit.slice(0, unlocked.audit.length), unlocked.audit);
    first = locked;
    await a.unlock(password);
  });
});

describe('import into a fresh vault', () => {
  test('restores everything; the same password unlocks; tokens of the source still work', async () => {
    const b = await fresh();
    try {
      assertJson(await b.req('POST', '/import', { body: { vault: first } }), 401, { error: 'Unauthorized' });
      assertJson(await b.mgmt('POST', '/import', { vault: first }), 200, { success: true, message: 'Vault imported' });
      const s = await b.status();
      assert.equal(s.initialized, true);
      assert.equal(s.unlocked, false);
      assert.equal(s.vaultId, first.vaultId);
      assertJson(await b.unlockRaw(newPassword()), 401, { error: 'Invalid password' });
      assertJson(await b.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 3 });
      assertJson(await b.get(token, 'one'), 200, { key: 'one', value: 'first value', metadata: { n: 1 }, version: 1 });
      const t = (await b.issueToken()).token;
      assertJson(await b.get(t, 'two'), 200, { key: 'two', value: 'second value', metadata: {}, version: 1 });
      assertJson(await b.get(t, 'three'), 200, { key: 'three', value: 'third value', metadata: {}, version: 1 });
      // The audit log came along and goes on.
      const logs = await b.audit('?limit=1000');
      assert.equal(logs[logs.length - 1].seq, 1);
      assert.ok(logs.some((e) => e.action === 'vault.imported'));
      assert.equal((await b.status()).revision, 3);
      // And it survives a restart.
      await b.restart();
      assertJson(await b.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 3 });
      await b.stop();
      const verified = await b.verifyAudit();
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    } finally {
      await b.close();
    }
  });

  test('import into an initialised different vault is 409', async () => {
    const c = await fresh();
    try {
      await c.init(newPassword());
      assertJson(await c.mgmt('POST', '/import', { vault: first }), 409, ALREADY);
      // Also while unlocked, and with force: force is for rollbacks of the same vault only.
      assertJson(await c.mgmt('POST', '/import', { vault: first, force: true }), 409, ALREADY);
      assert.notEqual((await c.status()).vaultId, first.vaultId);
    } finally {
      await c.close();
    }
  });
});

describe('rollback protection', () => {
  let older;
  test('an older revision of the same vault is refused unless forced', async () => {
    older = await a.exportVault(); // revision 3
    await a.put(token, 'four', 'fourth value');
    await a.put(token, 'one', 'first value, v2');
    assert.equal((await a.status()).revision, 5);
    // A restore needs the vault locked.
    assertJson(await a.mgmt('POST', '/import', { vault: await a.exportVault() }), 409,
      { error: 'Lock the vault before restoring a backup over it' });
    await a.lock();
    assertJson(await a.mgmt('POST', '/import', { vault: older }), 409, ROLLBACK);
    assertJson(await a.mgmt('POST', '/import', { vault: older, force: false }), 409, ROLLBACK);
    assertJson(await a.mgmt('POST', '/import', { vault: older, force: 'yes' }), 409, ROLLBACK);
    // Nothing changed.
    assertJson(await a.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 4 });
    assertJson(await a.get(token, 'one'), 200, { key: 'one', value: 'first value, v2', metadata: {}, version: 2 });
    await a.lock();
  });

  test('still refused after a restart (the vault remembers the revision it has)', async () => {
    await a.restart();
    assertJson(await a.mgmt('POST', '/import', { vault: older }), 409, ROLLBACK);
  });

  test('the same revision (a backup of the current state) restores without force', async () => {
    const current = await a.exportVault();
    assert.equal(current.revision, 5);
    assertJson(await a.mgmt('POST', '/import', { vault: current }), 200, { success: true, message: 'Vault imported' });
    assertJson(await a.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 4 });
    await a.lock();
  });

  test('"force": true rolls back, and is audited', async () => {
    assertJson(await a.mgmt('POST', '/import', { vault: older, force: true }), 200,
      { success: true, message: 'Vault imported' });
    assertJson(await a.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 3 });
    assertJson(await a.get(token, 'one'), 200, { key: 'one', value: 'first value', metadata: { n: 1 }, version: 1 });
    assertJson(await a.get(token, 'four'), 404, { error: 'Secret not found' });
    assert.equal((await a.status()).revision, 3);
    const logs = await a.audit('?limit=5');
    assert.ok(logs.some((e) => e.action === 'vault.imported.forced'), JSON.stringify(logs));
  });
});

describe('malformed envelopes are 400 "Invalid vault format"', () => {
  test('on a fresh vault, nothing is written', async () => {
    const d = await fresh();
    try {
      const bad = [
        {},
        { vault: null },
        { vault: 'x' },
        { vault: [] },
        { vault: {} },
        { vault: { format: 'nope' } },
        { vault: { ...first, format: 'zkvault-exports' } },
        { vault: { ...first, version: 2 } },
        { vault: { ...first, meta: undefined } },
        { vault: { ...first, meta: { ...first.meta, vault_id: 'AAAA' } } },
        { vault: { ...first, revision: -1 } },
        { vault: { ...first, revision: '3' } },
        { vault: { ...first, records: undefined } },
        { vault: { ...first, audit: {} } },
        { vault: { ...first, wrappers: [] } },
        { vault: { format: 'ocmt-group-vault', version: 1 } },
      ];
      for (const b of bad) {
        const r = await d.mgmt('POST', '/import', b);
        assertJson(r, 400);
        assert.equal(r.json.error, INVALID.error, JSON.stringify(b).slice(0, 80));
        assert.equal(typeof r.json.details, 'string');
      }
      // Rows that do not fit their table are refused too, and leave the vault uninitialised.
      const broken = structuredClone(first);
      broken.records[1].sealed = 12;
      assertJson(await d.mgmt('POST', '/import', { vault: broken }), 400, INVALID);
      const broken2 = structuredClone(first);
      broken2.records[0].version = 'one';
      assertJson(await d.mgmt('POST', '/import', { vault: broken2 }), 400, INVALID);
      assertJson(await d.mgmt('POST', '/import', '{"vault": '), 400);
      assertJson(await d.mgmt('POST', '/import'), 400);
      const s = await d.status();
      assert.equal(s.initialized, false);
      assertJson(await d.req('GET', '/health'), 200, {
        status: 'ok', groupId: d.groupId, vaultInitialized: false, vaultUnlocked: false,
      });
      // And a good one still goes in afterwards.
      assertJson(await d.mgmt('POST', '/import', { vault: first }), 200, { success: true, message: 'Vault imported' });
      assertJson(await d.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 3 });
    } finally {
      await d.close();
    }
  });

  test('a tampered record is caught at unlock, not served', async () => {
    const e = await fresh({ groupId: uuid() });
    try {
      const t = structuredClone(first);
      t.records.splice(0, 1);
      assertJson(await e.mgmt('POST', '/import', { vault: t }), 200);
      assertJson(await e.unlockRaw(password), 500, {
        error: 'Vault integrity check failed: records were removed, replaced or rolled back',
        code: 'INTEGRITY',
      });
    } finally {
      await e.close();
    }
  });
});
