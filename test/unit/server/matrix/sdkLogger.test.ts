// matrix-js-sdk's log lines in our logger: real warnings stay warnings, its routine
// start-up housekeeping (default push rules) goes to debug, chatty levels only at debug.

import { describe, expect, it } from 'vitest';
import { sdkLoggerFor } from '../../../../src/server/matrix/sdkLogger.ts';
import { createLogger } from '../../../../src/common/lib/logger.ts';

function capture(level: 'debug' | 'info'): { lines: Array<{ level: string; msg: string }>; sdk: ReturnType<typeof sdkLoggerFor> } {
  const lines: Array<{ level: string; msg: string }> = [];
  const sdk = sdkLoggerFor(createLogger({ level, sink: (line) => lines.push(JSON.parse(line) as { level: string; msg: string }) }));
  return { lines, sdk };
}

describe('sdkLoggerFor', () => {
  it('keeps SDK warnings as warnings but logs its default push rule notices at debug', () => {
    const { lines, sdk } = capture('info');
    sdk.warn('Adding default global override push rule .org.matrix.msc3786.rule.room.server_acl');
    sdk.warn('Adding default global underride push rule .org.matrix.msc3914.rule.room.call');
    sdk.warn('Sync error', new Error('ECONNREFUSED'));
    expect(lines).toEqual([expect.objectContaining({ level: 'warn', msg: 'Sync error ECONNREFUSED' })]);
  });

  it('at debug the routine notices are there, at level debug', () => {
    const { lines, sdk } = capture('debug');
    sdk.warn('Adding default global override push rule .x');
    sdk.info('chatty');
    expect(lines.map((line) => line.level)).toEqual(['debug', 'debug']);
  });
});
