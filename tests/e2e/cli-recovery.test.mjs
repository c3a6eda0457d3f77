// End-to-end tests of the client's recovery commands (docs/RECOVERY.md, docs/CLI.md §Recovery) against a real
// vaultd: passwd, rekey, keygen, recovery phrase/hardware/social/rm/open-share, recover, unlock --hardware-key,
// threshold setup/status/request/approve/deny and threshold-only. Each test has its own vault; the terminal
// prompts run through script(1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO, Vault, haveScript, hex, spawnZk, uuid } from './lib/cli.mjs';

const EXIT = { ok: 0, error: 1, usage: 2, locked: 3, notFound: 4, denied: 5 };
const pw = () => `pw-${hex(12)}`;
const noTty = { skip: !haveScript && 'no script(1)' };

function expectExit(r, code, what = '') {
  assert.equal(r.code, code, `${what} exit ${r.code}, expected ${code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** An initialized, unlocked vault of its own, and a scratch directory; both go when the test ends. */
async function fresh(t) {
  const v = await Vault.start();
  const dir = await mkdtemp(join(tmpdir(), 'zkvault-keys-'));
  t.after(async () => {
    await v.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const password = pw();
  expectExit(await v.zk(['init', '--password-stdin'], { input: `${password}\n` }), EXIT.ok, 'init');
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${password}\n` }), EXIT.ok, 'unlock');
  return { v, dir, password };
}

/** zkvault keygen -o DIR/NAME.key: { file, publicKey, fingerprint }. */
async function keygen(v, dir, name) {
  const file = join(dir, `${name}.key`);
  const r = expectExit(await v.zk(['keygen', '-o', file]), EXIT.ok, 'keygen');
  const publicKey = r.stdout.match(/^public key: +(\S+)$/m)[1];
  const fingerprint = r.stdout.match(/^fingerprint: +(\S+)$/m)[1];
  return { id: name, file, publicKey, fingerprint };
}

const unlocked = async (v) => (await v.zk(['status'])).code === EXIT.ok;

test('passwd: a wrong current password exits 1, then the new password works and the old one does not', async (t) => {
  const { v, password } = await fresh(t);
  const next = pw();
  let r = expectExit(await v.zk(['passwd', '--password-stdin'], { input: `wrong-password-xx\n${next}\n` }), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Invalid password\n');
  r = expectExit(await v.zk(['passwd', '--password-stdin'], { input: `${password}\nshort\n` }), EXIT.error);
  assert.match(r.stderr, /at least 16 characters/);
  r = expectExit(await v.zk(['passwd', '--password-stdin'], { input: `${password}\n${next}\n` }), EXIT.ok);
  assert.match(r.stdout, /^Password changed/);
  assert.ok(!r.stdout.includes(next) && !r.stderr.includes(next));
  expectExit(await v.zk(['lock']), EXIT.ok);
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${password}\n` }), EXIT.error, 'old password');
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${next}\n` }), EXIT.ok, 'new password');
});

