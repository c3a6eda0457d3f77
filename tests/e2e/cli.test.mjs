// End-to-end tests of the zkvault client: every subcommand against a real vaultd, the exit codes (2 usage,
// 3 locked, 4 not found, 5 denied, 1 other errors), --json, `run`, the terminal prompts, and that no
// password ever shows in the client's /proc/<pid>/cmdline or environ. One vault for most of the file
// (Argon2id runs for real), a second one to import into, a third for the terminal prompts.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { REPO, Vault, haveScript, hex, sleep, spawnZk, uuid } from './lib/cli.mjs';
import { newestFirst } from './lib/vaultd.mjs';

const PASSWORD = `pw-${hex(12)}`;
const USER = uuid();
const EXIT = { ok: 0, error: 1, usage: 2, locked: 3, notFound: 4, denied: 5 };
const COMMANDS = ['init', 'unlock', 'lock', 'extend', 'status', 'ls', 'get', 'put', 'rm', 'versions', 'token',
  'audit', 'export', 'import', 'health', 'run', 'completion'];
const TOKEN_COMMANDS = ['issue', 'attenuate', 'revoke', 'revoke-user'];
const sha256 = (s) => createHash('sha256').update(s).digest('hex');

let v; // the vault most tests share
const tokens = {}; // full: read/write/delete on "*"; app: read on "app.*"

before(async () => {
  v = await Vault.start();
});

after(async () => {
  await v?.stop();
});

function expectExit(r, code, what = '') {
  assert.equal(r.code, code, `${what} exit ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** Waits until pid is asleep (blocked reading its stdin) with its own command line in place. */
async function waitBlocked(pid, marker) {
  const deadline = Date.now() + 10000;
  let asleep = 0;
  for (;;) {
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      const state = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /s, '')[0];
      asleep = cmdline.includes(marker) && state === 'S' ? asleep + 1 : 0;
      if (asleep >= 5) return;
    } catch {
      /* not there yet */
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} never blocked`);
    await sleep(20);
  }
}

/** Runs a --password-stdin command, inspecting /proc while it waits for the password. */
async function withPasswordFromStdin(args, password) {
  const { child, done } = v.spawn(args, { keepStdin: true });
  await waitBlocked(child.pid, '--password-stdin');
  const cmdline = await readFile(`/proc/${child.pid}/cmdline`);
  assert.ok(cmdline.includes('--password-stdin'), 'read the command line of the client itself');
  assert.ok(!cmdline.includes(password), 'the password is not on the command line');
  let environ = null;
  try {
    environ = await readFile(`/proc/${child.pid}/environ`);
  } catch (e) {
    // The client makes itself non-dumpable: only root may read its environment. That is the point.
    assert.equal(e.code, 'EACCES');
  }
  if (environ) {
    assert.ok(environ.includes(`ZKVAULT_ADDR=${v.addr}`), 'read the environment of the client itself');
    assert.ok(!environ.includes(password), 'the password is not in the environment');
  }
  child.stdin.end(`${password}\n`);
  const r = await done;
  assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), 'the password is not printed');
  return r;
}

