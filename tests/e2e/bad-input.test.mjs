// Hostile and malformed input: bad JSON, wrong types, arrays for objects, bodies over 1 MiB (with and without
// Content-Length), huge header values, garbage tokens, bad names. Every answer is a JSON 4xx that does not echo
// the input, and the server keeps serving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { assertJson, hex, newPassword, Vaultd } from './lib/vaultd.mjs';

const MIB = 1024 * 1024;
const TOO_LARGE = { error: 'Request body too large', code: 'PAYLOAD_TOO_LARGE' };

let v;
const password = newPassword();
let token;

before(async () => {
  v = await Vaultd.start();
  await v.initAndUnlock(password);
  token = (await v.issueToken({ permissions: ['read', 'write', 'delete'] })).token;
  await v.put(token, 'present', 'here');
});
after(async () => v?.close());

async function assertServing() {
  assertJson(await v.req('GET', '/health'), 200, {
    status: 'ok', groupId: v.groupId, vaultInitialized: true, vaultUnlocked: true,
  });
  assertJson(await v.get(token, 'present'), 200, { key: 'present', value: 'here', metadata: {}, version: 1 });
}

/** A JSON 4xx. */
function assert4xx(r, where) {
  assert.ok(r.status >= 400 && r.status < 500, `${where}: ${r.status} ${r.text.slice(0, 200)}`);
  assert.match(String(r.headers['content-type']), /^application\/json/, where);
  assert.equal(typeof r.json?.error, 'string', `${where}: ${r.text.slice(0, 200)}`);
}

// Each body-taking route, with the headers it needs to get as far as parsing the body.
const ROUTES = () => [
  ['POST', '/init', { 'X-Auth-Token': v.authToken }],
  ['POST', '/unlock', { 'X-Auth-Token': v.authToken }],
  ['POST', '/lock', { 'X-Auth-Token': v.authToken }],
  ['POST', '/tokens', { 'X-Auth-Token': v.authToken }],
  ['POST', '/import', { 'X-Auth-Token': v.authToken }],
  ['DELETE', `/tokens/${hex(16)}`, { 'X-Auth-Token': v.authToken }],
  ['DELETE', '/tokens/user/00000000-0000-0000-0000-000000000000', { 'X-Auth-Token': v.authToken }],
  ['POST', '/secrets/some-key', { 'X-Capability-Token': token }],
];

describe('malformed JSON', () => {
  test('400 "Invalid JSON" with a position, never the input', async () => {
    const marker = `ZZECHO${hex(8)}`; // starts with non-hex: "\\u12" + marker stays invalid
    const bodies = [
      `{"password": "${marker}`,
      `{"password": "${marker}",}`,
      `{"value": '${marker}'}`,
      `{${marker}}`,
      `${marker}`,
      `{"password": "${marker}"} trailing ${marker}`,
      `{"a": 1, "a": "${marker}"}`,
      `{"value": "\\u12${marker}"}`,
      `\u0000{"${marker}"}`,
      Buffer.concat([Buffer.from('{"value": "'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from(`${marker}"}`)]),
      `[${'['.repeat(5000)}"${marker}"`,
    ];
    for (const [m, p, h] of ROUTES()) {
      for (const b of bodies) {
        const r = await v.req(m, p, { body: b, headers: h });
        assert4xx(r, `${m} ${p} ${b.toString().slice(0, 30)}`);
        assert.equal(r.status, 400);
        assert.ok(!r.text.includes(marker), `${m} ${p} echoes its input: ${r.text}`);
        assert.ok(['Invalid JSON', 'Invalid request body'].includes(r.json.error), r.text);
      }
    }
    const r = await v.req('POST', '/unlock', { body: '{"password": "x",}', headers: { 'X-Auth-Token': v.authToken } });
    assertJson(r, 400);
    assert.deepEqual(Object.keys(r.json).sort(), ['details', 'error']);
    assert.equal(r.json.error, 'Invalid JSON');
    assert.match(r.json.details, /^Malformed JSON at line \d+ column \d+$/);
    await assertServing();
  });

  test('arrays, strings, numbers and null instead of an object', async () => {
    for (const [m, p, h] of ROUTES()) {
      for (const b of ['[]', '[{"password":"aaaaaaaaaaaaaaaaaaaa"}]', '"text"', '42', 'null', 'true']) {
        const r = await v.req(m, p, { body: b, headers: h });
        assert4xx(r, `${m} ${p} ${b}`);
        assert.equal(r.status, 400, `${m} ${p} ${b}: ${r.text}`);
      }
      assertJson(await v.req(m, p, { body: '[]', headers: h }), 400,
        { error: 'Invalid request body', details: 'Expected object' });
    }
    await assertServing();
  });

  test('wrong types for every field', async () => {
    const a = { 'X-Auth-Token': v.authToken };
    const cases = [
      ['/unlock', { password: 1 }], ['/unlock', { password: ['x'] }], ['/unlock', { password: { a: 1 } }],
      ['/unlock', { password: 'x', userId: 5 }], ['/unlock', { password: null }],
      ['/lock', { userId: [] }], ['/lock', { userId: null }],
      ['/tokens', { userId: {} }], ['/tokens', { userId: null }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', allowedSecrets: {} }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', allowedSecrets: [null] }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', allowedSecrets: ['x'.repeat(300)] }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', allowedSecrets: Array(65).fill('a') }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', permissions: [null] }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', permissions: {} }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', ttlSeconds: null }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', ttlSeconds: true }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', ttlSeconds: 1e300 }],
      ['/tokens', { userId: '00000000-0000-0000-0000-000000000000', ttlSeconds: 99999999999999999999 }],
      ['/import', { vault: 5 }], ['/import', { vault: { format: 5 } }],
    ];
    for (const [p, b] of cases) assert4xx(await v.mgmt('POST', p, b), `${p} ${JSON.stringify(b).slice(0, 60)}`);
    for (const b of [{ value: 1 }, { value: true }, { value: [] }, { value: {} }, { value: 'x', metadata: 1 },
      { value: 'x', metadata: [1] }, { value: 'x', metadata: true }])
      assertJson(await v.cap(token, 'POST', '/secrets/typed', b), 400);
    assertJson(await v.get(token, 'typed'), 404, { error: 'Secret not found' });
    assert.equal((await v.status()).unlocked, true);
    await assertServing();
  });
});

