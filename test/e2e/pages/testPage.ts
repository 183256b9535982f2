// Test page driven by playwright in test/e2e: exposes `window.sfuTest`
// (testApi.ts) over one SfuClient, publishes the fake camera and microphone,
// and reports receiver and sender stats. Optional XOR transforms prove that
// encoded transforms are attached before negotiation on both sides; the e2ee
// option runs the real SFrame E2EE (E2eeManager) with keys set by the test.

import { E2eeManager } from '../../../src/browser/e2ee/E2eeManager.ts';
import { SfuClient } from '../../../src/browser/client/SfuClient.ts';
import { CallMembership, loginWithPassword, requestSfuAccess } from '../../../src/browser/client/matrix/matrixCall.ts';
import type { LocalPublication } from '../../../src/browser/client/LocalPublication.ts';
import type { EncodedTransforms } from '../../../src/browser/client/types.ts';
import type { ConsumerStat, ProducerStat, SfuTestApi, TestEvent, TestJoinOptions, TransformCounts } from './testApi.ts';

// Runs in a dedicated worker. Bytes before the offset stay clear, as SFrame
// leaves codec headers clear: VP8 needs its 10-byte key-frame header (3 for
// delta frames) readable by the SFU; Opus keeps its TOC byte.
const TRANSFORM_WORKER = `
const counts = { sent: 0, received: 0 };
function xor(frame, clearBytes) {
  const data = new Uint8Array(frame.data);
  for (let i = clearBytes; i < data.length; i++) data[i] ^= 0x5a;
  frame.data = data.buffer;
}
self.onrtctransform = (event) => {
  const { readable, writable, options } = event.transformer;
  const clearBytes = options.kind === 'video' ? 10 : 1;
  readable
    .pipeThrough(new TransformStream({
      transform(frame, controller) {
        xor(frame, clearBytes);
        if (options.side === 'send') counts.sent++; else counts.received++;
        controller.enqueue(frame);
      },
    }))
    .pipeTo(writable)
    .catch((error) => console.debug('transform pipe ended', String(error)));
};
setInterval(() => self.postMessage(counts), 100);
`;

const events: TestEvent[] = [];
const publications: LocalPublication[] = [];
let client: SfuClient | undefined;
let membership: CallMembership | undefined;
let counts: TransformCounts = { sent: 0, received: 0 };
let e2ee: E2eeManager | undefined;

