// Helpers for the end-to-end tests of the zkvault client (tests/e2e/cli*.test.mjs): a real vaultd in a
// temporary directory, and the client run as a child process with a clean environment.
//
//   const v = await Vault.start();
//   const r = await v.zk(['init', '--password-stdin'], { input: `${password}\n` });  // { code, stdout, stderr }
//   const t = await v.zkTty(['unlock'], [['Vault password: ', password]]);            // through a pseudo-terminal
//   await v.stop();
//
// Every process started here is SIGKILLed when the test process exits.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BIN, REPO, hex, live, sleep, uuid } from './vaultd.mjs';

export { BIN, REPO, hex, sleep, uuid };

/** Whether util-linux script(1) is there to give the client a pseudo-terminal. */
export const haveScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

const shellQuote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/**
 * Starts `zkvault <args>`; resolves { code, signal, stdout, stderr } when it ends. input is written to its
 * stdin, which is then closed unless keepStdin. Returns { child, done }.
 */
export function spawnZk(args, { env, input, keepStdin = false, detached = false, timeout = 60000 } = {}) {
  // detached: a session of its own, so no controlling terminal (no /dev/tty)
  const child = spawn(BIN, args, { env, detached, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  const out = [];
  const err = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => err.push(c));
  child.stdin.on('error', () => {}); // the client may exit before reading everything
  if (input !== undefined) child.stdin.write(input);
  if (!keepStdin) child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
  const done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
  return { child, done };
}

export class Vault {
  constructor() {
    this.authToken = `auth-${hex(16)}`;
    this.groupId = uuid();
    this.proc = null;
  }

  static async start() {
    const v = new Vault();
    v.dir = await mkdtemp(join(tmpdir(), 'zkvault-cli-'));
    const portFile = join(v.dir, 'port');
    const env = { PATH: process.env.PATH, AUTH_TOKEN: v.authToken, GROUP_ID: v.groupId };
    v.stderr = [];
    v.proc = spawn(BIN, ['vaultd', '--port', '0', '--port-file', portFile, '--data-dir', join(v.dir, 'data'),
      '--threads', '2'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(v.proc);
    v.proc.stderr.on('data', (c) => v.stderr.push(c));
    v.exited = new Promise((resolve) => v.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + 15000;
    for (;;) {
      try {
        const text = await readFile(portFile, 'utf8');
        if (text.endsWith('\n')) {
          v.port = Number(text.trim());
          break;
        }
      } catch {
        /* not yet */
      }
      if (v.proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`vaultd did not start: ${Buffer.concat(v.stderr).toString()}`);
      await sleep(10);
    }
    v.addr = `http://127.0.0.1:${v.port}`;
    return v;
  }

  /** The client's environment: only PATH, the address and the management token, plus extra. */
  env(extra = {}) {
    const env = { PATH: process.env.PATH, ZKVAULT_ADDR: this.addr, ZKVAULT_AUTH_TOKEN: this.authToken, ...extra };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    return env;
  }

  /** Runs `zkvault <args>` to the end. opts: env (added to this.env()), input, timeout. */
  zk(args, { env = {}, input, timeout } = {}) {
    return spawnZk(args, { env: this.env(env), input, timeout }).done;
  }

  spawn(args, { env = {}, input, keepStdin } = {}) {
    return spawnZk(args, { env: this.env(env), input, keepStdin });
  }

  /**
   * Runs `zkvault <args>` on a pseudo-terminal (script(1)). dialog: [[prompt, line], ...]: each line is
   * typed once its prompt has appeared. Resolves { code, output } (output: everything the terminal showed).
   */
  zkTty(args, dialog, { env = {}, timeout = 30000 } = {}) {
    const cmd = [BIN, ...args].map(shellQuote).join(' ');
    const child = spawn('script', ['-q', '-e', '-c', cmd, '/dev/null'], {
      env: this.env(env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(child);
    let output = '';
    let from = 0;
    let step = 0;
    const feed = () => {
      while (step < dialog.length) {
        const [prompt, line] = dialog[step];
        const at = output.indexOf(prompt, from);
        if (at < 0) return;
        from = at + prompt.length;
        step++;
        child.stdin.write(`${line}\n`);
      }
    };
    child.stdout.on('data', (c) => {
      output += c.toString('utf8');
      feed();
    });
    child.stderr.on('data', (c) => (output += c.toString('utf8')));
    child.stdin.on('error', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    return new Promise((resolve) => {
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        live.delete(child);
        resolve({ code, signal, output, answered: step });
      });
    });
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null) {
      this.proc.kill('SIGTERM');
      await this.exited;
    }
    live.delete(this.proc);
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
