// Session with a fake socket and fake timers: protocol faults and rate-limit
// strikes decay over time (a long call is not closed for rare mistakes, a
// burst still is), and frames sent before admission finished are bounded.

import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { Session, type SessionSettings } from '../../../../src/server/signalling/Session.ts';
import type { Admission, AdmissionTicket } from '../../../../src/server/auth/Admission.ts';
import type { ConferenceRegistry } from '../../../../src/server/conference/ConferenceRegistry.ts';
import type { ConferenceId, ParticipantId } from '../../../../src/common/lib/ids.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { CLOSE_CODES } from '../../../../src/common/protocol/closeCodes.ts';

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  readonly sent: unknown[] = [];
  closeCode: number | undefined;
  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }
  close(code: number): void {
    this.closeCode ??= code;
    this.readyState = 3;
  }
  terminate(): void {
    this.readyState = 3;
  }
}

const ticket: AdmissionTicket = { conferenceId: 'c' as ConferenceId, participantId: 'p' as ParticipantId, displayName: 'p' };

function start(settings: Partial<SessionSettings>, admit: () => Promise<AdmissionTicket> = () => Promise.resolve(ticket)) {
  const socket = new FakeSocket();
  const admission: Admission = { mode: 'none', admit };
  new Session({
    socket: socket as unknown as WebSocket,
    request: { url: new URL('ws://x/ws'), headers: {}, remoteAddress: '127.0.0.1' },
    admission,
    registry: {} as ConferenceRegistry,
    settings: { ratePerSecond: 1000, rateBurst: 1000, maxProtocolFaults: 5, joinTimeoutMs: 3_600_000, faultDecayMs: 10_000, ...settings },
    logger: silentLogger(),
    onAdmitted: () => undefined,
    onClosed: () => undefined,
    isDraining: () => false,
  });
  return socket;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Session', () => {
  it('protocol faults decay: one every faultDecayMs, so spread-out mistakes never reach maxProtocolFaults', async () => {
    const socket = start({});
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 0; i < 30; i++) {
      socket.emit('message', Buffer.from('not json'), false);
      await vi.advanceTimersByTimeAsync(12_000);
    }
    expect(socket.closeCode).toBeUndefined();
    expect(socket.sent).toHaveLength(30);
    // A burst still closes with 4002.
    for (let i = 0; i < 8; i++) socket.emit('message', Buffer.from('not json'), false);
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.closeCode).toBe(CLOSE_CODES.PROTOCOL_ABUSE);
  });

  it('rate-limit strikes decay too: a client over the limit now and then is answered RATE_LIMITED, not closed', async () => {
    const socket = start({ ratePerSecond: 1, rateBurst: 2 });
    await vi.advanceTimersByTimeAsync(0);
    const frame = Buffer.from(JSON.stringify({ type: 'request', id: 1, method: 'nope' }));
    for (let round = 0; round < 10; round++) {
      // Three frames at once: the third is over the limit (one strike), then a minute of quiet.
      for (let i = 0; i < 3; i++) socket.emit('message', frame, false);
      await vi.advanceTimersByTimeAsync(60_000);
    }
    expect(socket.closeCode).toBeUndefined();
    expect(socket.sent.filter((reply) => (reply as { error?: { code: string } }).error?.code === 'RATE_LIMITED')).toHaveLength(10);
  });

  it('frames beyond signalling.maxPendingFrames before admission close the socket with 4003', async () => {
    const socket = start({ maxPendingFrames: 4 }, () => new Promise(() => undefined));
    for (let i = 0; i < 4; i++) socket.emit('message', Buffer.from('{}'), false);
    expect(socket.closeCode).toBeUndefined();
    socket.emit('message', Buffer.from('{}'), false);
    expect(socket.closeCode).toBe(CLOSE_CODES.RATE_LIMITED);
  });

  it('bytes beyond signalling.maxPendingBytes before admission close the socket with 4003', async () => {
    const socket = start({ maxPendingBytes: 2048 }, () => new Promise(() => undefined));
    socket.emit('message', Buffer.alloc(2000, 32), false);
    expect(socket.closeCode).toBeUndefined();
    socket.emit('message', Buffer.alloc(100, 32), false);
    expect(socket.closeCode).toBe(CLOSE_CODES.RATE_LIMITED);
  });
});
