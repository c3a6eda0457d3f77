// The unlock limiter: 5 failed attempts per client address per 15 minutes, RateLimit-* headers, and
// X-Forwarded-For honoured only from a configured trusted proxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertJson, newPassword, Vaultd } from './lib/vaultd.mjs';

const WINDOW_S = 15 * 60;
const TOO_MANY = 'Too many vault unlock attempts. Please try again in 15 minutes.';

function assertLimited(r) {
  assertJson(r, 429);
  assert.deepEqual(Object.keys(r.json).sort(), ['code', 'error', 'retryAfter']);
  assert.equal(r.json.error, TOO_MANY);
  assert.equal(r.json.code, 'RATE_LIMIT_EXCEEDED');
  assert.ok(Number.isInteger(r.json.retryAfter) && r.json.retryAfter > WINDOW_S - 60 && r.json.retryAfter <= WINDOW_S,
    `retryAfter ${r.json.retryAfter}`);
  assert.equal(r.headers['retry-after'], String(r.json.retryAfter));
  assert.equal(r.headers['ratelimit-limit'], '5');
  assert.equal(r.headers['ratelimit-remaining'], '0');
  const reset = Number(r.headers['ratelimit-reset']);
  const now = Date.now() / 1000;
  assert.ok(reset > now + WINDOW_S - 60 && reset <= Math.ceil(now) + WINDOW_S + 1, `reset ${reset} now ${now}`);
}

async function failN(v, n, headers = {}, firstRemaining = 5) {
  for (let i = 0; i < n; i++) {
    const r = await v.unlockRaw(`${newPassword()}-wrong`, {}, headers);
    assertJson(r, 401, { error: 'Invalid password' });
    assert.equal(r.headers['ratelimit-limit'], '5');
    assert.equal(r.headers['ratelimit-remaining'], String(firstRemaining - i), `attempt ${i + 1}`);
    assert.equal(r.headers['retry-after'], undefined);
  }
}

describe('without a trusted proxy', () => {
  let v;
  const password = newPassword();
  before(async () => {
    v = await Vaultd.start();
    await v.init(password);
  });
  after(async () => v?.close());

  test('successful unlocks and validation errors do not use up the budget', async () => {
    await v.unlock(password);
    await v.unlock(password);
    assertJson(await v.mgmt('POST', '/unlock', {}), 400);
    const r = await v.unlockRaw(password);
    assertJson(r, 200);
    assert.equal(r.headers['ratelimit-remaining'], '5');
    await v.lock();
  });

  test('5 failures, then 429 with headers and body', async () => {
    await failN(v, 5);
    assertLimited(await v.unlockRaw(`${password}-wrong`));
    // Even the right password is refused now, and the vault stays locked.
    assertLimited(await v.unlockRaw(password));
    assert.equal((await v.status()).unlocked, false);
  });

  test('changing X-Forwarded-For or X-Real-IP does not reset it', async () => {
    for (const h of [{ 'X-Forwarded-For': '203.0.113.7' }, { 'X-Forwarded-For': '198.51.100.1, 203.0.113.9' },
      { 'X-Real-IP': '192.0.2.44' }, { Forwarded: 'for=192.0.2.60' }])
      assertLimited(await v.unlockRaw(password, {}, h));
  });

  test('an unauthenticated request is refused by the limiter first, and other routes are not limited', async () => {
    assertLimited(await v.req('POST', '/unlock', { body: { password } }));
    assertJson(await v.mgmt('GET', '/status'), 200);
    assertJson(await v.req('GET', '/health'), 200);
  });

  test('the failed attempts are in the audit log (after unlock on another vault process)', async () => {
    // The same data, served by a fresh process: the limiter is per process and in memory.
    await v.restart();
    const r = await v.unlockRaw(password);
    assertJson(r, 200);
    assert.equal(r.headers['ratelimit-remaining'], '5');
    const logs = await v.audit('?limit=50');
    const failed = logs.filter((e) => e.action === 'vault.unlock_failed');
    // One entry per attempt, or aggregated with a count (DESIGN §3): 5 either way, the blocked ones not included.
    assert.equal(failed.reduce((n, e) => n + (e.count ?? 1), 0), 5);
    for (const e of failed) {
      assert.equal(e.ipAddress, '127.0.0.1');
      assert.equal(e.success, false);
    }
  });
});

describe('with --trusted-proxy 127.0.0.1', () => {
  let v;
  const password = newPassword();
  before(async () => {
    v = await Vaultd.start({ args: ['--trusted-proxy', '127.0.0.1'] });
    await v.init(password);
  });
  after(async () => v?.close());

  test('the client address from X-Forwarded-For is what is limited', async () => {
    const a = { 'X-Forwarded-For': '203.0.113.10' };
    const b = { 'X-Forwarded-For': '203.0.113.20' };
    await failN(v, 5, a);
    assertLimited(await v.unlockRaw(password, {}, a));
    // The proxy's own hop after the client is skipped: still the same client.
    assertLimited(await v.unlockRaw(password, {}, { 'X-Forwarded-For': '203.0.113.10, 127.0.0.1' }));
    // Another client behind the proxy has its own budget.
    await failN(v, 2, b);
    assertJson(await v.unlockRaw(password, {}, b), 200);
    await v.lock();
    // So has the proxy itself (no X-Forwarded-For), and a spoofed left-most hop does not help client a.
    const own = await v.unlockRaw(`${password}-wrong`);
    assertJson(own, 401);
    assert.equal(own.headers['ratelimit-remaining'], '5');
    assertLimited(await v.unlockRaw(password, {}, { 'X-Forwarded-For': '10.9.9.9, 203.0.113.10' }));
    const logs = (await v.unlock(password)) && (await v.audit('?limit=50'));
    const ips = {};
    for (const e of logs.filter((x) => x.action === 'vault.unlock_failed'))
      ips[e.ipAddress] = (ips[e.ipAddress] ?? 0) + (e.count ?? 1);
    assert.deepEqual(ips, { '127.0.0.1': 1, '203.0.113.10': 5, '203.0.113.20': 2 });
  });
});
