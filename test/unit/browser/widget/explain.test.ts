// Every failure the widget can meet has a plain sentence in both languages: each signalling
// code (wire and local), each close code 4001–4011 and each eviction reason, each /sfu/get,
// login and membership errcode, each device error, and each step of the widget itself.

import { describe, expect, it } from 'vitest';
import { ConnectionClosedError, RequestError, SfuClientError, type ClientErrorCode } from '../../../../src/browser/client/errors.ts';
import { MatrixRequestError } from '../../../../src/browser/client/matrix/matrixCall.ts';
import { WIRE_ERROR_CODES } from '../../../../src/common/protocol/messages.ts';
import { CLOSE_CODES } from '../../../../src/common/protocol/closeCodes.ts';
import type { EvictionReason } from '../../../../src/server/auth/Admission.ts';
import { ERROR_CATEGORIES, WidgetError, type WidgetErrorCode } from '../../../../src/browser/widget/errors.ts';
import {
  ADMISSION_MESSAGES,
  CLOSE_MESSAGES,
  EVICTION_MESSAGES,
  LOGIN_MESSAGES,
  MEDIA_MESSAGES,
  MEMBERSHIP_MESSAGES,
  SIGNALLING_MESSAGES,
  STEP_MESSAGES,
  explain,
  explainClose,
} from '../../../../src/browser/widget/explain.ts';
import { en } from '../../../../src/browser/widget/i18n/en.ts';
import { sv } from '../../../../src/browser/widget/i18n/sv.ts';

// Compile-time: a new server eviction reason without a sentence fails the typecheck.
const EVERY_EVICTION: Readonly<Record<EvictionReason, string>> = EVICTION_MESSAGES;
const LOCAL_CODES: readonly ClientErrorCode[] = ['CONNECT_FAILED', 'TIMEOUT', 'CONNECTION_CLOSED', 'PROTOCOL', 'MEDIA'];

function expectSentence(key: string): void {
  expect(Object.hasOwn(en, key), key).toBe(true);
  expect(Object.hasOwn(sv, key), key).toBe(true);
  expect(key.startsWith('err.'), key).toBe(true);
}

