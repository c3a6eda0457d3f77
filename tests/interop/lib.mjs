// Starts a real zkvault vaultd for the interop tests (its own port, data dir and auth token).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export async function startVault({ groupId = 'interop-group', args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'zkvault-interop-'));
  const authToken = randomBytes(24).toString('hex');
  const portFile = join(dir, 'port');
  const proc = spawn(process.env.ZKVAULT_BIN ?? 'build/zkvault',
    ['vaultd', '--port', '0', '--port-file', portFile, '--data-dir', join(dir, 'data'), ...args],
    { env: { ...process.env, AUTH_TOKEN: authToken, GROUP_ID: groupId }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => { output += d; });
  proc.stderr.on('data', (d) => { output += d; });
  for (let i = 0; i < 200 && !existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 25));
  const url = `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}`;
  const call = async (method, path, { body, token, auth = true } = {}) => {
    const headers = { 'content-type': 'application/json' };
    if (auth) headers['x-auth-token'] = authToken;
    if (token) headers['x-capability-token'] = token;
    const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const stop = () => new Promise((resolve) => { proc.once('exit', resolve); proc.kill('SIGTERM'); });
  return { url, dir, call, stop, output: () => output };
}
