// Capability token scoping and verification: names, "*", trailing-"*" prefixes, permissions without
// implication, another group's token (403), and every way a token can be broken or forged (401).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as edSign } from 'node:crypto';

import { assertJson, decodeToken, encodeToken, newPassword, pae, uuid, Vaultd } from './lib/vaultd.mjs';

const BAD_CAP = { error: 'Invalid or expired capability token' };
const DENIED = { error: 'Access denied for this secret' };
const WRONG_GROUP = { error: 'Token not valid for this org' };

const NAMES = ['db-main', 'db-replica', 'dbx', 'db', 'api', 'api2', 'ap', 'other'];
let v;
const password = newPassword();
let all;

before(async () => {
  v = await Vaultd.start();
  await v.initAndUnlock(password);
  all = (await v.issueToken({ permissions: ['read', 'write', 'delete'] })).token;
  for (const n of NAMES) await v.put(all, n, `value-of-${n}`);
});
after(async () => {
  await v?.close();
});

const readable = async (token, name) => {
  const r = await v.get(token, name);
  if (r.status === 200) {
    assert.deepEqual(r.json, { key: name, value: `value-of-${name}`, metadata: {}, version: 1 });
    return true;
  }
  assertJson(r, 403, DENIED);
  return false;
};

const listed = async (token) => assertJson(await v.cap(token, 'GET', '/secrets'), 200).keys.map((k) => k.key);

describe('allowedSecrets', () => {
  test('exact names only', async () => {
    const t = (await v.issueToken({ allowedSecrets: ['api'] })).token;
    const got = [];
    for (const n of NAMES) if (await readable(t, n)) got.push(n);
    assert.deepEqual(got, ['api']);
    assert.deepEqual(await listed(t), ['api']);
  });

  test('"*" covers every name', async () => {
    const t = (await v.issueToken({ allowedSecrets: ['*'] })).token;
    for (const n of NAMES) assert.equal(await readable(t, n), true, n);
    assert.deepEqual(await listed(t), [...NAMES].sort());
  });

  test('"db-*" covers db-main and db-replica, not dbx or db', async () => {
    const t = (await v.issueToken({ allowedSecrets: ['db-*'] })).token;
    const got = [];
    for (const n of NAMES) if (await readable(t, n)) got.push(n);
    assert.deepEqual(got, ['db-main', 'db-replica']);
    assert.deepEqual(await listed(t), ['db-main', 'db-replica']);
    // The prefix also governs writes and deletes, including of names that do not exist yet.
    const w = (await v.issueToken({ allowedSecrets: ['db-*'], permissions: ['write', 'delete'] })).token;
    assertJson(await v.cap(w, 'POST', '/secrets/db-new', { value: 'n' }), 200, { success: true, created: true, version: 1 });
    assertJson(await v.cap(w, 'POST', '/secrets/dbnew', { value: 'n' }), 403, DENIED);
    assertJson(await v.cap(w, 'DELETE', '/secrets/dbx'), 403, DENIED);
    assertJson(await v.cap(w, 'DELETE', '/secrets/db-new'), 200, { success: true });
  });

  test('several patterns combine; "api*" covers api, api2 but not ap', async () => {
    const t = (await v.issueToken({ allowedSecrets: ['api*', 'other', 'db'] })).token;
    assert.deepEqual(await listed(t), ['api', 'api2', 'db', 'other']);
    assert.equal(await readable(t, 'ap'), false);
    assert.equal(await readable(t, 'db-main'), false);
  });
});

