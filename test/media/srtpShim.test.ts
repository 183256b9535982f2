// The C++ tests of our libsrtp 3 API header over Debian's libsrtp2
// (native-config/worker/shims/libsrtp3/include/srtp.h), which sits on the worker's
// encryption path: every crypto suite mediasoup uses, round trips, tampering, replay, short
// output buffers. shim-tests/run compiles them with Debian's catch2 (cached per change) and
// runs them; this test fails when any C++ assertion does.

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const run = fileURLToPath(new URL('../../native-config/worker/shim-tests/run', import.meta.url));

describe('libsrtp 3 API shim', () => {
  it('the SRTP shim passes its C++ tests for every crypto suite (round trip, tampering, replay, short buffers)', () => {
    const result = spawnSync('bash', [run, '--reporter', 'compact'], { encoding: 'utf8', timeout: 280_000 });
    const output = `${result.stdout}\n${result.stderr}`;
    if (result.status !== 0) console.error(output);
    expect(result.status).toBe(0);
    const passed = /Passed all (\d+) test cases with (\d+) assertions/.exec(output);
    expect(passed).not.toBeNull();
    console.info(`[srtpShim] ${passed![1]} C++ test cases, ${passed![2]} assertions passed`);
    expect(Number(passed![1])).toBeGreaterThanOrEqual(7);
  }, 300_000);
});
