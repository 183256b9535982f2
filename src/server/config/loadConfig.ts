// Configuration loader: typed defaults, then a YAML/JSON file, then SFU_*
// environment variables (SFU_MEDIA_NUM_WORKERS for media.numWorkers), then a
// strict unknown-key check, then validation reporting every fault with its
// path, then a deep freeze. Nothing else reads process.env.

import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_CONFIG } from './defaults.ts';
import type { Config } from './types.ts';
import { trustedProxyFault } from '../http/clientAddress.ts';
import { turnUrlFaults } from '../turn/turnConfig.ts';

/** Every fault found while loading, each prefixed with its key path. */
export class ConfigError extends Error {
  readonly faults: readonly string[];
  constructor(faults: string[]) {
    super(`invalid configuration:\n  - ${faults.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.faults = faults;
  }
}

/** Inputs of loadConfig(); all optional so tests can pass literal overrides. */
export interface LoadConfigOptions {
  /** Path of a YAML or JSON file. */
  file?: string;
  /** Already-parsed overrides (tests), applied after the file. */
  overrides?: unknown;
  /** Environment to read SFU_* keys (and SFU_*_FILE) from. */
  env?: Record<string, string | undefined>;
}

type Plain = Record<string, unknown>;

/** Keys whose value is a free-form map (replaced wholesale, not merged key by key). */
const FREE_MAPS = new Set(['auth.serverUrlOverrides']);

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSection(path: readonly string[], value: unknown): value is Plain {
  return isPlain(value) && !FREE_MAPS.has(path.join('.'));
}

/** SFU_MEDIA_NUM_WORKERS for ['media','numWorkers']. */
export function envNameFor(path: readonly string[]): string {
  return 'SFU_' + path.map((part) => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** Lists the leaf paths of the defaults (the only keys that exist). */
export function configKeyPaths(node: unknown = DEFAULT_CONFIG, prefix: string[] = []): string[][] {
  if (!isSection(prefix, node)) return [prefix];
  return Object.entries(node).flatMap(([key, child]) => configKeyPaths(child, [...prefix, key]));
}

function merge(target: Plain, source: unknown, path: string[], faults: string[]): void {
  if (source === undefined || source === null) return;
  if (!isPlain(source)) {
    faults.push(`${path.join('.') || '(root)'}: must be a mapping`);
    return;
  }
  for (const [key, value] of Object.entries(source)) {
    const here = [...path, key];
    if (!(key in target)) {
      faults.push(`${here.join('.')}: unknown key`);
      continue;
    }
    const current = target[key];
    if (isSection(here, current)) {
      if (!isPlain(value)) {
        faults.push(`${here.join('.')}: must be a mapping`);
        continue;
      }
      merge(current, value, here, faults);
    } else {
      target[key] = value;
    }
  }
}

function coerceEnv(raw: string, like: unknown): unknown {
  if (Array.isArray(like)) {
    return raw.trim() === '' ? [] : raw.split(',').map((item) => item.trim());
  }
  if (isPlain(like)) {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      return raw;
    }
  }
  if (typeof like === 'number') {
    const n = Number(raw);
    return raw.trim() === '' || Number.isNaN(n) ? raw : n;
  }
  if (typeof like === 'boolean') {
    if (raw === 'true') return true;
    if (raw === 'false') return false;
    return raw;
  }
  return raw;
}

function applyEnv(target: Plain, env: Record<string, string | undefined>, faults: string[]): void {
  const known = new Set<string>();
  for (const path of configKeyPaths()) {
    const name = envNameFor(path);
    known.add(name);
    known.add(`${name}_FILE`);
    let raw = env[name];
    const fileName = env[`${name}_FILE`];
    if (fileName !== undefined) {
      if (raw !== undefined) {
        faults.push(`${path.join('.')}: both ${name} and ${name}_FILE are set`);
        continue;
      }
      try {
        raw = readFileSync(fileName, 'utf8').trimEnd();
      } catch (error) {
        faults.push(`${path.join('.')}: cannot read ${name}_FILE (${(error as Error).message})`);
        continue;
      }
    }
    if (raw === undefined) continue;
    let node: Plain = target;
    for (const part of path.slice(0, -1)) node = node[part] as Plain;
    const leaf = path[path.length - 1]!;
    node[leaf] = coerceEnv(raw, node[leaf]);
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('SFU_') && !known.has(name) && !IGNORED_ENV.has(name)) {
      faults.push(`environment ${name}: unknown key`);
    }
  }
}

/** SFU_* variables that are not config keys (consumed by the launcher). */
const IGNORED_ENV = new Set(['SFU_CONFIG']);

function checkTypes(value: unknown, like: unknown, path: string[], faults: string[]): void {
  if (Array.isArray(like)) {
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      faults.push(`${path.join('.')}: must be a list of strings`);
    }
    return;
  }
  if (FREE_MAPS.has(path.join('.'))) {
    if (!isPlain(value) || !Object.values(value).every((item) => typeof item === 'string')) {
      faults.push(`${path.join('.')}: must be a mapping of strings`);
    }
    return;
  }
  if (isPlain(like)) {
    for (const key of Object.keys(like)) checkTypes((value as Plain)[key], like[key], [...path, key], faults);
    return;
  }
  if (typeof value !== typeof like) {
    faults.push(`${path.join('.')}: must be a ${typeof like}, got ${JSON.stringify(value)}`);
  }
}

type Rule = [path: string, ok: (config: Config) => boolean, message: string];

const isPort = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 65_535;
const isPositiveInt = (n: number): boolean => Number.isInteger(n) && n > 0;

const RULES: Rule[] = [
  ['server.port', (c) => isPort(c.server.port), 'must be an integer 0..65535'],
  ['server.host', (c) => c.server.host.length > 0, 'must not be empty'],
  [
    'server.publicUrl',
    (c) => c.server.publicUrl === '' || /^https?:\/\/[^\s/]+(\/.*)?$/.test(c.server.publicUrl),
    'must be empty or an http(s) URL',
  ],
  ['server.trustedProxies', (c) => c.server.trustedProxies.every((entry) => trustedProxyFault(entry) === undefined), 'entries must be IP addresses or CIDRs (10.0.0.0/8, ::1)'],
  ['media.numWorkers', (c) => Number.isInteger(c.media.numWorkers) && c.media.numWorkers >= 0 && c.media.numWorkers <= 256, 'must be an integer 0..256 (0 = one per core)'],
  ['media.listenIp', (c) => isIP(c.media.listenIp) !== 0, 'must be an IPv4 or IPv6 address'],
  ['media.basePort', (c) => Number.isInteger(c.media.basePort) && c.media.basePort >= 1024 && c.media.basePort <= 65_000, 'must be an integer 1024..65000'],
  ['media.workerLogLevel', (c) => ['debug', 'warn', 'error', 'none'].includes(c.media.workerLogLevel), 'must be debug, warn, error or none'],
  ['media.initialAvailableOutgoingBitrate', (c) => isPositiveInt(c.media.initialAvailableOutgoingBitrate), 'must be a positive integer'],
  ['media.maxIncomingBitrate', (c) => Number.isInteger(c.media.maxIncomingBitrate) && c.media.maxIncomingBitrate >= 0, 'must be an integer >= 0'],
  ['media.activeSpeakerIntervalMs', (c) => Number.isInteger(c.media.activeSpeakerIntervalMs) && c.media.activeSpeakerIntervalMs >= 100, 'must be an integer >= 100'],
  ['conference.maxParticipants', (c) => isPositiveInt(c.conference.maxParticipants), 'must be a positive integer'],
  ['conference.maxProducersPerParticipant', (c) => isPositiveInt(c.conference.maxProducersPerParticipant), 'must be a positive integer'],
  ['conference.maxConsumersPerParticipant', (c) => isPositiveInt(c.conference.maxConsumersPerParticipant), 'must be a positive integer'],
  ['conference.maxRebuildAttempts', (c) => isPositiveInt(c.conference.maxRebuildAttempts) && c.conference.maxRebuildAttempts <= 10, 'must be an integer 1..10'],
  ['conference.spreadConsumersPerWorker', (c) => Number.isInteger(c.conference.spreadConsumersPerWorker) && c.conference.spreadConsumersPerWorker >= 0, 'must be an integer >= 0 (0 = one router per conference)'],
  ['conference.spreadWorkerLoad', (c) => typeof c.conference.spreadWorkerLoad === 'number' && c.conference.spreadWorkerLoad > 0 && c.conference.spreadWorkerLoad <= 1, 'must be a number in (0, 1]'],
  ['media.requestTimeoutMs', (c) => Number.isInteger(c.media.requestTimeoutMs) && c.media.requestTimeoutMs >= 100, 'must be an integer >= 100'],
  ['media.maxConsumersPerWorker', (c) => Number.isInteger(c.media.maxConsumersPerWorker) && c.media.maxConsumersPerWorker >= 0, 'must be an integer >= 0 (0 = unlimited)'],
  ['media.maxWorkerLoad', (c) => typeof c.media.maxWorkerLoad === 'number' && c.media.maxWorkerLoad >= 0 && c.media.maxWorkerLoad <= 1, 'must be a number 0..1 (0 = off)'],
  ['media.workerLoadIntervalMs', (c) => Number.isInteger(c.media.workerLoadIntervalMs) && c.media.workerLoadIntervalMs >= 100 && c.media.workerLoadIntervalMs <= 60_000, 'must be an integer 100..60000'],
  ['signalling.faultDecayMs', (c) => Number.isInteger(c.signalling.faultDecayMs) && c.signalling.faultDecayMs >= 100, 'must be an integer >= 100'],
  ['signalling.maxPendingFrames', (c) => isPositiveInt(c.signalling.maxPendingFrames), 'must be a positive integer'],
  ['signalling.maxPendingBytes', (c) => Number.isInteger(c.signalling.maxPendingBytes) && c.signalling.maxPendingBytes >= 1024, 'must be an integer >= 1024'],
  ['signalling.maxFrameBytes', (c) => Number.isInteger(c.signalling.maxFrameBytes) && c.signalling.maxFrameBytes >= 1024 && c.signalling.maxFrameBytes <= 1_048_576, 'must be an integer 1024..1048576'],
  ['signalling.ratePerSecond', (c) => isPositiveInt(c.signalling.ratePerSecond), 'must be a positive integer'],
  ['signalling.rateBurst', (c) => isPositiveInt(c.signalling.rateBurst), 'must be a positive integer'],
  ['signalling.maxProtocolFaults', (c) => isPositiveInt(c.signalling.maxProtocolFaults), 'must be a positive integer'],
  ['signalling.pingIntervalMs', (c) => Number.isInteger(c.signalling.pingIntervalMs) && c.signalling.pingIntervalMs >= 1000, 'must be an integer >= 1000'],
  ['signalling.joinTimeoutMs', (c) => Number.isInteger(c.signalling.joinTimeoutMs) && c.signalling.joinTimeoutMs >= 1000, 'must be an integer >= 1000'],
  ['auth.mode', (c) => c.auth.mode === 'none' || c.auth.mode === 'matrix', "must be 'none' or 'matrix'"],
  ['auth.jwtLifetimeMs', (c) => Number.isInteger(c.auth.jwtLifetimeMs) && c.auth.jwtLifetimeMs >= 10_000 && c.auth.jwtLifetimeMs <= 300_000, 'must be an integer 10000..300000 (at most 5 min)'],
  ['auth.jwtAlgorithm', (c) => c.auth.jwtAlgorithm === 'EdDSA' || c.auth.jwtAlgorithm === 'ES256', "must be 'EdDSA' or 'ES256'"],
  ['auth.serverUrlOverrides', (c) => Object.values(c.auth.serverUrlOverrides).every((u) => /^https?:\/\/[^\s/]+\/?$/.test(u)), 'values must be http(s) base URLs without a path'],
  ['auth.maxBodyBytes', (c) => Number.isInteger(c.auth.maxBodyBytes) && c.auth.maxBodyBytes >= 512 && c.auth.maxBodyBytes <= 65_536, 'must be an integer 512..65536'],
  ['auth.federationTimeoutMs', (c) => Number.isInteger(c.auth.federationTimeoutMs) && c.auth.federationTimeoutMs >= 100, 'must be an integer >= 100'],
  ['matrix.homeserverUrl', (c) => c.matrix.homeserverUrl === '' || /^https?:\/\/[^\s/]+(\/.*)?$/.test(c.matrix.homeserverUrl), 'must be empty or an http(s) URL'],
  ['matrix.userId', (c) => c.matrix.userId === '' || /^@[^:\s]+:[^\s]+$/.test(c.matrix.userId), 'must be empty or a Matrix user id (@name:server)'],
  ['matrix.syncTimeoutMs', (c) => Number.isInteger(c.matrix.syncTimeoutMs) && c.matrix.syncTimeoutMs >= 1000, 'must be an integer >= 1000'],
  ['matrix.reconcileIntervalMs', (c) => Number.isInteger(c.matrix.reconcileIntervalMs) && (c.matrix.reconcileIntervalMs === 0 || c.matrix.reconcileIntervalMs >= 5000), 'must be 0 (off) or an integer >= 5000'],
  ['matrix.membershipGraceMs', (c) => Number.isInteger(c.matrix.membershipGraceMs) && c.matrix.membershipGraceMs >= 0 && c.matrix.membershipGraceMs <= 120_000, 'must be an integer 0..120000'],
  ['matrix.staleAdmissionMs', (c) => Number.isInteger(c.matrix.staleAdmissionMs) && c.matrix.staleAdmissionMs >= 0 && c.matrix.staleAdmissionMs <= 600_000, 'must be an integer 0..600000'],
  ['matrix.adminPollIntervalMs', (c) => Number.isInteger(c.matrix.adminPollIntervalMs) && c.matrix.adminPollIntervalMs >= 250 && c.matrix.adminPollIntervalMs <= 60_000, 'must be an integer 250..60000'],
  ['widget.homeserverUrls', (c) => c.widget.homeserverUrls.every((u) => /^https?:\/\/[^\s/]+\/?$/.test(u)), 'entries must be http(s) base URLs without a path'],
  ['livekit.maxFrameBytes', (c) => Number.isInteger(c.livekit.maxFrameBytes) && c.livekit.maxFrameBytes >= 1024 && c.livekit.maxFrameBytes <= 4_194_304, 'must be an integer 1024..4194304'],
  ['livekit.pingIntervalS', (c) => Number.isInteger(c.livekit.pingIntervalS) && c.livekit.pingIntervalS >= 1 && c.livekit.pingIntervalS <= 60, 'must be an integer 1..60'],
  ['livekit.pingTimeoutS', (c) => Number.isInteger(c.livekit.pingTimeoutS) && c.livekit.pingTimeoutS > c.livekit.pingIntervalS && c.livekit.pingTimeoutS <= 120, 'must be an integer above livekit.pingIntervalS, at most 120'],
  ['livekit.resumeGraceMs', (c) => Number.isInteger(c.livekit.resumeGraceMs) && c.livekit.resumeGraceMs >= 0 && c.livekit.resumeGraceMs <= 60_000, 'must be an integer 0..60000 (a resume must come within the token reuse window)'],
  ['livekit.dynacastPauseMs', (c) => Number.isInteger(c.livekit.dynacastPauseMs) && c.livekit.dynacastPauseMs >= 0 && c.livekit.dynacastPauseMs <= 60_000, 'must be an integer 0..60000'],
  ['turn.urls', (c) => turnUrlFaults(c.turn.urls).length === 0, 'entries must be turn:, turns:, stun: or stuns: URLs (host[:port][?transport=udp|tcp])'],
  ['turn.credentialLifetimeMs', (c) => Number.isInteger(c.turn.credentialLifetimeMs) && c.turn.credentialLifetimeMs >= 60_000 && c.turn.credentialLifetimeMs <= 86_400_000, 'must be an integer 60000..86400000 (1 min to 24 h)'],
  ['turn.relayAddresses', (c) => c.turn.relayAddresses.every((ip) => isIP(ip) !== 0), 'entries must be IP addresses'],
  ['log.level', (c) => ['debug', 'info', 'warn', 'error'].includes(c.log.level), 'must be debug, info, warn or error'],
  ['log.format', (c) => ['auto', 'json', 'pretty'].includes(c.log.format), 'must be auto, json or pretty'],
  ['drain.gracePeriodMs', (c) => Number.isInteger(c.drain.gracePeriodMs) && c.drain.gracePeriodMs >= 0, 'must be an integer >= 0'],
  ['cluster.redisUrl', (c) => c.cluster.redisUrl === '' || /^rediss?:\/\/[^\s]+$/.test(c.cluster.redisUrl), 'must be empty or a redis:// or rediss:// URL'],
  ['cluster.nodeId', (c) => /^[A-Za-z0-9_.:-]{0,64}$/.test(c.cluster.nodeId), 'must be at most 64 characters of A-Z a-z 0-9 _ . : -'],
  ['cluster.advertisedUrl', (c) => c.cluster.advertisedUrl === '' || /^https?:\/\/[^\s/]+\/?$/.test(c.cluster.advertisedUrl), 'must be empty or an http(s) base URL without a path'],
  ['cluster.heartbeatMs', (c) => Number.isInteger(c.cluster.heartbeatMs) && c.cluster.heartbeatMs >= 100 && c.cluster.heartbeatMs <= 10_000, 'must be an integer 100..10000'],
  ['cluster.nodeTimeoutMs', (c) => Number.isInteger(c.cluster.nodeTimeoutMs) && c.cluster.nodeTimeoutMs >= 2 * c.cluster.heartbeatMs && c.cluster.nodeTimeoutMs <= 60_000, 'must be an integer from 2 x cluster.heartbeatMs to 60000'],
  ['cluster.roomClaimMs', (c) => Number.isInteger(c.cluster.roomClaimMs) && c.cluster.roomClaimMs >= c.cluster.nodeTimeoutMs, 'must be an integer >= cluster.nodeTimeoutMs'],
  ['cluster.keyPrefix', (c) => /^[A-Za-z0-9_.:-]{1,32}$/.test(c.cluster.keyPrefix), 'must be 1..32 characters of A-Z a-z 0-9 _ . : -'],
  ['cluster.participantsPerNode', (c) => Number.isInteger(c.cluster.participantsPerNode) && c.cluster.participantsPerNode >= 0, 'must be an integer >= 0 (0 = no budget)'],
  ['cluster.pipeListenIp', (c) => c.cluster.pipeListenIp === '' || isIP(c.cluster.pipeListenIp) !== 0, 'must be empty or an IPv4 or IPv6 address'],
  ['cluster.pipeAnnouncedAddress', (c) => c.cluster.pipeAnnouncedAddress === '' || isIP(c.cluster.pipeAnnouncedAddress) !== 0, 'must be empty or an IP address'],
  [
    'cluster.pipeMinPort',
    (c) =>
      (c.cluster.pipeMinPort === 0 && c.cluster.pipeMaxPort === 0) ||
      (Number.isInteger(c.cluster.pipeMinPort) && Number.isInteger(c.cluster.pipeMaxPort) && c.cluster.pipeMinPort >= 1024 && c.cluster.pipeMaxPort <= 65535 && c.cluster.pipeMinPort <= c.cluster.pipeMaxPort),
    'with cluster.pipeMaxPort: both 0 (mediasoup picks) or a range within 1024..65535',
  ],
  ['cluster.commandTimeoutMs', (c) => Number.isInteger(c.cluster.commandTimeoutMs) && c.cluster.commandTimeoutMs >= 100 && c.cluster.commandTimeoutMs <= 10_000, 'must be an integer 100..10000'],
];

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '0:0:0:0:0:0:0:0']);

/**
 * Rules that relate several keys; each message names every key involved. They run only
 * when every key passed its own rule, so they can rely on valid values.
 */
const CROSS_RULES: Rule[] = [
  [
    'server.publicUrl',
    (c) => c.server.publicUrl !== '' || !WILDCARDS.has(c.server.host),
    `must be set when server.host is a wildcard address (0.0.0.0 or ::): clients cannot reach "http://0.0.0.0", and it is the JWT issuer and the service URL in call memberships`,
  ],
  [
    'media.announcedAddress',
    (c) => c.media.announcedAddress !== '' || !WILDCARDS.has(c.media.listenIp),
    'must be set when media.listenIp is a wildcard address (0.0.0.0 or ::): ICE candidates would announce an address no client can reach',
  ],
  [
    'auth.allowedServers',
    // An empty homeserverUrl is the embedded development homeserver, which fills the list itself.
    (c) => c.auth.mode !== 'matrix' || c.matrix.homeserverUrl === '' || c.auth.allowedServers.length > 0,
    'must list at least one homeserver (or "*") with auth.mode matrix: otherwise every /sfu/get is refused',
  ],
  [
    'matrix.userId',
    (c) => c.auth.mode !== 'matrix' || c.matrix.homeserverUrl === '' || c.matrix.userId !== '',
    'must be set when matrix.homeserverUrl is set with auth.mode matrix (the SFU account)',
  ],
  [
    'matrix.accessToken',
    (c) => c.auth.mode !== 'matrix' || c.matrix.homeserverUrl === '' || c.matrix.accessToken !== '' || c.matrix.password !== '',
    'or matrix.password must be set when matrix.homeserverUrl is set with auth.mode matrix',
  ],
  [
    'turn.sharedSecretFile',
    (c) => c.turn.urls.length === 0 || c.turn.sharedSecretFile !== '',
    'must be set when turn.urls is set: the TURN server checks credentials made with this shared secret',
  ],
  [
    'cluster.pipeAnnouncedAddress',
    (c) => c.cluster.redisUrl === '' || c.cluster.pipeAnnouncedAddress !== '' || !WILDCARDS.has(pipeListenIp(c)) || isIP(c.media.announcedAddress) !== 0,
    'must be set in cluster mode when the pipe transports listen on a wildcard address (cluster.pipeListenIp, else media.listenIp) and media.announcedAddress is not an IP: other nodes could not send media to "0.0.0.0"',
  ],
];

/** The IP inter-node pipe transports listen on. */
export function pipeListenIp(config: Config): string {
  return config.cluster.pipeListenIp || config.media.listenIp;
}

/** The IP other nodes send pipe media to. */
export function pipeAnnouncedAddress(config: Config): string {
  if (config.cluster.pipeAnnouncedAddress) return config.cluster.pipeAnnouncedAddress;
  if (isIP(config.media.announcedAddress) !== 0) return config.media.announcedAddress;
  return pipeListenIp(config);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Reads a config file (YAML or JSON by extension; YAML accepts JSON too). */
export function readConfigFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  // uniqueKeys: a key given twice is a mistake, refused rather than silently last-wins.
  return parseYaml(text, { uniqueKeys: true, strict: true });
}

/** Builds the frozen configuration or throws a ConfigError listing every fault. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const faults: string[] = [];
  const draft = structuredClone(DEFAULT_CONFIG) as unknown as Plain;
  if (options.file !== undefined) {
    try {
      merge(draft, readConfigFile(options.file), [], faults);
    } catch (error) {
      faults.push(`${options.file}: ${(error as Error).message}`);
    }
  }
  merge(draft, structuredClone(options.overrides), [], faults);
  applyEnv(draft, options.env ?? {}, faults);
  checkTypes(draft, DEFAULT_CONFIG, [], faults);
  if (faults.length === 0) {
    for (const [path, ok, message] of RULES) {
      if (!ok(draft as unknown as Config)) faults.push(`${path}: ${message}`);
    }
    if (faults.length === 0) {
      for (const [path, ok, message] of CROSS_RULES) {
        if (!ok(draft as unknown as Config)) faults.push(`${path}: ${message}`);
      }
    }
  }
  if (faults.length > 0) throw new ConfigError(faults);
  return deepFreeze(draft as unknown as Config);
}

/** Workers to start: numWorkers, or one per core when it is 0. */
export function effectiveWorkerCount(config: Config): number {
  return config.media.numWorkers > 0 ? config.media.numWorkers : Math.max(1, cpus().length);
}