describe('explain()', () => {
  it('has a sentence for every signalling error code, wire and local', () => {
    for (const code of [...WIRE_ERROR_CODES, ...LOCAL_CODES]) {
      expectSentence(SIGNALLING_MESSAGES[code]);
      const explanation = explain(new SfuClientError(code, 'x'));
      expect(explanation.key).toBe(SIGNALLING_MESSAGES[code]);
      expect(explanation.supportCode).toBe(code);
    }
    expect(explain(new RequestError('join', 'CONFERENCE_FULL', 'full')).key).toBe('err.full');
    expect(explain(new WidgetError('SIGNALLING_FAILED', 'x', { cause: new RequestError('join', 'FORBIDDEN', 'no') })).key).toBe('err.forbidden');
  });

  it('has a sentence for every close code, 4001–4011 included, during and while connecting', () => {
    const codes = [...Object.values(CLOSE_CODES), 1006] as const;
    for (const code of codes) {
      expectSentence(CLOSE_MESSAGES[code] ?? '');
      expect(explainClose(code).key).toBe(CLOSE_MESSAGES[code]);
    }
    for (let code = 4001; code <= 4011; code++) expect(codes).toContain(code);
    expect(explainClose(CLOSE_CODES.CONFERENCE_CLOSED).key).toBe('err.conferenceClosed');
    expect(explainClose(CLOSE_CODES.MEDIA_LOST).retry).toBe(true);
    expect(explain(new ConnectionClosedError(4009, 'conference full')).key).toBe('err.full');
    expect(explain(new ConnectionClosedError(4001, 'refused', 'CONNECT_FAILED')).key).toBe('err.admissionRefused');
    expect(explain(new ConnectionClosedError(1006, 'connect timeout', 'CONNECT_FAILED')).key).toBe('err.connect');
  });

  it('names each eviction reason of close code 4004, and does not offer a retry after a kick or ban', () => {
    for (const [reason, key] of Object.entries(EVERY_EVICTION)) {
      expectSentence(key);
      const explanation = explain(new WidgetError('SIGNALLING_CLOSED', 'x', { closeCode: 4004, closeReason: `evicted: ${reason}` }));
      expect(explanation).toMatchObject({ key, category: 'CALL_ENDED', supportCode: `4004 ${reason}` });
      expect(explanation.retry).toBe(!['kicked', 'banned', 'left-room'].includes(reason));
    }
    expect(explainClose(4004, 'evicted: something-new').key).toBe('err.evicted');
  });

  it('maps /sfu/get, login and membership errcodes, network failures and HTTP statuses', () => {
    const step = (code: WidgetErrorCode, cause: unknown) => explain(new WidgetError(code, 'x', { cause }));
    for (const [errcode, key] of Object.entries(ADMISSION_MESSAGES)) {
      expectSentence(key);
      expect(step('ADMISSION_FAILED', new MatrixRequestError('SFU admission', 403, errcode))).toMatchObject({ key, supportCode: `ADMISSION_FAILED ${errcode}` });
    }
    for (const [errcode, key] of Object.entries(LOGIN_MESSAGES)) {
      expectSentence(key);
      expect(step('LOGIN_FAILED', new MatrixRequestError('login', 403, errcode)).key).toBe(key);
    }
    for (const [errcode, key] of Object.entries(MEMBERSHIP_MESSAGES)) {
      expectSentence(key);
      expect(step('MEMBERSHIP_FAILED', new MatrixRequestError('membership', 403, errcode)).key).toBe(key);
    }
    expect(step('ADMISSION_FAILED', new MatrixRequestError('SFU admission', 404, undefined)).key).toBe('err.config.sfu');
    expect(step('ADMISSION_FAILED', new MatrixRequestError('SFU admission', 502, undefined))).toMatchObject({ key: 'err.admission.unavailable', supportCode: 'ADMISSION_FAILED HTTP 502' });
    expect(step('ADMISSION_FAILED', new TypeError('Failed to fetch'))).toMatchObject({ key: 'err.connect', category: 'NETWORK_CONNECTIVITY' });
    expect(step('LOGIN_FAILED', new TypeError('Failed to fetch')).key).toBe('err.login.unreachable');
    expect(step('LOGIN_FAILED', new DOMException('timeout', 'TimeoutError')).key).toBe('err.login.unreachable');
    expect(step('ADMISSION_FAILED', new MatrixRequestError('SFU admission', 403, 'M_FORBIDDEN')).retry).toBe(false);
  });

  it('maps camera and microphone errors by DOMException name', () => {
    for (const [name, key] of Object.entries(MEDIA_MESSAGES)) {
      expectSentence(key);
      expect(explain(new WidgetError('MEDIA_FAILED', 'x', { cause: new DOMException('x', name) })).key).toBe(key);
    }
    expect(explain(new WidgetError('SCREEN_SHARE_FAILED', 'x', { cause: new DOMException('x', 'NotReadableError') })).key).toBe('err.screen.failed');
  });

  it('has a sentence and a category for every step of the widget, and a fallback for anything else', () => {
    for (const code of Object.keys(ERROR_CATEGORIES) as WidgetErrorCode[]) {
      expectSentence(STEP_MESSAGES[code]);
      const explanation = explain(new WidgetError(code, 'x'));
      expectSentence(explanation.key);
      expect(explanation.supportCode.startsWith(code) || /^\d+$/.test(explanation.supportCode)).toBe(true);
    }
    expect(explain(new Error('boom'))).toEqual({ key: 'err.unknown', category: 'UNKNOWN', supportCode: 'Error', retry: true });
    expect(explain('a string')).toMatchObject({ key: 'err.unknown', supportCode: 'unknown' });
    expect(explain(new WidgetError('CONFIGURATION', 'x')).retry).toBe(false);
  });
});
