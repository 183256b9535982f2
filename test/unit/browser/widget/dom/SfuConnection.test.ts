// SfuConnection follows the close table: lost conference or media and dropped sockets
// reconnect after a short jittered back-off, a rate-limit close (4003) after a longer one, a
// "try again later" refusal (1013) of the first connect is retried, evictions end the call
// with their reason, and a replaced session ends quietly; joining progress (onStatus) is
// reported only while opening, so a reconnect never replaces the call screen. SfuClient and admission are faked
// (narrow: connect/join/leave and the `closed` event); timers are fake. It lives in dom/ only to be
// typechecked with the DOM lib (it imports the browser client); it runs in plain Node.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from '../../../../../src/common/lib/TypedEmitter.ts';
import { ConnectionClosedError } from '../../../../../src/browser/client/errors.ts';
import { CLOSE_CODES } from '../../../../../src/common/protocol/closeCodes.ts';
import type { WidgetError } from '../../../../../src/browser/widget/errors.ts';

class FakeClient extends TypedEmitter<{ closed: [{ code: number; reason: string }]; reconnecting: [{ reason: string }]; reconnected: [] }> {
  closed = false;
  readonly peers = [];
  async join(): Promise<{ peers: [] }> {
    return { peers: [] };
  }
  async leave(): Promise<void> {
    this.closed = true;
  }
  /** The server closes the socket. */
  serverClose(code: number, reason = ''): void {
    this.closed = true;
    this.safeEmit('closed', { code, reason });
  }
}

const clients: FakeClient[] = [];
const refusals: Error[] = [];
vi.mock('../../../../../src/browser/client/SfuClient.ts', () => ({
  SfuClient: {
    connect: vi.fn(async () => {
      const refusal = refusals.shift();
      if (refusal) throw refusal;
      const client = new FakeClient();
      clients.push(client);
      return client;
    }),
  },
}));
vi.mock('../../../../../src/browser/widget/call/admission.ts', () => ({ admitToSfu: vi.fn(async () => ({ url: 'wss://sfu.example/ws', jwt: 'j' })) }));

const { SfuConnection } = await import('../../../../../src/browser/widget/call/SfuConnection.ts');
const { endsQuietly } = await import('../../../../../src/browser/widget/call/closePolicy.ts');

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const backend = { roomId: '!r:x', userId: '@a:x', deviceId: 'D', sfuServiceUrl: 'https://sfu.example', getOpenIdToken: vi.fn() } as never;
const e2ee = { transforms: undefined, encodedInsertableStreams: false } as never;

async function open(onStatus = vi.fn()) {
  const connection = await SfuConnection.open({ backend, e2ee, displayName: () => 'A', logger: quiet, random: () => 0, onStatus });
  const seen = { reconnecting: 0, reconnected: 0, closed: [] as WidgetError[] };
  connection.on('reconnecting', () => seen.reconnecting++);
  connection.on('reconnected', () => seen.reconnected++);
  connection.on('closed', (error) => seen.closed.push(error));
  return { connection, seen };
}

beforeEach(() => {
  vi.useFakeTimers();
  clients.length = 0;
  refusals.length = 0;
});
afterEach(() => vi.useRealTimers());

describe('SfuConnection', () => {
  it('reconnects after a closed conference (4010) or lost media (4011), keeping the call', async () => {
    const { connection, seen } = await open();
    for (const code of [CLOSE_CODES.CONFERENCE_CLOSED, CLOSE_CODES.MEDIA_LOST]) {
      clients.at(-1)!.serverClose(code);
      await vi.advanceTimersByTimeAsync(499);
      const before = clients.length;
      await vi.advanceTimersByTimeAsync(1);
      expect(clients.length).toBe(before + 1);
    }
    expect(seen).toEqual({ reconnecting: 2, reconnected: 2, closed: [] });
    expect(connection.client).toBe(clients.at(-1));
  });

  it('treats a rate-limit close (4003) as "later": a longer back-off, then a new connection', async () => {
    const { seen } = await open();
    clients[0]!.serverClose(CLOSE_CODES.RATE_LIMITED, 'rate limited');
    expect(seen.reconnecting).toBe(1);
    // random() = 0: half of the 5 s base.
    await vi.advanceTimersByTimeAsync(2499);
    expect(clients).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(clients).toHaveLength(2);
    expect(seen.reconnected).toBe(1);
  });

  it('ends the call with the eviction reason, and a replaced session quietly', async () => {
    const evicted = await open();
    clients[0]!.serverClose(CLOSE_CODES.EVICTED, 'evicted: kicked');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(clients).toHaveLength(1);
    expect(evicted.seen.closed.map((e) => [e.closeCode, e.closeReason])).toEqual([[4004, 'evicted: kicked']]);
    expect(endsQuietly(evicted.seen.closed[0])).toBe(false);
    const replaced = await open();
    clients[1]!.serverClose(CLOSE_CODES.REPLACED, 'replaced');
    expect(replaced.seen.closed).toHaveLength(1);
    expect(endsQuietly(replaced.seen.closed[0])).toBe(true);
  });

  it('retries a first connect refused with 1013 (try again later) and says it is retrying', async () => {
    refusals.push(new ConnectionClosedError(1013, 'matrix sync stale', 'CONNECT_FAILED'), new ConnectionClosedError(1013, 'matrix sync stale', 'CONNECT_FAILED'));
    const onStatus = vi.fn();
    const opening = open(onStatus);
    await vi.advanceTimersByTimeAsync(2500 + 5000);
    const { connection } = await opening;
    expect(connection.client).toBe(clients[0]);
    expect(onStatus).toHaveBeenCalledWith('status.retrying');
  });

  it('reports joining progress only while opening: a reconnect after a dropped socket (1006) keeps the call screen', async () => {
    const onStatus = vi.fn();
    const { seen } = await open(onStatus);
    expect(onStatus.mock.calls).toEqual([['status.connectingMedia']]);
    clients[0]!.serverClose(1006);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seen).toEqual({ reconnecting: 1, reconnected: 1, closed: [] });
    expect(onStatus.mock.calls).toEqual([['status.connectingMedia']]);
  });

  it('stops reconnecting when the server refuses the new connection with a close that ends the call', async () => {
    const { seen } = await open();
    refusals.push(new ConnectionClosedError(CLOSE_CODES.EVICTED, 'evicted: banned', 'CONNECT_FAILED'));
    clients[0]!.serverClose(CLOSE_CODES.GOING_AWAY);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(seen.closed.map((e) => e.closeCode)).toEqual([4004]);
    expect(clients).toHaveLength(1);
  });
});
