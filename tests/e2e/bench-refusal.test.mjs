// The benchmark harness counts a wrk run only when every answer was a 2xx (bench/wrk.sh, which bench/run.sh
// runs for every measured load): a run against a real vaultd counts, and one in which some or all answers were
// refusals or misses does not, names the statuses that came back and exits 3. wrk is the real load generator.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { REPO, Vaultd, newPassword, rmTmp } from './lib/vaultd.mjs';

const WRK_SH = join(REPO, 'bench', 'wrk.sh');
let v;
let readerTokens; // may read bench-*
let strangerTokens; // may read other-* only

before(async () => {
  v = await Vaultd.start();
  await v.initAndUnlock(newPassword());
  const writer = await v.issueToken({ allowedSecrets: ['*'], permissions: ['read', 'write'] });
  await v.put(writer.token, 'bench-000000', 'x'.repeat(64));
  const reader = await v.issueToken({ allowedSecrets: ['bench-*'], permissions: ['read'] });
  const stranger = await v.issueToken({ allowedSecrets: ['other-*'], permissions: ['read'] });
  readerTokens = join(v.dir, 'reader.tokens');
  strangerTokens = join(v.dir, 'stranger.tokens');
  await writeFile(readerTokens, `${reader.token}\n`);
  await writeFile(strangerTokens, `${stranger.token}\n`);
});

after(async () => {
  await v?.close();
  await rmTmp(v?.dir);
});

/** Runs bench/wrk.sh; resolves { code, stdout, stderr }. */
function wrkSh(...args) {
  return new Promise((resolve) => {
    const p = spawn(WRK_SH, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const url = () => `http://127.0.0.1:${v.port}`;

test('a run in which every answer was a 200 counts, with its figures as JSON', async () => {
  const r = await wrkSh(url(), 'read.lua', '4', '1', `BENCH_TOKENS=${readerTokens}`, 'BENCH_MODE=single');
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.ok(json.requests > 0, r.stdout);
  assert.equal(json.non2xx, 0);
  assert.ok(json.p99_us >= json.p50_us);
});

test('a run whose every answer was a 403 is refused, and the status is named', async () => {
  const r = await wrkSh(url(), 'read.lua', '4', '1', `BENCH_TOKENS=${strangerTokens}`, 'BENCH_MODE=single');
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, '', 'no figures on standard output');
  assert.match(r.stderr, /Non-2xx or 3xx responses/);
  assert.match(r.stderr, /^status 403: .*Access denied/m);
});

test('a run in which only some answers were misses is refused too', async () => {
  // Two names, one of them never written: about half the answers are 200, the rest 404.
  const r = await wrkSh(url(), 'read.lua', '4', '1', `BENCH_TOKENS=${readerTokens}`, 'BENCH_MODE=rotate',
    'BENCH_KEYS=2');
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^status 404: .*Secret not found/m);
  assert.doesNotMatch(r.stderr, /^status 200/m);
});

test('a load that cannot connect is refused, not reported as a fast run', async () => {
  const r = await wrkSh('http://127.0.0.1:1', 'read.lua', '2', '1', `BENCH_TOKENS=${readerTokens}`,
    'BENCH_MODE=single');
  assert.notEqual(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
});

test('a usage error says how to call it', async () => {
  const r = await wrkSh(url(), 'read.lua');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^usage: bench\/wrk\.sh URL SCRIPT CONNS SECONDS/);
});
