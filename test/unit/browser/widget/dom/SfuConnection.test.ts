// SfuConnection follows the close table: lost conference or media and dropped sockets
// reconnect after a short jittered back-off (and keep trying while a dead node is not yet
// declared dead, up to RECONNECT_BUDGET_MS, unless the token endpoint refuses for good), a
// rate-limit close (4003) after a longer one, a "try again later" refusal (1013) of the
// first connect is retried, evictions end the call with their reason, and a replaced session
// ends quietly; a draining node is left make-before-break (join and publish elsewhere first,
// then leave; the old connection's own close is no failure); joining progress (onStatus) is
// reported only while opening, so a reconnect never replaces the call screen. SfuClient and
// admission are faked (narrow: connect/join/leave/publish, remote tracks and the `closed`,
// `reconnecting`, `firstMedia` events); timers are fake. It lives in dom/ only to be
// typechecked with the DOM lib (it imports the browser client); it runs in plain Node.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from '../../../../../src/common/lib/TypedEmitter.ts';
import { ConnectionClosedError } from '../../../../../src/browser/client/errors.ts';
import { MatrixRequestError } from '../../../../../src/browser/client/matrix/matrixCall.ts';
import { CLOSE_CODES } from '../../../../../src/common/protocol/closeCodes.ts';
import { WidgetError } from '../../../../../src/browser/widget/errors.ts';

interface FakeTrack {
  participantId: string;
  consumerId: string;
  kind: 'audio' | 'video';
  source: 'camera' | 'microphone';
  producerPaused: boolean;
}

class FakeClient extends TypedEmitter<{
  closed: [{ code: number; reason: string }];
  reconnecting: [{ reason: string }];
  reconnected: [];
  firstMedia: [{ consumerId: string; participantId: string; elapsedMs: number }];
}> {
  closed = false;
  readonly peers = [];
  remoteTracks: FakeTrack[] = [];
  readonly published: string[] = [];
  readonly index: number;
  constructor(index: number) {
    super();
    this.index = index;
  }
  async join(): Promise<{ peers: [] }> {
    return { peers: [] };
  }
  async leave(): Promise<void> {
    if (this.closed) return;
    events.push(`leave ${this.index}`);
    this.serverClose(CLOSE_CODES.NORMAL, 'left');
  }
  async publish(_track: unknown, options: { source: string }): Promise<{ source: string }> {
    events.push(`publish ${options.source} on ${this.index}`);
    this.published.push(options.source);
    return { source: options.source };
  }
  /** The server closes the socket. */
  serverClose(code: number, reason = ''): void {
    this.closed = true;
    this.safeEmit('closed', { code, reason });
  }
  /** The node says: move (a drain). */
  draining(): void {
    this.safeEmit('reconnecting', { reason: 'draining' });
  }
  /** A track arrives; its first frame decodes at once (video). */
  receive(track: FakeTrack): void {
    this.remoteTracks.push(track);
    if (track.kind === 'video') this.safeEmit('firstMedia', { consumerId: track.consumerId, participantId: track.participantId, elapsedMs: 1 });
  }
}

const clients: FakeClient[] = [];
const refusals: Error[] = [];
const admissionRefusals: Error[] = [];
/** What happened, in order (connects, publishes, leaves). */
const events: string[] = [];
/** When set, connects wait for it (a slow new node). */
let connectGate: Promise<void> | undefined;
vi.mock('../../../../../src/browser/client/SfuClient.ts', () => ({
  SfuClient: {
    connect: vi.fn(async () => {
      if (connectGate) await connectGate;
      const refusal = refusals.shift();
      if (refusal) throw refusal;
      const client = new FakeClient(clients.length);
      events.push(`connect ${client.index}`);
      clients.push(client);
      return client;
    }),
  },
}));
vi.mock('../../../../../src/browser/widget/call/admission.ts', () => ({
  admitToSfu: vi.fn(async () => {
    const refusal = admissionRefusals.shift();
    if (refusal) throw refusal;
    return { url: 'wss://sfu.example/ws', jwt: 'j' };
  }),
}));

