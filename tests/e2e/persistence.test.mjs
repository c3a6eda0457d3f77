// Persistence: restarts (clean and kill -9), durability of acknowledged writes, revocations and the audit log
// across restarts, `--verify-audit` against a tampered log, and the integrity check of the record index.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { assertJson, mkTmp, newestFirst, newPassword, rmTmp, sqlite, uuid, Vaultd, waitFor } from './lib/vaultd.mjs';

const BAD_CAP = { error: 'Invalid or expired capability token' };
const LOCKED = { error: 'Vault is locked', code: 'VAULT_LOCKED' };

let v;
let scratch;
const password = newPassword();
let all;
const stored = new Map(); // every secret acknowledged with 200: name -> value
let secretCount = 0; // what the last unlock reported

before(async () => {
  v = await Vaultd.start();
  scratch = await mkTmp('zkvault-e2e-copies-');
  await v.initAndUnlock(password);
  all = await v.issueToken({ permissions: ['read', 'write', 'delete'] });
});
after(async () => {
  await v?.close();
  await rmTmp(scratch);
});

/** Reads every acknowledged secret back from vault t, 25 requests at a time. */
async function readAll(token, t = v) {
  const entries = [...stored];
  for (let i = 0; i < entries.length; i += 25) {
    await Promise.all(entries.slice(i, i + 25).map(async ([name, value]) => {
      const r = assertJson(await t.get(token, name), 200);
      assert.equal(r.value, value, name);
    }));
  }
}

describe('restart', () => {
  test('keeps the vault and its secrets; it comes back locked', async () => {
    for (let i = 0; i < 5; i++) {
      await v.put(all.token, `keep-${i}`, `kept value ${i}`, { i });
      stored.set(`keep-${i}`, `kept value ${i}`);
    }
    await v.put(all.token, 'keep-0', 'kept value 0 v2', { i: 0 });
    stored.set('keep-0', 'kept value 0 v2');
    assertJson(await v.cap(all.token, 'DELETE', '/secrets/keep-4'), 200, { success: true });
    stored.delete('keep-4');
    const before = await v.status();
    const r = await v.stop();
    assert.deepEqual(r, { code: 0, signal: null }, 'SIGTERM is a clean exit');
    await v.start();
    const s = await v.status();
    assert.equal(s.initialized, true);
    assert.equal(s.unlocked, false);
    assert.equal(s.vaultId, before.vaultId);
    assertJson(await v.req('GET', '/health'), 200, {
      status: 'ok', groupId: v.groupId, vaultInitialized: true, vaultUnlocked: false,
    });
    // The old token is still a valid token of this vault, and the vault is locked.
    assertJson(await v.get(all.token, 'keep-1'), 423, LOCKED);
    assertJson(await v.mgmt('POST', '/init', { password: newPassword() }), 409, { error: 'Vault already initialized' });
    assertJson(await v.unlockRaw(newPassword()), 401, { error: 'Invalid password' });
    assertJson(await v.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 4 });
    assert.equal((await v.status()).revision, before.revision);
    await readAll(all.token);
    assertJson(await v.get(all.token, 'keep-4'), 404, { error: 'Secret not found' });
    assertJson(await v.get(all.token, 'keep-0'), 200, { key: 'keep-0', value: 'kept value 0 v2', metadata: { i: 0 }, version: 2 });
    assertJson(await v.cap(all.token, 'GET', '/secrets/keep-0?version=1'), 200,
      { key: 'keep-0', value: 'kept value 0', metadata: { i: 0 }, version: 1 });
  });

  test('SIGINT is a clean exit too; the process never writes a core dump', async () => {
    assertJson(await v.unlockRaw(password), 200);
    // Core dumps off (they would hold the unlocked keys): a zero core size limit, soft and hard.
    const limits = await readFile(`/proc/${v.proc.pid}/limits`, 'utf8');
    assert.match(limits, /^Max core file size\s+0\s+0\s+bytes\s*$/m);
    assert.deepEqual(await v.stop('SIGINT'), { code: 0, signal: null }, 'SIGINT is a clean exit');
    await v.start();
    assert.equal((await v.status()).unlocked, false);
    assertJson(await v.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 4 });
    await readAll(all.token);
  });

  test('every write acknowledged before kill -9 survives (concurrent writes)', async () => {
    const n = 200;
    const batch = Array.from({ length: n }, (_, i) => [`burst-${i}`, `burst value ${i} ${uuid()}`]);
    let acked = 0;
    const results = await Promise.all(batch.map(async ([name, value]) => {
      const r = await v.cap(all.token, 'POST', `/secrets/${name}`, { value });
      if (r.status === 200) acked++;
      return r;
    }));
    // The last 200 has just arrived: kill at once.
    await v.kill9();
    assert.equal(acked, n);
    for (const r of results) assertJson(r, 200, { success: true, created: true, version: 1 });
    for (const [name, value] of batch) stored.set(name, value);
    await v.start();
    assertJson(await v.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: stored.size });
    await readAll(all.token);
  });

  test('kill -9 in the middle of a write storm: acknowledged writes survive, the index stays consistent', async () => {
    const n = 300;
    const batch = Array.from({ length: n }, (_, i) => [`storm-${i}`, `storm value ${i} ${uuid()}`]);
    const acked = new Map();
    let killing = null;
    const all200 = Promise.all(batch.map(async ([name, value]) => {
      try {
        const r = await v.cap(all.token, 'POST', `/secrets/${name}`, { value });
        if (r.status === 200) {
          assert.deepEqual(r.json, { success: true, created: true, version: 1 });
          if (!killing) acked.set(name, value);
          if (acked.size >= 100 && !killing) killing = v.kill9();
        }
      } catch {
        /* the connection died with the server */
      }
    }));
    await all200;
    await killing;
    assert.ok(acked.size >= 100, `${acked.size} acknowledged`);
    await v.start();
    const u = assertJson(await v.unlockRaw(password), 200);
    assert.ok(u.secretCount >= stored.size + acked.size, `secretCount ${u.secretCount}`);
    assert.ok(u.secretCount <= stored.size + n);
    secretCount = u.secretCount;
    for (const [name, value] of acked) stored.set(name, value);
    await readAll(all.token);
    // Writes that were not acknowledged are either fully there or absent, never another value.
    const names = assertJson(await v.cap(all.token, 'GET', '/secrets'), 200).keys.map((k) => k.key);
    const values = new Map(batch);
    for (const name of names.filter((x) => x.startsWith('storm-'))) {
      const r = assertJson(await v.get(all.token, name), 200);
      assert.equal(r.value, values.get(name));
    }
    assert.equal(names.length, u.secretCount);
  });
});

