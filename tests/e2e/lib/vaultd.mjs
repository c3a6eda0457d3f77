// Shared helpers for the black-box end-to-end tests of `zkvault vaultd`: start a real vaultd on a free port
// with its data in a fresh temporary directory, wait for /health, stop it (SIGTERM or SIGKILL), restart it on
// the same data, and talk to it over real HTTP (node:http, one connection per request, so a killed server
// leaves no pooled socket behind and the request can carry anything: chunked bodies, huge headers, bad JSON).
//
//   const v = await Vaultd.start();                  // AUTH_TOKEN and GROUP_ID random
//   await v.initAndUnlock(password);
//   const { token } = await v.issueToken({ permissions: ['read', 'write'] });
//   const r = await v.cap(token, 'GET', '/secrets/db-main');   // { status, headers, text, json }
//   await v.restart();  await v.close();
//
// Every process started here is SIGKILLed when the test process exits, whatever happened.

import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat, unlink } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const BIN =
  process.env.ZKVAULT_BIN || fileURLToPath(new URL('../../../build/zkvault', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Child processes killed when the test process exits, whatever state it leaves them in. */
export const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const hex = (n) => randomBytes(n).toString('hex');
export const uuid = () => randomUUID();
/** A password the init validator accepts (>= 16 characters). */
export const newPassword = () => `pw-${hex(12)}`;

/** A fresh temporary directory; removed by rmTmp. */
export async function mkTmp(prefix = 'zkvault-e2e-') {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function rmTmp(dir) {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/**
 * One HTTP request over a fresh connection. body: undefined | string | Buffer | any JSON value (serialised).
 * opts.chunked sends the body with Transfer-Encoding: chunked (no Content-Length), in 64 KiB pieces.
 * Resolves { status, headers, text, json } (json undefined when the body is not JSON).
 */
export function request(port, method, path, { headers = {}, body, chunked = false, timeout = 30000 } = {}) {
  let payload;
  const h = { Connection: 'close', ...headers };
  if (body !== undefined) {
    if (Buffer.isBuffer(body)) payload = body;
    else if (typeof body === 'string') payload = Buffer.from(body);
    else payload = Buffer.from(JSON.stringify(body));
    if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
    // node frames DELETE bodies only when told to.
    if (chunked) h['Transfer-Encoding'] = 'chunked';
    else h['Content-Length'] = String(payload.length);
  }
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h, timeout }, (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    // A server that answers early (413) and closes may make our upload fail: the answer is what counts.
    req.on('error', (e) => {
      if (!answered) setTimeout(() => (answered ? null : reject(e)), 200);
    });
    if (payload && chunked) {
      for (let i = 0; i < payload.length; i += 65536) req.write(payload.subarray(i, i + 65536));
      req.end();
    } else {
      req.end(payload);
    }
  });
}

/** Asserts a JSON answer: status, content type, and (when given) the exact body. */
export function assertJson(res, status, body) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json/, `content-type of ${res.text}`);
  assert.notEqual(res.json, undefined, `not JSON: ${res.text}`);
  if (body !== undefined) assert.deepEqual(res.json, body);
  return res.json;
}

