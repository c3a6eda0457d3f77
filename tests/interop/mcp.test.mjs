// zkvault mcp against a client no one here wrote: the official MCP TypeScript SDK client, over stdio
// (StdioClientTransport spawning `zkvault mcp`) and over Streamable HTTP (StreamableHTTPClientTransport with the
// capability token as a Bearer header), with a real vaultd behind it and a local HTTP server as the API that
// vault_use calls. Also raw JSON-RPC robustness over stdio.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';

import { startVault } from './lib.mjs';

const BIN = process.env.ZKVAULT_BIN ?? 'build/zkvault';
const PASSWORD = 'interop-password-0123456789';
const UNLOCK_URL = 'https://vault.example/unlock?v=1';
const GITHUB = 'ghp_InteropSecret/+=0123456789abcdef';
const OPENAI = 'sk-interop-openai-0123456789';

let vault, api, apiOrigin, agentToken, useOnlyToken;
const received = []; // what the API server saw
const procs = new Set();
process.on('exit', () => procs.forEach((p) => p.kill('SIGKILL')));

const text = (res) => res.content.map((c) => c.text).join('');
const payload = (res) => JSON.parse(text(res));

before(async () => {
  api = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ url: req.url, headers: req.headers, body });
      const auth = req.headers.authorization ?? '';
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo': auth });
      res.end(JSON.stringify({ youSent: req.headers, body, b64: Buffer.from(auth).toString('base64') }));
    });
  });
  await new Promise((r) => api.listen(0, '127.0.0.1', r));
  apiOrigin = `http://127.0.0.1:${api.address().port}`;

  vault = await startVault({ args: ['--allow-insecure-use-origins', '--unlock-url', UNLOCK_URL] });
  assert.equal((await vault.call('POST', '/init', { body: { password: PASSWORD } })).status, 200);
  assert.equal((await vault.call('POST', '/unlock', { body: { password: PASSWORD } })).status, 200);
  const owner = (await vault.call('POST', '/tokens', {
    body: { userId: '00000000-0000-4000-8000-000000000001', permissions: ['read', 'write'], allowedSecrets: ['*'] },
  })).body.token;
  for (const [key, value, metadata] of [
    ['github', GITHUB, { allowedOrigins: [apiOrigin] }],
    ['openai', OPENAI, {}],
    ['stripe', 'sk_live_never_given', {}],
  ]) {
    const r = await vault.call('POST', `/secrets/${key}`, { token: owner, auth: false, body: { value, metadata } });
    assert.equal(r.status, 200);
  }
  agentToken = (await vault.call('POST', '/tokens', {
    body: { userId: '00000000-0000-4000-8000-0000000000a1', permissions: ['read', 'use'], allowedSecrets: ['github', 'openai'] },
  })).body.token;
  useOnlyToken = (await vault.call('POST', '/tokens', {
    body: { userId: '00000000-0000-4000-8000-0000000000a2', permissions: ['use'], allowedSecrets: ['github'] },
  })).body.token;
});

after(async () => {
  await vault?.stop();
  api?.close();
});

async function startHttpMcp() {
  const portFile = join(vault.dir, `mcp-port-${Date.now()}`);
  const p = spawn(BIN, ['mcp', '--http', '--port', '0', '--port-file', portFile, '--addr', vault.url], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.add(p);
  for (let i = 0; i < 400 && !existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 25));
  const url = `http://127.0.0.1:${readFileSync(portFile, 'utf8').trim()}/mcp`;
  return { url, stop: () => new Promise((r) => { p.once('exit', r); p.kill('SIGTERM'); }) };
}

