// Third-party checks of zkvault's formats: the export read with libsodium.js from docs/FORMAT.md alone,
// and capability tokens verified with the npm `paseto` package against the published PASERK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PublicProtocol } from 'paseto';
import { ImportPublicKeyFactory, VerifyFactory } from 'paseto/v4/public';
import { decryptExport } from './export-decrypt.mjs';
import { startVault } from './lib.mjs';

const vector = new URL('../vectors/export/export-1.json', import.meta.url);

test('the committed export vector decrypts with an independent reader', async () => {
  const env = JSON.parse(readFileSync(vector, 'utf8'));
  const out = await decryptExport(env, 'correct horse battery staple 42');
  assert.deepEqual(out.secrets, {
    'github-token': { value: 'ghp_example_only_0001', metadata: { service: 'github' }, version: 1 },
    'db.password': { value: 'hunter2 with spaces ✓', metadata: {}, version: 2 },
  });
  assert.equal(out.revision, 5);
  assert.equal(out.audit.length, 9);
  assert.deepEqual(out.audit.map((a) => a.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await assert.rejects(decryptExport(env, 'correct horse battery staple 43'));
});

test('a tampered export is refused by the independent reader', async () => {
  const env = JSON.parse(readFileSync(vector, 'utf8'));
  // Drop the newest version of db.password: every row still decrypts, but the header digest no longer matches.
  const latest = env.records.reduce((a, r) => (r.version === 2 && r.tombstone === 0 ? r : a), null);
  env.records = env.records.filter((r) => r !== latest);
  await assert.rejects(decryptExport(env, 'correct horse battery staple 42'), /header/);
});

test('a live export decrypts offline and its tokens verify with npm paseto', async (t) => {
  const v = await startVault();
  t.after(() => v.stop());
  const password = 'interop password ' + Math.random().toString(36).slice(2);
  assert.equal((await v.call('POST', '/init', { body: { password } })).status, 200);
  assert.equal((await v.call('POST', '/unlock', { body: { password } })).status, 200);
  const issued = await v.call('POST', '/tokens', {
    body: { userId: '6f1c2a4e-2b7d-4f3a-9c1e-0a1b2c3d4e5f', permissions: ['read', 'write'], allowedSecrets: ['svc-*'] },
  });
  assert.equal(issued.status, 200);
  const token = issued.body.token;
  for (const [name, value] of [['svc-a', 'alpha'], ['svc-b', 'βeta ✓']])
    assert.equal((await v.call('POST', `/secrets/${name}`, { token, auth: false, body: { value } })).status, 200);

  const exp = await v.call('GET', '/export');
  const out = await decryptExport(exp.body, password);
  assert.deepEqual(Object.fromEntries(Object.entries(out.secrets).map(([k, s]) => [k, s.value])),
    { 'svc-a': 'alpha', 'svc-b': 'βeta ✓' });
  assert.ok(out.audit.some((a) => a.action === 'token.issued' && a.tokenId === issued.body.id));

  const wk = await v.call('GET', '/.well-known/zkvault', { auth: false });
  assert.match(wk.body.tokenPublicKey, /^k4\.public\./);
  // The token is "root~proof" (docs/FORMAT.md §Attenuation chains): the root alone is a plain PASETO v4.public.
  const [root, proof, ...rest] = token.split('~');
  assert.equal(rest.length, 0);
  const v4 = new PublicProtocol(ImportPublicKeyFactory, VerifyFactory);
  const key = await v4.ImportPublicKey(wk.body.tokenPublicKey);
  const { claims } = await v4.Verify(key, root);
  assert.equal(claims.iss, wk.body.vaultId);
  assert.equal(claims.sub, '6f1c2a4e-2b7d-4f3a-9c1e-0a1b2c3d4e5f');
  assert.equal(claims.jti, issued.body.id);
  assert.deepEqual(claims.allowedSecrets, ['svc-*']);
  assert.deepEqual(claims.permissions, ['read', 'write']);
  // nextKey is the public half of the Ed25519 seed carried after "~" (checked with node's own crypto).
  assert.match(claims.nextKey, /^[A-Za-z0-9_-]{43}$/);
  assert.match(proof, /^[A-Za-z0-9_-]{43}$/);
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(proof, 'base64url')]);
  const jwk = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
  assert.equal(jwk.x, claims.nextKey);

  // One changed character of the signed part must fail with the independent verifier too.
  const i = root.indexOf('.', 10) - 5;
  const forged = root.slice(0, i) + (root[i] === 'A' ? 'B' : 'A') + root.slice(i + 1);
  await assert.rejects(v4.Verify(key, forged));
  // The vault refuses the root without its proof: whoever holds only the root of a chain holds no key.
  assert.equal((await v.call('GET', '/secrets/svc-a', { token: root, auth: false })).status, 401);
});
