// The personal vault's stores (--kind user): integrations (/v1/integrations) and encrypted append-only
// transcripts (/v1/transcripts), docs/API.md §Personal vault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Vaultd, assertJson, hex, newPassword, readAllFiles, waitFor } from './lib/vaultd.mjs';
import { spawnZk } from './lib/cli.mjs';

async function fresh(t, args = ['--kind', 'user']) {
  const v = await Vaultd.start({ args });
  t.after(() => v.close());
  const password = newPassword();
  await v.initAndUnlock(password);
  return { v, password };
}

test('integrations: put, list, metadata-only for management, credential only for an integration: token', async (t) => {
  const { v, password } = await fresh(t);
  const apiKey = `sk-${hex(24)}`;
  let r = await v.mgmt('PUT', '/v1/integrations/openai', { type: 'api_key', apiKey, accountLabel: 'me@example.com',
    scopes: ['chat', 'embeddings'], expiresAt: '2099-01-01T00:00:00.000Z', metadata: { note: 'personal' } });
  assertJson(r, 200, { success: true, service: 'openai', version: 1, created: true });
  r = await v.mgmt('PUT', '/v1/integrations/github', { type: 'oauth', accessToken: `gho_${hex(16)}`,
    refreshToken: `ghr_${hex(16)}`, tokenType: 'bearer', expiresAt: '2001-01-01T00:00:00Z' });
  assertJson(r, 200);
  // Update keeps createdAt, bumps the version.
  const first = assertJson(await v.mgmt('GET', '/v1/integrations/openai'), 200);
  r = await v.mgmt('PUT', '/v1/integrations/openai', { type: 'api_key', apiKey, accountLabel: 'me@example.com' });
  assertJson(r, 200, { success: true, service: 'openai', version: 2, created: false });

  const one = assertJson(await v.mgmt('GET', '/v1/integrations/openai'), 200);
  assert.equal(one.credential, undefined, 'management reads metadata only');
  assert.equal(one.service, 'openai');
  assert.equal(one.type, 'api_key');
  assert.equal(one.accountLabel, 'me@example.com');
  assert.equal(one.createdAt, first.createdAt);
  assert.equal(one.version, 2);
  assert.ok(!JSON.stringify(one).includes(apiKey));

  const list = assertJson(await v.mgmt('GET', '/v1/integrations'), 200);
  assert.deepEqual(list.integrations.map((i) => i.service), ['github', 'openai']);
  assert.equal(list.integrations[0].expired, true);
  assert.equal(list.integrations[0].type, 'oauth');
  assert.ok(!JSON.stringify(list).includes(apiKey));

  // A capability token needs a pattern naming the namespace: "*" is for secrets only.
  const star = await v.issueToken({ permissions: ['read', 'write'] });
  assertJson(await v.cap(star.token, 'GET', '/v1/integrations/openai'), 403);
  assertJson(await v.cap(star.token, 'GET', '/secrets'), 200, { keys: [] });
  const cap = assertJson(await v.cap(star.token, 'GET', '/capability'), 200);
  assert.deepEqual(cap.secrets, []);
  assertJson(await v.cap(star.token, 'GET', '/secrets/integration:openai'), 400);
  const only = await v.issueToken({ allowedSecrets: ['integration:openai'], permissions: ['read'] });
  r = assertJson(await v.cap(only.token, 'GET', '/v1/integrations/openai'), 200);
  assert.deepEqual(r.credential, { apiKey });
  assertJson(await v.cap(only.token, 'GET', '/v1/integrations/github'), 403);
  const all = await v.issueToken({ allowedSecrets: ['integration:*'], permissions: ['read'] });
  r = assertJson(await v.cap(all.token, 'GET', '/v1/integrations/github'), 200);
  assert.equal(r.credential.tokenType, 'bearer');
  const noRead = await v.issueToken({ allowedSecrets: ['integration:*'], permissions: ['write'] });
  assertJson(await v.cap(noRead.token, 'GET', '/v1/integrations/github'), 403);
  // Management routes other than GET one do not take tokens.
  assertJson(await v.cap(all.token, 'GET', '/v1/integrations'), 401);
  assertJson(await v.cap(all.token, 'PUT', '/v1/integrations/x', { type: 'api_key', apiKey: 'k' }), 401);

  // Audited, with the token id on reads.
  await waitFor(async () => (await v.audit()).some((e) => e.action === 'integration.read' && e.tokenId === only.id));
  const audit = await v.audit();
  for (const a of ['integration.created', 'integration.updated', 'integration.read', 'integration.read.denied'])
    assert.ok(audit.some((e) => e.action === a), a);
  assert.ok(audit.some((e) => e.action === 'integration.created' && e.secretKey === 'integration:openai'));

  // Delete, then 404; survives restart; never on disk in the clear.
  assertJson(await v.mgmt('DELETE', '/v1/integrations/github'), 200, { success: true });
  assertJson(await v.mgmt('DELETE', '/v1/integrations/github'), 404, { error: 'Integration not found' });
  assertJson(await v.mgmt('GET', '/v1/integrations/github'), 404);
  await v.restart();
  assertJson(await v.mgmt('GET', '/v1/integrations/openai'), 423);
  await v.unlock(password);
  r = assertJson(await v.cap(only.token, 'GET', '/v1/integrations/openai'), 200);
  assert.equal(r.credential.apiKey, apiKey);
  await v.stop();
  for (const f of await readAllFiles(v.dataDir)) {
    assert.ok(!f.data.includes(Buffer.from(apiKey)), `${f.path} holds the API key`);
    assert.ok(!f.data.includes(Buffer.from('integration:openai')), `${f.path} holds the record name`);
  }
});