describe('clean stop under load', () => {
  test('SIGTERM in the middle of a write storm: exit 0, every acknowledged write survives', async () => {
    // Requests waiting for the writer are suspended connections; libmicrohttpd aborts the process when it is
    // stopped with one, so the stop must let them finish first.
    const n = 400;
    const batch = Array.from({ length: n }, (_, i) => [`term-${i}`, `term value ${i} ${uuid()}`]);
    const acked = new Map();
    let stopping = null;
    await Promise.all(batch.map(async ([name, value]) => {
      try {
        const r = await v.cap(all.token, 'POST', `/secrets/${name}`, { value });
        if (r.status === 200) {
          assert.deepEqual(r.json, { success: true, created: true, version: 1 });
          acked.set(name, value);
          if (acked.size >= 50 && !stopping) stopping = v.stop('SIGTERM');
        }
      } catch {
        /* refused or closed once the server stopped accepting */
      }
    }));
    assert.deepEqual(await stopping, { code: 0, signal: null }, 'a clean exit, not an abort');
    assert.ok(acked.size >= 50 && acked.size <= n, `${acked.size} acknowledged`);
    await v.start();
    const u = assertJson(await v.unlockRaw(password), 200);
    assert.ok(u.secretCount >= stored.size + acked.size, `secretCount ${u.secretCount}`);
    assert.ok(u.secretCount <= secretCount + n, `secretCount ${u.secretCount}, was ${secretCount}`);
    secretCount = u.secretCount;
    for (const [name, value] of acked) stored.set(name, value);
    await readAll(all.token);
  });
});

