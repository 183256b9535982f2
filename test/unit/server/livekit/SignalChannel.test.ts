// SignalChannel, the replaceable socket of a LiveKit session, with a fake `ws` socket: a drop
// is reported once and starts nothing by itself; hold() ends in onGraceExpired unless a new
// socket is attached first; the replaced socket's late frames and close are ignored; sends go
// to the current socket only; a silent client is terminated after the ping timeout.

import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { Ping } from '@livekit/protocol';
import { SignalChannel } from '../../../../src/server/livekit/SignalChannel.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  readonly sent: Uint8Array[] = [];
  closedWith: number | undefined;
  terminated = false;
  send(data: Uint8Array, _options: unknown, callback?: (error?: Error) => void): void {
    this.sent.push(data);
    callback?.();
  }
  close(code: number): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  terminate(): void {
    this.terminated = true;
    this.drop();
  }
  /** The peer went away: ws emits close. */
  drop(): void {
    this.readyState = 3;
    this.emit('close', 1006, Buffer.alloc(0));
  }
}

describe('SignalChannel', () => {
  let frames: string[];
  let dropped: number;
  let expired: number;
  let first: FakeSocket;
  let channel: SignalChannel;
  beforeEach(() => {
    vi.useFakeTimers();
    frames = [];
    dropped = 0;
    expired = 0;
    first = new FakeSocket();
    channel = new SignalChannel({
      socket: first as unknown as WebSocket,
      pingIntervalS: 5,
      pingTimeoutS: 15,
      logger: silentLogger(),
      onFrame: (data) => frames.push(data.toString()),
      onDropped: () => dropped++,
      onGraceExpired: () => expired++,
    });
  });
  afterEach(() => {
    channel.close(1000, 'test over');
    vi.useRealTimers();
  });

  it('reports a drop once, then ends the grace with onGraceExpired when nobody resumes', () => {
    first.drop();
    expect(dropped).toBe(1);
    expect(channel.attached).toBe(false);
    channel.hold(2000);
    vi.advanceTimersByTime(1999);
    expect(expired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(expired).toBe(1);
  });

  it('attach() within the grace cancels it; the old socket\'s late frames and close are ignored; sends reach only the new socket', () => {
    first.drop();
    channel.hold(2000);
    channel.send({ case: 'pong', value: 1n });
    expect(first.sent).toHaveLength(0);
    const second = new FakeSocket();
    channel.attach(second as unknown as WebSocket);
    vi.advanceTimersByTime(5000);
    expect(expired).toBe(0);
    expect(channel.attached).toBe(true);
    first.emit('message', Buffer.from('late'), true);
    first.emit('close', 1006, Buffer.alloc(0));
    expect(frames).toEqual([]);
    expect(dropped).toBe(1);
    second.emit('message', Buffer.from('fresh'), true);
    expect(frames).toEqual(['fresh']);
    channel.send({ case: 'pongResp', value: new Ping({ timestamp: 1n }) as never });
    expect(second.sent).toHaveLength(1);
  });

  it('a resume while the old socket still looks open closes the old one without reporting a drop', () => {
    const second = new FakeSocket();
    channel.attach(second as unknown as WebSocket);
    expect(first.closedWith).toBe(1000);
    first.emit('close', 1000, Buffer.alloc(0));
    expect(dropped).toBe(0);
  });

  it('terminates a client silent for the ping timeout (a drop), and pings keep it alive', () => {
    vi.advanceTimersByTime(10_000);
    channel.touch();
    vi.advanceTimersByTime(10_000);
    expect(first.terminated).toBe(false);
    vi.advanceTimersByTime(10_000);
    expect(first.terminated).toBe(true);
    expect(dropped).toBe(1);
  });

  it('close() closes the socket, stops the grace and drops later sends', () => {
    first.drop();
    channel.hold(1000);
    channel.close(1000, 'bye');
    vi.advanceTimersByTime(5000);
    expect(expired).toBe(0);
    const late = new FakeSocket();
    channel.attach(late as unknown as WebSocket);
    channel.send({ case: 'pong', value: 2n });
    expect(late.sent).toHaveLength(0);
  });
});