async function connect(kind, token, httpServer) {
  const client = new Client({ name: 'zkvault-interop', version: '1.0.0' });
  let transport;
  if (kind === 'stdio') {
    transport = new StdioClientTransport({
      command: BIN,
      args: ['mcp', '--addr', vault.url],
      env: { ZKVAULT_TOKEN: token, PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
    });
  } else {
    transport = new StreamableHTTPClientTransport(new URL(httpServer.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    });
  }
  await client.connect(transport);
  return { client, transport };
}

for (const kind of ['stdio', 'http']) {
  describe(`MCP SDK client over ${kind}`, () => {
    let httpServer, c, denied;
    before(async () => {
      if (kind === 'http') httpServer = await startHttpMcp();
      c = await connect(kind, agentToken, httpServer);
      denied = await connect(kind, useOnlyToken, httpServer);
    });
    after(async () => {
      await c?.client.close();
      await denied?.client.close();
      await httpServer?.stop();
    });

    test('initialize: server info and the negotiated protocol version', async () => {
      assert.equal(c.client.getServerVersion().name, 'zkvault');
      assert.ok(c.client.getServerCapabilities().tools);
      assert.match(c.client.getInstructions(), /vault_use/);
      if (kind === 'http') assert.equal(c.transport.protocolVersion, LATEST_PROTOCOL_VERSION);
      await c.client.ping();
    });

    test('tools/list: four tools, each with a JSON Schema', async () => {
      const { tools } = await c.client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), ['ocmt_get_credentials', 'vault_list', 'vault_status', 'vault_use']);
      for (const t of tools) {
        assert.equal(t.inputSchema.type, 'object');
        assert.equal(typeof t.description, 'string');
      }
      const use = tools.find((t) => t.name === 'vault_use');
      assert.deepEqual(use.inputSchema.required, ['service', 'request']);
      assert.deepEqual(use.inputSchema.properties.request.required, ['method', 'url']);
    });

    test('vault_status', async () => {
      const r = await c.client.callTool({ name: 'vault_status', arguments: {} });
      assert.equal(r.isError, false);
      const j = payload(r);
      assert.equal(j.unlocked, true);
      assert.ok(j.expiresIn > 0);
      assert.deepEqual(j.token.permissions, ['read', 'use']);
      assert.equal(j.token.subject, '00000000-0000-4000-8000-0000000000a1');
    });

    test('vault_list: names only', async () => {
      const r = await c.client.callTool({ name: 'vault_list', arguments: {} });
      assert.equal(r.isError, false);
      const j = payload(r);
      assert.deepEqual(j.secrets.map((s) => s.name), ['github', 'openai']);
      assert.deepEqual(j.secrets[0].allowedOrigins, [apiOrigin]);
      assert.ok(!text(r).includes(GITHUB) && !text(r).includes(OPENAI));
    });

    test('ocmt_get_credentials returns the credential the token may read', async () => {
      const r = await c.client.callTool({ name: 'ocmt_get_credentials', arguments: { service: 'openai' } });
      assert.equal(r.isError, false);
      const j = payload(r);
      assert.equal(j.success, true);
      assert.equal(j.apiKey, OPENAI);
      assert.equal(j.type, 'api_key');
    });

    test('denied: a name outside the token, and read with a use-only token', async () => {
      const r = await c.client.callTool({ name: 'ocmt_get_credentials', arguments: { service: 'stripe' } });
      assert.equal(r.isError, true);
      assert.equal(payload(r).error, 'access_denied');
      const u = await denied.client.callTool({ name: 'ocmt_get_credentials', arguments: { service: 'github' } });
      assert.equal(u.isError, true);
      assert.equal(payload(u).error, 'access_denied');
      assert.ok(!text(u).includes(GITHUB));
      const l = await denied.client.callTool({ name: 'vault_use', arguments: { service: 'openai', request: { method: 'GET', url: apiOrigin } } });
      assert.equal(l.isError, true);
      assert.equal(payload(l).error, 'access_denied');
    });

    test('vault_use: the API receives the credential, the model never sees it', async () => {
      for (const who of [c, denied]) {
        received.length = 0;
        const r = await who.client.callTool({
          name: 'vault_use',
          arguments: { service: 'github', request: { method: 'POST', url: `${apiOrigin}/repos`, headers: { 'X-Req': '1' }, body: { name: 'x' } } },
        });
        assert.equal(r.isError, false, text(r));
        assert.equal(received.length, 1);
        assert.equal(received[0].headers.authorization, `Bearer ${GITHUB}`);
        assert.equal(received[0].body, '{"name":"x"}');
        const j = payload(r);
        assert.equal(j.status, 200);
        assert.equal(j.headers['x-echo'], 'Bearer [REDACTED]');
        assert.equal(JSON.parse(j.body).youSent.authorization, 'Bearer [REDACTED]');
        const all = JSON.stringify(r);
        assert.ok(!all.includes(GITHUB), 'the MCP result contains the credential');
        assert.ok(!all.includes(Buffer.from(GITHUB).toString('base64').slice(0, 20)));
      }
    });

    test('vault_use: an origin the owner did not allow is refused', async () => {
      received.length = 0;
      const r = await c.client.callTool({
        name: 'vault_use',
        arguments: { service: 'github', request: { method: 'GET', url: `http://localhost:${api.address().port}/x` } },
      });
      assert.equal(r.isError, true);
      assert.equal(payload(r).error, 'origin_not_allowed');
      assert.equal(received.length, 0);
    });

    test('bad arguments are tool errors; an unknown tool is -32602', async () => {
      const r = await c.client.callTool({ name: 'ocmt_get_credentials', arguments: {} });
      assert.equal(r.isError, true);
      assert.equal(payload(r).error, 'invalid_arguments');
      const n = await c.client.callTool({ name: 'vault_use', arguments: { service: '../etc', request: {} } });
      assert.equal(n.isError, true);
      const bad = await c.client.callTool({ name: 'vault_use', arguments: { service: 'github', request: { method: 'GET', url: 'ftp://x' } } });
      assert.equal(bad.isError, true);
      assert.equal(payload(bad).error, 'invalid_request');
      await assert.rejects(c.client.callTool({ name: 'no_such_tool', arguments: {} }), (e) => e.code === -32602);
    });

    test('locked: vault_locked with the unlock URL', async () => {
      assert.equal((await vault.call('POST', '/lock')).status, 200);
      try {
        const r = await c.client.callTool({ name: 'ocmt_get_credentials', arguments: { service: 'openai' } });
        assert.equal(r.isError, true);
        assert.deepEqual(payload(r), {
          error: 'vault_locked',
          message: 'The vault is locked. Ask the user to unlock it (unlockUrl), then try again.',
          unlockUrl: UNLOCK_URL,
        });
        const u = await c.client.callTool({ name: 'vault_use', arguments: { service: 'github', request: { method: 'GET', url: apiOrigin } } });
        assert.equal(payload(u).error, 'vault_locked');
        const s = await c.client.callTool({ name: 'vault_status', arguments: {} });
        assert.equal(s.isError, false);
        assert.equal(payload(s).locked, true);
        assert.equal(payload(s).unlockUrl, UNLOCK_URL);
        const l = await c.client.callTool({ name: 'vault_list', arguments: {} });
        assert.equal(payload(l).error, 'vault_locked');
      } finally {
        assert.equal((await vault.call('POST', '/unlock', { body: { password: PASSWORD } })).status, 200);
      }
    });

    test('every tool call is audited in the vault with the token id', async () => {
      await new Promise((r) => setTimeout(r, 300));
      const { logs } = (await vault.call('GET', '/audit?limit=1000')).body;
      const sub = '00000000-0000-4000-8000-0000000000a1';
      for (const action of ['secret.read', 'secret.used', 'capability.checked', 'secret.read.denied'])
        assert.ok(logs.some((e) => e.action === action && e.userId === sub && e.tokenId), `audit has ${action}`);
    });
  });
}