test('passwd on a terminal: current, then the new one twice, echo off', noTty, async (t) => {
  const { v, password } = await fresh(t);
  const next = pw();
  const r = await v.zkTty(['passwd'], [['Current vault password: ', password], ['New vault password: ', next],
    ['Repeat the password: ', next]]);
  assert.equal(r.code, EXIT.ok, r.output);
  assert.ok(!r.output.includes(next) && !r.output.includes(password), `echo is off: ${r.output}`);
  expectExit(await v.zk(['lock']), EXIT.ok);
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${next}\n` }), EXIT.ok);
});

test('rekey: lists the removed recovery methods, and every token stops working', async (t) => {
  const { v, password } = await fresh(t);
  const token = expectExit(await v.zk(['token', 'issue', '--user', uuid(), '--perm', 'read,write']), EXIT.ok).stdout.trim();
  expectExit(await v.zk(['put', 'kept'], { input: 'value-1\n', env: { ZKVAULT_TOKEN: token } }), EXIT.ok);
  expectExit(await v.zk(['recovery', 'phrase']), EXIT.ok);
  expectExit(await v.zk(['recovery', 'hardware', '--no-qr']), EXIT.ok);
  expectExit(await v.zk(['rekey', '--password-stdin'], { input: 'wrong-password-xx\n' }), EXIT.error);
  const r = expectExit(await v.zk(['rekey', '--password-stdin'], { input: `${password}\n` }), EXIT.ok);
  assert.match(r.stdout, /^Vault rekeyed \(revision \d+\)/);
  assert.match(r.stdout, /^Removed: recovery phrase, hardware key\./m);
  assert.match(r.stdout, /Every capability token stopped working/);
  expectExit(await v.zk(['get', 'kept'], { env: { ZKVAULT_TOKEN: token } }), EXIT.denied, 'old token');
  const status = expectExit(await v.zk(['recovery', 'status']), EXIT.ok).stdout;
  assert.match(status, /^recovery phrase: +not set up$/m);
  assert.match(status, /^hardware key: +not set up$/m);
  const again = expectExit(await v.zk(['token', 'issue', '--user', uuid()]), EXIT.ok).stdout.trim();
  assert.equal(expectExit(await v.zk(['get', 'kept'], { env: { ZKVAULT_TOKEN: again } }), EXIT.ok).stdout, 'value-1');
});

test('keygen: a 0600 file created exclusively, never through a symlink; --from shows the same key', async (t) => {
  const { v, dir } = await fresh(t);
  const k = await keygen(v, dir, 'alice');
  assert.equal((await stat(k.file)).mode & 0o777, 0o600);
  assert.match(k.fingerprint, /^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
  assert.match((await readFile(k.file, 'utf8')), /^[A-Za-z0-9+/]{43}=\n$/);
  expectExit(await v.zk(['keygen', '-o', k.file]), EXIT.error, 'existing file');
  await symlink(join(dir, 'elsewhere'), join(dir, 'link.key'));
  expectExit(await v.zk(['keygen', '-o', join(dir, 'link.key')]), EXIT.error, 'symlink');
  await assert.rejects(stat(join(dir, 'elsewhere')));
  const again = JSON.parse(expectExit(await v.zk(['keygen', '--from', k.file, '--json']), EXIT.ok).stdout);
  assert.deepEqual(again, { file: k.file, publicKey: k.publicKey, fingerprint: k.fingerprint, created: false });
  // The vault computes the same fingerprint for this key.
  const b = await keygen(v, dir, 'bob');
  const r = JSON.parse(expectExit(await v.zk(['recovery', 'social', '-k', '2', '--contact', `alice=${k.publicKey}`,
    '--contact', `bob=${b.publicKey}`, '--json']), EXIT.ok).stdout);
  assert.deepEqual(r.contacts.map((c) => c.fingerprint), [k.fingerprint, b.fingerprint]);
});

test('recovery phrase: shown once; a typo exits 2 naming the word on the terminal only; recover sets a new password',
  async (t) => {
    const { v } = await fresh(t);
    let r = expectExit(await v.zk(['recovery', 'phrase']), EXIT.ok);
    assert.match(r.stderr, /shown only this once/);
    const phrase = r.stdout.trim();
    const words = phrase.split(' ');
    assert.equal(words.length, 12);
    assert.match((await v.zk(['recovery', 'status'])).stdout, /^recovery phrase: +set up$/m);
    expectExit(await v.zk(['lock']), EXIT.ok);

    const typo = [...words];
    typo[4] = `${words[4]}q`;
    // No terminal: stderr (maybe a log) gets the position, never the word.
    const { done } = spawnZk(['recover', '--phrase', '--password-stdin'],
      { env: v.env(), input: `${typo.join(' ')}\n${pw()}\n`, detached: true });
    r = expectExit(await done, EXIT.usage, 'typo');
    assert.match(r.stderr, /word 5 of the recovery phrase is not in the BIP39 English list/);
    assert.ok(!r.stderr.includes(typo[4]) && !r.stderr.includes(`"${words[4]}"`), r.stderr);
    if (haveScript) {
      const tty = await v.zkTty(['recover', '--phrase'], [['Recovery phrase (12 words): ', typo.join(' ')]]);
      assert.equal(tty.code, EXIT.usage, tty.output);
      assert.match(tty.output, new RegExp(`word 5 "${typo[4]}" is not in the BIP39 English list \\(did you mean "`));
      assert.ok(!tty.output.includes(words[0]), `echo is off: ${tty.output}`);
    }
    const swapped = [words[1], words[0], ...words.slice(2)].join(' ');
    if (swapped !== phrase) {
      r = await v.zk(['recover', '--phrase', '--password-stdin'], { input: `${swapped}\n${pw()}\n` });
      assert.ok(r.code === EXIT.usage || r.code === EXIT.error, r.stderr); // the checksum, or 1 in 16 the wrapper
    }
    assert.equal(await unlocked(v), false);

    const next = pw();
    r = expectExit(await v.zk(['recover', '--phrase', '--password-stdin'], { input: `${phrase.toUpperCase()}\n${next}\n` }),
      EXIT.ok);
    assert.match(r.stdout, /^Vault recovered: the new password is set and the vault is unlocked for /);
    assert.equal(await unlocked(v), true);
    expectExit(await v.zk(['lock']), EXIT.ok);
    expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${next}\n` }), EXIT.ok);
    expectExit(await v.zk(['recovery', 'rm', 'phrase']), EXIT.ok);
    expectExit(await v.zk(['recovery', 'rm', 'phrase']), EXIT.notFound);
    expectExit(await v.zk(['recovery', 'rm', 'password']), EXIT.usage);
  });

test('hardware key: printed with its QR code; unlock --hardware-key and recover --hardware-key', async (t) => {
  const { v } = await fresh(t);
  let r = expectExit(await v.zk(['recovery', 'hardware', '--qr']), EXIT.ok);
  const key = r.stdout.split('\n')[0];
  assert.match(key, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){12}$/);
  assert.match(r.stdout, /\u2588/, 'a QR code in half blocks');
  assert.ok(r.stdout.split('\n').length > 15);
  r = expectExit(await v.zk(['recovery', 'hardware']), EXIT.ok, 'no QR code off a terminal by default');
  assert.doesNotMatch(r.stdout, /\u2588/);
  let hw = r.stdout.trim();
  if (haveScript) {
    const tty = await v.zkTty(['recovery', 'hardware'], []);
    assert.equal(tty.code, EXIT.ok, tty.output);
    assert.match(tty.output, /\u2588/, 'a QR code by default on a terminal');
    hw = tty.output.match(/[A-Z2-7]{4}(-[A-Z2-7]{4}){12}/)[0];
  }
  expectExit(await v.zk(['lock']), EXIT.ok);

  r = expectExit(await v.zk(['unlock', '--hardware-key', '--password-stdin'], { input: `${hw.slice(0, -1)}0\n` }),
    EXIT.usage, 'malformed');
  assert.match(r.stderr, /not a hardware key: /);
  const wrong = (hw[0] === 'A' ? 'B' : 'A') + hw.slice(1);
  r = expectExit(await v.zk(['unlock', '--hardware-key', '--password-stdin'], { input: `${wrong}\n` }), EXIT.error);
  assert.equal(r.stderr, 'zkvault: Invalid hardware key\n');
  if (key !== hw)
    expectExit(await v.zk(['unlock', '--hardware-key', '--password-stdin'], { input: `${key}\n` }), EXIT.error, 'replaced key');
  r = expectExit(await v.zk(['unlock', '--hardware-key', '--password-stdin'],
    { input: `${hw.replaceAll('-', '').toLowerCase()}\n` }), EXIT.ok);
  assert.match(r.stdout, /^Vault unlocked for /);
  expectExit(await v.zk(['lock']), EXIT.ok);
  const next = pw();
  expectExit(await v.zk(['recover', '--hardware-key', '--password-stdin'], { input: `${hw}\n${next}\n` }), EXIT.ok);
  expectExit(await v.zk(['lock']), EXIT.ok);
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${next}\n` }), EXIT.ok);
});