describe('permissions: an unordered set with no implication', () => {
  test('write-only cannot read or list or delete', async () => {
    const t = (await v.issueToken({ permissions: ['write'] })).token;
    assertJson(await v.cap(t, 'POST', '/secrets/wonly', { value: 'w' }), 200, { success: true, created: true, version: 1 });
    assertJson(await v.get(t, 'wonly'), 403, DENIED);
    assertJson(await v.cap(t, 'GET', '/secrets/wonly/versions'), 403, DENIED);
    assertJson(await v.cap(t, 'GET', '/secrets/wonly?version=1'), 403, DENIED);
    assertJson(await v.cap(t, 'GET', '/secrets'), 403, DENIED);
    assertJson(await v.cap(t, 'DELETE', '/secrets/wonly'), 403, DENIED);
    assertJson(await v.get(all, 'wonly'), 200, { key: 'wonly', value: 'w', metadata: {}, version: 1 });
  });

  test('delete-only deletes and nothing else', async () => {
    await v.put(all, 'donly', 'd');
    const t = (await v.issueToken({ permissions: ['delete'] })).token;
    assertJson(await v.get(t, 'donly'), 403, DENIED);
    assertJson(await v.cap(t, 'GET', '/secrets'), 403, DENIED);
    assertJson(await v.cap(t, 'POST', '/secrets/donly', { value: 'x' }), 403, DENIED);
    assertJson(await v.cap(t, 'DELETE', '/secrets/donly'), 200, { success: true });
    assertJson(await v.get(all, 'donly'), 404, { error: 'Secret not found' });
  });

  test('admin, use and the empty set grant no read, write, delete or list', async () => {
    for (const permissions of [['admin'], ['use'], [], ['admin', 'use']]) {
      const t = (await v.issueToken({ permissions })).token;
      assertJson(await v.get(t, 'api'), 403, DENIED);
      assertJson(await v.cap(t, 'GET', '/secrets'), 403, DENIED);
      assertJson(await v.cap(t, 'POST', '/secrets/api', { value: 'x' }), 403, DENIED);
      assertJson(await v.cap(t, 'DELETE', '/secrets/api'), 403, DENIED);
    }
    assertJson(await v.get(all, 'api'), 200, { key: 'api', value: 'value-of-api', metadata: {}, version: 1 });
  });

  test('read + delete cannot write', async () => {
    const t = (await v.issueToken({ permissions: ['delete', 'read'] })).token;
    assertJson(await v.cap(t, 'POST', '/secrets/api', { value: 'x' }), 403, DENIED);
    assert.equal(await readable(t, 'api'), true);
  });
});

