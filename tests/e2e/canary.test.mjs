// Zero knowledge at rest: a random password, secret value, secret name and metadata go through init, unlock,
// store, read, update, lock, export and restart; none of them may then appear in any file of the data dir
// (vault.db, -wal, -shm, everything), in the export, or in the server's stdout/stderr, in plain text, base64
// (any alignment, both alphabets) or hex.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertJson, hex, readAllFiles, Vaultd } from './lib/vaultd.mjs';

const password = `CANARY${hex(12)}`;
const value = `CANARY${hex(12)}`;
const name = `canary-name-${hex(12)}`;
const meta = `CANARY${hex(12)}`;
let v;

before(async () => {
  v = await Vaultd.start();
});
after(async () => v?.close());

/** Every way the string could be spelled in a file: raw, hex, and base64 at each of the 3 byte alignments. */
function forms(s) {
  const bytes = Buffer.from(s, 'utf8');
  const out = [['raw', bytes.toString('latin1')], ['hex', bytes.toString('hex')],
    ['HEX', bytes.toString('hex').toUpperCase()], ['utf16', Buffer.from(s, 'utf16le').toString('latin1')]];
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    // Only the characters that depend on nothing but s's bytes.
    const first = Math.ceil((8 * k) / 6);
    const last = Math.floor((8 * (k + bytes.length)) / 6); // exclusive
    const core = b64.slice(first, last);
    out.push([`base64/${k}`, core], [`base64url/${k}`, core.replace(/\+/g, '-').replace(/\//g, '_')]);
  }
  return out;
}

function assertAbsent(where, haystack, secrets) {
  const text = Buffer.isBuffer(haystack) ? haystack.toString('latin1') : haystack;
  for (const [label, s] of secrets)
    for (const [form, needle] of forms(s))
      assert.ok(!text.includes(needle), `${label} (${form}) found in ${where}`);
}

test('no password, value, name or metadata on disk, in exports or in logs', async () => {
  const secrets = [['password', password], ['value', value], ['name', name], ['metadata', meta],
    ['auth token', v.authToken]];
  // The forms are long enough that a chance match is impossible, and do not match each other.
  for (const [, s] of secrets) for (const [, f] of forms(s)) assert.ok(f.length >= 16);

  await v.initAndUnlock(password);
  const t = await v.issueToken({ permissions: ['read', 'write'] });
  assertJson(await v.cap(t.token, 'POST', `/secrets/${name}`, { value, metadata: { note: meta } }), 200,
    { success: true, created: true, version: 1 });
  assertJson(await v.get(t.token, name), 200, { key: name, value, metadata: { note: meta }, version: 1 });
  assertJson(await v.cap(t.token, 'POST', `/secrets/${name}`, { value: `${value}2`, metadata: { note: meta } }), 200,
    { success: true, created: false, version: 2 });
  assertJson(await v.cap(t.token, 'GET', '/secrets'), 200, { keys: [{ key: name, metadata: { note: meta } }] });
  assertJson(await v.mgmt('GET', `/audit/secret/${name}`), 200);
  const unlockedExport = JSON.stringify(await v.exportVault());

  // While it runs: the WAL and shared-memory files hold the latest pages.
  const running = await readAllFiles(v.dataDir);
  assert.ok(running.some((f) => f.path.endsWith('vault.db-wal')), 'the WAL is there to be scanned');
  for (const f of running) assertAbsent(f.path, f.data, [...secrets, ['token', t.token]]);

  await v.lock();
  const lockedExport = JSON.stringify(await v.exportVault());
  await v.restart();
  await v.unlock(password);
  assertJson(await v.get(t.token, name), 200, { key: name, value: `${value}2`, metadata: { note: meta }, version: 2 });
  assertJson(await v.cap(t.token, 'GET', `/secrets/${name}?version=1`), 200,
    { key: name, value, metadata: { note: meta }, version: 1 });
  await v.lock();
  await v.stop();

  const files = await readAllFiles(v.dataDir);
  assert.ok(files.some((f) => f.path.endsWith('vault.db')));
  for (const f of [...files, ...running]) assertAbsent(f.path, f.data, [...secrets, ['token', t.token]]);
  assertAbsent('the export made while unlocked', unlockedExport, secrets);
  assertAbsent('the export made while locked', lockedExport, secrets);
  assertAbsent('stdout', v.stdout, secrets);
  assertAbsent('stderr', v.stderr, secrets);
  assert.ok(v.stderr.toString().includes('listening'), 'stderr was captured');

  // The scan itself finds a canary where there is one.
  assert.throws(() => assertAbsent('probe', `xx${Buffer.from(`a${value}`).toString('base64')}yy`, [['value', value]]));
  assert.throws(() => assertAbsent('probe', Buffer.from(value).toString('hex'), [['value', value]]));
});