test('social recovery 2 of 3: keygen, sealed shares to files, open-share, recover with shares', async (t) => {
  const { v, dir } = await fresh(t);
  const contacts = [];
  for (const name of ['alice', 'bob', 'carol']) contacts.push(await keygen(v, dir, name));
  const out = join(dir, 'sealed');
  const args = contacts.flatMap((c) => ['--contact', `${c.id}=${c.publicKey}`]);
  expectExit(await v.zk(['recovery', 'social', '-k', '4', ...args]), EXIT.usage, 'k > n');
  let r = expectExit(await v.zk(['recovery', 'social', '-k', '2', ...args, '--out', out]), EXIT.ok);
  assert.match(r.stdout, /^Social recovery: any 2 of these 3 contacts/);
  for (const c of contacts) assert.match(r.stdout, new RegExp(`${c.id} +\\(share \\d, fingerprint ${c.fingerprint}\\)`));
  assert.deepEqual((await readdir(out)).sort(), ['alice.sealed', 'bob.sealed', 'carol.sealed']);
  assert.match((await v.zk(['recovery', 'status'])).stdout, /^social recovery: +any 2 of 3 contacts/m);

  const open = (c, key = c.file) => v.zk(['recovery', 'open-share', '--key', key, `@${join(out, `${c.id}.sealed`)}`]);
  r = expectExit(await open(contacts[0], contacts[1].file), EXIT.error, 'wrong key');
  assert.match(r.stderr, /does not open with the key in/);
  const shares = [];
  for (const c of contacts) {
    r = expectExit(await open(c), EXIT.ok);
    assert.match(r.stdout, /^zks1-[A-Za-z0-9_-]+\n$/);
    assert.match(r.stderr, /^Share \d of 3 \(any 2 recover/);
    shares.push(r.stdout.trim());
  }
  const sealedText = (await readFile(join(out, 'bob.sealed'), 'utf8')).trim();
  const shareFile = join(dir, 'bob.share');
  expectExit(await v.zk(['recovery', 'open-share', '--key', contacts[1].file, sealedText, '-o', shareFile]), EXIT.ok);
  assert.equal((await readFile(shareFile, 'utf8')).trim(), shares[1]);
  assert.equal((await stat(shareFile)).mode & 0o777, 0o600);
  expectExit(await v.zk(['lock']), EXIT.ok);

  r = expectExit(await v.zk(['recover', '--shares', '--password-stdin'], { input: `${shares[0]}\n\n${pw()}\n` }),
    EXIT.usage, 'one share');
  assert.match(r.stderr, /1 given, this set needs 2 of its 3/);
  const corrupt = shares[2].slice(0, -2) + (shares[2].at(-2) === 'A' ? 'B' : 'A') + shares[2].at(-1);
  r = expectExit(await v.zk(['recover', '--shares', '--password-stdin'], { input: `${shares[0]}\n${corrupt}\n\n${pw()}\n` }),
    EXIT.usage, 'corrupted share');
  assert.match(r.stderr, /share 2: share is corrupted/);
  expectExit(await v.zk(['recover', '--share', shares[0], '--share', shares[0], '--password-stdin'], { input: `${pw()}\n` }),
    EXIT.usage, 'the same share twice');
  assert.equal(await unlocked(v), false);

  const next = pw();
  r = expectExit(await v.zk(['recover', '--shares', '--share-file', shareFile, '--password-stdin'],
    { input: `${shares[2]}\n\n${next}\n` }), EXIT.ok);
  assert.match(r.stdout, /^Vault recovered/);
  expectExit(await v.zk(['lock']), EXIT.ok);
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${next}\n` }), EXIT.ok);
});

test('threshold 2 of 3: setup, request, a wrong key fails, the first approval leaves it locked, the second unlocks',
  async (t) => {
    const { v, dir } = await fresh(t);
    const admins = [];
    for (const name of ['admin-0', 'admin-1', 'admin-2']) admins.push(await keygen(v, dir, name));
    const args = admins.flatMap((a) => ['--admin', `${a.id}=${a.publicKey}`]);
    let r = expectExit(await v.zk(['threshold', 'setup', '-k', '2', ...args]), EXIT.ok);
    for (const a of admins) assert.match(r.stdout, new RegExp(`${a.id} +share \\d +fingerprint ${a.fingerprint}$`, 'm'));
    r = expectExit(await v.zk(['threshold', 'status']), EXIT.ok);
    assert.match(r.stdout, /^any 2 of 3 admins \(set [0-9a-f]{32}\); the vault is unlocked$/m);
    expectExit(await v.zk(['threshold', 'request']), EXIT.error, 'already unlocked');
    expectExit(await v.zk(['lock']), EXIT.ok);

    const req = expectExit(await v.zk(['threshold', 'request', '--by', 'admin-0']), EXIT.ok).stdout.trim();
    assert.match(req, /^[0-9a-f]{32}$/);
    r = expectExit(await v.zk(['threshold', 'request']), EXIT.error, 'a second request');
    assert.match(r.stderr, new RegExp(`pending: request ${req} by admin-0, 0 of 2 approvals`));
    const approve = (a, key = a.file, id = req) => v.zk(['threshold', 'approve', id, '--admin', a.id, '--key', key]);
    r = expectExit(await approve(admins[1], admins[0].file), EXIT.error, 'wrong admin key');
    assert.match(r.stderr, /does not open admin-1's share/);
    r = expectExit(await approve({ id: 'nobody' }, admins[0].file), EXIT.notFound, 'not an admin');
    r = expectExit(await approve(admins[0]), EXIT.ok);
    assert.match(r.stdout, /1 of 2 approvals; the vault is still locked/);
    assert.equal(await unlocked(v), false, 'k-1 approvals do not unlock');
    r = expectExit(await approve(admins[0]), EXIT.error, 'twice');
    assert.match(r.stderr, /already approved/);
    assert.match(expectExit(await v.zk(['threshold', 'status']), EXIT.ok).stdout,
      new RegExp(`^request ${req} by admin-0: 1 of 2 approvals \\(admin-0\\)`, 'm'));
    r = expectExit(await approve(admins[2]), EXIT.ok);
    assert.match(r.stdout, /2 of 2 approvals; the vault is unlocked for /);
    assert.equal(await unlocked(v), true);

    // Denied: the request ends and a later approval finds nothing.
    expectExit(await v.zk(['lock']), EXIT.ok);
    const req2 = expectExit(await v.zk(['threshold', 'request']), EXIT.ok).stdout.trim();
    expectExit(await approve(admins[1], admins[1].file, req2), EXIT.ok);
    assert.match(expectExit(await v.zk(['threshold', 'deny', req2, '--admin', 'admin-2']), EXIT.ok).stdout, /^Denied request/);
    expectExit(await approve(admins[2], admins[2].file, req2), EXIT.notFound, 'after deny');
    expectExit(await v.zk(['threshold', 'approve', 'not-an-id', '--admin', 'admin-0', '--key', admins[0].file]), EXIT.usage);
    assert.equal(await unlocked(v), false);
    // A pinned transport key that is not the vault's: nothing is sent.
    const req3 = expectExit(await v.zk(['threshold', 'request']), EXIT.ok).stdout.trim();
    r = expectExit(await v.zk(['threshold', 'approve', req3, '--admin', 'admin-0', '--key', admins[0].file,
      '--transport-key', admins[0].publicKey]), EXIT.error);
    assert.match(r.stderr, /not the one given with --transport-key/);
    assert.match(expectExit(await v.zk(['threshold', 'status']), EXIT.ok).stdout, /: 0 of 2 approvals/);
  });

test('threshold-only: confirmed on a terminal or with --yes; then only the admins can unlock', async (t) => {
  const { v, dir, password } = await fresh(t);
  const admins = [await keygen(v, dir, 'a'), await keygen(v, dir, 'b')];
  expectExit(await v.zk(['recovery', 'phrase']), EXIT.ok);
  const args = ['threshold', 'setup', '-k', '2', ...admins.flatMap((a) => ['--admin', `${a.id}=${a.publicKey}`]),
    '--threshold-only'];
  const { done } = spawnZk(args, { env: v.env(), detached: true });
  let r = expectExit(await done, EXIT.usage, 'no terminal, no --yes');
  assert.match(r.stderr, /no terminal to confirm on; add --yes/);
  if (haveScript) {
    const tty = await v.zkTty(args, [['Type yes to continue: ', 'no']]);
    assert.equal(tty.code, EXIT.error, tty.output);
    assert.match(tty.output, /Nobody can open the vault alone afterwards/);
    assert.match(tty.output, /cancelled: nothing was changed/);
  }
  expectExit(await v.zk(['threshold', 'status']), EXIT.notFound, 'nothing set up yet');

  r = expectExit(await v.zk([...args, '--yes']), EXIT.ok);
  assert.match(r.stdout, /only the threshold opens it now/);
  assert.match(r.stdout, /^Removed: password, recovery phrase\./m);
  assert.match(expectExit(await v.zk(['recovery', 'status']), EXIT.ok).stdout, /^password: +disabled/m);
  expectExit(await v.zk(['recovery', 'phrase']), EXIT.denied, 'single-holder recovery is disabled');
  expectExit(await v.zk(['lock']), EXIT.ok);
  expectExit(await v.zk(['unlock', '--password-stdin'], { input: `${password}\n` }), EXIT.denied, 'password disabled');
  const req = expectExit(await v.zk(['threshold', 'request']), EXIT.ok).stdout.trim();
  for (const a of admins)
    expectExit(await v.zk(['threshold', 'approve', req, '--admin', a.id, '--key', a.file]), EXIT.ok);
  assert.equal(await unlocked(v), true);
});

test('usage: one recovery method at a time, required options, no network for offline commands', async (t) => {
  const { v, dir } = await fresh(t);
  for (const args of [
    ['recover', '--password-stdin'],
    ['recover', '--phrase', '--hardware-key', '--password-stdin'],
    ['recovery', 'social', '--contact', 'a=x'],
    ['recovery', 'social', '-k', '2', '--contact', 'a=notbase64', '--contact', 'b=x'],
    ['recovery', 'open-share', 'AAAA'],
    ['recovery', 'frobnicate'],
    ['threshold', 'setup', '-k', '1'],
    ['threshold', 'approve', 'x'.repeat(32)],
    ['threshold', 'deny', 'x'.repeat(32)],
    ['keygen', '-o', join(dir, 'x'), '--from', join(dir, 'y')],
  ])
    expectExit(await v.zk(args), EXIT.usage, args.join(' '));
  const r = expectExit(await v.zk(['recover', '--share', 'zks1-AAAA', '--password-stdin'], { input: `${pw()}\n` }),
    EXIT.usage);
  assert.match(r.stderr, /warning: a share given with --share is visible to other users/);
  assert.match(r.stderr, /--share 1: not a zkvault recovery share/);
  const k = await keygen(v, dir, 'offline');
  // open-share is offline: no address, no token.
  const off = await spawnZk(['recovery', 'open-share', '--key', k.file, 'AAAA'], { env: { PATH: process.env.PATH } }).done;
  expectExit(off, EXIT.error);
  assert.match(off.stderr, /not a sealed share/);
});

test('help and completion cover the recovery commands', async () => {
  const zk = (args) => spawnZk(args, { env: { PATH: process.env.PATH } }).done;
  const help = expectExit(await zk(['help']), EXIT.ok).stdout;
  for (const c of ['passwd', 'rekey', 'recovery', 'recover', 'threshold', 'keygen'])
    assert.match(help, new RegExp(`^  ${c} `, 'm'), c);
  const subs = {
    recovery: ['status', 'phrase', 'hardware', 'social', 'rm', 'open-share'],
    threshold: ['setup', 'status', 'request', 'approve', 'deny'],
  };
  for (const args of [['passwd'], ['rekey'], ['recover'], ['keygen'], ['unlock'],
    ...Object.entries(subs).flatMap(([c, ss]) => ss.map((s) => [c, s]))]) {
    const h = expectExit(await zk([...args, '--help']), EXIT.ok, args.join(' '));
    assert.match(h.stdout, new RegExp(`^usage: zkvault ${args.join(' ')}`));
    assert.match(h.stdout, /Exit codes: 0 ok, 1 error, 2 usage/);
  }
  assert.match(expectExit(await zk(['unlock', '--help']), EXIT.ok).stdout, /--hardware-key/);
  const complete = (...w) => {
    const out = spawnSync('bash', ['-c',
      'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _zkvault; printf "%s\\n" "${COMPREPLY[@]}"',
      join(REPO, 'contrib/completion/zkvault.bash'), ...w], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.split('\n').filter(Boolean);
  };
  for (const [c, ss] of Object.entries(subs)) assert.deepEqual(complete('zkvault', c, ''), [...ss, '--help']);
  assert.deepEqual(complete('zkvault', 'recovery', 'rm', ''), ['phrase', 'hardware', 'social']);
  assert.ok(complete('zkvault', 'recover', '--').includes('--share-file'));
  assert.ok(complete('zkvault', 'threshold', 'approve', 'x', '--').includes('--transport-key'));
});
