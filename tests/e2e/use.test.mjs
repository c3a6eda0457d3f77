// POST /secrets/:key/use (use without reveal) and GET /capability, against a real vaultd and a local HTTP
// server that echoes everything it receives (so the credential comes back in the body and in headers, raw and
// encoded, and the vault must redact every form of it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';

import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Self-contained helpers: a real vaultd on a free port in a temporary directory.
const BIN = process.env.ZKVAULT_BIN || fileURLToPath(new URL('../../build/zkvault', import.meta.url));
const live = new Set();
process.on('exit', () => live.forEach((p) => p.kill('SIGKILL')));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const newPassword = () => `pw-${randomBytes(12).toString('hex')}`;

function request(port, method, path, { headers = {}, body } = {}) {
  const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const h = { Connection: 'close', ...headers };
  if (payload) Object.assign(h, { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
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
    req.on('error', reject);
    req.end(payload);
  });
}

function assertJson(res, status, body) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  if (body !== undefined) assert.deepEqual(res.json, body);
  return res.json;
}

async function waitFor(fn, { timeout = 5000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(50);
  }
}

class Vaultd {
  static async start({ args = [] } = {}) {
    const v = new Vaultd();
    v.dir = mkdtempSync(join(tmpdir(), 'zkvault-use-'));
    v.authToken = `auth-${randomBytes(16).toString('hex')}`;
    const portFile = join(v.dir, 'port');
    const env = { ...process.env, AUTH_TOKEN: v.authToken, GROUP_ID: randomUUID() };
    delete env.ZKVAULT_UNLOCK_URL;
    v.proc = spawn(BIN, ['vaultd', '--port', '0', '--port-file', portFile, '--data-dir', join(v.dir, 'data'),
      '--threads', '2', ...args], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    live.add(v.proc);
    for (let i = 0; i < 600 && !existsSync(portFile); i++) await sleep(25);
    v.port = Number(readFileSync(portFile, 'utf8').trim());
    return v;
  }

  req(method, path, opts) {
    return request(this.port, method, path, opts);
  }

  mgmt(method, path, body) {
    return this.req(method, path, { body, headers: { 'X-Auth-Token': this.authToken } });
  }

  cap(token, method, path, body, headers = {}) {
    return this.req(method, path, { body, headers: { 'X-Capability-Token': token, ...headers } });
  }

  async initAndUnlock(password) {
    assertJson(await this.mgmt('POST', '/init', { password }), 200);
    for (;;) {
      const r = await this.mgmt('POST', '/unlock', { password });
      if (r.status === 429) {
        await sleep(100);
        continue;
      }
      return assertJson(r, 200);
    }
  }

  async issueToken(body) {
    const b = { userId: randomUUID(), ...body };
    return { ...assertJson(await this.mgmt('POST', '/tokens', b), 200), userId: b.userId };
  }

  async put(token, key, value, metadata) {
    return assertJson(await this.cap(token, 'POST', `/secrets/${key}`, metadata ? { value, metadata } : { value }), 200);
  }

  get(token, key) {
    return this.cap(token, 'GET', `/secrets/${key}`);
  }

  async lock() {
    assertJson(await this.mgmt('POST', '/lock'), 200);
  }

  async audit(query = '') {
    return assertJson(await this.mgmt('GET', `/audit${query}`), 200).logs;
  }

  async close() {
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    await exited;
    live.delete(this.proc);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const SECRET = 'ghp_Sk/ey+With=Odd&Chars 0123456789';
const b64 = (s) => Buffer.from(s).toString('base64');

let v, echo, echoOrigin, other, otherOrigin;
let owner, user, reader, useOnly, useOther;
const seen = []; // every request the echo server received

function echoServer(record) {
  const s = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (record) record.push({ method: req.method, url: req.url, headers: req.headers, body });
      const auth = req.headers.authorization ?? '';
      const port = s.address().port;
      if (req.url === '/redirect-other') {
        res.writeHead(302, { location: `http://localhost:${port}/stolen` });
        return res.end();
      }
      if (req.url === '/redirect-same') {
        res.writeHead(307, { location: '/echo' });
        return res.end();
      }
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('x'.repeat(2 * 1024 * 1024));
      }
      const doc = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body,
        authB64: b64(auth),
        authUrl: encodeURIComponent(auth),
        authHex: Buffer.from(auth).toString('hex'),
      });
      const headers = {
        'content-type': 'application/json',
        'x-echo-auth': auth,
        'x-echo-b64': b64(auth),
        'set-cookie': `session=${b64(auth)}`,
      };
      if (req.url === '/gzip') {
        headers['content-encoding'] = 'gzip';
        return res.writeHead(200, headers), res.end(zlib.gzipSync(doc));
      }
      res.writeHead(200, headers);
      res.end(doc);
    });
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

