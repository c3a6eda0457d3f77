// An independent reader of the zkvault export format, written from docs/FORMAT.md alone with
// libsodium.js: given an export envelope and the password, it returns every secret and audit entry.
// Usage: node export-decrypt.mjs <export.json> < password
import { readFileSync } from 'node:fs';
import sodiumModule from 'libsodium-wrappers-sumo';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

function u64le(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const b64 = (s, sodium) => sodium.from_base64(s, sodium.base64_variants.ORIGINAL);

export async function decryptExport(envelope, password) {
  await sodiumModule.ready;
  const sodium = sodiumModule;
  const env = envelope.vault ?? envelope;
  if (env.format !== 'zkvault-export' || env.version !== 1) throw new Error('not a zkvault-export v1');
  const vaultId = b64(env.meta.vault_id, sodium);

  // Wrapper (FORMAT.md §Wrapper): head[40] | nonce[24] | ciphertext+tag[48]
  const w = b64(env.wrappers.find((x) => x.type === 1).blob, sodium);
  if (w.length !== 112 || dec.decode(w.slice(0, 4)) !== 'ZKW1' || w[5] !== 2) throw new Error('bad wrapper');
  const dv = new DataView(w.buffer, w.byteOffset);
  const opslimit = Number(dv.getBigUint64(8, true));
  const memlimit = Number(dv.getBigUint64(16, true));
  if (opslimit < 3 || memlimit < 64 * 1024 * 1024) throw new Error('KDF parameters below the floor');
  const salt = w.slice(24, 40);
  const kek = sodium.crypto_pwhash(32, enc.encode(password), salt, opslimit, memlimit,
    sodium.crypto_pwhash_ALG_ARGON2ID13);
  const vmk = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, w.slice(64),
    cat(enc.encode('zkv1wrap'), vaultId, w.slice(0, 40)), w.slice(40, 64), kek);

  const sub = (id) => sodium.crypto_kdf_derive_from_key(32, id, 'zkvault1', vmk);
  const recordKey = sub(1), nameMac = sub(2), indexMac = sub(3), auditKey = sub(4);
  const auditPair = sodium.crypto_box_seed_keypair(sub(5));

  // Records (§Records); the latest version of each name feeds the header digest (§Header).
  const latest = new Map();
  const secrets = {};
  for (const r of env.records) {
    const nameHash = b64(r.name_hash, sodium), recordId = b64(r.record_id, sodium);
    const sealed = b64(r.sealed, sodium);
    const aad = cat(enc.encode('zkv1rec\0'), vaultId, nameHash, recordId, u64le(r.version),
      Uint8Array.of(r.tombstone ? 1 : 0));
    const plain = JSON.parse(dec.decode(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null,
      sealed.slice(24), aad, sealed.slice(0, 24), recordKey)));
    const expect = sodium.crypto_generichash(32, enc.encode(plain.name), nameMac);
    if (sodium.compare(expect, nameHash) !== 0) throw new Error('record stored under the wrong name');
    const key = sodium.to_hex(nameHash);
    if (!latest.has(key) || latest.get(key).version < r.version)
      latest.set(key, { version: r.version, recordId, nameHash, tombstone: r.tombstone, plain });
  }
  let digest = new Uint8Array(32);
  for (const e of latest.values()) {
    const h = sodium.crypto_generichash(32, cat(enc.encode('zkv1idx\0'), e.nameHash, e.recordId,
      u64le(e.version), Uint8Array.of(e.tombstone ? 1 : 0)), indexMac);
    const sum = new Uint8Array(32);
    let carry = 0;
    for (let i = 0; i < 32; i++) { const t = digest[i] + h[i] + carry; sum[i] = t & 0xff; carry = t >> 8; }
    digest = sum;
    if (!e.tombstone)
      secrets[e.plain.name] = { value: e.plain.value, metadata: e.plain.metadata, version: e.version };
  }
  const header = b64(env.meta.header, sodium);
  const mac = sodium.crypto_generichash(32, cat(enc.encode('zkv1hdr\0'), vaultId, header.slice(0, 40)), indexMac);
  if (sodium.compare(mac, header.slice(40)) !== 0) throw new Error('header MAC mismatch');
  if (sodium.compare(digest, header.slice(8, 40)) !== 0) throw new Error('records do not match the header');
  const revision = Number(new DataView(header.buffer, header.byteOffset).getBigUint64(0, true));

  // Audit (§Audit): kind 1 = AEAD, kind 2 = sealed box; the chain covers every stored blob.
  const audit = [];
  let head = new Uint8Array(32);
  for (const a of env.audit) {
    const blob = b64(a.blob, sodium);
    const chain = sodium.crypto_generichash(32, cat(enc.encode('zkv1chn\0'), head, u64le(a.seq), u64le(a.ts),
      Uint8Array.of(a.kind), blob));
    if (sodium.compare(chain, b64(a.chain, sodium)) !== 0) throw new Error(`audit chain broken at ${a.seq}`);
    head = chain;
    const plain = a.kind === 1
      ? sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, blob.slice(24),
        cat(enc.encode('zkv1aud\0'), vaultId, u64le(a.seq)), blob.slice(0, 24), auditKey)
      : sodium.crypto_box_seal_open(blob, auditPair.publicKey, auditPair.privateKey);
    // A kind 1 row holds one entry, or a batch of reads: an array of entries sharing the row's seq.
    const entry = JSON.parse(dec.decode(plain));
    audit.push(...(Array.isArray(entry) && a.kind === 1 ? entry : [entry]));
  }
  return { vaultId: sodium.to_hex(vaultId), revision, secrets, audit };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const env = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  console.log(JSON.stringify(await decryptExport(env, password), null, 2));
}