test('integrations: validation', async (t) => {
  const { v } = await fresh(t);
  const bad = [
    [{}, 'type'],
    [{ type: 'password', apiKey: 'x' }, 'type'],
    [{ type: 'api_key' }, 'apiKey: Required'],
    [{ type: 'api_key', apiKey: '' }, 'apiKey'],
    [{ type: 'api_key', apiKey: 'k', accessToken: 't' }, 'type'],
    [{ type: 'oauth', apiKey: 'k', accessToken: 't' }, 'type'],
    [{ type: 'oauth' }, 'accessToken: Required'],
    [{ type: 'api_key', apiKey: 'k', scopes: 'read' }, 'scopes'],
    [{ type: 'api_key', apiKey: 'k', scopes: [1] }, 'scopes.0'],
    [{ type: 'api_key', apiKey: 'k', expiresAt: 'tomorrow' }, 'expiresAt'],
    [{ type: 'api_key', apiKey: 'k', metadata: [] }, 'metadata'],
    [{ type: 'api_key', apiKey: 'k', accountLabel: 'x'.repeat(129) }, 'accountLabel'],
    [{ type: 'api_key', apiKey: 'k', extra: 1 }, 'extra: Unknown field'],
  ];
  for (const [body, what] of bad) {
    const r = assertJson(await v.mgmt('PUT', '/v1/integrations/svc', body), 400);
    assert.ok(r.details.startsWith(what), `${JSON.stringify(body)}: ${r.details}`);
  }
  assertJson(await v.mgmt('PUT', '/v1/integrations/bad%20name', { type: 'api_key', apiKey: 'k' }), 400);
  assertJson(await v.mgmt('PUT', `/v1/integrations/${'a'.repeat(129)}`, { type: 'api_key', apiKey: 'k' }), 400);
  assertJson(await v.req('GET', '/v1/integrations'), 401);
  assertJson(await v.mgmt('PUT', '/v1/integrations/svc', 'not json'), 400);
  assertJson(await v.mgmt('GET', '/v1/integrations/none'), 404, { error: 'Integration not found' });
  await v.lock();
  assertJson(await v.mgmt('PUT', '/v1/integrations/svc', { type: 'api_key', apiKey: 'k' }), 423);
  assertJson(await v.mgmt('GET', '/v1/integrations'), 423);
  assertJson(await v.mgmt('GET', '/v1/transcripts'), 423);
});

test('a group vault has no personal stores: 404', async (t) => {
  const { v } = await fresh(t, []);
  for (const [m, p] of [['GET', '/v1/integrations'], ['GET', '/v1/integrations/x'], ['PUT', '/v1/integrations/x'],
    ['DELETE', '/v1/integrations/x'], ['GET', '/v1/transcripts'], ['GET', '/v1/transcripts/x'], ['POST', '/v1/transcripts/x']])
    assertJson(await v.mgmt(m, p, m === 'GET' ? undefined : { type: 'api_key', apiKey: 'k' }), 404, { error: 'Not found' });
});

