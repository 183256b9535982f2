// RepeatedLineLimiter and logLineKind: repeated mediasoup log lines are written up to the
// burst, counted beyond it, and summarised once per window (fake timers).

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  logLineKind,
  RepeatedLineLimiter,
  type MediasoupLogLine,
} from '../../../../src/server/media/mediasoupLogs.ts';

const stunLine = (pid: number, port: number): MediasoupLogLine => ({
  level: 'warn',
  namespace: 'mediasoup:WARN:Channel',
  text: `[pid:${pid}] RTC::WebRtcServer::OnStunDataReceived() | ignoring received STUN packet with unknown remote ICE usernameFragment [remote:127.0.0.1:${port}]`,
});

describe('logLineKind', () => {
  it('logLineKind() masks the worker pid, addresses, ports and numbers', () => {
    expect(logLineKind(stunLine(101, 40000))).toBe(logLineKind(stunLine(202, 51234)));
    expect(
      logLineKind({ level: 'warn', namespace: 'n', text: 'from [::1]:5000 len 17' }),
    ).toBe(logLineKind({ level: 'warn', namespace: 'n', text: 'from [fe80::1:2]:6 len 1200' }));
    expect(logLineKind({ level: 'warn', namespace: 'n', text: 'user "abc"' })).toBe(
      logLineKind({ level: 'warn', namespace: 'n', text: 'user "zzzzzz"' }),
    );
  });

  it('logLineKind() keeps different messages, levels and namespaces apart', () => {
    const base = stunLine(1, 1);
    expect(logLineKind({ ...base, text: 'another message' })).not.toBe(logLineKind(base));
    expect(logLineKind({ ...base, level: 'error' })).not.toBe(logLineKind(base));
    expect(logLineKind({ ...base, namespace: 'mediasoup:WARN:Worker' })).not.toBe(logLineKind(base));
  });
});

describe('RepeatedLineLimiter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('limiter.push() writes the first `burst` lines of a kind and counts the rest', () => {
    const written: { line: MediasoupLogLine; suppressed?: number }[] = [];
    const limiter = new RepeatedLineLimiter((line, suppressed) => written.push({ line, suppressed }), {
      burst: 3,
      windowMs: 1000,
    });
    for (let i = 0; i < 1000; i++) limiter.push(stunLine(7, 40000 + i));
    expect(written).toHaveLength(3);
    expect(written.every((entry) => entry.suppressed === undefined)).toBe(true);

    vi.advanceTimersByTime(1000);
    expect(written).toHaveLength(4);
    expect(written[3]!.suppressed).toBe(997);
    expect(written[3]!.line.text).toContain('unknown remote ICE usernameFragment');
  });

  it('a new window lets the burst through again, and a quiet window writes no summary', () => {
    const written: (number | undefined)[] = [];
    const limiter = new RepeatedLineLimiter((_line, suppressed) => written.push(suppressed), { burst: 2, windowMs: 500 });
    for (let i = 0; i < 5; i++) limiter.push(stunLine(1, i));
    vi.advanceTimersByTime(500);
    expect(written).toEqual([undefined, undefined, 3]);
    limiter.push(stunLine(1, 99));
    limiter.push(stunLine(1, 98));
    vi.advanceTimersByTime(500);
    expect(written).toEqual([undefined, undefined, 3, undefined, undefined]);
    vi.advanceTimersByTime(5000);
    expect(written).toHaveLength(5);
  });

  it('each kind has its own budget', () => {
    const written: string[] = [];
    const limiter = new RepeatedLineLimiter((line, suppressed) => written.push(suppressed ? `summary ${suppressed}` : line.text), {
      burst: 1,
      windowMs: 1000,
    });
    limiter.push({ level: 'warn', namespace: 'n', text: 'a 1' });
    limiter.push({ level: 'warn', namespace: 'n', text: 'a 2' });
    limiter.push({ level: 'warn', namespace: 'n', text: 'b 1' });
    limiter.push({ level: 'error', namespace: 'n', text: 'a 3' });
    limiter.flush();
    expect(written).toEqual(['a 1', 'b 1', 'a 3', 'summary 1']);
  });

  it('kinds beyond maxKinds share one overflow budget, so unique lines stay bounded', () => {
    let lines = 0;
    let suppressed = 0;
    const limiter = new RepeatedLineLimiter(
      (_line, count) => {
        if (count === undefined) lines++;
        else suppressed += count;
      },
      { burst: 2, windowMs: 1000, maxKinds: 10 },
    );
    for (let i = 0; i < 500; i++) limiter.push({ level: 'warn', namespace: 'n', text: `message-${'x'.repeat(i % 50)}-${String.fromCharCode(97 + (i % 26))}` });
    limiter.flush();
    expect(lines).toBeLessThanOrEqual(10 * 2 + 2);
    expect(lines + suppressed).toBe(500);
  });

  it('limiter.close() reports what was pending and ignores later lines', () => {
    const written: (number | undefined)[] = [];
    const limiter = new RepeatedLineLimiter((_line, suppressed) => written.push(suppressed), { burst: 1 });
    limiter.push(stunLine(1, 1));
    limiter.push(stunLine(1, 2));
    limiter.close();
    limiter.push(stunLine(1, 3));
    expect(written).toEqual([undefined, 1]);
  });
});