describe('clean stop while a request waits', () => {
  test('SIGTERM during an unlock\'s key derivation: the unlock is answered, a later request gets 503, exit 0', async () => {
    // The unlock waits on a suspended connection while Argon2id runs (≈ 0.2 s). The stop must wait for its
    // answer to go out; a request that arrives meanwhile must not start a handler (it could suspend its
    // connection under the stop), so it is answered 503 at once.
    await v.lock();
    const unlocking = v.unlockRaw(password);
    await new Promise((r) => setTimeout(r, 30));
    let settled = false;
    unlocking.then(() => (settled = true), () => (settled = true));
    const exited = v.exited;
    v.proc.kill('SIGTERM');
    // Until the stop has begun /health is still answered 200; from then on 503 — while the unlock is running.
    let during = null;
    while (!settled && !during) {
      const r = await v.req('GET', '/health').catch(() => null);
      if (r?.status === 503) during = r;
      else await new Promise((res) => setTimeout(res, 5));
    }
    assert.ok(during, 'a request made during the stop, while the unlock was still running, was answered');
    assertJson(during, 503, { error: 'Server is shutting down', code: 'SHUTTING_DOWN' });
    assertJson(await unlocking, 200);
    assert.deepEqual(await exited, { code: 0, signal: null }, 'a clean exit');
    v.proc = null;
    await v.start();
    assert.equal((await v.status()).unlocked, false, 'the stop locked the vault');
    const u = assertJson(await v.unlockRaw(password), 200);
    assert.equal(u.secretCount, secretCount);
  });
});