const useReq = (token, key, request, extra = {}) => v.cap(token, 'POST', `/secrets/${key}/use`, { request, ...extra });

before(async () => {
  echo = await echoServer(seen);
  echoOrigin = `http://127.0.0.1:${echo.address().port}`;
  other = await echoServer(null);
  otherOrigin = `http://127.0.0.1:${other.address().port}`;
  v = await Vaultd.start({ args: ['--allow-insecure-use-origins', '--unlock-url', 'https://vault.example/unlock'] });
  await v.initAndUnlock(newPassword());
  owner = (await v.issueToken({ permissions: ['read', 'write', 'delete'], allowedSecrets: ['*'] })).token;
  await v.put(owner, 'github', SECRET, { allowedOrigins: [echoOrigin] });
  await v.put(owner, 'no-origins', SECRET);
  await v.put(owner, 'pinned', SECRET, {
    allowedOrigins: [echoOrigin],
    inject: { header: 'X-Api-Key', format: '{value}' },
  });
  user = await v.issueToken({ permissions: ['use'], allowedSecrets: ['github', 'no-origins', 'pinned'] });
  useOnly = user.token;
  reader = (await v.issueToken({ permissions: ['read'], allowedSecrets: ['github'] })).token;
  useOther = (await v.issueToken({ permissions: ['use'], allowedSecrets: ['pinned'] })).token;
});

after(async () => {
  await v?.close();
  echo?.close();
  other?.close();
});

function assertNoSecret(text) {
  for (const form of [SECRET, b64(SECRET), encodeURIComponent(SECRET), Buffer.from(SECRET).toString('hex'),
    JSON.stringify(SECRET).slice(1, -1), b64(`Bearer ${SECRET}`).slice(12, -4)]) {
    assert.ok(!text.includes(form), `answer contains the secret (${form}): ${text.slice(0, 400)}`);
  }
}

