// The SFU's JWT signing keys (jose): loaded from a configured file (PKCS#8 PEM
// or a private JWK), or, for development, generated once and persisted in the
// data directory. Each key has a `kid` (RFC 7638 thumbprint); the public half
// is published as a JWKS.

import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type CryptoKey,
  type JWK,
} from 'jose';

/** Algorithms we sign with. */
export type JwtAlgorithm = 'EdDSA' | 'ES256';

/** A signing key pair with its id. */
export interface SigningKey {
  readonly kid: string;
  readonly alg: JwtAlgorithm;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
}

/** Options of loadSigningKey(). */
export interface LoadSigningKeyOptions {
  readonly algorithm: JwtAlgorithm;
  /** Configured key file; empty = development key in `dataDir`. */
  readonly keyFile: string;
  readonly dataDir: string;
}

async function fromPrivateJwk(jwk: JWK, alg: JwtAlgorithm): Promise<SigningKey> {
  if (typeof jwk.d !== 'string') throw new Error('JWK is not a private key');
  const privateKey = (await importJWK(jwk, alg)) as CryptoKey;
  const { d: _secret, ...publicPart } = jwk;
  const kid = await calculateJwkThumbprint(publicPart);
  const publicJwk: JWK = { ...publicPart, kid, alg, use: 'sig' };
  const publicKey = (await importJWK(publicPart, alg)) as CryptoKey;
  return { kid, alg, privateKey, publicKey, publicJwk };
}

/** Loads the configured key or the persisted development key (generating it on first start). */
export async function loadSigningKey(options: LoadSigningKeyOptions): Promise<{ key: SigningKey; generated: boolean }> {
  const { algorithm } = options;
  if (options.keyFile !== '') {
    const text = await readFile(options.keyFile, 'utf8');
    if (text.trimStart().startsWith('{')) {
      return { key: await fromPrivateJwk(JSON.parse(text) as JWK, algorithm), generated: false };
    }
    const privateKey = await importPKCS8(text, algorithm, { extractable: true });
    return { key: await fromPrivateJwk(await exportJWK(privateKey), algorithm), generated: false };
  }
  const devFile = join(options.dataDir, `jwt-dev-key.${algorithm}.jwk.json`);
  try {
    const text = await readFile(devFile, 'utf8');
    return { key: await fromPrivateJwk(JSON.parse(text) as JWK, algorithm), generated: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const pair = await generateKeyPair(algorithm, { extractable: true });
  const jwk = await exportJWK(pair.privateKey);
  await mkdir(dirname(devFile), { recursive: true, mode: 0o700 });
  await writeFile(devFile, JSON.stringify(jwk), { mode: 0o600 });
  await chmod(devFile, 0o600);
  return { key: await fromPrivateJwk(jwk, algorithm), generated: true };
}

/** The JWKS document for a set of keys. */
export function jwks(keys: readonly SigningKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => key.publicJwk) };
}
