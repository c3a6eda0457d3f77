// Independent generator of OCMT group vault exports ("ocmt-group-vault" v1), written from the documented format
// (shared/reference/ocmt-vault.md §1.6), sharing no code with zkvault's C importer (src/lib/ocmt.c):
// Argon2id from hash-wasm (WebAssembly), AES-256-GCM from node:crypto (OpenSSL).
//
//   import { makeOcmtExport } from './ocmt-export.mjs';
//   const envelope = await makeOcmtExport('password', { KEY: { value: 'v', metadata: {} } });
//
// CLI: node tests/interop/ocmt-export.mjs <password> <secrets.json>   -> prints the envelope JSON on stdout.
//
// secrets: { "<key>": "<value>" } or { "<key>": { value, metadata?, updatedAt?, updatedBy? } }. Missing metadata
// becomes {}, updatedAt now, updatedBy a random UUID (the reference stores the writing token's user id there).
// Keys and values are not validated here, so that invalid vaults can be produced on purpose.

import { argon2id } from 'hash-wasm';
import { createCipheriv, randomBytes, randomUUID } from 'node:crypto';
import { readFile, realpath } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const KDF = { algorithm: 'argon2id', version: 19, memory: 65536, iterations: 3, parallelism: 4 };

function record(entry, now) {
  if (typeof entry === 'string') entry = { value: entry };
  if (entry === null || typeof entry !== 'object') throw new TypeError('secret must be a string or an object');
  return {
    value: entry.value,
    metadata: entry.metadata ?? {},
    updatedAt: entry.updatedAt ?? now,
    updatedBy: entry.updatedBy ?? randomUUID(),
  };
}

export async function makeOcmtExport(password, secrets) {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
  if (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets))
    throw new TypeError('secrets must be an object');
  const now = new Date().toISOString();

  const plain = { secrets: {}, metadata: { version: 1, createdAt: now } };
  for (const [k, v] of Object.entries(secrets)) plain.secrets[k] = record(v, now);

  const salt = randomBytes(16);
  const key = await argon2id({
    password: Buffer.from(password, 'utf8'),
    salt,
    parallelism: KDF.parallelism,
    iterations: KDF.iterations,
    memorySize: KDF.memory,
    hashLength: 32,
    outputType: 'binary',
  });

  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  key.fill(0);

  return {
    version: 1,
    format: 'ocmt-group-vault',
    created: now,
    updated: now,
    kdf: { ...KDF, salt: salt.toString('base64') },
    encryption: { algorithm: 'aes-256-gcm', nonce: nonce.toString('base64'), tag: tag.toString('base64') },
    ciphertext: ciphertext.toString('base64'),
  };
}

async function main(argv) {
  if (argv.length !== 2) {
    process.stderr.write('usage: node ocmt-export.mjs <password> <secrets.json>\n');
    process.exit(2);
  }
  const secrets = JSON.parse(await readFile(argv[1], 'utf8'));
  const envelope = await makeOcmtExport(argv[0], secrets);
  process.stdout.write(JSON.stringify(envelope, null, 2) + '\n');
}

async function isMain() {
  if (!process.argv[1]) return false;
  try {
    return (await realpath(process.argv[1])) === (await realpath(fileURLToPath(import.meta.url)));
  } catch {
    return false;
  }
}

if (await isMain()) await main(process.argv.slice(2));
