// Test side of the real TURN server: starts coturn (src/server/dev/coturn) in a fresh temp
// dir on free loopback ports, and a minimal TURN client that asks it for an allocation over
// UDP with long-term credentials (RFC 5766 Allocate: an unauthenticated request for the
// realm and nonce, then the signed one), so a test can prove coturn accepts our credentials
// and refuses expired or forged ones without a browser. startTurnNode() runs an SFU node that
// hands that coturn's URLs out and records which address each transport's media came from.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coturnInstalled, startCoturn, type CoturnInstance, type StartCoturnOptions } from '../../src/server/dev/coturn/CoturnProcess.ts';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger, type LogLevel } from '../../src/common/lib/logger.ts';
import { TEST_PAGE_DIR, TEST_PAGE_PREFIX } from '../e2e/pages/buildTestPage.ts';
import { freeMediaBasePort } from './ports.ts';

export { coturnInstalled, type CoturnInstance };

/** A started coturn whose stop() also deletes its temp dir. */
export async function startTestCoturn(options: Omit<StartCoturnOptions, 'dataDir'> = {}): Promise<CoturnInstance> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sfu-test-coturn-'));
  let instance: CoturnInstance;
  try {
    instance = await startCoturn({ ...options, dataDir });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    ...instance,
    logTail: instance.logTail,
    stop: async () => {
      await instance.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const MAGIC_COOKIE = 0x2112a442;
const ALLOCATE_REQUEST = 0x0003;
const ALLOCATE_SUCCESS = 0x0103;
const CREATE_PERMISSION_REQUEST = 0x0008;
const CREATE_PERMISSION_SUCCESS = 0x0108;
const ATTR = {
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
  xorPeerAddress: 0x0012,
} as const;

function attribute(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

/** An Allocate request for a UDP relay; signed with `key` when given (MESSAGE-INTEGRITY last). */
function allocateRequest(attributes: Buffer[], key?: Buffer): Buffer {
  return stunRequest(ALLOCATE_REQUEST, [attribute(ATTR.requestedTransport, Buffer.from([17, 0, 0, 0])), ...attributes], key);
}

/** A CreatePermission request (RFC 5766 §9) for an IPv4 peer, signed with `key`. */
function createPermissionRequest(peerIp: string, attributes: Buffer[], key: Buffer): Buffer {
  const peer = Buffer.alloc(8);
  peer.writeUInt16BE(0x0001, 0);
  peer.writeUInt16BE(0 ^ (MAGIC_COOKIE >>> 16), 2);
  const [a, b, c, d] = peerIp.split('.').map(Number) as [number, number, number, number];
  peer.writeUInt32BE((((a << 24) | (b << 16) | (c << 8) | d) ^ MAGIC_COOKIE) >>> 0, 4);
  return stunRequest(CREATE_PERMISSION_REQUEST, [attribute(ATTR.xorPeerAddress, peer), ...attributes], key);
}

function stunRequest(type: number, attributes: Buffer[], key?: Buffer): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(type, 0);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  randomBytes(12).copy(header, 8);
  const body = Buffer.concat(attributes);
  if (!key) {
    header.writeUInt16BE(body.length, 2);
    return Buffer.concat([header, body]);
  }
  header.writeUInt16BE(body.length + 24, 2);
  const integrity = createHmac('sha1', key).update(Buffer.concat([header, body])).digest();
  return Buffer.concat([header, body, attribute(ATTR.messageIntegrity, integrity)]);
}

function attributesOf(message: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let offset = 20;
  while (offset + 4 <= message.length) {
    const type = message.readUInt16BE(offset);
    const length = message.readUInt16BE(offset + 2);
    if (!out.has(type)) out.set(type, message.subarray(offset + 4, offset + 4 + length));
    offset += 4 + Math.ceil(length / 4) * 4;
  }
  return out;
}

/** One UDP socket (coturn ties the nonce to the client's address and port), request by request. */
function udpExchanger(host: string, port: number, timeoutMs: number): { send(request: Buffer): Promise<Buffer>; close(): void } {
  const socket = createSocket('udp4');
  const waiting: Array<(message: Buffer) => void> = [];
  socket.on('message', (message) => waiting.shift()?.(message));
  socket.on('error', () => undefined);
  return {
    send: (request) =>
      new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no TURN answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((message) => {
          clearTimeout(timer);
          resolve(message);
        });
        socket.send(request, port, host);
      }),
    close: () => socket.close(),
  };
}

/** What coturn answered to a signed Allocate. */
export type AllocateResult =
  | {
      readonly ok: true;
      readonly relayedIp: string;
      readonly relayedPort: number;
      /** CreatePermission answer per asked peer: 0 = granted, otherwise the error code (403 = peer refused). */
      readonly permissions: Readonly<Record<string, number>>;
    }
  | { readonly ok: false; readonly errorCode: number };

