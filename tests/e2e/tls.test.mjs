// vaultd serving TLS itself (--tls-cert/--tls-key, ZKVAULT_TLS_CERT/ZKVAULT_TLS_KEY): the API over https with a
// certificate made here by openssl, the same answers as over plain http, and clear refusals at start when the
// pair is incomplete or unreadable. The client is node's own https, checking the certificate against its CA.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.ZKVAULT_BIN || fileURLToPath(new URL('../../build/zkvault', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'zkvault-tls-'));
const certPath = join(dir, 'cert.pem');
const keyPath = join(dir, 'key.pem');
const authToken = randomBytes(24).toString('hex');
let proc;
let port;
let ca;

function startVaultd(args, env = {}) {
  const portFile = join(dir, `port-${randomBytes(4).toString('hex')}`);
  const p = spawn(BIN, ['vaultd', '--port', '0', '--port-file', portFile, '--data-dir', join(dir, 'data'), ...args], {
    env: { ...process.env, AUTH_TOKEN: authToken, GROUP_ID: 'tls-e2e', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((resolve) => p.once('exit', (code) => resolve(code)));
  return { p, portFile, exited, stderr: () => err };
}

function call(method, path, { body, headers = {}, client = https, port: to = port } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = client.request({
      host: '127.0.0.1', port: to, method, path, ca, servername: 'localhost',
      headers: { 'x-auth-token': authToken, ...(data ? { 'content-type': 'application/json' } : {}), ...headers },
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end(data);
  });
}

before(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyPath, '-out', certPath],
  { stdio: 'ignore' });
  ca = readFileSync(certPath);
  const v = startVaultd(['--tls-cert', certPath, '--tls-key', keyPath]);
  proc = v.p;
  for (let i = 0; i < 400 && !existsSync(v.portFile); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(existsSync(v.portFile), `vaultd did not start: ${v.stderr()}`);
  port = Number(readFileSync(v.portFile, 'utf8').trim());
});

after(async () => {
  if (proc?.exitCode === null) await new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGTERM'); });
  rmSync(dir, { recursive: true, force: true });
});

describe('vaultd over TLS', () => {
  test('the whole API over https, the certificate checked by the client', async () => {
    const health = await call('GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
    assert.equal(health.headers['cache-control'], 'no-store');
    const password = `pw-${randomBytes(12).toString('hex')}`;
    assert.equal((await call('POST', '/init', { body: { password } })).status, 200);
    assert.equal((await call('POST', '/unlock', { body: { password: 'wrong-password-123' } })).status, 401);
    assert.equal((await call('POST', '/unlock', { body: { password } })).status, 200);
    const t = await call('POST', '/tokens', { body: { userId: randomUUID(), permissions: ['read', 'write'], allowedSecrets: ['tls-*'] } });
    assert.equal(t.status, 200);
    const cap = { 'x-capability-token': t.json.token };
    assert.equal((await call('POST', '/secrets/tls-one', { body: { value: 'over tls' }, headers: cap })).status, 200);
    const got = await call('GET', '/secrets/tls-one', { headers: cap });
    assert.deepEqual([got.status, got.json.value], [200, 'over tls']);
    assert.equal((await call('GET', '/secrets/other', { headers: cap })).status, 403);
  });

  test('a client that does not trust the certificate is refused by its own TLS check', async () => {
    await assert.rejects(new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/health', servername: 'localhost' }, resolve).on('error', reject);
    }), /self-signed|self signed/);
  });

  test('plain http to the TLS port gets no answer from the API', async () => {
    const r = await call('GET', '/health', { client: http }).catch((e) => e);
    assert.ok(r instanceof Error || r.status !== 200, `plain http answered ${JSON.stringify(r)}`);
  });

  test('an incomplete or unreadable pair stops vaultd at start with a clear message', async () => {
    for (const [args, message] of [
      [['--tls-cert', certPath], /TLS needs both a certificate and a key/],
      [['--tls-cert', certPath, '--tls-key', join(dir, 'missing.pem')], /cannot read the TLS certificate or key/],
    ]) {
      const v = startVaultd(args);
      const code = await v.exited;
      assert.notEqual(code, 0);
      assert.match(v.stderr(), message);
    }
    // A key that is not a key: the server cannot start TLS with it.
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a key\n', { mode: 0o600 });
    const v = startVaultd(['--tls-cert', certPath, '--tls-key', junk]);
    assert.notEqual(await v.exited, 0, v.stderr());
    assert.match(v.stderr(), /cannot start TLS with that certificate and key/);
  });
});