test('help lists every command; every command and subcommand has --help with the exit codes', async () => {
  const r = expectExit(await v.zk(['help']), EXIT.ok);
  for (const c of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'), c);
  for (const c of [...COMMANDS.map((c) => [c]), ...TOKEN_COMMANDS.map((s) => ['token', s])]) {
    const h = expectExit(await v.zk([...c, '--help']), EXIT.ok, c.join(' '));
    assert.match(h.stdout, new RegExp(`^usage: zkvault ${c.join(' ')}`));
    assert.match(h.stdout, /Exit codes: 0 ok, 1 error, 2 usage, 3 vault locked, 4 not found, 5 denied/);
  }
  const h = expectExit(await v.zk(['help', 'token']), EXIT.ok);
  assert.match(h.stdout, /^usage: zkvault token <command>/);
  for (const s of TOKEN_COMMANDS) assert.match(h.stdout, new RegExp(`token ${s} `));
});

test('usage errors exit 2 and point at --help', async () => {
  const cases = [
    ['get'],
    ['get', 'a', 'b'],
    ['get', 'a', '--bogus'],
    ['get', 'a', '--version', 'x'],
    ['get', 'a', '--version', '0'],
    ['export', '-o'],
    ['token'],
    ['token', 'frobnicate'],
    ['token', 'issue'],
    ['token', 'issue', '--user', USER, '--ttl', 'soon'],
    ['token', 'issue', '--user', USER, '--perm', 'admin'],
    ['put', 'x', '--metadata', '[1]'],
    ['run', '--secret', 'a=1BAD', '--', 'true'],
    ['run', '--', 'true'],
    ['run', '--secret', 'a=A'],
    ['run', '--secret', 'a=A', '--secret', 'b=A', '--', 'true'],
    ['audit', '--limit', '0'],
    ['token', 'attenuate', '--perm', 'admin'],
    ['token', 'attenuate', '--max-uses', '0'],
    ['completion', 'zsh'],
    ['no-such-command'],
  ];
  for (const args of cases) {
    const r = expectExit(await v.zk(args, { env: { ZKVAULT_TOKEN: 'v4.public.x' } }), EXIT.usage, args.join(' '));
    assert.match(r.stderr, /zkvault/, args.join(' '));
    assert.equal(r.stdout, '', args.join(' '));
  }
  const r = expectExit(await v.zk(['get', 'x']), EXIT.usage, 'no capability token');
  assert.match(r.stderr, /no capability token: set ZKVAULT_TOKEN or use --token-file FILE/);
  assert.match(r.stderr, /See 'zkvault get --help'/);
  expectExit(await v.zk(['status'], { env: { ZKVAULT_AUTH_TOKEN: undefined } }), EXIT.usage, 'no management token');
  expectExit(await v.zk(['status', '--addr', 'ftp://example.org']), EXIT.usage, 'bad address');
});

test('before init: health answers, status exits 3, unlock fails', async () => {
  let r = expectExit(await v.zk(['health']), EXIT.ok);
  assert.equal(r.stdout, `ok: not initialized, locked, group ${v.groupId}\n`);
  r = expectExit(await v.zk(['health', '--json']), EXIT.ok);
  assert.deepEqual(JSON.parse(r.stdout), {
    status: 'ok', groupId: v.groupId, vaultInitialized: false, vaultUnlocked: false,
  });
  r = expectExit(await v.zk(['status']), EXIT.locked);
  assert.match(r.stdout, /^Initialized: no$/m);
  r = expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${PASSWORD}\n` }), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Vault not initialized\n');
});

test('init --password-stdin: the password is in neither /proc/<pid>/cmdline nor environ', async () => {
  const r = await withPasswordFromStdin(['init', '--password-stdin'], PASSWORD);
  expectExit(r, EXIT.ok);
  assert.equal(r.stdout, "Vault initialized. Unlock it with 'zkvault unlock'.\n");
});

test('init on an initialized vault, or with a short password, exits 1 with the server error', async () => {
  let r = expectExit(await v.zk(['init', '--password-stdin'], { input: `${PASSWORD}\n` }), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Vault already initialized\n');
  r = expectExit(await v.zk(['init', '--password-stdin'], { input: 'short\n' }), EXIT.error);
  assert.match(r.stderr, /^zkvault: Invalid request body: password: Vault password must be at least 16/);
});

test('while locked: status exits 3, management and secret commands exit 3 with the server message', async () => {
  let r = expectExit(await v.zk(['status']), EXIT.locked);
  assert.match(r.stdout, /^Initialized: yes\nUnlocked: {4}no\n/);
  for (const args of [['extend'], ['audit'], ['token', 'issue', '--user', USER]]) {
    r = expectExit(await v.zk(args), EXIT.locked, args.join(' '));
    assert.equal(r.stderr, 'zkvault: Vault is locked\n');
  }
  r = expectExit(await v.zk(['status', '--json']), EXIT.locked);
  assert.equal(JSON.parse(r.stdout).unlocked, false);
});

test('unlock: a wrong password exits 1; no password exits 1', async () => {
  let r = expectExit(await v.zk(['unlock', '--password-stdin'], { input: 'not-the-password-at-all\n' }), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Invalid password\n');
  r = expectExit(await v.zk(['unlock', '--password-stdin'], { input: '' }), EXIT.error);
  assert.equal(r.stderr, 'zkvault: no password given on standard input\n');
});

test('unlock --password-stdin: the password is in neither /proc/<pid>/cmdline nor environ', async () => {
  const r = await withPasswordFromStdin(['unlock', '--password-stdin', '--user', USER], PASSWORD);
  expectExit(r, EXIT.ok);
  assert.equal(r.stdout, 'Vault unlocked for 30m (0 secrets).\n');
  const s = expectExit(await v.zk(['status']), EXIT.ok);
  assert.match(s.stdout, /^Unlocked: {4}yes \(locks in \d+m\d*s?\)$/m);
  assert.match(s.stdout, /^Vault id: {4}[0-9a-f]{32}$/m);
});

test('management token: from the environment, --auth-token-file or ZKVAULT_AUTH_TOKEN_FILE; a wrong one exits 5', async () => {
  const file = join(v.dir, 'auth-token');
  await writeFile(file, `${v.authToken}\n`, { mode: 0o600 });
  let r = expectExit(await v.zk(['status'], { env: { ZKVAULT_AUTH_TOKEN: 'wrong-token-0123456789' } }), EXIT.denied);
  assert.equal(r.stderr, 'zkvault: Unauthorized\n');
  expectExit(await v.zk(['status', '--auth-token-file', file], { env: { ZKVAULT_AUTH_TOKEN: undefined } }), EXIT.ok);
  expectExit(await v.zk(['status'], { env: { ZKVAULT_AUTH_TOKEN: undefined, ZKVAULT_AUTH_TOKEN_FILE: file } }), EXIT.ok);
  // the flag wins over the environment
  expectExit(await v.zk(['status', '--auth-token-file', file], { env: { ZKVAULT_AUTH_TOKEN: 'wrong-token-0123456789' } }),
    EXIT.ok);
  r = expectExit(await v.zk(['status', '--auth-token-file', join(v.dir, 'missing')]), EXIT.error);
  assert.match(r.stderr, /^zkvault: cannot open .*missing: No such file or directory\n$/);
});

test('token issue prints only the token; --json the whole answer; --ttl, --perm, --allow', async () => {
  let r = expectExit(await v.zk(['token', 'issue', '--user', USER, '--perm', 'read,write', '--perm', 'delete']), EXIT.ok);
  assert.match(r.stdout, /^v4\.public\.[A-Za-z0-9_.~-]+\n$/);
  tokens.full = r.stdout.trim();
  r = expectExit(await v.zk(['token', 'issue', '--user', USER, '--allow', 'app.*', '--ttl', '30m', '--json']), EXIT.ok);
  const j = JSON.parse(r.stdout);
  assert.match(j.token, /^v4\.public\./);
  assert.match(j.id, /^[0-9a-f]{32}$/);
  assert.equal(j.expiresIn, 1800);
  tokens.app = j.token;
  tokens.appId = j.id;
  r = expectExit(await v.zk(['token', 'issue', '--user', USER, '--ttl', '1h30m', '--json']), EXIT.ok);
  assert.equal(JSON.parse(r.stdout).expiresIn, 5400);
  r = expectExit(await v.zk(['token', 'issue', '--user', USER, '--ttl', '10']), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Invalid request body: ttlSeconds: TTL must be at least 60 seconds\n');
  r = expectExit(await v.zk(['token', 'issue', '--user', 'not-a-uuid']), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Invalid request body: userId: Invalid UUID format\n');
});

test('put and get: values from stdin, files and the exact bytes back; metadata; versions', async () => {
  const cap = { ZKVAULT_TOKEN: tokens.full };
  let r = expectExit(await v.zk(['put', 'db-password', '--metadata', '{"owner":"ops"}'], { env: cap, input: 'first-value\n' }),
    EXIT.ok);
  assert.equal(r.stdout, 'Created db-password (version 1).\n');
  r = expectExit(await v.zk(['put', 'db-password'], { env: cap, input: 'second value\r\n' }), EXIT.ok);
  assert.equal(r.stdout, 'Updated db-password (version 2).\n');
  r = expectExit(await v.zk(['get', 'db-password'], { env: cap }), EXIT.ok);
  assert.equal(r.stdout, 'second value', 'exactly the value: no newline when stdout is not a terminal');
  r = expectExit(await v.zk(['get', 'db-password', '--version', '1'], { env: cap }), EXIT.ok);
  assert.equal(r.stdout, 'first-value');
  r = expectExit(await v.zk(['get', 'db-password', '--json'], { env: cap }), EXIT.ok);
  assert.deepEqual(JSON.parse(r.stdout), { key: 'db-password', value: 'second value', metadata: {}, version: 2 });
  r = expectExit(await v.zk(['put', 'db-password', '--json'], { env: cap, input: 'third' }), EXIT.ok);
  assert.deepEqual(JSON.parse(r.stdout), { success: true, created: false, version: 3 });

  // --file keeps every byte, trailing newlines and non-ASCII text included
  const file = join(v.dir, 'cert.pem');
  const pem = '-----BEGIN X-----\nzkvault ✓ ünïcode\n-----END X-----\n\n';
  await writeFile(file, pem);
  expectExit(await v.zk(['put', 'app.cert', '-f', file], { env: cap }), EXIT.ok);
  r = expectExit(await v.zk(['get', 'app.cert'], { env: cap }), EXIT.ok);
  assert.equal(r.stdout, pem);

  // the capability token from --token-file and ZKVAULT_TOKEN_FILE
  const tf = join(v.dir, 'token');
  await writeFile(tf, `${tokens.full}\n`, { mode: 0o600 });
  r = expectExit(await v.zk(['get', 'db-password', '--token-file', tf]), EXIT.ok);
  assert.equal(r.stdout, 'third');
  expectExit(await v.zk(['get', 'db-password'], { env: { ZKVAULT_TOKEN_FILE: tf } }), EXIT.ok);

  r = expectExit(await v.zk(['put', 'empty'], { env: cap, input: '' }), EXIT.error);
  assert.equal(r.stderr, 'zkvault: the value is empty\n');
  r = expectExit(await v.zk(['put', 'bad name'], { env: cap, input: 'x' }), EXIT.error);
  assert.match(r.stderr, /^zkvault: Invalid URL parameters: key: Secret key must contain only/);

  r = expectExit(await v.zk(['ls'], { env: cap }), EXIT.ok);
  assert.equal(r.stdout, 'app.cert\ndb-password\n');
  r = expectExit(await v.zk(['ls', '--json'], { env: cap }), EXIT.ok);
  assert.deepEqual(JSON.parse(r.stdout), {
    keys: [{ key: 'app.cert', metadata: {} }, { key: 'db-password', metadata: {} }],
  });
  r = expectExit(await v.zk(['ls'], { env: { ZKVAULT_TOKEN: tokens.app } }), EXIT.ok);
  assert.equal(r.stdout, 'app.cert\n', 'a scoped token lists only its secrets');

  r = expectExit(await v.zk(['versions', 'db-password'], { env: cap }), EXIT.ok);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^VERSION +STATE +WRITTEN +BY$/);
  assert.deepEqual(lines.slice(1).map((l) => l.split(/ +/).slice(0, 2).join(' ')), ['3 value', '2 value', '1 value']);
  assert.ok(lines.slice(1).every((l) => l.endsWith(USER)));
  r = expectExit(await v.zk(['versions', 'db-password', '--json'], { env: cap }), EXIT.ok);
  assert.deepEqual(JSON.parse(r.stdout).versions.map((x) => x.version), [3, 2, 1]);
});

test('not found exits 4; a token outside its scope or an invalid token exits 5', async () => {
  const cap = { ZKVAULT_TOKEN: tokens.full };
  for (const args of [['get', 'nope'], ['rm', 'nope'], ['versions', 'nope'], ['get', 'db-password', '--version', '99']]) {
    const r = expectExit(await v.zk(args, { env: cap }), EXIT.notFound, args.join(' '));
    assert.equal(r.stderr, 'zkvault: Secret not found\n');
  }
  const app = { ZKVAULT_TOKEN: tokens.app };
  let r = expectExit(await v.zk(['get', 'db-password'], { env: app }), EXIT.denied);
  assert.equal(r.stderr, 'zkvault: Access denied for this secret\n');
  expectExit(await v.zk(['put', 'app.cert'], { env: app, input: 'x' }), EXIT.denied, 'read-only token writes');
  expectExit(await v.zk(['rm', 'app.cert'], { env: app }), EXIT.denied, 'read-only token deletes');
  r = expectExit(await v.zk(['get', 'app.cert'], { env: { ZKVAULT_TOKEN: `${tokens.full.slice(0, -4)}AAAA` } }),
    EXIT.denied);
  assert.equal(r.stderr, 'zkvault: Invalid or expired capability token\n');
});

test('run: the child gets the secrets in its environment, never the tokens; nothing is printed; its exit code', async () => {
  const script = 'printf "%s" "$DB_PASSWORD" | sha256sum; printf "%s" "$CERT" | sha256sum; ' +
    'echo "token=${ZKVAULT_TOKEN-unset} auth=${ZKVAULT_AUTH_TOKEN-unset} keep=$KEEP"; exit 7';
  const r = await v.zk(['run', '--secret', 'db-password', '-s', 'app.cert=CERT', '--', 'sh', '-c', script],
    { env: { ZKVAULT_TOKEN: tokens.full, KEEP: 'kept' } });
  expectExit(r, 7, 'the exit code of the command');
  const pem = await readFile(join(v.dir, 'cert.pem'), 'utf8');
  assert.equal(r.stdout, `${sha256('third')}  -\n${sha256(pem)}  -\ntoken=unset auth=unset keep=kept\n`);
  assert.equal(r.stderr, '');
  assert.ok(!r.stdout.includes('third') && !r.stdout.includes('BEGIN X'));

  // without "--", the command's own options are its own
  const r2 = expectExit(await v.zk(['run', '-s', 'db-password=PW', 'sh', '-c', 'test "$PW" = third'],
    { env: { ZKVAULT_TOKEN: tokens.full } }), EXIT.ok);
  assert.equal(r2.stdout + r2.stderr, '');

  // a secret that cannot be read: the command does not run
  const marker = join(v.dir, 'ran');
  let f = expectExit(await v.zk(['run', '-s', 'nope=X', '--', 'touch', marker], { env: { ZKVAULT_TOKEN: tokens.full } }),
    EXIT.notFound);
  assert.equal(f.stderr, 'zkvault: Secret not found\n');
  f = expectExit(await v.zk(['run', '-s', 'db-password=X', '--', 'touch', marker], { env: { ZKVAULT_TOKEN: tokens.app } }),
    EXIT.denied);
  await assert.rejects(stat(marker), { code: 'ENOENT' });
  f = expectExit(await v.zk(['run', '-s', 'app.cert=X', '--', 'no-such-command-zk'], { env: { ZKVAULT_TOKEN: tokens.app } }),
    127);
  assert.match(f.stderr, /^zkvault: cannot run no-such-command-zk: No such file or directory\n$/);
});

test('rm leaves a deletion version; older versions stay readable', async () => {
  const cap = { ZKVAULT_TOKEN: tokens.full };
  expectExit(await v.zk(['put', 'tmp-secret'], { env: cap, input: 'short-lived' }), EXIT.ok);
  let r = expectExit(await v.zk(['rm', 'tmp-secret'], { env: cap }), EXIT.ok);
  assert.equal(r.stdout, 'Deleted tmp-secret.\n');
  expectExit(await v.zk(['get', 'tmp-secret'], { env: cap }), EXIT.notFound);
  expectExit(await v.zk(['rm', 'tmp-secret'], { env: cap }), EXIT.notFound);
  r = expectExit(await v.zk(['versions', 'tmp-secret'], { env: cap }), EXIT.ok);
  assert.match(r.stdout, /^2 +deleted /m);
  assert.match(r.stdout, /^1 +value /m);
  r = expectExit(await v.zk(['get', 'tmp-secret', '--version', '1'], { env: cap }), EXIT.ok);
  assert.equal(r.stdout, 'short-lived');
});

test('audit: a table, newest first; --secret and --limit; --json', async () => {
  let r = expectExit(await v.zk(['audit']), EXIT.ok);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines[0], /^TIME +ACTION +RESULT +USER +DETAILS$/);
  assert.ok(lines.some((l) => /secret\.created +ok +\S+ db-password from 127\.0\.0\.1/.test(l)), r.stdout);
  assert.ok(lines.some((l) => /vault\.unlock_failed +FAILED +system +\(Invalid password\)/.test(l)), r.stdout);
  assert.ok(lines.some((l) => /secret\.read\.denied +FAILED +\S+ db-password \(Access denied\)/.test(l)), r.stdout);
  r = expectExit(await v.zk(['audit', '--secret', 'db-password', '-n', '3', '--json']), EXIT.ok);
  const logs = JSON.parse(r.stdout).logs;
  assert.equal(logs.length, 3);
  assert.ok(logs.every((e) => e.secretKey === 'db-password'));
  assert.ok(newestFirst(logs), 'newest first');
  assert.ok(!r.stdout.includes('third'), 'the audit log holds no values');
});

test('extend renews the session', async () => {
  let r = expectExit(await v.zk(['extend']), EXIT.ok);
  assert.equal(r.stdout, 'Session extended: the vault locks in 30m.\n');
  r = expectExit(await v.zk(['extend', '--json']), EXIT.ok);
  assert.deepEqual(JSON.parse(r.stdout), { success: true, expiresIn: 1800 });
});

test('token attenuate narrows a token offline; --aud needs --agent-id; --max-uses counts', async () => {
  const from = (t) => ({ env: { ZKVAULT_TOKEN: t } });
  let r = expectExit(await v.zk(['token', 'attenuate', '--allow', 'app.*', '--perm', 'read', '--ttl', '10m'],
    { env: { ZKVAULT_TOKEN: tokens.full, ZKVAULT_AUTH_TOKEN: undefined, ZKVAULT_ADDR: 'http://127.0.0.1:1' } }),
  EXIT.ok, 'offline: no vault, no management token');
  const narrow = r.stdout.trim();
  assert.ok(narrow.startsWith(tokens.full.split('~')[0]), 'the same root');
  r = expectExit(await v.zk(['ls'], from(narrow)), EXIT.ok);
  assert.equal(r.stdout, 'app.cert\n');
  expectExit(await v.zk(['get', 'db-password'], from(narrow)), EXIT.denied, 'outside the narrowed scope');
  expectExit(await v.zk(['put', 'app.cert'], { ...from(narrow), input: 'x' }), EXIT.denied, 'write was dropped');
  r = expectExit(await v.zk(['token', 'attenuate', '--perm', 'write'], from(narrow)), EXIT.error, 'widening');
  assert.match(r.stderr, /a token can only be narrowed/);

  r = expectExit(await v.zk(['token', 'attenuate', '--aud', 'agent-7', '--max-uses', '2', '--json'], from(narrow)),
    EXIT.ok);
  const bound = JSON.parse(r.stdout);
  assert.equal(bound.depth, 2);
  expectExit(await v.zk(['get', 'app.cert'], from(bound.token)), EXIT.denied, 'no X-Agent-Id');
  expectExit(await v.zk(['get', 'app.cert', '--agent-id', 'agent-7'], from(bound.token)), EXIT.ok);
  expectExit(await v.zk(['get', 'app.cert'], { env: { ZKVAULT_TOKEN: bound.token, ZKVAULT_AGENT_ID: 'agent-7' } }),
    EXIT.ok);
  expectExit(await v.zk(['get', 'app.cert', '--agent-id', 'agent-7'], from(bound.token)), EXIT.denied, 'uses spent');

  // Revoking the narrowed token (given whole) leaves its parent alone.
  r = expectExit(await v.zk(['token', 'revoke', narrow]), EXIT.ok);
  assert.match(r.stdout, /^Revoked token [0-9a-f]{32}\.\n$/);
  expectExit(await v.zk(['ls'], from(narrow)), EXIT.denied);
  expectExit(await v.zk(['ls'], from(tokens.full)), EXIT.ok);
  r = expectExit(await v.zk(['token', 'revoke', narrow]), EXIT.error);
  assert.match(r.stderr, /this token is not valid now/);
});

test('token revoke (by id or whole token) and revoke-user: the tokens then exit 5', async () => {
  const cap = (t) => ({ env: { ZKVAULT_TOKEN: t } });
  let r = expectExit(await v.zk(['token', 'revoke', tokens.appId, '--reason', 'rotated']), EXIT.ok);
  assert.equal(r.stdout, `Revoked token ${tokens.appId}.\n`);
  expectExit(await v.zk(['ls'], cap(tokens.app)), EXIT.denied);

  const other = (await v.zk(['token', 'issue', '--user', USER])).stdout.trim();
  expectExit(await v.zk(['ls'], cap(other)), EXIT.ok);
  r = expectExit(await v.zk(['token', 'revoke', other, '--json']), EXIT.ok);
  assert.deepEqual(JSON.parse(r.stdout), { success: true });
  expectExit(await v.zk(['ls'], cap(other)), EXIT.denied);

  const victim = uuid();
  const t1 = (await v.zk(['token', 'issue', '--user', victim])).stdout.trim();
  const t2 = (await v.zk(['token', 'issue', '--user', victim])).stdout.trim();
  r = expectExit(await v.zk(['token', 'revoke-user', victim]), EXIT.ok);
  assert.equal(r.stdout, `Revoked every token of user ${victim} (2 live).\n`);
  expectExit(await v.zk(['ls'], cap(t1)), EXIT.denied);
  expectExit(await v.zk(['ls'], cap(t2)), EXIT.denied);
  expectExit(await v.zk(['ls'], cap(tokens.full)), EXIT.ok, 'other users keep their tokens');

  r = expectExit(await v.zk(['token', 'revoke', 'abc']), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Invalid URL parameters: tokenId: Expected a 32-character token id\n');
});

let exportFile;

test('export: a 0600 file created exclusively, no symlink followed; to stdout without -o', async () => {
  exportFile = join(v.dir, 'export.json');
  let r = expectExit(await v.zk(['export', '-o', exportFile]), EXIT.ok);
  assert.match(r.stdout, new RegExp(`^Exported vault [0-9a-f]{32} \\(revision \\d+\\) to ${exportFile}\\.\n$`));
  assert.equal((await stat(exportFile)).mode & 0o777, 0o600);
  const env = JSON.parse(await readFile(exportFile, 'utf8'));
  assert.equal(env.format, 'zkvault-export');
  assert.ok(!JSON.stringify(env).includes('third'), 'ciphertext only');

  r = expectExit(await v.zk(['export', '-o', exportFile]), EXIT.error);
  assert.equal(r.stderr, `zkvault: ${exportFile} already exists; use --force to overwrite it\n`);
  r = expectExit(await v.zk(['export', '--output', exportFile, '--force', '--json']), EXIT.ok);
  assert.equal(JSON.parse(r.stdout).vaultId, env.vaultId);

  const link = join(v.dir, 'link.json');
  await symlink(join(v.dir, 'elsewhere.json'), link);
  expectExit(await v.zk(['export', '-o', link, '--force']), EXIT.error, 'a symlink');
  await assert.rejects(lstat(join(v.dir, 'elsewhere.json')), { code: 'ENOENT' });

  r = expectExit(await v.zk(['export']), EXIT.ok);
  assert.equal(JSON.parse(r.stdout).vaultId, env.vaultId);

  r = expectExit(await v.zk(['import', exportFile]), EXIT.error, 'restore over an unlocked vault');
  assert.equal(r.stderr, 'zkvault: Lock the vault before restoring a backup over it\n');
});

test('after lock: secret commands exit 3 and run does not start the command', async () => {
  const cap = { ZKVAULT_TOKEN: tokens.full };
  expectExit(await v.zk(['put', 'db-password'], { env: cap, input: 'after-export' }), EXIT.ok);
  let r = expectExit(await v.zk(['lock', '--user', USER]), EXIT.ok);
  assert.equal(r.stdout, 'Vault locked.\n');
  for (const args of [['get', 'db-password'], ['ls'], ['versions', 'db-password'], ['put', 'x']]) {
    r = expectExit(await v.zk(args, { env: cap, input: 'v' }), EXIT.locked, args.join(' '));
    assert.equal(r.stderr, 'zkvault: Vault is locked\n');
  }
  const marker = join(v.dir, 'ran-locked');
  expectExit(await v.zk(['run', '-s', 'db-password=X', '--', 'touch', marker], { env: cap }), EXIT.locked);
  await assert.rejects(stat(marker), { code: 'ENOENT' });
  r = expectExit(await v.zk(['health']), EXIT.ok);
  assert.equal(r.stdout, `ok: initialized, locked, group ${v.groupId}\n`);
});

test('import: into an empty vault, then unlock with the same password; a rollback needs --force', async () => {
  const b = await Vault.start();
  try {
    let r = expectExit(await b.zk(['import', exportFile]), EXIT.ok);
    assert.equal(r.stdout, `Vault imported from ${exportFile}. Unlock it with the password of the exported vault.\n`);
    expectExit(await b.zk(['status']), EXIT.locked);
    expectExit(await b.zk(['unlock', '--password-stdin'], { input: `${PASSWORD}\n` }), EXIT.ok);
    const t = (await b.zk(['token', 'issue', '--user', USER])).stdout.trim();
    r = expectExit(await b.zk(['get', 'db-password'], { env: { ZKVAULT_TOKEN: t } }), EXIT.ok);
    assert.equal(r.stdout, 'third');
    r = expectExit(await b.zk(['import', exportFile]), EXIT.error);
    assert.equal(r.stderr, 'zkvault: Lock the vault before restoring a backup over it\n');
  } finally {
    await b.stop();
  }

  // The export is older than what the (locked) vault has seen since.
  let r = expectExit(await v.zk(['import', exportFile]), EXIT.error);
  assert.match(r.stderr, /^zkvault: Refusing to import an older revision/);
  assert.match(r.stderr, /zkvault: use --force to roll back/);
  expectExit(await v.zk(['import', exportFile, '--force']), EXIT.ok);
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${PASSWORD}\n` }), EXIT.ok);
  r = expectExit(await v.zk(['get', 'db-password'], { env: { ZKVAULT_TOKEN: tokens.full } }), EXIT.ok);
  assert.equal(r.stdout, 'third', 'the restored copy');

  const junk = join(v.dir, 'junk.json');
  await writeFile(junk, '{"hello":1}');
  r = expectExit(await v.zk(['import', junk]), EXIT.error);
  assert.match(r.stderr, /is not a vault export/);
});

