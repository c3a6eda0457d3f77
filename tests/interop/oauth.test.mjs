// OAuth 2.0 with PKCE inside a personal vault, against a provider no one here wrote: npm `oidc-provider` run
// locally. The vault discovers the provider, makes the S256 challenge and state, the "browser" (this test, with
// a cookie jar) logs in and consents at the provider, follows the redirect to the vault's callback, and the
// vault exchanges the code with libcurl. The tokens are then read back through the vault with an integration:
// capability token and used at the provider's userinfo endpoint; no management-side answer ever held them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Provider from 'oidc-provider';
import { Vaultd, assertJson, hex, newPassword } from '../e2e/lib/vaultd.mjs';

/** One request without following redirects; cookies kept in jar. */
function browse(jar, method, url, form) {
  const u = new URL(url);
  const body = form ? new URLSearchParams(form).toString() : undefined;
  const headers = { Cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  if (body) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers }, (res) => {
      for (const c of res.headers['set-cookie'] ?? []) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startProvider(t, redirectUri, clientSecret, { grantTypes = ['authorization_code'], extra = {} } = {}) {
  const server = http.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'zkvault-test', client_secret: clientSecret, redirect_uris: [redirectUri],
      grant_types: grantTypes, response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' }],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return { sub: id, email: `${id}@example.test` }; } };
    },
    claims: { openid: ['sub'], email: ['email'] },
    ...extra,
  });
  provider.on('server_error', (ctx, err) => console.error('provider error', err));
  const seen = [];
  const cb = provider.callback();
  server.on('request', (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    cb(req, res);
  });
  t.after(() => new Promise((r) => server.close(r)));
  return { issuer, seen };
}

/** The user's browser: authorization URL -> login -> consent -> redirect to the vault's callback. */
async function authorize(authorizationUrl) {
  const jar = new Map();
  let r = await browse(jar, 'GET', authorizationUrl);
  for (let step = 0; step < 10; step++) {
    assert.ok([302, 303].includes(r.status), `expected a redirect, got ${r.status}: ${r.text.slice(0, 300)}`);
    const next = new URL(r.headers.location, authorizationUrl).href;
    if (next.includes('/v1/oauth/callback')) return next;
    if (/\/interaction\/[^/]+$/.test(new URL(next).pathname)) {
      const page = await browse(jar, 'GET', next);
      assert.equal(page.status, 200);
      const prompt = /name="prompt" value="(\w+)"/.exec(page.text)?.[1] ?? (page.text.includes('name="login"') ? 'login' : 'consent');
      r = await browse(jar, 'POST', next, prompt === 'login' ? { prompt, login: 'alice', password: 'x' } : { prompt });
    } else {
      r = await browse(jar, 'GET', next);
    }
  }
  throw new Error('no redirect to the callback');
}

