import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { BASE_KEY_BYTES, RATCHET_INFO, ratchetKey } from '../../../../src/common/e2ee/ratchet.ts';

/** HKDF-SHA256 written out from RFC 5869 with node:crypto HMAC, as an independent check. */
function hkdf(ikm: Uint8Array, info: string, length: number): Uint8Array {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  const t = createHmac('sha256', prk).update(Buffer.concat([Buffer.from(info), Buffer.from([1])])).digest();
  return new Uint8Array(t.subarray(0, length));
}

describe('ratchetKey()', () => {
  it('is HKDF-SHA256(key, salt = empty, info = RATCHET_INFO), 16 bytes, deterministic', async () => {
    const key = new Uint8Array(BASE_KEY_BYTES).map((_, i) => i);
    const next = await ratchetKey(key);
    expect(next).toEqual(hkdf(key, RATCHET_INFO, 16));
    expect(await ratchetKey(key)).toEqual(next);
    expect(next).not.toEqual(key);
  });

  it('refuses keys that are not 16 bytes', async () => {
    await expect(ratchetKey(new Uint8Array(32))).rejects.toThrow(TypeError);
  });
});