test('an unreachable vault exits 1', async () => {
  const r = expectExit(await v.zk(['health', '--addr', 'http://127.0.0.1:1']), EXIT.error);
  assert.match(r.stderr, /^zkvault: cannot reach the vault at http:\/\/127\.0\.0\.1:1: /);
});

test('terminal prompts: init asks twice with echo off, unlock and put ask with echo off', { skip: !haveScript && 'no script(1)' },
  async () => {
    const c = await Vault.start();
    try {
      const pw = `tty-${hex(12)}`;
      let r = await c.zkTty(['init'], [['New vault password: ', pw], ['Repeat the password: ', `${pw}x`]]);
      assert.equal(r.code, EXIT.error, r.output);
      assert.match(r.output, /zkvault: the passwords do not match/);
      assert.ok(!r.output.includes(pw), `echo is off: ${r.output}`);

      r = await c.zkTty(['init'], [['New vault password: ', pw], ['Repeat the password: ', pw]]);
      assert.equal(r.code, EXIT.ok, r.output);
      assert.ok(!r.output.includes(pw), r.output);
      assert.match(r.output, /Vault initialized/);

      r = await c.zkTty(['unlock'], [['Vault password: ', pw]]);
      assert.equal(r.code, EXIT.ok, r.output);
      assert.ok(!r.output.includes(pw), r.output);

      const t = (await c.zk(['token', 'issue', '--user', USER, '--perm', 'read,write'])).stdout.trim();
      const value = `typed-${hex(8)}`;
      r = await c.zkTty(['put', 'typed'], [['Value of typed: ', value]], { env: { ZKVAULT_TOKEN: t } });
      assert.equal(r.code, EXIT.ok, r.output);
      assert.ok(!r.output.includes(value), r.output);
      r = await c.zkTty(['get', 'typed'], [], { env: { ZKVAULT_TOKEN: t } });
      assert.match(r.output, new RegExp(`^${value}\\r?\\n`), 'on a terminal, get ends the value with a newline');

      // Without a terminal and without --password-stdin there is nobody to ask.
      const { done } = spawnZk(['unlock'], { env: c.env(), detached: true });
      const u = expectExit(await done, EXIT.usage);
      assert.match(u.stderr, /no terminal to ask for the password on; use --password-stdin/);
    } finally {
      await c.stop();
    }
  });