test('oidc-provider: PKCE flow end to end; the vault holds the tokens, the management side never sees them', async (t) => {
  const v = await Vaultd.start({ args: ['--kind', 'user'] });
  t.after(() => v.close());
  const password = newPassword();
  await v.initAndUnlock(password);
  const redirectUri = `http://127.0.0.1:${v.port}/v1/oauth/callback`;
  const clientSecret = `cs-${hex(16)}`;
  const op = await startProvider(t, redirectUri, clientSecret);
  const managementSaw = [];

  const start = await v.mgmt('POST', '/v1/oauth/example/start', { issuer: op.issuer, clientId: 'zkvault-test',
    clientSecret, redirectUri, scopes: ['openid', 'email'], accountLabel: 'alice' });
  managementSaw.push(start.text);
  assertJson(start, 200);
  const authUrl = new URL(start.json.authorizationUrl);
  assert.equal(authUrl.origin, op.issuer);
  assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
  assert.match(authUrl.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(authUrl.searchParams.get('redirect_uri'), redirectUri);
  assert.equal(authUrl.searchParams.get('state'), start.json.state);
  assert.equal(authUrl.searchParams.get('code_verifier'), null);

  const callback = await authorize(start.json.authorizationUrl);
  assert.ok(new URL(callback).searchParams.get('code'));
  const done = await v.req('GET', new URL(callback).pathname + new URL(callback).search);
  managementSaw.push(done.text);
  assertJson(done, 200);
  assert.equal(done.json.success, true);
  assert.equal(done.json.service, 'example');
  assert.ok(op.seen.some((s) => s.startsWith('POST /token')), 'the vault called the token endpoint');

  // The same callback again: the state is gone.
  assertJson(await v.req('GET', new URL(callback).pathname + new URL(callback).search), 400, undefined);

  const meta = await v.mgmt('GET', '/v1/integrations/example');
  managementSaw.push(meta.text);
  assertJson(meta, 200);
  assert.equal(meta.json.type, 'oauth');
  assert.equal(meta.json.accountLabel, 'alice');
  assert.equal(meta.json.credential, undefined);
  assert.ok(meta.json.expiresAt);
  managementSaw.push((await v.mgmt('GET', '/v1/integrations')).text);

  // Through the vault, with a token for integrations: a working access token.
  const tok = await v.issueToken({ allowedSecrets: ['integration:example'], permissions: ['read'] });
  const got = assertJson(await v.cap(tok.token, 'GET', '/v1/integrations/example'), 200);
  const access = got.credential.accessToken;
  assert.ok(access && access.length > 10);
  const me = await new Promise((resolve, reject) => {
    const u = new URL(`${op.issuer}/me`);
    http.get({ host: u.hostname, port: u.port, path: u.pathname, headers: { Authorization: `Bearer ${access}` } }, (res) => {
      let s = '';
      res.on('data', (c) => (s += c));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(s) }));
    }).on('error', reject);
  });
  assert.equal(me.status, 200);
  assert.equal(me.json.sub, 'alice');

  for (const text of managementSaw) {
    assert.ok(!text.includes(access), 'a management-side answer held the access token');
    assert.ok(!text.includes(clientSecret), 'a management-side answer held the client secret');
    if (got.credential.idToken) assert.ok(!text.includes(got.credential.idToken));
  }
  const audit = await v.audit('?limit=50');
  assert.ok(audit.some((e) => e.action === 'integration.created' && e.secretKey === 'integration:example'));
});

async function userinfo(issuer, access) {
  return new Promise((resolve, reject) => {
    const u = new URL(`${issuer}/me`);
    http.get({ host: u.hostname, port: u.port, path: u.pathname, headers: { Authorization: `Bearer ${access}` } }, (res) => {
      let s = '';
      res.on('data', (c) => (s += c));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(s) }));
    }).on('error', reject);
  });
}

test('oidc-provider: the vault refreshes a token about to expire before handing it out, and on demand', async (t) => {
  const v = await Vaultd.start({ args: ['--kind', 'user'] });
  t.after(() => v.close());
  await v.initAndUnlock(newPassword());
  const redirectUri = `http://127.0.0.1:${v.port}/v1/oauth/callback`;
  const clientSecret = `cs-${hex(16)}`;
  // Access tokens live 30 s (inside the vault's one-minute refresh window); refresh tokens are always issued.
  const op = await startProvider(t, redirectUri, clientSecret, { grantTypes: ['authorization_code', 'refresh_token'],
    extra: { ttl: { AccessToken: 30, RefreshToken: 3600, IdToken: 30, Grant: 3600, Session: 3600, Interaction: 600 },
      issueRefreshToken: async () => true } });
  const start = assertJson(await v.mgmt('POST', '/v1/oauth/svc/start', { issuer: op.issuer, clientId: 'zkvault-test',
    clientSecret, redirectUri, scopes: ['openid'] }), 200);
  const callback = new URL(await authorize(start.authorizationUrl));
  assertJson(await v.req('GET', callback.pathname + callback.search), 200);
  const tokenCalls = () => op.seen.filter((s) => s.startsWith('POST /token')).length;
  assert.equal(tokenCalls(), 1);

  const tok = await v.issueToken({ allowedSecrets: ['integration:*'], permissions: ['read'] });
  const got = assertJson(await v.cap(tok.token, 'GET', '/v1/integrations/svc'), 200);
  assert.equal(got.refreshed, true);
  assert.equal(got.oauthClientSecret, undefined);
  assert.equal(tokenCalls(), 2, 'refreshed at the token endpoint');
  assert.equal((await userinfo(op.issuer, got.credential.accessToken)).status, 200);

  const forced = await v.mgmt('POST', '/v1/oauth/svc/refresh');
  assertJson(forced, 200);
  assert.equal(forced.json.success, true);
  assert.ok(forced.json.expiresAt);
  assert.ok(!forced.text.includes(got.credential.accessToken) && !forced.text.includes(got.credential.refreshToken));
  assert.equal(tokenCalls(), 3);
  const meta = assertJson(await v.mgmt('GET', '/v1/integrations/svc'), 200);
  assert.equal(meta.updatedBy, 'oauth-refresh');
  assert.equal(meta.credential, undefined);
  const again = assertJson(await v.cap(tok.token, 'GET', '/v1/integrations/svc'), 200);
  assert.notEqual(again.credential.accessToken, got.credential.accessToken);
  assert.equal((await userinfo(op.issuer, again.credential.accessToken)).status, 200);

  // Not refreshable: an API key.
  assertJson(await v.mgmt('PUT', '/v1/integrations/key', { type: 'api_key', apiKey: 'k' }), 200);
  assertJson(await v.mgmt('POST', '/v1/oauth/key/refresh'), 409);
  assertJson(await v.mgmt('POST', '/v1/oauth/none/refresh'), 404);
});