/** Runs `zkvault <args>` to completion: { code, stdout, stderr }. */
export function runZkvault(args, { env = {}, timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    execFile(BIN, args, { env: { ...process.env, ...env }, timeout }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs one sqlite3 CLI invocation on a database file (the server must be stopped). */
export function sqlite(dbPath, sql) {
  return new Promise((resolve, reject) => {
    execFile('sqlite3', ['-batch', dbPath, sql], (err, stdout, stderr) => {
      if (err) reject(new Error(`sqlite3: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Every regular file under dir (recursively), as { path, data: Buffer }. */
export async function readAllFiles(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await readAllFiles(p)));
    else if (e.isFile()) out.push({ path: p, data: await readFile(p) });
  }
  return out;
}

export class Vaultd {
  /**
   * opts: dir (root tmp dir, created when absent), dataDir (default <dir>/data), authToken, groupId,
   * args (extra vaultd flags), env (extra environment).
   */
  constructor(opts = {}) {
    this.opts = opts;
    this.dir = opts.dir;
    this.authToken = opts.authToken ?? `auth-${hex(16)}`;
    this.groupId = opts.groupId ?? uuid();
    this.args = opts.args ?? [];
    this.env = opts.env ?? {};
    this.proc = null;
    this.port = 0;
    this.out = []; // stdout chunks of every run
    this.err = []; // stderr chunks of every run
    this.runs = 0;
  }

  static async start(opts = {}) {
    const v = new Vaultd(opts);
    await v.start();
    return v;
  }

  get dataDir() {
    return this.opts.dataDir ?? join(this.dir, 'data');
  }

  get dbPath() {
    return join(this.dataDir, 'vault.db');
  }

  get stdout() {
    return Buffer.concat(this.out);
  }

  get stderr() {
    return Buffer.concat(this.err);
  }

  async start() {
    if (this.proc) throw new Error('already running');
    if (!this.dir) this.dir = await mkTmp();
    const portFile = join(this.dir, `port-${process.pid}-${++this.runs}`);
    if (existsSync(portFile)) await unlink(portFile);
    const env = { ...process.env, AUTH_TOKEN: this.authToken, GROUP_ID: this.groupId, ...this.env };
    for (const k of ['PORT', 'ZKVAULT_DATA_DIR', 'ZKVAULT_TRUSTED_PROXIES', 'ZKVAULT_UNLOCK_URL'])
      if (!(k in this.env)) delete env[k];
    const argv = ['vaultd', '--port', '0', '--port-file', portFile, '--data-dir', this.dataDir, '--threads', '2',
      ...this.args];
    const p = spawn(BIN, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(p);
    this.proc = p;
    p.stdout.on('data', (c) => this.out.push(c));
    p.stderr.on('data', (c) => this.err.push(c));
    this.exited = new Promise((resolve) => {
      p.on('exit', (code, signal) => {
        live.delete(p);
        resolve({ code, signal });
      });
    });
    let gone = null;
    this.exited.then((r) => (gone = r));
    const deadline = Date.now() + 15000;
    for (;;) {
      if (gone) {
        this.proc = null;
        throw new Error(`vaultd exited at start (${JSON.stringify(gone)}): ${this.stderr.toString()}`);
      }
      try {
        const text = await readFile(portFile, 'utf8');
        if (text.endsWith('\n')) {
          this.port = Number(text.trim());
          break;
        }
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`vaultd did not write its port file: ${this.stderr.toString()}`);
      await sleep(10);
    }
    for (;;) {
      try {
        const r = await request(this.port, 'GET', '/health', { timeout: 2000 });
        if (r.status === 200) return this;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error('vaultd /health did not answer');
      await sleep(10);
    }
  }

  /** SIGTERM (clean shutdown) and wait; returns { code, signal }. */
  async stop(signal = 'SIGTERM') {
    if (!this.proc) return null;
    const p = this.proc;
    p.kill(signal);
    const timer = setTimeout(() => p.kill('SIGKILL'), 15000);
    const r = await this.exited;
    clearTimeout(timer);
    this.proc = null;
    return r;
  }

  /** kill -9: no shutdown code runs. */
  async kill9() {
    return this.stop('SIGKILL');
  }

  async restart({ kill = false } = {}) {
    if (kill) await this.kill9();
    else await this.stop();
    return this.start();
  }

  /** Stops the server and removes its directory. */
  async close() {
    await this.stop();
    if (!this.opts.keepDir) await rmTmp(this.dir);
  }

  req(method, path, opts = {}) {
    return request(this.port, method, path, opts);
  }

  /** A management request (X-Auth-Token). */
  mgmt(method, path, body, headers = {}) {
    return this.req(method, path, { body, headers: { 'X-Auth-Token': this.authToken, ...headers } });
  }

  /** A secrets request (X-Capability-Token). */
  cap(token, method, path, body, headers = {}) {
    return this.req(method, path, { body, headers: { 'X-Capability-Token': token, ...headers } });
  }

  async init(password) {
    const r = await this.mgmt('POST', '/init', { password });
    assertJson(r, 200, { success: true, message: 'Org vault initialized' });
    return r.json;
  }

  /** POST /unlock; waits out a concurrent key derivation (429 KDF_BUSY) but nothing else. */
  async unlockRaw(password, extra = {}, headers = {}) {
    for (let i = 0; ; i++) {
      const r = await this.mgmt('POST', '/unlock', { password, ...extra }, headers);
      if (r.status === 429 && r.json?.code === 'KDF_BUSY' && i < 50) {
        await sleep(100);
        continue;
      }
      return r;
    }
  }

  async unlock(password) {
    const r = await this.unlockRaw(password);
    assertJson(r, 200);
    assert.equal(r.json.success, true);
    return r.json;
  }

  async initAndUnlock(password) {
    await this.init(password);
    return this.unlock(password);
  }

  async lock() {
    const r = await this.mgmt('POST', '/lock');
    assertJson(r, 200, { success: true });
  }

  async status() {
    const r = await this.mgmt('GET', '/status');
    return assertJson(r, 200);
  }

  /** POST /tokens with a random userId unless given; asserts 200 and returns { token, expiresIn, id, userId }. */
  async issueToken(body = {}) {
    const b = { userId: uuid(), ...body };
    const r = await this.mgmt('POST', '/tokens', b);
    assertJson(r, 200);
    return { ...r.json, userId: b.userId };
  }

  async put(token, key, value, metadata) {
    const r = await this.cap(token, 'POST', `/secrets/${key}`, metadata === undefined ? { value } : { value, metadata });
    assertJson(r, 200);
    return r.json;
  }

  async get(token, key) {
    return this.cap(token, 'GET', `/secrets/${key}`);
  }

  async audit(query = '') {
    const r = await this.mgmt('GET', `/audit${query}`);
    return assertJson(r, 200).logs;
  }

  async exportVault() {
    const r = await this.mgmt('GET', '/export');
    return assertJson(r, 200).vault;
  }

  /** `zkvault vaultd --verify-audit --data-dir <dataDir>` (server should be stopped). */
  verifyAudit(dataDir = this.dataDir) {
    return runZkvault(['vaultd', '--verify-audit', '--data-dir', dataDir]);
  }
}

export async function fileSize(p) {
  return (await stat(p)).size;
}

/** Polls fn until it returns a truthy value (returned) or the timeout passes (the last value is returned). */
// Audit entries come newest first: by row seq, and within a batch of reads (one row) by part.
export function newestFirst(logs) {
  return logs.every((e, i) => i === 0 || e.seq < logs[i - 1].seq ||
    (e.seq === logs[i - 1].seq && e.part !== undefined && e.part < logs[i - 1].part));
}

export async function waitFor(fn, { timeout = 5000, interval = 50 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(interval);
  }
}

// PASETO v4.public, for looking inside tokens and forging ones the vault must refuse.
const b64u = (buf) => Buffer.from(buf).toString('base64url');

/** PASETO pre-authentication encoding of byte strings. */
export function pae(...pieces) {
  const le64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  return Buffer.concat([le64(pieces.length), ...pieces.flatMap((p) => [le64(p.length), Buffer.from(p)])]);
}

/**
 * Splits a token (docs/FORMAT.md §Capability tokens: root PASETO v4.public, then "~"-separated attenuation blocks
 * and the proof) into { root, rest (the "~" parts after the root), header, message (Buffer), sig (Buffer),
 * footer (string), claims }.
 */
export function decodeToken(token) {
  const [root, ...rest] = token.split('~');
  const parts = root.split('.');
  assert.ok(parts.length === 3 || parts.length === 4, `not a PASETO token: ${token}`);
  assert.equal(`${parts[0]}.${parts[1]}.`, 'v4.public.');
  const raw = Buffer.from(parts[2], 'base64url');
  const message = raw.subarray(0, raw.length - 64);
  return {
    root,
    rest,
    header: 'v4.public.',
    message,
    sig: raw.subarray(raw.length - 64),
    footer: parts[3] ? Buffer.from(parts[3], 'base64url').toString('utf8') : '',
    claims: JSON.parse(message.toString('utf8')),
  };
}

/** Builds a token from a root's message, 64-byte signature and footer (no signing), and the "~" parts after it. */
export function encodeToken(message, sig, footer = '', rest = []) {
  const body = `v4.public.${b64u(Buffer.concat([Buffer.from(message), sig]))}`;
  const root = footer ? `${body}.${b64u(Buffer.from(footer))}` : body;
  return [root, ...rest].join('~');
}
