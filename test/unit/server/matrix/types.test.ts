// Unit tests for the Matrix id parsers in src/server/matrix/types.ts.
import { describe, expect, it } from 'vitest';

import {
  parseDeviceId,
  parseMatrixUserId,
  parseRoomId,
  parseServerName,
  serverNameOf,
} from '../../../../src/server/matrix/types.ts';
import type { MatrixUserId } from '../../../../src/server/matrix/types.ts';

describe('parseMatrixUserId()', () => {
  it('accepts user ids on DNS names, ports, IPv4 and IPv6 literals', () => {
    for (const id of ['@alice:example.org', '@a:synapse.test:8448', '@bob:127.0.0.1:8008', '@c:[::1]:8448']) {
      expect(parseMatrixUserId(id)).toBe(id);
    }
  });

  it('accepts historical localparts with any printable ASCII but a colon', () => {
    expect(parseMatrixUserId('@Old_User!#$:example.org')).toBe('@Old_User!#$:example.org');
  });

  it('refuses non-strings, a missing @, an empty localpart and a bad server name', () => {
    for (const value of [42, undefined, 'alice:example.org', '@:example.org', '@a b:example.org', '@a:exa_mple.org', '@a:', '@a']) {
      expect(parseMatrixUserId(value)).toBeUndefined();
    }
  });

  it('refuses ids longer than 255 characters', () => {
    expect(parseMatrixUserId(`@${'a'.repeat(250)}:example.org`)).toBeUndefined();
  });
});

describe('parseServerName()', () => {
  it('refuses ports of more than five digits and underscores', () => {
    expect(parseServerName('example.org:123456')).toBeUndefined();
    expect(parseServerName('my_host')).toBeUndefined();
    expect(parseServerName('example.org:8448')).toBe('example.org:8448');
  });
});

describe('serverNameOf()', () => {
  it('returns everything after the first colon', () => {
    expect(serverNameOf('@a:[::1]:8448' as MatrixUserId)).toBe('[::1]:8448');
  });
});

describe('parseDeviceId()', () => {
  it('accepts non-empty strings up to 255 characters', () => {
    expect(parseDeviceId('DEV_1')).toBe('DEV_1');
    expect(parseDeviceId('')).toBeUndefined();
    expect(parseDeviceId('x'.repeat(256))).toBeUndefined();
    expect(parseDeviceId(1)).toBeUndefined();
  });
});

describe('parseRoomId()', () => {
  it('accepts ! ids with or without a server name (room version 12)', () => {
    expect(parseRoomId('!abc:example.org')).toBe('!abc:example.org');
    expect(parseRoomId('!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM')).toBeDefined();
    expect(parseRoomId('!')).toBeUndefined();
    expect(parseRoomId('#alias:example.org')).toBeUndefined();
  });
});