test('transcripts: append-only, read back in order while unlocked, listed, exported as ciphertext', async (t) => {
  const { v, password } = await fresh(t);
  const marker = `said-${hex(12)}`;
  for (let i = 1; i <= 5; i++) {
    const r = await v.mgmt('POST', '/v1/transcripts/session-1', { role: i % 2 ? 'user' : 'assistant',
      content: `${marker} #${i}`, metadata: { n: i } });
    assertJson(r, 200, { success: true, id: 'session-1', seq: i });
  }
  // Concurrent appends each get their own sequence number.
  const rs = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    v.mgmt('POST', '/v1/transcripts/session-2', { content: { text: `parallel ${i}` } })));
  assert.deepEqual(rs.map((r) => r.json.seq).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8]);

  let r = assertJson(await v.mgmt('GET', '/v1/transcripts/session-1'), 200);
  assert.equal(r.count, 5);
  assert.deepEqual(r.entries.map((e) => [e.seq, e.role, e.content, e.metadata.n, e.by]),
    [1, 2, 3, 4, 5].map((i) => [i, i % 2 ? 'user' : 'assistant', `${marker} #${i}`, i, 'owner']));
  r = assertJson(await v.mgmt('GET', '/v1/transcripts/session-1?after=3&limit=1'), 200);
  assert.deepEqual(r.entries.map((e) => e.seq), [4]);
  assertJson(await v.mgmt('GET', '/v1/transcripts/session-1?limit=0'), 400);
  assertJson(await v.mgmt('GET', '/v1/transcripts/nope'), 404, { error: 'Transcript not found' });
  const list = assertJson(await v.mgmt('GET', '/v1/transcripts'), 200);
  assert.deepEqual(list.transcripts.map((x) => [x.id, x.count]), [['session-1', 5], ['session-2', 8]]);

  // No route rewrites or deletes an entry.
  assertJson(await v.mgmt('DELETE', '/v1/transcripts/session-1'), 405);
  assertJson(await v.mgmt('PUT', '/v1/transcripts/session-1', { content: 'x' }), 405);
  for (const body of [{}, { content: 3 }, { content: 'x', role: '' }, { content: 'x', other: 1 }, { content: 'x', metadata: 'm' }])
    assertJson(await v.mgmt('POST', '/v1/transcripts/session-1', body), 400);

  // An agent appends with a transcript: token; it cannot read.
  const agent = await v.issueToken({ allowedSecrets: ['transcript:session-3'], permissions: ['write'] });
  assertJson(await v.cap(agent.token, 'POST', '/v1/transcripts/session-3', { role: 'tool', content: 'ran ls' }), 200,
    { success: true, id: 'session-3', seq: 1 });
  assertJson(await v.cap(agent.token, 'POST', '/v1/transcripts/session-1', { content: 'x' }), 403);
  assertJson(await v.cap(agent.token, 'GET', '/v1/transcripts/session-3'), 401);
  const star = await v.issueToken({ permissions: ['write'] });
  assertJson(await v.cap(star.token, 'POST', '/v1/transcripts/session-3', { content: 'x' }), 403);
  r = assertJson(await v.mgmt('GET', '/v1/transcripts/session-3'), 200);
  assert.equal(r.entries[0].by, agent.userId);
  await waitFor(async () => (await v.audit()).some((e) => e.action === 'transcript.read'));
  const audit = await v.audit('?limit=200');
  assert.ok(audit.some((e) => e.action === 'transcript.appended' && e.tokenId === agent.id));

  // The export carries them, as ciphertext only; unlocked again, they are all there.
  const exp = assertJson(await v.mgmt('GET', '/export'), 200);
  assert.ok(!JSON.stringify(exp).includes(marker));
  assert.ok(exp.vault.records.length >= 5 + 1 + 8 + 1 + 1 + 1);
  // Imported into a fresh personal vault, the same password opens them.
  const b = await Vaultd.start({ args: ['--kind', 'user'] });
  t.after(() => b.close());
  assertJson(await b.mgmt('POST', '/import', { vault: exp.vault }), 200, { success: true, message: 'Vault imported' });
  await b.unlock(password);
  r = assertJson(await b.mgmt('GET', '/v1/transcripts/session-2?limit=1000'), 200);
  assert.equal(r.count, 8);
  assert.equal(r.entries.length, 8);

  await v.lock();
  assertJson(await v.mgmt('GET', '/v1/transcripts/session-1'), 423);
  await v.restart();
  await v.unlock(password);
  r = assertJson(await v.mgmt('GET', '/v1/transcripts/session-1'), 200);
  assert.equal(r.entries[4].content, `${marker} #5`);
  await v.stop();
  for (const f of await readAllFiles(v.dataDir)) assert.ok(!f.data.includes(Buffer.from(marker)), f.path);
});

test('zkvault mcp: ocmt_get_credentials falls back to the integration, access token only', async (t) => {
  const { v } = await fresh(t);
  const apiKey = `sk-${hex(20)}`;
  assertJson(await v.mgmt('PUT', '/v1/integrations/openai', { type: 'api_key', apiKey, accountLabel: 'me' }), 200);
  assertJson(await v.mgmt('PUT', '/v1/integrations/gh', { type: 'oauth', accessToken: 'gho_live', refreshToken: 'ghr_secret',
    tokenType: 'bearer', expiresAt: '2099-01-01T00:00:00Z' }), 200);
  const tok = await v.issueToken({ allowedSecrets: ['integration:*'], permissions: ['read'] });
  const lines = [
    { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 't', version: '0' } } },
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ocmt_get_credentials', arguments: { service: 'openai' } } },
    { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'ocmt_get_credentials', arguments: { service: 'gh' } } },
    { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'ocmt_get_credentials', arguments: { service: 'none' } } },
  ].map((m) => JSON.stringify(m)).join('\n') + '\n';
  const r = await spawnZk(['mcp', '--addr', `http://127.0.0.1:${v.port}`],
    { env: { PATH: process.env.PATH, ZKVAULT_TOKEN: tok.token }, input: lines }).done;
  const answers = Object.fromEntries(r.stdout.trim().split('\n').map((l) => JSON.parse(l)).map((m) => [m.id, m]));
  const content = (id) => JSON.parse(answers[id].result.content[0].text);
  assert.deepEqual({ ...content(2), version: undefined },
    { success: true, service: 'openai', type: 'api_key', apiKey, expiresAt: null, scopes: [], accountLabel: 'me', version: undefined });
  const gh = content(3);
  assert.equal(gh.accessToken, 'gho_live');
  assert.equal(gh.refreshToken, undefined, 'the refresh token stays in the vault');
  assert.equal(answers[4].result.isError, true);
});