describe('oversize bodies', () => {
  const big = (n) => Buffer.from(`{"value":"${'x'.repeat(n - 12)}"}`);

  test('1 MiB is accepted, one byte more is 413', async () => {
    const exact = big(MIB);
    assert.equal(exact.length, MIB);
    assertJson(await v.cap(token, 'POST', '/secrets/big', exact), 200, { success: true, created: true, version: 1 });
    const r = assertJson(await v.get(token, 'big'), 200);
    assert.equal(r.value.length, MIB - 12);
    assertJson(await v.req('POST', '/secrets/big', { body: big(MIB + 1), headers: { 'X-Capability-Token': token } }),
      413, TOO_LARGE);
    assertJson(await v.get(token, 'big?version=2'), 404, { error: 'Secret not found' });
    await assertServing();
  });

  test('413 JSON with Content-Length, on every body route, before authentication', async () => {
    const body = Buffer.alloc(MIB + 4096, 'a');
    for (const [m, p, h] of [...ROUTES(), ['POST', '/init', {}], ['POST', '/secrets/x', {}], ['GET', '/health', {}]]) {
      assertJson(await v.req(m, p, { body, headers: h }), 413, TOO_LARGE);
    }
    // Answered before any body: a client waiting for "100 Continue", and a Content-Length far beyond anything.
    for (const h of [{ 'Content-Length': String(2 * MIB), Expect: '100-continue' }, { 'Content-Length': String(50 * MIB) }]) {
      const r = await v.req('POST', '/unlock', {
        headers: { 'X-Auth-Token': v.authToken, 'Content-Type': 'application/json', ...h },
      });
      assertJson(r, 413, TOO_LARGE);
    }
    await assertServing();
  });

  test('413 JSON for a chunked body (no Content-Length)', async () => {
    for (const size of [MIB + 1, 3 * MIB]) {
      const body = big(size);
      for (const [m, p, h] of ROUTES())
        assertJson(await v.req(m, p, { body, headers: h, chunked: true }), 413, TOO_LARGE);
    }
    // A small chunked body is fine.
    assertJson(await v.req('POST', '/secrets/chunked', {
      body: '{"value":"in chunks"}', headers: { 'X-Capability-Token': token }, chunked: true,
    }), 200, { success: true, created: true, version: 1 });
    assertJson(await v.get(token, 'chunked'), 200, { key: 'chunked', value: 'in chunks', metadata: {}, version: 1 });
    await assertServing();
  });

  test('many oversize requests at once do not take the server down', async () => {
    const body = Buffer.alloc(2 * MIB, 'z');
    const rs = await Promise.all(Array.from({ length: 16 }, (_, i) =>
      v.req('POST', '/secrets/flood', { body, headers: { 'X-Capability-Token': token }, chunked: i % 2 === 0 })));
    for (const r of rs) assertJson(r, 413, TOO_LARGE);
    await assertServing();
  });
});