describe('a token with an audience (aud)', () => {
  test('the server sends X-Agent-Id from the token, and the vault audits the agent id', async () => {
    const issued = await vault.call('POST', '/tokens', {
      body: { userId: '00000000-0000-4000-8000-0000000000a3', permissions: ['use'], allowedSecrets: ['github'], aud: 'agent-7' },
    });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const { client } = await connect('stdio', issued.body.token);
    try {
      const r = await client.callTool({ name: 'vault_use', arguments: { service: 'github', request: { method: 'GET', url: `${apiOrigin}/aud` } } });
      assert.equal(r.isError, false, text(r));
      assert.ok(!JSON.stringify(r).includes(GITHUB));
    } finally {
      await client.close();
    }
    // Another agent id than the token's audience: the vault refuses the token.
    const wrong = new Client({ name: 'w', version: '1' });
    await wrong.connect(new StdioClientTransport({
      command: BIN,
      args: ['mcp', '--addr', vault.url, '--agent-id', 'someone-else'],
      env: { ZKVAULT_TOKEN: issued.body.token, PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
    }));
    try {
      const r = await wrong.callTool({ name: 'vault_status', arguments: {} });
      assert.equal(r.isError, true);
      assert.equal(payload(r).error, 'invalid_token');
    } finally {
      await wrong.close();
    }
    await new Promise((r) => setTimeout(r, 300));
    const { logs } = (await vault.call('GET', '/audit?limit=1000')).body;
    const used = logs.find((e) => e.action === 'secret.used' && e.userId === '00000000-0000-4000-8000-0000000000a3');
    assert.ok(used, 'secret.used audited');
    assert.equal(used.agentId, 'agent-7');
    assert.equal(used.tokenId, issued.body.id);
  });
});

describe('Streamable HTTP transport rules', () => {
  let server;
  before(async () => {
    server = await startHttpMcp();
  });
  after(() => server?.stop());
  const post = (body, headers = {}) =>
    fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };

  test('no Bearer token: 401 with WWW-Authenticate, and the SDK client fails to connect', async () => {
    const r = await post(ping);
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate'), /^Bearer/);
    const client = new Client({ name: 't', version: '1' });
    await assert.rejects(client.connect(new StreamableHTTPClientTransport(new URL(server.url))));
  });

  test('a foreign Origin is refused (DNS rebinding)', async () => {
    const r = await post(ping, { authorization: `Bearer ${agentToken}`, origin: 'https://evil.example' });
    assert.equal(r.status, 403);
    const ok = await post(ping, { authorization: `Bearer ${agentToken}`, origin: 'http://localhost:3000' });
    assert.equal(ok.status, 200);
  });

  test('notifications get 202 and no body; parse errors 400; GET 405; bad protocol version 400', async () => {
    const auth = { authorization: `Bearer ${agentToken}` };
    const n = await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, auth);
    assert.equal(n.status, 202);
    assert.equal(await n.text(), '');
    const p = await post('{"jsonrpc":', auth);
    assert.equal(p.status, 400);
    assert.deepEqual(await p.json(), { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    const g = await fetch(server.url, { headers: { ...auth, accept: 'text/event-stream' } });
    assert.equal(g.status, 405);
    const v = await post(ping, { ...auth, 'mcp-protocol-version': '1999-01-01' });
    assert.equal(v.status, 400);
    const b = await post([ping], { ...auth, 'mcp-protocol-version': '2025-06-18' });
    assert.equal((await b.json()).error.code, -32600);
    const b2 = await post([ping, { jsonrpc: '2.0', method: 'notifications/x' }], { ...auth, 'mcp-protocol-version': '2025-03-26' });
    assert.deepEqual(await b2.json(), [{ jsonrpc: '2.0', id: 1, result: {} }]);
  });
});

describe('raw JSON-RPC over stdio', () => {
  test('malformed input gets the right errors, notifications get nothing, and the server keeps going', async () => {
    const p = spawn(BIN, ['mcp', '--addr', vault.url], {
      env: { ZKVAULT_TOKEN: agentToken, PATH: process.env.PATH ?? '' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    procs.add(p);
    const lines = createInterface({ input: p.stdout });
    const replies = [];
    lines.on('line', (l) => replies.push(JSON.parse(l)));
    const send = (s) => p.stdin.write(`${s}\n`);
    const next = async (n) => {
      for (let i = 0; i < 400 && replies.length < n; i++) await new Promise((r) => setTimeout(r, 10));
      return replies.slice(0, n);
    };
    send('this is not json');
    send('{"jsonrpc":"2.0","id":1}');
    send('{"jsonrpc":"2.0","id":2,"method":"resources/list"}');
    send('{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}');
    send('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    send('{"jsonrpc":"2.0","method":"tools/call","params":{"name":"vault_status"}}');
    send('[]');
    send('{"jsonrpc":"1.0","id":4,"method":"ping"}');
    send('{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}');
    send('{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"vault_status","arguments":[1]}}');
    send('{"jsonrpc":"2.0","id":6,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}');
    send('[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"},5]');
    send('');
    send('{"jsonrpc":"2.0","id":"last","method":"ping"}');
    const r = await next(11);
    const codes = r.map((x) => (Array.isArray(x) ? 'batch' : x.error ? x.error.code : 'ok'));
    assert.deepEqual(codes, [-32700, -32600, -32601, -32602, -32600, -32600, -32600, -32602, 'ok', 'batch', 'ok']);
    assert.equal(r[0].id, null);
    assert.equal(r[1].id, 1);
    assert.equal(r[2].id, 2);
    assert.equal(r[3].id, 3);
    assert.equal(r[5].id, 4);
    assert.equal(r[6].id, null);
    assert.equal(r[8].result.protocolVersion, '2025-03-26');
    assert.deepEqual(r[9], [{ jsonrpc: '2.0', id: 7, result: {} }, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: expected a JSON-RPC object' } }]);
    assert.deepEqual(r[10], { jsonrpc: '2.0', id: 'last', result: {} });
    assert.equal(replies.length, 11, 'notifications got no reply');
    p.stdin.end();
    const code = await new Promise((res) => p.once('exit', res));
    assert.equal(code, 0);
  });
});
