// The key event content: Element Call's exact shape when built, and base64 decoding rules.

import { describe, expect, it } from 'vitest';
import { decodeBase64, encodeBase64 } from '../../../../../src/common/e2ee/keys/base64.ts';
import { buildEncryptionKeysContent, parseEncryptionKeysContent } from '../../../../../src/common/e2ee/keys/encryptionKeysContent.ts';
import { keyBytes } from './mocks.ts';

describe('buildEncryptionKeysContent()', () => {
  it('builds Element Call’s decrypted content with padded standard base64', () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => 250 + (i % 6));
    expect(buildEncryptionKeysContent({ roomId: '!r:x', memberId: 'm', deviceId: 'D', index: 255, key, sentTs: 42 })).toEqual({
      keys: { index: 255, key: '+vv8/f7/+vv8/f7/+vv8/Q==' },
      room_id: '!r:x',
      member: { id: 'm', claimed_device_id: 'D' },
      session: { application: 'm.call', call_id: '', scope: 'm.room' },
      sent_ts: 42,
    });
  });

  it('round-trips through parseEncryptionKeysContent()', () => {
    const content = buildEncryptionKeysContent({ roomId: '!r:x', memberId: 'm', deviceId: 'D', index: 7, key: keyBytes(9), sentTs: 1 });
    expect(parseEncryptionKeysContent(content, '!r:x')).toEqual({ ok: true, value: { index: 7, key: keyBytes(9), memberId: 'm', claimedDeviceId: 'D', sentTs: 1 } });
  });
});

describe('decodeBase64()', () => {
  it.each([
    ['+vv8/f7/+vv8/f7/+vv8/Q=='],
    ['+vv8/f7/+vv8/f7/+vv8/Q'],
    ['-vv8_f7_-vv8_f7_-vv8_Q=='],
    ['-vv8_f7_-vv8_f7_-vv8_Q'],
  ])('decodes %s', (text) => {
    expect(encodeBase64(decodeBase64(text)!)).toBe('+vv8/f7/+vv8/f7/+vv8/Q==');
  });

  it.each([
    ['a mixed alphabet', '+vv8_f7/+vv8/f7/+vv8/Q=='],
    ['wrong padding', '+vv8/f7/+vv8/f7/+vv8/Q='],
    ['an impossible length', 'AAAAA'],
    ['padding inside', 'AA==AAAA'],
    ['whitespace', 'AAAA AAAA'],
  ])('refuses %s', (_label, text) => {
    expect(decodeBase64(text)).toBeUndefined();
  });
});