describe('records layout', () => {
  // Vaults made before the records table was appended in write order kept it keyed by (name_hash, version),
  // WITHOUT ROWID. Such a file is rebuilt here from a current one and must open, migrate once, and lose nothing.
  const OLD_LAYOUT = `BEGIN;
    CREATE TABLE records_old(name_hash BLOB NOT NULL, version INTEGER NOT NULL, record_id BLOB NOT NULL,
      tombstone INTEGER NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY(name_hash, version)) WITHOUT ROWID;
    INSERT INTO records_old SELECT name_hash, version, record_id, tombstone, sealed FROM records;
    DROP TABLE records;
    ALTER TABLE records_old RENAME TO records;
    COMMIT;`;
  // The current layout: rows in write order (seq) and no index at all (the in-memory index finds the rows).
  const hasSeq = async (db) =>
    (await sqlite(db, "SELECT (SELECT count(*) FROM pragma_table_info('records') WHERE name='seq') || ' ' || " +
      "(SELECT count(*) FROM pragma_index_list('records'))")).trim() === '1 0';
  // The layout of 38cac22 (rows in write order, a unique index on name and version) migrates too.
  const UNIQUE_LAYOUT = `BEGIN;
    CREATE TABLE records_u(seq INTEGER PRIMARY KEY, name_hash BLOB NOT NULL, version INTEGER NOT NULL,
      record_id BLOB NOT NULL, tombstone INTEGER NOT NULL, sealed BLOB NOT NULL, UNIQUE(name_hash, version));
    INSERT INTO records_u(name_hash, version, record_id, tombstone, sealed)
      SELECT name_hash, version, record_id, tombstone, sealed FROM records ORDER BY seq;
    DROP TABLE records;
    ALTER TABLE records_u RENAME TO records;
    COMMIT;`;

  test('concurrent writes of one name get consecutive versions; the newest 10 stay readable', async () => {
    const t = await Vaultd.start();
    const pw = newPassword();
    try {
      await t.initAndUnlock(pw);
      const tok = await t.issueToken({ permissions: ['read', 'write'] });
      // 30 at once: they share group-commit batches, so versions come from the writer's pending entries.
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) =>
        t.cap(tok.token, 'POST', '/secrets/hot', { value: `hot ${i}` })));
      const versions = answers.map((r) => assertJson(r, 200).version).sort((a, b) => a - b);
      assert.deepEqual(versions, Array.from({ length: 30 }, (_, i) => i + 1));
      const byVersion = new Map(answers.map((r, i) => [r.json.version, `hot ${i}`]));
      const list = assertJson(await t.cap(tok.token, 'GET', '/secrets/hot/versions'), 200);
      assert.deepEqual(list.versions.map((x) => x.version), [30, 29, 28, 27, 26, 25, 24, 23, 22, 21]);
      for (let n = 21; n <= 30; n++) {
        assert.equal(assertJson(await t.cap(tok.token, 'GET', `/secrets/hot?version=${n}`), 200).value, byVersion.get(n));
      }
      assertJson(await t.cap(tok.token, 'GET', '/secrets/hot?version=20'), 404);
      assert.equal((await sqlite(t.dbPath, 'SELECT count(*) FROM records')).trim(), '10', 'pruned on disk too');
      // The same after a restart, from the rows alone.
      await t.restart();
      assertJson(await t.unlockRaw(pw), 200, { success: true, expiresIn: 1800, secretCount: 1 });
      const again = assertJson(await t.cap(tok.token, 'GET', '/secrets/hot/versions'), 200);
      assert.deepEqual(again.versions, list.versions);
      assert.equal(assertJson(await t.cap(tok.token, 'GET', '/secrets/hot?version=21'), 200).value, byVersion.get(21));
    } finally {
      await t.close();
    }
  });

  for (const [what, layout] of [['keyed by name WITHOUT ROWID', OLD_LAYOUT], ['with a unique index', UNIQUE_LAYOUT]])
  test(`a vault in an older layout (${what}) opens, migrates once and keeps every version`, async () => {
    const old = await Vaultd.start();
    try {
      const pw = newPassword();
      await old.initAndUnlock(pw);
      const t = await old.issueToken({ permissions: ['read', 'write', 'delete'] });
      const values = new Map();
      for (let i = 0; i < 30; i++) {
        values.set(`old-${i}`, `old value ${i} ${uuid()}`);
        assertJson(await old.cap(t.token, 'POST', `/secrets/old-${i}`, { value: values.get(`old-${i}`) }), 200);
      }
      for (const v2 of ['second', 'third']) {
        assertJson(await old.cap(t.token, 'POST', '/secrets/old-0', { value: v2 }), 200);
      }
      values.set('old-0', 'third');
      assertJson(await old.cap(t.token, 'DELETE', '/secrets/old-1'), 200);
      values.delete('old-1');
      await old.stop();
      assert.equal(await hasSeq(old.dbPath), true);
      await sqlite(old.dbPath, layout);
      assert.equal(await hasSeq(old.dbPath), false, 'the old layout was rebuilt');

      await old.start();
      assertJson(await old.unlockRaw(pw), 200, { success: true, expiresIn: 1800, secretCount: 29 });
      for (const [name, value] of values) assert.equal(assertJson(await old.get(t.token, name), 200).value, value);
      assertJson(await old.get(t.token, 'old-1'), 404);
      const list = assertJson(await old.cap(t.token, 'GET', '/secrets/old-0/versions'), 200);
      assert.deepEqual(list.versions.map((x) => x.version), [3, 2, 1]);
      assertJson(await old.cap(t.token, 'GET', '/secrets/old-0?version=2'), 200,
        { key: 'old-0', value: 'second', metadata: {}, version: 2 });
      assertJson(await old.cap(t.token, 'POST', '/secrets/old-0', { value: 'fourth' }), 200,
        { success: true, created: false, version: 4 });
      await old.stop();
      assert.equal(await hasSeq(old.dbPath), true, 'migrated');
      assert.equal((await sqlite(old.dbPath, 'PRAGMA integrity_check')).trim(), 'ok');
      assert.equal((await sqlite(old.dbPath, 'SELECT count(*) FROM records')).trim(), String(30 + 2 + 1 + 1));
      assert.equal((await old.verifyAudit()).code, 0);
      await old.start();
      assertJson(await old.unlockRaw(pw), 200, { success: true, expiresIn: 1800, secretCount: 29 });
      assert.equal(assertJson(await old.get(t.token, 'old-0'), 200).value, 'fourth');
    } finally {
      await old.close();
    }
  });
});

