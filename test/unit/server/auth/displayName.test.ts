// Display names come from Matrix room state; a client may only narrow them.

import { describe, expect, it } from 'vitest';
import { cleanDisplayName, narrowDisplayName } from '../../../../src/server/auth/displayName.ts';

describe('narrowDisplayName()', () => {
  it('takes the Matrix name when the client asks for nothing or for another name', () => {
    expect(narrowDisplayName('Alice', undefined)).toBe('Alice');
    expect(narrowDisplayName('Alice', 'The CEO')).toBe('Alice');
    expect(narrowDisplayName('Alice', 'Ali')).toBe('Alice');
    expect(narrowDisplayName('Alice', '   ')).toBe('Alice');
  });

  it('accepts a name that begins with the Matrix name (a device label appended), cleaned and bounded', () => {
    expect(narrowDisplayName('Alice', 'Alice (phone)')).toBe('Alice (phone)');
    expect(narrowDisplayName('Alice', ' Alice\u202E (laptop) ')).toBe('Alice (laptop)');
    expect(narrowDisplayName('Alice', `Alice ${'x'.repeat(300)}`)).toHaveLength(128);
  });

  it('cleanDisplayName() removes control and format characters and refuses blank names', () => {
    expect(cleanDisplayName('Bo\u0000b\u200D')).toBe('Bob');
    expect(cleanDisplayName('\u200B')).toBeUndefined();
    expect(cleanDisplayName(42)).toBeUndefined();
  });
});