/**
 * Asks the TURN server at host:port for a UDP relay with `username` / `password` (the
 * long-term credential mechanism; with `use-auth-secret` the password is the REST HMAC).
 */
export async function turnAllocate(host: string, port: number, username: string, password: string, options: { permissionPeers?: readonly string[]; timeoutMs?: number } = {}): Promise<AllocateResult> {
  const udp = udpExchanger(host, port, options.timeoutMs ?? 3000);
  let answer: Buffer;
  const permissions: Record<string, number> = {};
  try {
    const challenge = attributesOf(await udp.send(allocateRequest([])));
    const realm = challenge.get(ATTR.realm);
    const nonce = challenge.get(ATTR.nonce);
    if (!realm || !nonce) throw new Error('the TURN server sent no realm and nonce to an unauthenticated Allocate');
    const key = createHash('md5').update(`${username}:${realm.toString()}:${password}`).digest();
    const signed = [attribute(ATTR.username, Buffer.from(username)), attribute(ATTR.realm, realm), attribute(ATTR.nonce, nonce)];
    answer = await udp.send(allocateRequest(signed, key));
    if (answer.readUInt16BE(0) === ALLOCATE_SUCCESS) {
      for (const peer of options.permissionPeers ?? []) {
        const reply = await udp.send(createPermissionRequest(peer, signed, key));
        const error = attributesOf(reply).get(ATTR.errorCode);
        permissions[peer] = reply.readUInt16BE(0) === CREATE_PERMISSION_SUCCESS ? 0 : error ? (error[2]! & 7) * 100 + error[3]! : -1;
      }
    }
  } finally {
    udp.close();
  }
  const attributes = attributesOf(answer);
  if (answer.readUInt16BE(0) === ALLOCATE_SUCCESS) {
    const relayed = attributes.get(ATTR.xorRelayedAddress);
    if (!relayed) throw new Error('Allocate succeeded without XOR-RELAYED-ADDRESS');
    const relayedPort = relayed.readUInt16BE(2) ^ (MAGIC_COOKIE >>> 16);
    const ip = (relayed.readUInt32BE(4) ^ MAGIC_COOKIE) >>> 0;
    return { ok: true, relayedIp: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'), relayedPort, permissions };
  }
  const error = attributes.get(ATTR.errorCode);
  return { ok: false, errorCode: error ? (error[2]! & 7) * 100 + error[3]! : 0 };
}

/** A dev-admission node with TURN on, and what its transports' selected ICE tuples came from. */
export interface TurnNode {
  readonly node: SfuNode;
  readonly workerPids: number[];
  readonly pageUrl: string;
  /** Remote address of every selected ICE tuple, in order (mediasoup `iceselectedtuplechange`). */
  readonly remoteAddresses: string[];
}

/**
 * Starts an SfuNode (dev admission, one worker, free ports) whose join replies carry `urls`
 * of `coturn` with fresh credentials (none when `urls` is empty), and records the remote
 * address of each transport's selected ICE tuple. The test page must be built already
 * (buildTestPage()).
 */
export async function startTurnNode(log: string[], coturn: CoturnInstance, urls: readonly string[], level: LogLevel = 'debug'): Promise<TurnNode> {
  const config = loadConfig({
    overrides: {
      server: { port: 0 },
      auth: { mode: 'none' },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...(urls.length > 0 ? { turn: { urls: [...urls], sharedSecretFile: coturn.secretFile, relayAddresses: [coturn.relayIp] } } : {}),
    },
  });
  const node = await SfuNode.start({ config, logger: createLogger({ level, sink: (line) => log.push(line) }), staticDirs: [[TEST_PAGE_PREFIX, TEST_PAGE_DIR]] });
  const remoteAddresses: string[] = [];
  const workerPids = node.pool.slots.map((slot) => slot.worker.pid);
  const watch = (worker: (typeof node.pool.slots)[number]['worker']): void => {
    worker.observer.on('newrouter', (router) =>
      router.observer.on('newtransport', (transport) => {
        const observer = transport.observer as unknown as { on(event: 'iceselectedtuplechange', listener: (tuple: { remoteIp?: string }) => void): void };
        observer.on('iceselectedtuplechange', (tuple) => {
          if (tuple.remoteIp) remoteAddresses.push(tuple.remoteIp);
        });
      }),
    );
  };
  for (const slot of node.pool.slots) watch(slot.worker);
  node.pool.observer.on('workerStarted', (slot) => {
    workerPids.push(slot.worker.pid);
    watch(slot.worker);
  });
  return { node, workerPids, pageUrl: `http://127.0.0.1:${node.port}${TEST_PAGE_PREFIX}test.html`, remoteAddresses };
}