describe('revocation persists', () => {
  test('revoked by id and by user: still refused after a clean restart and after kill -9', async () => {
    const byId = await v.issueToken();
    const userId = uuid();
    const u1 = await v.issueToken({ userId });
    const u2 = await v.issueToken({ userId, permissions: ['read', 'write'] });
    const keep = await v.issueToken();
    for (const t of [byId, u1, u2, keep]) assertJson(await v.get(t.token, 'keep-1'), 200);
    assertJson(await v.mgmt('DELETE', `/tokens/${byId.id}`), 200, { success: true });
    assertJson(await v.mgmt('DELETE', `/tokens/user/${userId}`), 200, {
      success: true, revokedCount: { memory: 2, db: 2 },
    });
    const check = async () => {
      for (const t of [byId, u1, u2]) assertJson(await v.get(t.token, 'keep-1'), 401, BAD_CAP);
      assertJson(await v.get(keep.token, 'keep-1'), 200);
    };
    await check();
    // kill -9 right after the acknowledged revocations.
    await v.kill9();
    await v.start();
    // Refused even while locked: revocation does not need the keys.
    for (const t of [byId, u1, u2]) assertJson(await v.get(t.token, 'keep-1'), 401, BAD_CAP);
    assertJson(await v.get(keep.token, 'keep-1'), 423, LOCKED);
    await v.unlock(password);
    await check();
    await v.restart();
    await v.unlock(password);
    await check();
    // The user can be given a new token, which works.
    const fresh = await v.issueToken({ userId });
    assertJson(await v.get(fresh.token, 'keep-1'), 200);
  });
});

describe('audit log', () => {
  test('survives restarts, stays in order, records the shutdown lock', async () => {
    await v.put(all.token, 'audit-probe', 'a');
    assertJson(await v.get(all.token, 'audit-probe'), 200);
    const before = await waitFor(async () => {
      const l = await v.audit('?limit=1000');
      return l.some((e) => e.action === 'secret.read' && e.secretKey === 'audit-probe') ? l : null;
    });
    assert.ok(before, 'the read reached the log');
    // Reads are coalesced in time, so how many entries the tests above left depends on timing;
    // the limit caps the page either way.
    assert.ok(before.length > 100 && before.length <= 1000, `${before.length} entries`);
    await v.restart();
    // A failed unlock while locked is recorded too (sealed to the audit key), readable after unlock.
    assertJson(await v.unlockRaw(`${password}-wrong`), 401, { error: 'Invalid password' });
    await v.unlock(password);
    const afterLogs = await v.audit('?limit=1000');
    // New entries come after everything that was there, which is still there, unchanged.
    const newer = afterLogs.filter((x) => x.seq > before[0].seq).reverse();
    assert.deepEqual(newer.map((e) => [e.action, e.success, e.error]), [
      ['vault.locked', true, undefined],
      ['vault.unlock_failed', false, 'Invalid password'],
      ['vault.unlocked', true, undefined],
    ]);
    assert.equal(newer[1].ipAddress, '127.0.0.1');
    assert.equal(afterLogs.length, Math.min(1000, before.length + newer.length));
    assert.deepEqual(afterLogs.slice(newer.length), before.slice(0, afterLogs.length - newer.length));
    // Rows without gaps (the reads of one flush share a row, told apart by part).
    assert.ok(newestFirst(afterLogs), 'newest first');
    const seqs = [...new Set(afterLogs.map((e) => e.seq))];
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0] - i), 'no gaps');
  });
});

// The cases below work on copies of one snapshot of the data dir, taken with the server stopped.
let base;
let rows;
const copy = async (name) => {
  const dir = join(scratch, name);
  await cp(base, dir, { recursive: true });
  return dir;
};

