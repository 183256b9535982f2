// ioUring: reading a worker dump's io_uring section and naming why io_uring is off.

import { describe, expect, it } from 'vitest';
import { dumpHasIoUring, ioUringOffReason } from '../../../../src/server/media/ioUring.ts';

describe('ioUring', () => {
  it('dumpHasIoUring() is true only for a dump with a liburing section', () => {
    expect(dumpHasIoUring({ pid: 1, liburing: { sqeProcessCount: 3, sqeMissCount: 0, userDataMissCount: 0 } })).toBe(true);
    expect(dumpHasIoUring({ pid: 1 })).toBe(false);
    expect(dumpHasIoUring({ pid: 1, liburing: undefined })).toBe(false);
    expect(dumpHasIoUring({ pid: 1, liburing: null })).toBe(false);
    expect(dumpHasIoUring(undefined)).toBe(false);
    expect(dumpHasIoUring('liburing')).toBe(false);
  });

  it('ioUringOffReason() names an old mediasoup, an old kernel, the sysctl, or a failed setup', () => {
    const enabledSysctl = (): string => '0';
    expect(ioUringOffReason('3.12.16', '6.1.0', enabledSysctl)).toBe('mediasoup 3.12.16 has no io_uring support');
    expect(ioUringOffReason('3.19.22', '5.15.0-91-generic', enabledSysctl)).toContain('Linux 5.15.0-91-generic');
    expect(ioUringOffReason('3.19.22', '6.8.0', () => '2')).toBe('kernel.io_uring_disabled=2');
    expect(ioUringOffReason('3.19.22', '6.1.0', () => undefined)).toContain('could not set up io_uring');
    expect(ioUringOffReason('3.19.22', '6.8.0', enabledSysctl)).toContain('could not set up io_uring');
  });
});
