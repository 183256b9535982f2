import { describe, expect, it } from 'vitest';
import { createLogger, redact } from '../../../../src/common/lib/logger.ts';

const JWT = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJAYWxpY2U6ZXhhbXBsZS5vcmcifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const SDP = 'v=0\r\no=- 123 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n';

function capture() {
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', sink: (line) => lines.push(line), now: () => new Date(0) });
  return { lines, logger };
}

describe('logger redaction', () => {
  it('masks secret-named fields at any depth (jwt, token, access_token, openid_token, key, sdp, password)', () => {
    const { lines, logger } = capture();
    logger.info('request', {
      jwt: JWT,
      body: { openid_token: { access_token: 'syt_secret_value', token_type: 'Bearer' }, password: 'hunter2' },
      keys: [{ index: 0, key: 'c2VjcmV0a2V5' }],
      sdp: SDP,
      nested: { deeper: { encryptionKey: 'abc', dtlsParameters: { fingerprints: [] } } },
    });
    const text = lines.join('\n');
    for (const secret of [JWT, 'syt_secret_value', 'hunter2', 'c2VjcmV0a2V5', '192.0.2.1', '"abc"']) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('[redacted]');
  });

  it('masks JWT-looking and SDP-looking strings under innocent field names and in messages', () => {
    const { lines, logger } = capture();
    logger.warn(`bad token ${JWT}`, { url: `/ws?jwt=${JWT}`, note: SDP });
    const text = lines.join('\n');
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('IN IP4');
  });

  it('keeps ordinary fields and binds child fields on every line', () => {
    const { lines, logger } = capture();
    logger.child({ component: 'conference', conferenceId: 'c1' }).child({ participantId: 'p1' }).info('joined', { participants: 2 });
    const record = JSON.parse(lines[0]!);
    expect(record).toMatchObject({ level: 'info', msg: 'joined', component: 'conference', conferenceId: 'c1', participantId: 'p1', participants: 2 });
    expect(record.time).toBe('1970-01-01T00:00:00.000Z');
  });

  it('drops lines below the level and never writes media bytes', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', sink: (line) => lines.push(line) });
    logger.info('hidden');
    logger.warn('frame', { frame: new Uint8Array([1, 2, 3, 4]) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('[4 bytes]');
  });

  it('redact() describes errors with their code and cause, masked', () => {
    const error = Object.assign(new Error(`failed with ${JWT}`), { code: 'X' });
    expect(redact(error)).toEqual({ name: 'Error', message: 'failed with [redacted]', code: 'X' });
  });
});
