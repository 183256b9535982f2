// Writes Synapse's server signing key without starting Python: the key file format is one
// line `ed25519 <version> <unpadded standard base64 of the 32-byte seed>` (signedjson's
// write_signing_keys), and any 32 random bytes are a valid Ed25519 seed (RFC 8032 §5.1.5).
import { randomBytes } from 'node:crypto';

const SEED_BYTES = 32;
const VERSION_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/**
 * Formats one signing key line. `version` is the key id after `ed25519:`; Synapse's own
 * generator uses `a_` plus four letters or digits.
 *
 * @throws {TypeError} if the seed is not 32 bytes or the version is not `[A-Za-z0-9_]+`.
 */
export function formatSigningKey(seed: Uint8Array, version: string): string {
  if (seed.length !== SEED_BYTES) {
    throw new TypeError(`an Ed25519 seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  }
  if (!/^[A-Za-z0-9_]+$/.test(version)) {
    throw new TypeError('a signing key version is made of [A-Za-z0-9_]');
  }
  const base64 = Buffer.from(seed).toString('base64').replace(/=+$/, '');
  return `ed25519 ${version} ${base64}\n`;
}

/** A new random signing key line, in the same shape Synapse's generator produces. */
export function generateSigningKey(): string {
  const suffix = Array.from(randomBytes(4), (byte) => VERSION_ALPHABET[byte % VERSION_ALPHABET.length]).join('');
  return formatSigningKey(randomBytes(SEED_BYTES), `a_${suffix}`);
}
