// Migration from OCMT: an `ocmt-group-vault` v1 export made by an independent generator
// (tests/interop/ocmt-export.mjs: hash-wasm Argon2id + node:crypto AES-256-GCM) is imported, converted at the
// first unlock, and is a native vault from then on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

import { assertJson, newPassword, uuid, Vaultd } from './lib/vaultd.mjs';

if (!existsSync(new URL('../interop/node_modules/hash-wasm/package.json', import.meta.url)))
  throw new Error('tests/interop/node_modules is missing: run `make node-deps` (npm ci in tests/interop)');
const { makeOcmtExport } = await import('../interop/ocmt-export.mjs');

const password = newPassword();
const writer = uuid();
const SECRETS = {
  OPENAI_API_KEY: { value: 'sk-test-1234567890', metadata: { provider: 'openai', tags: ['a', 'b'] }, updatedBy: writer },
  'db-main': { value: 'postgres://u:p@h/db', updatedBy: writer },
  'unicode.name_1': { value: 'ünïcødé ✓ "quoted" \\ back', metadata: {}, updatedBy: writer },
};
let env;
let v;

before(async () => {
  env = await makeOcmtExport(password, SECRETS);
  v = await Vaultd.start();
});
after(async () => v?.close());

async function readBack(token) {
  for (const [key, s] of Object.entries(SECRETS)) {
    assertJson(await v.get(token, key), 200, { key, value: s.value, metadata: s.metadata ?? {}, version: 1 });
  }
}

describe('OCMT import', () => {
  test('POST /import takes the envelope; the vault is pending conversion and locked', async () => {
    assertJson(await v.req('POST', '/import', { body: { vault: env } }), 401, { error: 'Unauthorized' });
    assertJson(await v.mgmt('POST', '/import', { vault: env }), 200, { success: true, message: 'Vault imported' });
    const s = await v.status();
    assert.equal(s.initialized, true);
    assert.equal(s.unlocked, false);
    assert.equal(s.pendingConversion, 'ocmt-group-vault');
    assert.equal(s.vaultId, undefined);
    assertJson(await v.req('GET', '/health'), 200, {
      status: 'ok', groupId: v.groupId, vaultInitialized: true, vaultUnlocked: false,
    });
    // Exported as it came, and not importable twice, nor initialisable.
    assert.deepEqual(await v.exportVault(), env);
    assertJson(await v.mgmt('POST', '/import', { vault: env }), 409, { error: 'Vault already initialized' });
    assertJson(await v.mgmt('POST', '/init', { password }), 409, { error: 'Vault already initialized' });
    assertJson(await v.mgmt('POST', '/tokens', { userId: uuid() }), 423, { error: 'Vault is locked', code: 'VAULT_LOCKED' });
  });

  test('a wrong password is 401 and converts nothing', async () => {
    assertJson(await v.unlockRaw(`${password}-wrong`), 401, { error: 'Invalid password' });
    assert.equal((await v.status()).pendingConversion, 'ocmt-group-vault');
  });

  test('the first unlock converts; the secrets read back with a token', async () => {
    assertJson(await v.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 3 });
    const s = await v.status();
    assert.equal(s.unlocked, true);
    assert.equal(s.pendingConversion, undefined);
    assert.match(s.vaultId, /^[0-9a-f]{32}$/);
    const w = assertJson(await v.req('GET', '/.well-known/zkvault'), 200);
    assert.equal(w.initialized, true);
    assert.equal(w.vaultId, s.vaultId);
    const t = await v.issueToken();
    await readBack(t.token);
    assertJson(await v.cap(t.token, 'GET', '/secrets'), 200, {
      keys: Object.keys(SECRETS).sort().map((key) => ({ key, metadata: SECRETS[key].metadata ?? {} })),
    });
    // Who wrote it in OCMT is kept.
    const versions = assertJson(await v.cap(t.token, 'GET', '/secrets/db-main/versions'), 200).versions;
    assert.equal(versions.length, 1);
    assert.equal(versions[0].updatedBy, writer);
    assert.equal(versions[0].deleted, false);
    // The conversion is audited; the export is native now.
    const logs = await v.audit();
    assert.ok(logs.some((e) => e.action === 'vault.imported'), JSON.stringify(logs));
    const native = await v.exportVault();
    assert.equal(native.format, 'zkvault-export');
    assert.equal(native.records.length, 3);
  });

  test('after a restart it unlocks as a native vault; a wrong password is 401', async () => {
    const before = await v.status();
    await v.restart();
    assertJson(await v.unlockRaw(`${password}-wrong`), 401, { error: 'Invalid password' });
    const s = await v.status();
    assert.equal(s.pendingConversion, undefined);
    assert.equal(s.vaultId, before.vaultId);
    assertJson(await v.unlockRaw(password), 200, { success: true, expiresIn: 1800, secretCount: 3 });
    const t = await v.issueToken({ permissions: ['read', 'write'] });
    await readBack(t.token);
    assertJson(await v.cap(t.token, 'POST', '/secrets/db-main', { value: 'new' }), 200,
      { success: true, created: false, version: 2 });
    const r = await v.verifyAudit();
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});

describe('OCMT envelopes that are refused', () => {
  test('malformed envelopes are 400 "Invalid vault format"', async () => {
    const f = await Vaultd.start();
    try {
      const bad = [
        { ...env, version: 2 },
        { ...env, kdf: { ...env.kdf, algorithm: 'scrypt' } },
        { ...env, kdf: { ...env.kdf, memory: 1024 } }, // a weaker KDF than OCMT's constants
        { ...env, kdf: { ...env.kdf, iterations: 1 } },
        { ...env, kdf: { ...env.kdf, salt: 'AAAA' } },
        { ...env, encryption: { ...env.encryption, algorithm: 'aes-128-gcm' } },
        { ...env, encryption: { ...env.encryption, nonce: 'AAAA' } },
        { ...env, encryption: { ...env.encryption, tag: undefined } },
        { ...env, ciphertext: '' },
        { ...env, ciphertext: '!!!' },
        { ...env, kdf: undefined },
      ];
      for (const e of bad) {
        const r = await f.mgmt('POST', '/import', { vault: e });
        assertJson(r, 400);
        assert.equal(r.json.error, 'Invalid vault format', JSON.stringify(e).slice(0, 100));
      }
      assert.equal((await f.status()).initialized, false);
    } finally {
      await f.close();
    }
  });

  test('a tampered ciphertext is refused at unlock as a wrong password, and stays pending', async () => {
    const g = await Vaultd.start();
    try {
      const ct = Buffer.from(env.ciphertext, 'base64');
      ct[0] ^= 1;
      assertJson(await g.mgmt('POST', '/import', { vault: { ...env, ciphertext: ct.toString('base64') } }), 200);
      assertJson(await g.unlockRaw(password), 401, { error: 'Invalid password' });
      assert.equal((await g.status()).pendingConversion, 'ocmt-group-vault');
    } finally {
      await g.close();
    }
  });

  test('decrypted content that is not a valid vault is not served', async () => {
    const h = await Vaultd.start();
    try {
      const weird = await makeOcmtExport(password, { 'bad name': 'x' });
      assertJson(await h.mgmt('POST', '/import', { vault: weird }), 200);
      assertJson(await h.unlockRaw(password), 500, { error: 'Failed to unlock vault' });
      const s = await h.status();
      assert.equal(s.unlocked, false);
      assert.equal(s.pendingConversion, 'ocmt-group-vault');
    } finally {
      await h.close();
    }
  });
});
