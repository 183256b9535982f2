// Fakes for the metrics unit tests: mediasoup-shaped workers, routers,
// transports, producers and consumers (observer emitters with mediasoup's
// close cascade), a worker pool and a conference registry. Only the members
// src/server/metrics/types.ts and SfuMetrics' Watched* interfaces name exist.

import { EventEmitter } from 'node:events';
import { TypedEmitter } from '../../../../src/common/lib/TypedEmitter.ts';
import type { WatchedSlot } from '../../../../src/server/metrics/SfuMetrics.ts';
import type { WorkerUsage } from '../../../../src/server/metrics/types.ts';

let nextId = 1;
function newId(prefix: string): string {
  return `${prefix}-${nextId++}`;
}

/** A producer or consumer: `stats` is what getStats() resolves to. */
export class FakeRtpObject {
  readonly id = newId('rtp');
  readonly kind: 'audio' | 'video';
  readonly observer = new EventEmitter();
  closed = false;
  stats: object[] = [];
  /** When set, getStats() waits for it. */
  gate: Promise<void> | undefined;
  calls = 0;

  constructor(kind: 'audio' | 'video') {
    this.kind = kind;
  }

  async getStats(): Promise<object[]> {
    this.calls++;
    if (this.gate) await this.gate;
    return this.stats;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.observer.emit('close');
  }
}

export class FakeTransport {
  readonly id = newId('transport');
  readonly observer = new EventEmitter();
  readonly children: FakeRtpObject[] = [];
  closed = false;
  stats: object[] = [{ type: 'webrtc-transport', bytesReceived: 0, bytesSent: 0 }];

  async getStats(): Promise<object[]> {
    return this.stats;
  }

  produce(kind: 'audio' | 'video'): FakeRtpObject {
    const producer = new FakeRtpObject(kind);
    this.children.push(producer);
    this.observer.emit('newproducer', producer);
    return producer;
  }

  consume(kind: 'audio' | 'video'): FakeRtpObject {
    const consumer = new FakeRtpObject(kind);
    this.children.push(consumer);
    this.observer.emit('newconsumer', consumer);
    return consumer;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const child of this.children) child.close();
    this.observer.emit('close');
  }
}

export class FakeRouter {
  readonly observer = new EventEmitter();
  readonly transports: FakeTransport[] = [];
  closed = false;

  createTransport(): FakeTransport {
    const transport = new FakeTransport();
    this.transports.push(transport);
    this.observer.emit('newtransport', transport);
    return transport;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const transport of this.transports) transport.close();
    this.observer.emit('close');
  }
}

export class FakeWorker {
  readonly pid: number;
  readonly observer = new EventEmitter();
  readonly routers: FakeRouter[] = [];
  closed = false;
  usage: WorkerUsage = { ru_utime: 0, ru_stime: 0, ru_maxrss: 0 };

  constructor(pid: number) {
    this.pid = pid;
  }

  async getResourceUsage(): Promise<WorkerUsage> {
    return this.usage;
  }

  createRouter(): FakeRouter {
    const router = new FakeRouter();
    this.routers.push(router);
    this.observer.emit('newrouter', router);
    return router;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const router of this.routers) router.close();
    this.observer.emit('close');
  }
}

/** A WorkerPool-shaped fake: live slots and the observer. */
export class FakePool {
  readonly observer = new TypedEmitter<{ workerStarted: [slot: WatchedSlot]; workerDied: [slotIndex: number, pid: number] }>();
  readonly #slots = new Map<number, WatchedSlot>();

  get slots(): WatchedSlot[] {
    return [...this.#slots.values()];
  }

  /** Starts a worker in `index` (pid 1000 + a counter) and announces it. */
  start(index: number, pid = 1000 + nextId++): FakeWorker {
    const worker = new FakeWorker(pid);
    const slot = { index, worker };
    this.#slots.set(index, slot);
    this.observer.safeEmit('workerStarted', slot);
    return worker;
  }

  /** The worker of `index` dies: WorkerPool emits workerDied, mediasoup closes the object graph. */
  kill(index: number): void {
    const slot = this.#slots.get(index);
    if (!slot) throw new Error(`no worker in slot ${index}`);
    this.#slots.delete(index);
    const worker = slot.worker as FakeWorker;
    this.observer.safeEmit('workerDied', index, worker.pid);
    worker.close();
  }
}

export class FakeConference {
  readonly observer = new TypedEmitter<{
    participantJoined: [participantId: string, edge: 'native' | 'livekit'];
    participantLeft: [participantId: string, edge: 'native' | 'livekit'];
    firstMediaReported: [elapsedMs: number];
    rebuilt: [];
  }>();
  participantCount: number;

  constructor(participantCount = 0) {
    this.participantCount = participantCount;
  }

  join(id: string, edge: 'native' | 'livekit' = 'native'): void {
    this.participantCount++;
    this.observer.safeEmit('participantJoined', id, edge);
  }

  leave(id: string, edge: 'native' | 'livekit' = 'native'): void {
    this.participantCount--;
    this.observer.safeEmit('participantLeft', id, edge);
  }
}

export class FakeConferenceRegistry {
  readonly observer = new TypedEmitter<{ conferenceCreated: [FakeConference]; conferenceClosed: [FakeConference] }>();
  readonly conferences = new Set<FakeConference>();

  list(): FakeConference[] {
    return [...this.conferences];
  }

  create(participants = 0): FakeConference {
    const conference = new FakeConference(participants);
    this.conferences.add(conference);
    this.observer.safeEmit('conferenceCreated', conference);
    return conference;
  }

  close(conference: FakeConference): void {
    this.conferences.delete(conference);
    this.observer.safeEmit('conferenceClosed', conference);
  }
}

/** An inbound-rtp (producer) or outbound-rtp (consumer) stat as mediasoup 3.12 reports it. */
export function rtpStat(
  type: 'inbound-rtp' | 'outbound-rtp',
  ssrc: number,
  totals: Partial<{ byteCount: number; packetCount: number; packetsLost: number; nackCount: number; pliCount: number; firCount: number; score: number }>,
): object {
  return {
    type,
    ssrc,
    kind: 'video',
    mimeType: 'video/VP8',
    byteCount: 0,
    packetCount: 0,
    packetsLost: 0,
    nackCount: 0,
    pliCount: 0,
    firCount: 0,
    score: 10,
    ...totals,
  };
}