describe('use without reveal', () => {
  test('the server receives the credential; the answer never contains it', async () => {
    seen.length = 0;
    const r = await useReq(useOnly, 'github', {
      method: 'POST',
      url: `${echoOrigin}/echo?x=1`,
      headers: { 'X-Trace': 't1' },
      body: { hello: 'world' },
    });
    const j = assertJson(r, 200);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].headers.authorization, `Bearer ${SECRET}`);
    assert.equal(seen[0].headers['x-trace'], 't1');
    assert.equal(seen[0].headers['content-type'], 'application/json');
    assert.equal(seen[0].body, '{"hello":"world"}');
    assert.equal(j.status, 200);
    assert.equal(j.headers['x-echo-auth'], 'Bearer [REDACTED]');
    assert.equal(j.headers['set-cookie'], undefined, 'cookies are dropped');
    const doc = JSON.parse(j.body);
    assert.equal(doc.headers.authorization, 'Bearer [REDACTED]');
    assert.equal(doc.method, 'POST');
    assertNoSecret(r.text);
  });

  test('a compressed echo is decoded before redaction', async () => {
    const r = await useReq(useOnly, 'github', { method: 'GET', url: `${echoOrigin}/gzip` });
    const j = assertJson(r, 200);
    assert.equal(JSON.parse(j.body).headers.authorization, 'Bearer [REDACTED]');
    assert.equal(j.headers['content-encoding'], undefined);
    assertNoSecret(r.text);
  });

  test('the owner can pin the injected header; the caller cannot override it', async () => {
    seen.length = 0;
    const r = await useReq(useOnly, 'pinned', { method: 'GET', url: `${echoOrigin}/p` });
    assertJson(r, 200);
    assert.equal(seen[0].headers['x-api-key'], SECRET);
    assert.equal(seen[0].headers.authorization, undefined);
    assertNoSecret(r.text);
    const o = await useReq(useOnly, 'pinned', { method: 'GET', url: `${echoOrigin}/p` });
    assertJson(o, 200);
    const bad = await v.cap(useOnly, 'POST', '/secrets/pinned/use', {
      request: { method: 'GET', url: `${echoOrigin}/p` },
      inject: { header: 'X-Echo', format: '{value}' },
    });
    assertJson(bad, 400);
  });

  test('a redirect within the origin is followed; one to another origin is returned, not followed', async () => {
    seen.length = 0;
    const same = assertJson(await useReq(useOnly, 'github', { method: 'GET', url: `${echoOrigin}/redirect-same` }), 200);
    assert.equal(same.status, 200);
    assert.equal(JSON.parse(same.body).url, '/echo');
    seen.length = 0;
    const r = await useReq(useOnly, 'github', { method: 'GET', url: `${echoOrigin}/redirect-other` });
    const j = assertJson(r, 200);
    assert.equal(j.status, 302);
    assert.match(j.headers.location, /^http:\/\/localhost:\d+\/stolen$/);
    assert.deepEqual(seen.map((s) => s.url), ['/redirect-other'], 'the redirect was not followed');
  });

  test('an origin not in allowedOrigins is refused (nothing is sent)', async () => {
    seen.length = 0;
    const r = await useReq(useOnly, 'github', { method: 'GET', url: `${otherOrigin}/x` });
    assertJson(r, 403, { error: 'Origin not allowed for this secret', code: 'ORIGIN_NOT_ALLOWED' });
    const l = await useReq(useOnly, 'github', { method: 'GET', url: `http://localhost:${echo.address().port}/x` });
    assertJson(l, 403, { error: 'Origin not allowed for this secret', code: 'ORIGIN_NOT_ALLOWED' });
    assert.equal(seen.length, 0);
  });

  test('a secret without allowedOrigins cannot be used', async () => {
    const r = await useReq(useOnly, 'no-origins', { method: 'GET', url: `${echoOrigin}/x` });
    assert.equal(assertJson(r, 403).code, 'NO_ALLOWED_ORIGINS');
  });

  test('use needs the use permission on that name', async () => {
    const r = await useReq(reader, 'github', { method: 'GET', url: `${echoOrigin}/x` });
    assertJson(r, 403, { error: 'Access denied for this secret' });
    const o = await useReq(useOther, 'github', { method: 'GET', url: `${echoOrigin}/x` });
    assertJson(o, 403, { error: 'Access denied for this secret' });
    assertJson(await useReq('v4.public.bogus', 'github', { method: 'GET', url: `${echoOrigin}/x` }), 401);
    assertJson(await v.req('POST', '/secrets/github/use', { body: { request: { method: 'GET', url: echoOrigin } } }), 401);
  });

  test('a token with only use cannot read or list the secret', async () => {
    assertJson(await v.get(useOnly, 'github'), 403, { error: 'Access denied for this secret' });
    assertJson(await v.cap(useOnly, 'GET', '/secrets'), 403);
    assertJson(await v.cap(useOnly, 'GET', '/secrets/github/versions'), 403);
  });

  test('request validation', async () => {
    const bad = async (body, details) => {
      const r = await v.cap(useOnly, 'POST', '/secrets/github/use', body);
      const j = assertJson(r, 400);
      if (details) assert.match(j.details, details);
      assertNoSecret(r.text);
    };
    await bad({}, /^request: Required/);
    await bad({ request: 'x' }, /Expected object/);
    await bad({ request: { url: echoOrigin } }, /method/);
    await bad({ request: { method: 'TRACE', url: echoOrigin } }, /method/);
    await bad({ request: { method: 'GET', url: 'ftp://x/' } }, /url/);
    await bad({ request: { method: 'GET', url: 'https://user:pw@api.example/' } }, /url/);
    await bad({ request: { method: 'GET', url: '/relative' } }, /url/);
    await bad({ request: { method: 'GET', url: echoOrigin, headers: { Host: 'evil' } } }, /headers/);
    await bad({ request: { method: 'GET', url: echoOrigin, headers: { Range: 'bytes=0-3' } } }, /headers/);
    await bad({ request: { method: 'GET', url: echoOrigin, headers: { 'X-A': 'a\r\nX-B: b' } } }, /line breaks/);
    await bad({ request: { method: 'GET', url: echoOrigin, headers: { Authorization: 'mine' } } }, /injected/);
    await bad({ request: { method: 'GET', url: echoOrigin, body: 5 } }, /body/);
    await bad({ request: { method: 'GET', url: echoOrigin }, inject: { header: 'X-K', format: 'no placeholder' } }, /value/);
    await bad({ request: { method: 'GET', url: echoOrigin }, inject: { header: 'Content-Length', format: '{value}' } }, /header/);
    await bad({ request: { method: 'GET', url: echoOrigin }, extra: 1 }, /Unknown/);
    assertJson(await v.cap(useOnly, 'POST', '/secrets/github/use', '{nope'), 400);
  });

  test('https is required unless the vault runs with --allow-insecure-use-origins (loopback only)', async () => {
    const w = await Vaultd.start();
    try {
      await w.initAndUnlock(newPassword());
      const t = (await w.issueToken({ permissions: ['write', 'use'], allowedSecrets: ['k'] })).token;
      await w.put(t, 'k', SECRET, { allowedOrigins: [echoOrigin] });
      const r = await w.cap(t, 'POST', '/secrets/k/use', { request: { method: 'GET', url: `${echoOrigin}/x` } });
      assertJson(r, 403, { error: 'The request must use https', code: 'INSECURE_ORIGIN' });
    } finally {
      await w.close();
    }
  });

  test('a response over 1 MiB is refused rather than truncated', async () => {
    const r = await useReq(useOnly, 'github', { method: 'GET', url: `${echoOrigin}/huge` });
    assert.equal(assertJson(r, 502).code, 'UPSTREAM_TOO_LARGE');
  });

  test('an unreachable origin is a 502', async () => {
    const port = other.address().port;
    await new Promise((r) => other.close(r));
    await v.put(owner, 'gone', SECRET, { allowedOrigins: [`http://127.0.0.1:${port}`] });
    const t = (await v.issueToken({ permissions: ['use'], allowedSecrets: ['gone'] })).token;
    const r = await v.cap(t, 'POST', '/secrets/gone/use', { request: { method: 'GET', url: `http://127.0.0.1:${port}/` } });
    assert.equal(assertJson(r, 502).code, 'UPSTREAM_ERROR');
    other = null;
  });

  test('uses and refusals are audited with token id, subject and agent id', async () => {
    await v.cap(useOnly, 'POST', '/secrets/github/use', { request: { method: 'GET', url: `${echoOrigin}/a` } }, { 'X-Agent-Id': 'agent-42' });
    const logs = await waitFor(async () => {
      const l = await v.audit('?limit=200');
      return l.some((e) => e.agentId === 'agent-42') ? l : null;
    });
    assert.ok(logs, 'audit has the agent id');
    const used = logs.find((e) => e.action === 'secret.used' && e.agentId === 'agent-42');
    assert.equal(used.secretKey, 'github');
    assert.equal(used.tokenId, user.id);
    assert.equal(used.userId, user.userId);
    const denied = logs.find((e) => e.action === 'secret.use.denied' && e.error === 'origin not allowed');
    assert.ok(denied);
    assert.equal(denied.tokenId, user.id);
    assertNoSecret(JSON.stringify(logs));
  });

  test('locked: 423 with the unlock URL', async () => {
    const w = await Vaultd.start({ args: ['--allow-insecure-use-origins', '--unlock-url', 'https://u.example/unlock'] });
    try {
      await w.initAndUnlock(newPassword());
      const t = (await w.issueToken({ permissions: ['use'], allowedSecrets: ['k'] })).token;
      await w.lock();
      const r = await w.cap(t, 'POST', '/secrets/k/use', { request: { method: 'GET', url: `${echoOrigin}/x` } });
      assertJson(r, 423, { error: 'Vault is locked', code: 'VAULT_LOCKED', unlockUrl: 'https://u.example/unlock' });
      assertJson(await w.cap(t, 'GET', '/capability'), 423);
    } finally {
      await w.close();
    }
  });
});