describe('broken and forged tokens are 401', () => {
  test('garbage, truncated, wrong version or purpose', async () => {
    const good = (await v.issueToken()).token;
    assert.equal(await readable(good, 'api'), true);
    const { root, rest } = decodeToken(good);
    assert.ok(rest.length >= 1, 'a token carries its proof after the root');
    const proof = `~${rest.join('~')}`;
    const [, , payload, footer] = root.split('.');
    const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const bad = [
      '',
      ' ',
      'x',
      '~',
      'v4.public.',
      'v4.public..',
      `v4.public.${payload.slice(0, 40)}${proof}`,
      root, // the root alone, without its proof
      `${root}~`,
      `${root}~${Buffer.alloc(32, 7).toString('base64url')}`, // somebody else's proof
      `${root}${proof}${proof}`,
      good.slice(0, -1),
      `${good}x`,
      `${good}~`,
      `v4.public.${payload}${proof}`, // footer removed
      `${root}.extra${proof}`,
      `v4.local.${payload}.${footer}${proof}`,
      `v3.public.${payload}.${footer}${proof}`,
      `V4.PUBLIC.${payload}.${footer}${proof}`,
      `v4.public.${flip(payload, 5)}.${footer}${proof}`, // claims changed
      `v4.public.${flip(payload, payload.length - 3)}.${footer}${proof}`, // signature changed
      `v4.public.${payload}.${flip(footer, 3)}${proof}`, // footer changed
      `v4.public.${payload}!.${footer}${proof}`,
      `v4.public.${payload}=.${footer}${proof}`,
      Buffer.from(good).toString('base64'),
      `v4.public.${'A'.repeat(9000)}`,
      '\u00e9'.repeat(10),
    ];
    for (const t of bad) {
      const r = await v.req('GET', '/secrets/api', { headers: { 'X-Capability-Token': t } });
      assertJson(r, 401, BAD_CAP);
    }
    assert.equal(await readable(good, 'api'), true, 'the untouched token still works');
  });

  test('changed claims with the original signature', async () => {
    const t = await v.issueToken({ allowedSecrets: ['api'], permissions: ['read'] });
    const d = decodeToken(t.token);
    // Taken apart and put together unchanged, it still works (so what follows tests the changes only).
    assert.equal(encodeToken(d.message, d.sig, d.footer, d.rest), t.token);
    for (const change of [
      { permissions: ['read', 'write', 'delete'] },
      { allowedSecrets: ['*'] },
      { exp: new Date(Date.now() + 86400e3 * 365).toISOString() },
      { sub: uuid() },
    ]) {
      const forged = encodeToken(Buffer.from(JSON.stringify({ ...d.claims, ...change })), d.sig, d.footer, d.rest);
      assertJson(await v.get(forged, 'api'), 401, BAD_CAP);
      assertJson(await v.get(forged, 'other'), 401, BAD_CAP);
    }
    assert.equal(await readable(t.token, 'api'), true);
  });

  test('re-signed with another key (correct format, wrong signer)', async () => {
    const t = await v.issueToken({ allowedSecrets: ['api'] });
    const d = decodeToken(t.token);
    const { privateKey } = generateKeyPairSync('ed25519');
    for (const claims of [d.claims, { ...d.claims, allowedSecrets: ['*'], permissions: ['read', 'write'] }]) {
      const m = Buffer.from(JSON.stringify(claims));
      for (const footer of [d.footer, '']) {
        const sig = edSign(null, pae(Buffer.from('v4.public.'), m, Buffer.from(footer), Buffer.alloc(0)), privateKey);
        assertJson(await v.get(encodeToken(m, sig, footer, d.rest), 'api'), 401, BAD_CAP);
      }
    }
  });

  test('a token signed by another vault (same GROUP_ID) is invalid, not 403', async () => {
    const other = await Vaultd.start({ groupId: v.groupId });
    try {
      await other.initAndUnlock(newPassword());
      const foreign = (await other.issueToken({ permissions: ['read', 'write', 'delete'] })).token;
      assertJson(await v.get(foreign, 'api'), 401, BAD_CAP);
      assertJson(await v.cap(foreign, 'GET', '/secrets'), 401, BAD_CAP);
      assertJson(await v.cap(foreign, 'POST', '/secrets/api', { value: 'x' }), 401, BAD_CAP);
      const mine = (await v.issueToken()).token;
      assertJson(await other.get(mine, 'api'), 401, BAD_CAP);
    } finally {
      await other.close();
    }
  });

  test('a token must be of this vault even when the vault is locked', async () => {
    await v.lock();
    try {
      assertJson(await v.get('garbage', 'api'), 401, BAD_CAP);
      assertJson(await v.get(all, 'api'), 423, { error: 'Vault is locked', code: 'VAULT_LOCKED' });
    } finally {
      await v.unlock(password);
    }
  });
});

describe('a token for another group', () => {
  test('is 403 "Token not valid for this org" (same vault key, GROUP_ID changed)', async () => {
    const t = await v.issueToken({ permissions: ['read', 'write', 'delete'] });
    assert.equal(await readable(t.token, 'api'), true);
    const oldGroup = v.groupId;
    v.groupId = uuid();
    await v.restart();
    assertJson(await v.req('GET', '/health'), 200, {
      status: 'ok', groupId: v.groupId, vaultInitialized: true, vaultUnlocked: false,
    });
    await v.unlock(password);
    assert.equal(decodeToken(t.token).claims.groupId, oldGroup);
    assertJson(await v.get(t.token, 'api'), 403, WRONG_GROUP);
    assertJson(await v.cap(t.token, 'GET', '/secrets'), 403, WRONG_GROUP);
    assertJson(await v.cap(t.token, 'POST', '/secrets/api', { value: 'x' }), 403, WRONG_GROUP);
    assertJson(await v.cap(t.token, 'DELETE', '/secrets/api'), 403, WRONG_GROUP);
    // A token issued now carries the new group and works.
    const n = await v.issueToken();
    assert.equal(decodeToken(n.token).claims.groupId, v.groupId);
    assert.equal(await readable(n.token, 'api'), true);
    // Still 401 before 403: a broken token of the old group is just invalid.
    assertJson(await v.get(t.token.slice(0, -2), 'api'), 401, BAD_CAP);
  });
});