test('oauth: validation, explicit endpoints, a refused exchange and a denied authorization', async (t) => {
  const v = await Vaultd.start({ args: ['--kind', 'user'] });
  t.after(() => v.close());
  await v.initAndUnlock(newPassword());
  const redirectUri = `http://127.0.0.1:${v.port}/v1/oauth/callback`;
  for (const body of [{}, { clientId: 'c', redirectUri }, { clientId: 'c', redirectUri: 'ftp://x', issuer: 'https://a.example' },
    { clientId: 'c', redirectUri, issuer: 'http://provider.example' }, // http only on loopback
    { clientId: 'c', redirectUri, issuer: 'https://a.example', tokenEndpoint: 'https://a.example/t' },
    { clientId: 'c', redirectUri, authorizationEndpoint: 'https://a.example/a' },
    { clientId: 'c', redirectUri, issuer: 'https://a.example', scopes: ['a b'] },
    { clientId: 'c', redirectUri, issuer: 'https://a.example', other: 1 }])
    assertJson(await v.mgmt('POST', '/v1/oauth/x/start', body), 400);
  assertJson(await v.req('POST', '/v1/oauth/x/start', { body: {} }), 401);

  // Explicit endpoints (no discovery): a token endpoint that refuses the code.
  const refusing = http.createServer((req, res) => {
    res.writeHead(400, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ error: 'invalid_grant' }));
  });
  await new Promise((r) => refusing.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => refusing.close(r)));
  const base = `http://127.0.0.1:${refusing.address().port}`;
  let s = assertJson(await v.mgmt('POST', '/v1/oauth/x/start', { authorizationEndpoint: `${base}/authorize?tenant=1`,
    tokenEndpoint: `${base}/token`, clientId: 'c', redirectUri }), 200);
  assert.ok(s.authorizationUrl.startsWith(`${base}/authorize?tenant=1&response_type=code`));
  let r = await v.req('GET', `/v1/oauth/callback?code=abc&state=${s.state}`);
  assertJson(r, 502);
  assert.equal(r.json.code, 'OAUTH_EXCHANGE');
  assert.equal(r.json.details, 'invalid_grant');
  assertJson(await v.mgmt('GET', '/v1/integrations/x'), 404);

  s = assertJson(await v.mgmt('POST', '/v1/oauth/x/start', { authorizationEndpoint: `${base}/authorize`,
    tokenEndpoint: `${base}/token`, clientId: 'c', redirectUri }), 200);
  r = await v.req('GET', `/v1/oauth/callback?error=access_denied&state=${s.state}`);
  assertJson(r, 400);
  assert.equal(r.json.code, 'OAUTH_DENIED');
  r = await v.req('GET', `/v1/oauth/callback?code=abc&state=${s.state}`);
  assert.equal(r.json.code, 'OAUTH_STATE');
  assertJson(await v.req('GET', '/v1/oauth/callback?code=abc'), 400);
  assertJson(await v.req('GET', `/v1/oauth/callback?code=abc&state=${'A'.repeat(43)}`), 400);
  // A discovery document for another issuer is refused.
  r = await v.mgmt('POST', '/v1/oauth/x/start', { issuer: base, clientId: 'c', redirectUri });
  assertJson(r, 502);
  assert.equal(r.json.code, 'OAUTH_DISCOVERY');
});