test('completion bash: the committed script is current, covers every command, and completes', async () => {
  const r = expectExit(await v.zk(['completion', 'bash']), EXIT.ok);
  const committed = await readFile(join(REPO, 'contrib/completion/zkvault.bash'), 'utf8');
  assert.equal(r.stdout, committed,
    'contrib/completion/zkvault.bash is stale: build/zkvault completion bash > contrib/completion/zkvault.bash');

  const help = (await v.zk(['help'])).stdout;
  const listed = [...help.matchAll(/^ {2}(\S+) /gm)].map((m) => m[1]);
  const words = r.stdout.match(/local commands='([^']*)'/)[1].split(' ');
  assert.deepEqual([...words].sort(), [...listed, 'help'].sort(),
    'the same commands as `zkvault help` (a command added to src/main.c goes into other_commands in src/cli/completion.c)');

  const complete = async (...w) => {
    const out = spawnSync('bash', ['-c',
      'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _zkvault; printf "%s\\n" "${COMPREPLY[@]}"',
      join(REPO, 'contrib/completion/zkvault.bash'), ...w], { encoding: 'utf8', cwd: REPO });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.split('\n').filter(Boolean);
  };
  assert.deepEqual(await complete('zkvault', 'to'), ['token']);
  assert.deepEqual(await complete('zkvault', 'token', 'revoke'), ['revoke', 'revoke-user']);
  assert.deepEqual(await complete('zkvault', 'token', 'issue', '--perm', ''), ['read', 'write', 'delete', 'use']);
  assert.ok((await complete('zkvault', 'get', '--')).includes('--version'));
  assert.ok((await complete('zkvault', 'export', '-o', 'contr')).includes('contrib'));
  assert.ok((await complete('zkvault', 'import', 'CMakeL')).includes('CMakeLists.txt'));
  assert.deepEqual(await complete('zkvault', 'completion', ''), ['bash']);
  assert.ok((await complete('zkvault', 'run', '-s', 'a=B', '--', 'sh')).includes('sh'));
});