describe('huge header values', () => {
  const long = 'A'.repeat(10000);

  test('10,000-character X-Auth-Token, X-Capability-Token, or any header', async () => {
    assertJson(await v.req('GET', '/status', { headers: { 'X-Auth-Token': long } }), 401, { error: 'Unauthorized' });
    assertJson(await v.req('POST', '/unlock', { body: { password }, headers: { 'X-Auth-Token': long } }), 401,
      { error: 'Unauthorized' });
    assertJson(await v.req('GET', '/secrets/present', { headers: { 'X-Capability-Token': long } }), 401,
      { error: 'Invalid or expired capability token' });
    assertJson(await v.req('GET', '/secrets', { headers: { 'X-Capability-Token': `v4.public.${long}` } }), 401,
      { error: 'Invalid or expired capability token' });
    assertJson(await v.req('GET', '/status', { headers: { 'X-Random-Header': long } }), 401, { error: 'Unauthorized' });
    assertJson(await v.req('GET', '/secrets/present', { headers: { 'X-Capability-Token': token, 'X-Random': long } }),
      200, { key: 'present', value: 'here', metadata: {}, version: 1 });
    assertJson(await v.req('GET', '/status', { headers: { 'X-Forwarded-For': long, 'X-Auth-Token': v.authToken } }), 200);
    const many = {};
    for (let i = 0; i < 12; i++) many[`X-Filler-${i}`] = 'b'.repeat(1000);
    assertJson(await v.req('GET', '/nope', { headers: many }), 404, { error: 'Not found' });
    // A head over the 16 KiB connection pool (node's own default limit) is libmicrohttpd's 431 (docs/API.md).
    for (let i = 12; i < 40; i++) many[`X-Filler-${i}`] = 'b'.repeat(1000);
    assert.equal((await v.req('GET', '/nope', { headers: many })).status, 431);
    await assertServing();
  });

  test('a 10,000-character path or query', async () => {
    assertJson(await v.cap(token, 'GET', `/secrets/${'k'.repeat(10000)}`), 400, {
      error: 'Invalid URL parameters', details: 'key: Secret key must be less than 255 characters',
    });
    assertJson(await v.mgmt('GET', `/${'p'.repeat(10000)}`), 404, { error: 'Not found' });
    assertJson(await v.mgmt('GET', `/audit?limit=${'9'.repeat(10000)}`), 400);
    assertJson(await v.cap(token, 'GET', `/secrets/present?version=${'9'.repeat(10000)}`), 400);
    await assertServing();
  });
});

describe('bad names and garbage tokens', () => {
  test('names: 400 "Invalid URL parameters", percent-encoding cannot smuggle a NUL or a slash', async () => {
    await v.put(token, 'a', 'the secret named a');
    for (const name of ['a%2Fb', 'a%2fb', '..%2F..%2Fetc', 'a%00b', 'a%00', '%00', 'a%2Fversions', '%FF', 'a%20b',
      'tab%09', 'quote%22', 'semi;colon', '%E2%80%AE', 'x'.repeat(256), 'a*', '*', 'a%25', '%2E%2E%2F']) {
      for (const m of ['GET', 'POST', 'DELETE']) {
        const r = await v.req(m, `/secrets/${name}`, {
          body: m === 'POST' ? { value: 'x' } : undefined, headers: { 'X-Capability-Token': token },
        });
        assertJson(r, 400);
        assert.equal(r.json.error, 'Invalid URL parameters', `${m} ${name}: ${r.text}`);
      }
      assertJson(await v.req('GET', `/secrets/${name}/versions`, { headers: { 'X-Capability-Token': token } }), 400);
      assertJson(await v.mgmt('GET', `/audit/secret/${name}`), 400);
    }
    // Percent-encoded letters are just letters.
    assertJson(await v.get(token, '%61'), 200, { key: 'a', value: 'the secret named a', metadata: {}, version: 1 });
    assertJson(await v.get(token, 'a'), 200, { key: 'a', value: 'the secret named a', metadata: {}, version: 1 });
    await assertServing();
  });

  test('tokens', async () => {
    for (const t of ['', 'null', '{}', 'v4.public', 'v4.public.AAAA', `v4.public.${'_'.repeat(200)}.${'-'.repeat(40)}`,
      'Bearer x', token.split('').reverse().join(''), token.replace(/\./g, ''), `${token},${token}`]) {
      assertJson(await v.req('GET', '/secrets/present', { headers: { 'X-Capability-Token': t } }), 401,
        { error: 'Invalid or expired capability token' });
    }
    await assertServing();
  });

  test('raw bytes that are not HTTP do not hurt', async () => {
    const net = await import('node:net');
    for (const junk of ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
      `GET /${'%'.repeat(100)} HTTP/1.1\r\nHost: x\r\n\r\n`, 'POST /init HTTP/1.1\r\nContent-Length: -1\r\n\r\n']) {
      await new Promise((resolve) => {
        const s = net.connect(v.port, '127.0.0.1', () => s.end(Buffer.from(junk, 'latin1')));
        s.on('data', () => {});
        s.on('error', resolve);
        s.on('close', resolve);
        s.setTimeout(3000, () => s.destroy());
      });
    }
    await assertServing();
  });
});
