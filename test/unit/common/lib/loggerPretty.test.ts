// The readable console format of the logger: one line per record with time, level,
// component, message and key=value fields; redaction exactly as in JSON lines.

import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/common/lib/logger.ts';

function pretty(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', format: 'pretty', sink: (line) => lines.push(line), now: () => new Date(2026, 0, 2, 3, 4, 5) });
  return { lines, log };
}

describe('createLogger({ format: "pretty" })', () => {
  it('writes time, level, component, message and fields as one readable line', () => {
    const { lines, log } = pretty();
    log.child({ component: 'main' }).warn('server.publicUrl is not set', { port: 8080, url: 'http://127.0.0.1:8080', note: 'two words' });
    expect(lines).toEqual(['03:04:05 WARN  [main] server.publicUrl is not set  port=8080 url=http://127.0.0.1:8080 note="two words"']);
  });

  it('masks secrets and JWTs like the JSON format, and shortens long values', () => {
    const { lines, log } = pretty();
    log.info('login', { accessToken: 'syt_secret', header: 'Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln', config: { list: 'x'.repeat(500) } });
    expect(lines[0]).not.toContain('syt_secret');
    expect(lines[0]).not.toContain('eyJhbGciOiJFZERTQSJ9');
    expect(lines[0]).toContain('accessToken=[redacted]');
    expect(lines[0]!.length).toBeLessThan(400);
    expect(lines[0]).toContain('…');
  });

  it('JSON lines stay the default', () => {
    const lines: string[] = [];
    createLogger({ sink: (line) => lines.push(line) }).info('hello', { a: 1 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', msg: 'hello', a: 1 });
  });
});