const { SfuConnection } = await import('../../../../../src/browser/widget/call/SfuConnection.ts');
const { endsQuietly, RECONNECT_BUDGET_MS } = await import('../../../../../src/browser/widget/call/closePolicy.ts');
const { HANDOVER_MAX_MS } = await import('../../../../../src/browser/widget/call/SfuConnection.ts');

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const backend = { roomId: '!r:x', userId: '@a:x', deviceId: 'D', sfuServiceUrl: 'https://sfu.example', getOpenIdToken: vi.fn() } as never;
const e2ee = { transforms: undefined, encodedInsertableStreams: false } as never;

async function open(onStatus = vi.fn()) {
  const connection = await SfuConnection.open({ backend, e2ee, displayName: () => 'A', logger: quiet, random: () => 0, onStatus });
  const seen = { reconnecting: 0, reconnected: 0, closed: [] as WidgetError[] };
  connection.on('joined', (client) => events.push(`joined ${(client as unknown as FakeClient).index}`));
  connection.on('reconnecting', () => seen.reconnecting++);
  connection.on('reconnected', () => seen.reconnected++);
  connection.on('closed', (error) => seen.closed.push(error));
  return { connection, seen };
}

beforeEach(() => {
  vi.useFakeTimers();
  clients.length = 0;
  refusals.length = 0;
  admissionRefusals.length = 0;
  events.length = 0;
  connectGate = undefined;
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

  it('keeps reconnecting while the token reply still names a dead node (1006 on connect), until the node is replaced', async () => {
    const { connection, seen } = await open();
    clients[0]!.serverClose(1006);
    for (let i = 0; i < 5; i++) refusals.push(new ConnectionClosedError(1006, '', 'CONNECT_FAILED'));
    // random() = 0: tries 0.5, 1.5, 3.5, 5.5, 7.5 s after the drop fail (the back-off caps at 2 s), 9.5 s works.
    await vi.advanceTimersByTimeAsync(9499);
    expect(refusals).toHaveLength(0);
    expect(seen).toEqual({ reconnecting: 1, reconnected: 0, closed: [] });
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual({ reconnecting: 1, reconnected: 1, closed: [] });
    expect(connection.client).toBe(clients[1]);
  });

  it('gives up with the connect failure once RECONNECT_BUDGET_MS has passed since the drop', async () => {
    const { seen } = await open();
    for (let i = 0; i < 100; i++) refusals.push(new ConnectionClosedError(1006, '', 'CONNECT_FAILED'));
    clients[0]!.serverClose(1006);
    await vi.advanceTimersByTimeAsync(RECONNECT_BUDGET_MS - 600);
    expect(seen.closed).toEqual([]);
    await vi.advanceTimersByTimeAsync(600);
    expect(seen.closed.map((error) => error.code)).toEqual(['SIGNALLING_FAILED']);
    const tries = 100 - refusals.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(100 - refusals.length).toBe(tries);
    expect(clients).toHaveLength(1);
  });

  it('stops at once when the token endpoint refuses for good (403) or no OpenID token is had', async () => {
    for (const refusal of [
      new WidgetError('ADMISSION_FAILED', 'SFU admission failed', { cause: new MatrixRequestError('SFU admission', 403, 'M_FORBIDDEN') }),
      new WidgetError('OPENID_DENIED', 'no OpenID token'),
    ]) {
      const { seen } = await open();
      admissionRefusals.push(refusal);
      clients.at(-1)!.serverClose(1006);
      await vi.advanceTimersByTimeAsync(1000);
      expect(seen.closed).toEqual([refusal]);
      const count = clients.length;
      await vi.advanceTimersByTimeAsync(60_000);
      expect(clients).toHaveLength(count);
    }
  });

  it('moves off a draining node make-before-break: joins and publishes elsewhere, then leaves the old connection', async () => {
    const { connection, seen } = await open();
    await connection.setTrack('camera', { readyState: 'live' } as never);
    events.length = 0;
    clients[0]!.draining();
    await vi.advanceTimersByTimeAsync(0);
    expect(events).toEqual(['connect 1', 'publish camera on 1', 'leave 0', 'joined 1']);
    expect(connection.client).toBe(clients[1]);
    expect(seen).toEqual({ reconnecting: 0, reconnected: 0, closed: [] });
    // Later changes go to the new connection only.
    await connection.setTrack('microphone', { readyState: 'live' } as never);
    expect(clients[1]!.published).toEqual(['camera', 'microphone']);
    expect(clients[0]!.published).toEqual(['camera']);
  });

  it('keeps the draining connection until the new one receives and decodes what it did, at most HANDOVER_MAX_MS', async () => {
    const { connection } = await open();
    const camera = { participantId: '@b:x:B', consumerId: 'c1', kind: 'video', source: 'camera', producerPaused: false } as const;
    clients[0]!.remoteTracks.push(camera);
    clients[0]!.draining();
    await vi.advanceTimersByTimeAsync(1000);
    expect(events).not.toContain('leave 0');
    clients[1]!.receive({ ...camera, consumerId: 'c2' });
    await vi.advanceTimersByTimeAsync(100);
    expect(events.slice(-2)).toEqual(['leave 0', 'joined 1']);
    // The new one never catches up: it is taken anyway after HANDOVER_MAX_MS.
    clients[1]!.remoteTracks.push({ ...camera, participantId: '@c:x:C', consumerId: 'c3' });
    clients[1]!.draining();
    await vi.advanceTimersByTimeAsync(HANDOVER_MAX_MS - 200);
    expect(events).not.toContain('leave 1');
    await vi.advanceTimersByTimeAsync(300);
    expect(events.slice(-2)).toEqual(['leave 1', 'joined 2']);
    expect(connection.client).toBe(clients[2]);
  });

  it('treats the draining connection\'s close during the move (4005 replaced, 4006 draining) as expected, not as the end of the call', async () => {
    const { connection, seen } = await open();
    for (const code of [CLOSE_CODES.REPLACED, CLOSE_CODES.DRAINING]) {
      const old = clients.at(-1)!;
      old.remoteTracks.push({ participantId: '@b:x:B', consumerId: 'c1', kind: 'video', source: 'camera', producerPaused: false });
      old.draining();
      await vi.advanceTimersByTimeAsync(300);
      expect(connection.client).toBe(old);
      old.serverClose(code, 'moved');
      await vi.advanceTimersByTimeAsync(100);
      expect(connection.client).toBe(clients.at(-1));
      expect(connection.client).not.toBe(old);
    }
    expect(clients).toHaveLength(3);
    expect(seen).toEqual({ reconnecting: 0, reconnected: 0, closed: [] });
  });

  it('ends the call when the draining connection is evicted during the move', async () => {
    const { seen } = await open();
    clients[0]!.remoteTracks.push({ participantId: '@b:x:B', consumerId: 'c1', kind: 'audio', source: 'microphone', producerPaused: false });
    clients[0]!.draining();
    await vi.advanceTimersByTimeAsync(300);
    clients[0]!.serverClose(CLOSE_CODES.EVICTED, 'evicted: kicked');
    await vi.advanceTimersByTimeAsync(100);
    expect(seen.closed.map((error) => error.closeCode)).toEqual([CLOSE_CODES.EVICTED]);
    expect(clients[1]!.closed).toBe(true);
  });

  it('falls back to leave-then-reconnect when the new connection cannot be made during a drain', async () => {
    const { connection, seen } = await open();
    refusals.push(new ConnectionClosedError(1006, '', 'CONNECT_FAILED'));
    clients[0]!.draining();
    await vi.advanceTimersByTimeAsync(0);
    expect(events).toContain('leave 0');
    expect(seen.reconnecting).toBe(1);
    await vi.advanceTimersByTimeAsync(500);
    expect(seen).toEqual({ reconnecting: 1, reconnected: 1, closed: [] });
    expect(connection.client).toBe(clients[1]);
  });

  it('reconnects (no quiet end) when the draining connection was replaced (4005) and then the new connect failed', async () => {
    const { connection, seen } = await open();
    let release = (): void => undefined;
    connectGate = new Promise((resolve) => (release = resolve));
    refusals.push(new ConnectionClosedError(1006, '', 'CONNECT_FAILED'));
    clients[0]!.draining();
    await vi.advanceTimersByTimeAsync(0);
    clients[0]!.serverClose(CLOSE_CODES.REPLACED, 'replaced');
    connectGate = undefined;
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(seen).toEqual({ reconnecting: 1, reconnected: 0, closed: [] });
    await vi.advanceTimersByTimeAsync(500);
    expect(seen).toEqual({ reconnecting: 1, reconnected: 1, closed: [] });
    expect(connection.client).toBe(clients[1]);
  });
});