describe('--verify-audit', () => {
  before(async () => {
    await v.stop();
    base = join(scratch, 'base');
    await cp(v.dataDir, base, { recursive: true });
    await v.start();
    rows = (await sqlite(join(base, 'vault.db'), 'SELECT seq FROM audit ORDER BY seq')).trim().split('\n').map(Number);
    assert.ok(rows.length > 20, `${rows.length} audit rows`);
  });

  test('exits 0 on an intact log', async () => {
    const r = await v.verifyAudit(base);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`audit: ${rows.length} entries, [1-9]\\d* signed checkpoints, chain intact`));
    // The live one too (the server holds it open; SQLite allows a reader).
    const live = await v.verifyAudit();
    assert.equal(live.code, 0, live.stdout + live.stderr);
  });

  test('fails when a middle row is deleted', async () => {
    const dir = await copy('deleted');
    const mid = rows[Math.floor(rows.length / 2)];
    await sqlite(join(dir, 'vault.db'), `DELETE FROM audit WHERE seq=${mid}`);
    const r = await v.verifyAudit(dir);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stdout, new RegExp(`entry ${mid} missing`));
  });

  test('fails when one byte of an entry blob is altered', async () => {
    const dir = await copy('altered');
    const db = join(dir, 'vault.db');
    const seq = rows[3];
    const h = (await sqlite(db, `SELECT hex(blob) FROM audit WHERE seq=${seq}`)).trim();
    const b = Buffer.from(h, 'hex');
    b[Math.floor(b.length / 2)] ^= 0x01;
    await sqlite(db, `UPDATE audit SET blob=X'${b.toString('hex')}' WHERE seq=${seq}`);
    assert.equal((await sqlite(db, `SELECT hex(blob) FROM audit WHERE seq=${seq}`)).trim(), b.toString('hex').toUpperCase());
    const r = await v.verifyAudit(dir);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stdout, new RegExp(`entry ${seq} was altered`));
  });

  test('fails when two rows swap their seq', async () => {
    const dir = await copy('swapped');
    const [a, b] = [rows[5], rows[6]];
    await sqlite(join(dir, 'vault.db'),
      `UPDATE audit SET seq=-1 WHERE seq=${a}; UPDATE audit SET seq=${a} WHERE seq=${b}; UPDATE audit SET seq=${b} WHERE seq=-1;`);
    const r = await v.verifyAudit(dir);
    assert.notEqual(r.code, 0, r.stdout);
  });

  test('fails when the newest rows are cut off', async () => {
    const dir = await copy('truncated');
    await sqlite(join(dir, 'vault.db'), `DELETE FROM audit WHERE seq=${rows[rows.length - 1]}`);
    const r = await v.verifyAudit(dir);
    assert.notEqual(r.code, 0, r.stdout);
  });

  test('fails on a data dir without a vault', async () => {
    const r = await v.verifyAudit(join(scratch, 'empty'));
    assert.notEqual(r.code, 0);
  });
});

describe('integrity of the records', () => {
  // Each case: a copy of the snapshot, tampered with sqlite3, served by a fresh vaultd.
  async function tampered(name, sql) {
    const dir = await copy(name);
    await sqlite(join(dir, 'vault.db'), sql);
    return Vaultd.start({ dataDir: dir, dir: await mkTmp(), authToken: v.authToken, groupId: v.groupId });
  }

  const INTEGRITY = {
    error: 'Vault integrity check failed: records were removed, replaced or rolled back',
    code: 'INTEGRITY',
  };

  test('deleting the newest version of a record makes unlock fail with 500 INTEGRITY', async () => {
    // keep-0 is the only record with a version 2.
    const t = await tampered('newest-deleted', 'DELETE FROM records WHERE version=2');
    try {
      assertJson(await t.unlockRaw(password), 500, INTEGRITY);
      const s = await t.status();
      assert.equal(s.unlocked, false);
      assertJson(await t.get(all.token, 'keep-1'), 423, LOCKED);
      assertJson(await t.mgmt('POST', '/tokens', { userId: uuid() }), 423, LOCKED);
    } finally {
      await t.close();
    }
  });

  test('deleting a whole record is detected too', async () => {
    const t = await tampered('record-deleted',
      'DELETE FROM records WHERE name_hash=(SELECT name_hash FROM records ORDER BY name_hash LIMIT 1)');
    try {
      assertJson(await t.unlockRaw(password), 500, INTEGRITY);
    } finally {
      await t.close();
    }
  });

  test('a version stored twice is detected (the table has no unique key)', async () => {
    const t = await tampered('duplicated', 'INSERT INTO records(name_hash, version, record_id, tombstone, sealed) ' +
      'SELECT name_hash, version, record_id, tombstone, sealed FROM records ORDER BY seq LIMIT 1');
    try {
      assertJson(await t.unlockRaw(password), 500, INTEGRITY);
    } finally {
      await t.close();
    }
  });

  test('an untouched copy unlocks (the check is not a false alarm)', async () => {
    const t = await tampered('untouched', 'SELECT 1');
    try {
      assertJson(await t.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: secretCount + 1 });
      await readAll(all.token, t);
    } finally {
      await t.close();
    }
  });
});