describe('shutdown', () => {
  test('SIGTERM while uses are in flight: each gets 503 SHUTTING_DOWN and vaultd exits cleanly', async () => {
    const slow = http.createServer((req, res) => setTimeout(() => res.end('late'), 5000));
    await new Promise((r) => slow.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${slow.address().port}`;
    const w = await Vaultd.start({ args: ['--allow-insecure-use-origins'] });
    try {
      await w.initAndUnlock(newPassword());
      const t = (await w.issueToken({ permissions: ['write', 'use'], allowedSecrets: ['k'] })).token;
      await w.put(t, 'k', SECRET, { allowedOrigins: [origin] });
      const pending = [1, 2, 3].map(() => w.cap(t, 'POST', '/secrets/k/use', { request: { method: 'GET', url: `${origin}/` } }));
      await sleep(500);
      const exited = new Promise((r) => w.proc.once('exit', (code, signal) => r({ code, signal })));
      w.proc.kill('SIGTERM');
      for (const r of await Promise.all(pending))
        assertJson(r, 503, { error: 'The vault is shutting down', code: 'SHUTTING_DOWN' });
      assert.deepEqual(await exited, { code: 0, signal: null });
    } finally {
      live.delete(w.proc);
      rmSync(w.dir, { recursive: true, force: true });
      slow.closeAllConnections?.();
      slow.close();
    }
  });
});

describe('GET /capability', () => {
  test('describes the token and the names it may act on, never a value', async () => {
    const r = await v.cap(useOnly, 'GET', '/capability');
    const j = assertJson(r, 200);
    assert.equal(j.vaultUnlocked, true);
    assert.ok(j.expiresIn > 0);
    assert.equal(j.token.id, user.id);
    assert.equal(j.token.subject, user.userId);
    assert.deepEqual(j.token.permissions, ['use']);
    assert.deepEqual(j.token.allowedSecrets, ['github', 'no-origins', 'pinned']);
    assert.deepEqual(j.secrets.map((s) => s.key), ['github', 'no-origins', 'pinned']);
    assert.deepEqual(j.secrets[0].allowedOrigins, [echoOrigin]);
    assertNoSecret(r.text);
    assertJson(await v.req('GET', '/capability'), 401);
  });
});