/** Key bytes from the test: exactly 32 hex digits. */
function keyFromHex(hex: string): Uint8Array {
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError('a key is 32 hex digits');
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

function requireE2ee(): E2eeManager {
  if (!e2ee) throw new Error('joined without e2ee');
  return e2ee;
}

function startE2ee(options: TestJoinOptions['e2ee']): E2eeManager {
  const mode = typeof options === 'object' ? options.mode : undefined;
  // The bundle sits next to test.js (src/build/buildClient.ts E2EE_WORKER_FILE).
  const worker = new Worker(new URL('e2ee-worker.js', location.href));
  return new E2eeManager({
    worker,
    ...(mode ? { mode } : {}),
    logger: {
      debug: () => undefined,
      warn: (message, fields) => console.warn(`[e2ee] ${message}`, JSON.stringify(fields ?? {})),
    },
  });
}

function record(name: string, data: Record<string, unknown> = {}): void {
  events.push({ name, atMs: performance.now(), data });
}

function transforms(): EncodedTransforms {
  const url = URL.createObjectURL(new Blob([TRANSFORM_WORKER], { type: 'text/javascript' }));
  const worker = new Worker(url);
  worker.onmessage = (event: MessageEvent<TransformCounts>) => {
    counts = event.data;
  };
  return {
    sender: (sender, info) => {
      sender.transform = new RTCRtpScriptTransform(worker, { side: 'send', kind: info.kind });
    },
    receiver: (receiver, info) => {
      receiver.transform = new RTCRtpScriptTransform(worker, { side: 'recv', kind: info.kind });
    },
  };
}

function attach(track: MediaStreamTrack, consumerId: string): void {
  const element = document.createElement(track.kind === 'video' ? 'video' : 'audio');
  element.id = `consumer-${consumerId}`;
  element.muted = true;
  element.autoplay = true;
  element.srcObject = new MediaStream([track]);
  document.body.append(element);
  // Muted media may autoplay; a refusal only affects rendering, not decoding stats.
  element.play().catch((error: unknown) => console.debug('play() refused', String(error)));
}

async function join(options: TestJoinOptions): Promise<{ participantId: string }> {
  if (client) throw new Error('already joined');
  let url = options.url ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  let query: Record<string, string> = { conference: options.conference, participant: options.participant, name: options.name ?? options.participant };
  if (options.matrix) {
    const { homeserverUrl, user, password, roomId, sfuServiceUrl } = options.matrix;
    const session = await loginWithPassword(homeserverUrl, user, password);
    const focus = { type: 'org.matrix_sfu.mediasoup', sfu_service_url: sfuServiceUrl };
    membership = await CallMembership.join({ session, roomId, focus, delayedLeaveMs: 5000, restartEveryMs: 2000 });
    const access = await requestSfuAccess(session, roomId, focus);
    url = access.url;
    query = { jwt: access.jwt };
  }
  if (options.transform && options.e2ee) throw new Error('transform and e2ee are exclusive');
  if (options.e2ee) e2ee = startE2ee(options.e2ee);
  const joined = await SfuClient.connect({
    url,
    query,
    ...(options.transform ? { transforms: transforms() } : {}),
    ...(options.iceTransportPolicy ? { iceTransportPolicy: options.iceTransportPolicy } : {}),
    ...(e2ee ? e2ee.clientOptions() : {}),
    logger: {
      debug: () => undefined,
      info: (message, fields) => console.info(`[sfu] ${message}`, JSON.stringify(fields ?? {})),
      warn: (message, fields) => console.warn(`[sfu] ${message}`, JSON.stringify(fields ?? {})),
      error: (message, fields) => console.error(`[sfu] ${message}`, JSON.stringify(fields ?? {})),
    },
  });
  client = joined;
  joined.on('trackAdded', (event) => {
    attach(event.track, event.consumerId);
    const { participantId, consumerId, producerId, kind, source, paused } = event;
    record('trackAdded', { participantId, consumerId, producerId, kind, source, paused });
  });
  joined.on('trackRemoved', (event) => {
    document.getElementById(`consumer-${event.consumerId}`)?.remove();
    record('trackRemoved', { ...event });
  });
  joined.on('firstMedia', (event) => record('firstMedia', { ...event }));
  joined.on('mediaPath', (event) => record('mediaPath', { ...event }));
  joined.on('layersChanged', (event) => record('layersChanged', { ...event }));
  joined.on('peerJoined', (peer) => record('peerJoined', { participantId: peer.participantId }));
  joined.on('peerLeft', (event) => record('peerLeft', { ...event }));
  joined.on('reconnecting', (event) => record('reconnecting', { ...event }));
  joined.on('reconnected', () => record('reconnected'));
  joined.on('error', (error) => record('error', { code: error.code, message: error.message }));
  joined.on('closed', (event) => record('closed', { ...event }));
  const result = await joined.join();
  const video = options.video ?? true;
  const audio = options.audio ?? true;
  if (video || audio) {
    const stream = await navigator.mediaDevices.getUserMedia({ video: video === true ? true : video, audio });
    for (const track of stream.getTracks()) {
      const kind = track.kind === 'video' ? 'video' : 'audio';
      const source = kind === 'video' ? 'camera' : 'microphone';
      publications.push(await joined.publish(track, { source, ...(kind === 'video' ? { simulcast: options.simulcast ?? true } : {}) }));
    }
  }
  return { participantId: result.participantId };
}

async function stats(): Promise<ConsumerStat[]> {
  const current = client;
  if (!current) return [];
  const out: ConsumerStat[] = [];
  for (const remote of current.remoteTracks) {
    const report = await current.getConsumerStats(remote.consumerId).catch(() => undefined);
    let framesDecoded = 0;
    let frameWidth = 0;
    let frameHeight = 0;
    let packetsReceived = 0;
    let totalSamplesReceived = 0;
    let concealedSamples = 0;
    report?.forEach((stat: Record<string, unknown>) => {
      if (stat['type'] !== 'inbound-rtp') return;
      framesDecoded += Number(stat['framesDecoded'] ?? 0);
      packetsReceived += Number(stat['packetsReceived'] ?? 0);
      totalSamplesReceived += Number(stat['totalSamplesReceived'] ?? 0);
      concealedSamples += Number(stat['concealedSamples'] ?? 0);
      frameWidth = Math.max(frameWidth, Number(stat['frameWidth'] ?? 0));
      frameHeight = Math.max(frameHeight, Number(stat['frameHeight'] ?? 0));
    });
    const { consumerId, participantId, kind, source } = remote;
    out.push({ consumerId, participantId, kind, source, framesDecoded, frameWidth, frameHeight, packetsReceived, totalSamplesReceived, concealedSamples });
  }
  return out;
}

async function publisherStats(): Promise<ProducerStat[]> {
  const current = client;
  if (!current) return [];
  const out: ProducerStat[] = [];
  for (const publication of current.publications) {
    const report = await current.getPublicationStats(publication).catch(() => undefined);
    report?.forEach((stat: Record<string, unknown>) => {
      if (stat['type'] !== 'outbound-rtp') return;
      out.push({
        source: publication.source,
        kind: publication.kind,
        rid: typeof stat['rid'] === 'string' ? stat['rid'] : undefined,
        frameWidth: Number(stat['frameWidth'] ?? 0),
        framesEncoded: Number(stat['framesEncoded'] ?? 0),
        bytesSent: Number(stat['bytesSent'] ?? 0),
      });
    });
  }
  return out;
}

const api: SfuTestApi = {
  join,
  stats,
  publisherStats,
  async setPreferredLayers(consumerId, spatialLayer, temporalLayer) {
    if (!client) throw new Error('not joined');
    await client.setPreferredLayers(consumerId, spatialLayer, temporalLayer);
  },
  events: () => events.map((event) => ({ ...event })),
  transformCounts: () => ({ ...counts }),
  setOwnKey: (keyIndex, keyHex) => requireE2ee().keyProvider.setOwnKey(keyIndex, keyFromHex(keyHex)),
  setPeerKey: (participantId, keyIndex, keyHex) => requireE2ee().keyProvider.setPeerKey(participantId, keyIndex, keyFromHex(keyHex)),
  removePeer: (participantId) => requireE2ee().keyProvider.removePeer(participantId),
  setFrameFormat: (format) => requireE2ee().setFrameFormat(format),
  e2eeStats: async () => (e2ee ? e2ee.getStats() : undefined),
  e2eeMode: () => e2ee?.mode,
  async leave() {
    await client?.leave();
    e2ee?.close();
    await membership?.leave();
    for (const publication of publications.splice(0)) publication.track.stop();
  },
};

(globalThis as unknown as { sfuTest: SfuTestApi }).sfuTest = api;
document.title = 'sfu test page: ready';
