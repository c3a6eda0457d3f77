// Socket activation (the systemd protocol agentd uses to wake a stopped vault): vaultd serves a listening
// socket passed as fd 3 with LISTEN_FDS=1 and LISTEN_PID=<its pid>, answers a connection that was already
// waiting in the backlog before it started, ignores variables meant for another process, and refuses an fd 3
// that is not a listening socket with a clear message.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';

import { BIN, hex, live, mkTmp, request, rmTmp } from './lib/vaultd.mjs';

let dir;
before(async () => {
  dir = await mkTmp();
});
after(async () => {
  await rmTmp(dir);
});

/** Starts vaultd through sh so that LISTEN_PID can name the very process that runs vaultd (exec keeps $$). */
function startActivated(fd3, env = {}, args = []) {
  const p = spawn('sh', ['-c', 'LISTEN_PID=${LISTEN_PID:-$$} exec "$@"', 'sh', BIN, 'vaultd',
    '--data-dir', join(dir, 'data'), '--group-id', 'activated', ...args], {
    env: { ...process.env, AUTH_TOKEN: hex(16), LISTEN_FDS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe', fd3],
  });
  live.add(p);
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => p.on('exit', (code) => resolve(code)));
  return { p, exited, stderr: () => stderr };
}

/** A listening socket on a free loopback port that this process will never accept on. */
async function listeningSocket() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, fd: server._handle.fd, port: server.address().port };
}

test('serves the socket it was started with, including a connection made before it ran', async () => {
  const { server, fd, port } = await listeningSocket();
  // Connect first: the kernel completes the handshake into the backlog; nobody accepts it yet.
  const early = net.connect(port, '127.0.0.1');
  // --port 1 would fail to bind as non-root and is taken by nothing: the vault must not use it.
  const v = startActivated(fd, {}, ['--port', '1']);
  server.close(); // this process's copy only, in the same tick: its event loop never accepted anything
  const answer = await new Promise((resolve, reject) => {
    let text = '';
    early.on('error', reject);
    early.on('data', (d) => (text += d));
    early.on('end', () => resolve(text));
    early.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  });
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.match(answer, /"status":"ok"/);

  const r = await request(port, 'GET', '/.well-known/zkvault');
  assert.equal(r.status, 200);
  assert.match(v.stderr(), /listening on the socket it was started with \(port \d+\)/);
  assert.ok(v.stderr().includes(`(port ${port})`), v.stderr());

  v.p.kill('SIGTERM');
  assert.equal(await v.exited, 0);
});

test('variables meant for another process are ignored: the vault binds its own port', async () => {
  const { server, fd } = await listeningSocket();
  const portFile = join(dir, 'port');
  const v = startActivated(fd, { LISTEN_PID: '1' }, ['--port', '0', '--port-file', portFile]);
  server.close();
  let port;
  for (let i = 0; i < 200 && !port; i++) {
    await new Promise((r) => setTimeout(r, 25));
    port = Number((await readFile(portFile, 'utf8').catch(() => '')).trim()) || undefined;
  }
  assert.ok(port, v.stderr());
  const r = await request(port, 'GET', '/health');
  assert.equal(r.status, 200);
  assert.match(v.stderr(), /listening on 127\.0\.0\.1:\d+/);
  v.p.kill('SIGTERM');
  assert.equal(await v.exited, 0);
});

test('an fd 3 that is not a listening socket is refused with a clear message', async () => {
  const file = openSync(join(dir, 'not-a-socket'), 'w');
  const v = startActivated(file);
  closeSync(file);
  assert.equal(await v.exited, 1);
  assert.match(v.stderr(), /vaultd: socket activation: fd 3 is not a socket/);

  const pair = startActivated('pipe'); // node's pipes are Unix socket pairs: a socket, not a listening TCP one
  assert.equal(await pair.exited, 1);
  assert.match(pair.stderr(), /vaultd: socket activation: fd 3 is not a listening TCP socket/);

  const { server, fd } = await listeningSocket();
  const two = startActivated(fd, { LISTEN_FDS: '2' });
  server.close();
  assert.equal(await two.exited, 1);
  assert.match(two.stderr(), /LISTEN_FDS must be 1/);
});
