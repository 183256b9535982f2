// This node's membership in a cluster of SFU nodes sharing one Redis (cluster.redisUrl).
//
// - Registry: every heartbeatMs the node writes `{prefix}node:{id}` (its URLs, load,
//   draining flag) with a time-to-live of nodeTimeoutMs, and keeps its id in
//   `{prefix}nodes`. A node whose key expired is dead: noticed within nodeTimeoutMs.
// - Placement: a room is served by one node. `route(roomId)` reads the room's claim
//   `{prefix}room:{roomId}` and, when it is missing or names a dead or draining node
//   (whose participants were told to move), claims it for
//   the least-loaded live node that is not draining (one Lua script: compare and set,
//   no home-made consensus). The serving node refreshes the claims of its live
//   conferences with every heartbeat (and claims them again after Redis restarted
//   empty); an unused claim lapses after roomClaimMs.
// - Spanning: a node lists the rooms it serves in `{prefix}roomnodes:{roomId}` (sorted set,
//   score = when the entry lapses). When the room's node is at its participant budget
//   (cluster.participantsPerNode), route() sends the joiner to another node serving the room,
//   or to the least-loaded node, which then serves the room too: the Cascade links the
//   room's nodes with pipe transports.
// - Delegations: a /get_token delay delegation for a room served elsewhere is published
//   to that node's channel `{prefix}delegations:{id}`, so the node the member connects to
//   keeps its delayed leave alive. The cascade's signalling uses `{prefix}cascade:{id}`.
// Redis down: route() rejects (the token endpoints answer 503 "cluster unavailable"),
// heartbeats are skipped and resume when Redis returns; running calls are untouched.

import { hostname } from 'node:os';
import type { Logger } from '../../common/lib/logger.ts';
import { TypedEmitter } from '../../common/lib/TypedEmitter.ts';
import type { RoomTarget } from '../auth/tokenEndpoint.ts';
import { openRedis, type RedisLink } from './redis.ts';

/** What a node publishes about itself. */
export interface NodeInfo {
  readonly id: string;
  /** Base URL of this node for clients (http(s)://host[:port]). */
  readonly url: string;
  readonly draining: boolean;
  readonly participants: number;
  readonly conferences: number;
  readonly workers: number;
  /** Wall clock of the heartbeat (ms since the epoch). */
  readonly atMs: number;
}

/** What the node reports about itself at each heartbeat. */
export interface LocalLoad {
  readonly participants: number;
  readonly conferences: number;
  readonly workers: number;
  readonly draining: boolean;
  /** Ids (Matrix room ids) of the conferences this node serves now. */
  readonly roomIds: readonly string[];
}

/** Options of ClusterNode.start(). */
export interface ClusterNodeOptions {
  readonly redisUrl: string;
  readonly nodeId: string;
  /** This node's base URL for clients. */
  readonly url: string;
  readonly keyPrefix: string;
  readonly heartbeatMs: number;
  readonly nodeTimeoutMs: number;
  readonly roomClaimMs: number;
  /** Deadline of each Redis command. */
  readonly commandTimeoutMs: number;
  /** Participants a node takes before a room spans to another node; 0 = no budget (a room stays on one node). */
  readonly participantsPerNode?: number;
  readonly localLoad: () => LocalLoad;
  readonly logger: Logger;
}

export type ClusterNodeEvents = {
  /** A delay delegation published to this node by the node that issued the token. */
  delegation: [payload: unknown];
  /** A cascade message published to this node by another node (unparsed). */
  cascade: [payload: unknown];
  /** The set of live nodes changed (ids, this node included when registered). */
  nodesChanged: [ids: readonly string[]];
};

/** Thrown when Redis cannot answer: the caller refuses new joins with a clear error. */
export class ClusterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClusterUnavailableError';
  }
}

// KEYS[1] room claim; ARGV: candidate id, claim ttl ms, node key prefix.
// Keeps a claim whose node is alive and not draining, else claims the room for the candidate.
const CLAIM_ROOM = `
local owner = redis.call('GET', KEYS[1])
if owner then
  local record = redis.call('GET', ARGV[3] .. owner)
  if record then
    local ok, info = pcall(cjson.decode, record)
    if ok and type(info) == 'table' and info['draining'] ~= true then return owner end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`;

// KEYS: room claims; ARGV[1] node id, ARGV[2] ttl ms. Extends the claims this node holds, and
// claims again the rooms it serves whose claim is missing (Redis restarted empty); a room
// another node claimed meanwhile is left to it.
const REFRESH_CLAIMS = `
local n = 0
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]); n = n + 1
  elseif not owner then redis.call('SET', key, ARGV[1], 'PX', ARGV[2]); n = n + 1 end
end
return n
`;

// KEYS[1] bucket; ARGV: emission interval ms, burst tolerance ms. GCRA on Redis' own clock:
// returns 1 when the request fits, 0 when it is over the limit.
const TAKE_TOKEN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then return 0 end
local next = tat + interval
redis.call('SET', KEYS[1], next, 'PX', math.ceil(next - now) + 1000)
return 1
`;

/** Default node id: host name and HTTP port. */
export function defaultNodeId(port: number): string {
  return `${hostname()}:${port}`;
}

/** Parses a node record; undefined for anything malformed (never trusted blindly). */
export function parseNodeInfo(text: string | null): NodeInfo | undefined {
  if (text === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const count = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (typeof v['id'] !== 'string' || typeof v['url'] !== 'string' || !/^https?:\/\//.test(v['url'])) return undefined;
  if (typeof v['draining'] !== 'boolean' || !count(v['participants']) || !count(v['conferences']) || !count(v['workers'])) return undefined;
  if (typeof v['atMs'] !== 'number') return undefined;
  return {
    id: v['id'],
    url: v['url'],
    draining: v['draining'],
    participants: v['participants'],
    conferences: v['conferences'],
    workers: Math.max(1, v['workers']),
    atMs: v['atMs'],
  };
}

/** The least-loaded live node that takes new rooms (participants per worker, then conferences, then id). */
export function pickNode(nodes: readonly NodeInfo[]): NodeInfo | undefined {
  return [...nodes]
    .filter((node) => !node.draining)
    .sort(
      (a, b) =>
        a.participants / a.workers - b.participants / b.workers || a.conferences - b.conferences || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    )[0];
}

/** A node at or over the participant budget (cluster.participantsPerNode; 0 = none) takes no more participants. */
export function atBudget(node: NodeInfo, budget: number): boolean {
  return budget > 0 && node.participants >= budget;
}

/**
 * The node a room is claimed for when it has no live owner that takes it (new, dead or
 * draining owner): preferably a node already serving the room with room to spare (its
 * participants there stay), else the least-loaded node.
 */
export function placementCandidate(nodes: readonly NodeInfo[], serving: ReadonlySet<string>, budget: number): NodeInfo | undefined {
  return pickNode(nodes.filter((node) => serving.has(node.id) && !atBudget(node, budget))) ?? pickNode(nodes);
}

/**
 * Where a joiner of a room owned by `owner` goes: the owner while it is under the budget;
 * else the least-loaded other node already serving the room with room to spare; else the
 * least-loaded node with room to spare (which then serves the room too: it spans); else the
 * owner anyway (every node is full; its admission control has the last word).
 */
export function servingNode(owner: NodeInfo, nodes: readonly NodeInfo[], serving: ReadonlySet<string>, budget: number): NodeInfo {
  if (!atBudget(owner, budget)) return owner;
  const open = nodes.filter((node) => !node.draining && !atBudget(node, budget));
  return pickNode(open.filter((node) => serving.has(node.id))) ?? pickNode(open) ?? owner;
}

/** ws(s) URLs of a node's base URL. */
export function routeUrls(url: string): { signallingUrl: string; liveKitUrl: string } {
  const base = url.replace(/\/$/, '').replace(/^http/, 'ws');
  return { signallingUrl: `${base}/ws`, liveKitUrl: base };
}

/** This node in the cluster (see the header comment). */
export class ClusterNode extends TypedEmitter<ClusterNodeEvents> {
  readonly id: string;
  readonly #options: ClusterNodeOptions;
  readonly #redis: RedisLink;
  readonly #subscriber: RedisLink;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #liveIds: readonly string[] = [];
  #liveUrls: readonly string[] = [];
  #readyAtMs = performance.now();
  #closed = false;
  #beating = false;
  #soon: NodeJS.Timeout | undefined;

  /** Connects, subscribes to this node's delegation channel and starts heartbeating. */
  static start(options: ClusterNodeOptions): ClusterNode {
    const node = new ClusterNode(options);
    node.#startHeartbeat();
    return node;
  }

  private constructor(options: ClusterNodeOptions) {
    super();
    this.id = options.nodeId;
    this.#options = options;
    this.#log = options.logger.child({ component: 'cluster', nodeId: options.nodeId });
    const redisOptions = { url: options.redisUrl, commandTimeoutMs: options.commandTimeoutMs, logger: options.logger };
    this.#redis = openRedis({ ...redisOptions, name: `sfu:${options.nodeId}` });
    this.#subscriber = openRedis({ ...redisOptions, name: `sfu:${options.nodeId}:sub` });
    const channel = this.#delegationChannel(this.id);
    const cascadeChannel = this.#cascadeChannel(this.id);
    this.#subscriber.client.on('ready', () => {
      this.#subscriber.client
        .subscribe(channel, cascadeChannel)
        .catch((error: unknown) => this.#log.warn('could not subscribe to the delegation and cascade channels', { error }));
    });
    this.#subscriber.client.on('message', (from: string, message: string) => {
      const event = from === channel ? 'delegation' : from === cascadeChannel ? 'cascade' : undefined;
      if (!event) return;
      let payload: unknown;
      try {
        payload = JSON.parse(message);
      } catch {
        this.#log.warn('unparseable message from another node ignored', { channel: event });
        return;
      }
      this.safeEmit(event, payload);
    });
  }

  /** The command connection (ClusterJtis shares it). */
  get client(): RedisLink['client'] {
    return this.#redis.client;
  }

  /** Redis answers now. */
  get available(): boolean {
    return this.#redis.available;
  }

  /** Live node ids seen at the last heartbeat. */
  get liveNodeIds(): readonly string[] {
    return this.#liveIds;
  }

  /**
   * Whether the registry may still be filling up: Redis (re)connected less than nodeTimeoutMs
   * ago, so a node missing from it may just not have written its heartbeat to a restarted,
   * empty Redis yet. Its absence means death only after that.
   */
  get registrySettling(): boolean {
    return performance.now() - this.#readyAtMs < this.#options.nodeTimeoutMs;
  }

  /** nodeTimeoutMs: how long a node may be silent before it counts as dead. */
  get nodeTimeoutMs(): number {
    return this.#options.nodeTimeoutMs;
  }

  /** Base URLs of the live nodes seen at the last heartbeat (this one's own included once registered). */
  get liveNodeUrls(): readonly string[] {
    return this.#liveUrls.length > 0 ? this.#liveUrls : [this.#options.url];
  }

  /** Live nodes and their load, read from Redis. Rejects with ClusterUnavailableError. */
  nodes(): Promise<NodeInfo[]> {
    return this.#command('reading the node registry', async (redis) => {
      const ids = await redis.smembers(this.#key('nodes'));
      if (ids.length === 0) return [];
      const records = await redis.mget(ids.map((id) => this.#nodeKey(id)));
      const live: NodeInfo[] = [];
      const dead: string[] = [];
      ids.forEach((id, i) => {
        const info = parseNodeInfo(records[i] ?? null);
        if (info && info.id === id) live.push(info);
        else dead.push(id);
      });
      if (dead.length > 0) await redis.srem(this.#key('nodes'), ...dead);
      return live;
    });
  }

  /**
   * The node serving `roomId`: its live claim, or a new claim for the least-loaded live
   * node that takes new rooms (this one if it is the only one). Rejects with
   * ClusterUnavailableError when Redis cannot answer or no node can serve.
   */
  async route(roomId: string): Promise<RoomTarget> {
    const nodes = await this.nodes();
    // A room that must move (its node died or drains) goes preferably to a node already serving it.
    const serving = new Set(await this.roomNodes(roomId));
    const budget = this.#options.participantsPerNode ?? 0;
    const candidate = placementCandidate(nodes, serving, budget);
    if (!candidate) throw new ClusterUnavailableError('no live node takes new rooms');
    const owner = String(
      await this.#command('claiming the room', (redis) => redis.eval(CLAIM_ROOM, 1, this.#roomKey(roomId), candidate.id, this.#options.roomClaimMs, this.#key('node:'))),
    );
    const info = nodes.find((node) => node.id === owner);
    if (!info) throw new ClusterUnavailableError(`room claimed by node ${owner}, which is not live`);
    if (owner === candidate.id && owner !== this.id) this.#log.debug('room placed on another node', { roomId, owner });
    const chosen = servingNode(info, nodes, serving, budget);
    if (chosen !== info) this.#log.debug('room spans to another node', { roomId, owner, node: chosen.id });
    return { nodeId: chosen.id, local: chosen.id === this.id, ...routeUrls(chosen.url) };
  }

  /** Ids of the live nodes that serve `roomId` now (this one included). Rejects with ClusterUnavailableError. */
  roomNodes(roomId: string): Promise<string[]> {
    return this.#command('reading the nodes of a room', (redis) => redis.zrangebyscore(this.#roomNodesKey(roomId), Date.now(), '+inf'));
  }

  /** Lists this node among the nodes serving `roomId` at once (its conference was just created). */
  async announceRoom(roomId: string): Promise<void> {
    await this.#command('announcing a room', (redis) => redis.zadd(this.#roomNodesKey(roomId), Date.now() + this.#options.roomClaimMs, this.id));
  }

  /** Removes this node from the nodes serving `roomId` (its conference closed). */
  async leaveRoom(roomId: string): Promise<void> {
    await this.#command('leaving a room', (redis) => redis.zrem(this.#roomNodesKey(roomId), this.id));
  }

  /** Publishes a cascade message to node `nodeId`. Rejects with ClusterUnavailableError. */
  async sendCascade(nodeId: string, payload: unknown): Promise<void> {
    await this.#command('publishing a cascade message', (redis) => redis.publish(this.#cascadeChannel(nodeId), JSON.stringify(payload)));
  }

  /**
   * Takes one token from the cluster-wide bucket `scope:key` (`rate` per second, `burst`
   * deep). Resolves true when over the limit. Rejects with ClusterUnavailableError.
   */
  async rateLimited(scope: string, key: string, rate: { ratePerSecond: number; burst: number }): Promise<boolean> {
    const intervalMs = 1000 / rate.ratePerSecond;
    const toleranceMs = intervalMs * Math.max(0, rate.burst - 1);
    const fits = await this.#command('the shared rate limit', (redis) => redis.eval(TAKE_TOKEN, 1, this.#key(`rate:${scope}:${key}`), intervalMs, toleranceMs));
    return Number(fits) !== 1;
  }

  /** Publishes `payload` to node `nodeId`'s delegation channel. */
  async sendDelegation(nodeId: string, payload: unknown): Promise<void> {
    await this.#command('publishing a delegation', (redis) => redis.publish(this.#delegationChannel(nodeId), JSON.stringify(payload)));
  }

  /** Writes the heartbeat shortly (coalesced): the node's participant count changed, placement should know. */
  heartbeatSoon(): void {
    if (this.#soon || this.#closed) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      void this.heartbeatNow();
    }, 50);
    this.#soon.unref();
  }

  /** Writes the heartbeat now (e.g. the drain started: no new rooms here from this moment). */
  async heartbeatNow(): Promise<void> {
    await this.#heartbeat().catch((error: unknown) => this.#log.debug('heartbeat skipped', { error }));
  }

  /** Stops heartbeating and removes this node's record (a clean leave; a crash lets it expire). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#soon) clearTimeout(this.#soon);
    if (this.#redis.available) {
      await this.#redis.client
        .multi()
        .del(this.#nodeKey(this.id))
        .srem(this.#key('nodes'), this.id)
        .exec()
        .catch((error: unknown) => this.#log.debug('node record not removed on close', { error }));
    }
    this.#redis.close();
    this.#subscriber.close();
    this.removeAllListeners();
  }

  #startHeartbeat(): void {
    const beat = (): void => {
      if (this.#beating || this.#closed) return;
      this.#beating = true;
      this.#heartbeat()
        .catch((error: unknown) => this.#log.debug('heartbeat skipped', { error }))
        .finally(() => (this.#beating = false));
    };
    this.#redis.client.on('ready', () => {
      this.#readyAtMs = performance.now();
      beat();
    });
    this.#timer = setInterval(beat, this.#options.heartbeatMs);
    this.#timer.unref();
  }

  async #heartbeat(): Promise<void> {
    if (!this.#redis.available) return;
    const load = this.#options.localLoad();
    const info: NodeInfo = {
      id: this.id,
      url: this.#options.url,
      draining: load.draining,
      participants: load.participants,
      conferences: load.conferences,
      workers: load.workers,
      atMs: Date.now(),
    };
    const redis = this.#redis.client;
    await redis
      .multi()
      .set(this.#nodeKey(this.id), JSON.stringify(info), 'PX', this.#options.nodeTimeoutMs)
      .sadd(this.#key('nodes'), this.id)
      .exec();
    if (load.roomIds.length > 0) {
      await redis.eval(REFRESH_CLAIMS, load.roomIds.length, ...load.roomIds.map((roomId) => this.#roomKey(roomId)), this.id, this.#options.roomClaimMs);
      const now = Date.now();
      const listed = redis.multi();
      for (const roomId of load.roomIds) {
        listed.zadd(this.#roomNodesKey(roomId), now + this.#options.roomClaimMs, this.id);
        listed.zremrangebyscore(this.#roomNodesKey(roomId), '-inf', now);
        listed.pexpire(this.#roomNodesKey(roomId), this.#options.roomClaimMs * 2);
      }
      await listed.exec();
    }
    const live = await this.nodes();
    this.#liveUrls = [...new Set(live.map((node) => node.url))].sort();
    const ids = live.map((node) => node.id).sort();
    if (ids.join('\n') !== this.#liveIds.join('\n')) {
      this.#log.info('cluster nodes changed', { nodes: ids });
      this.#liveIds = ids;
      this.safeEmit('nodesChanged', ids);
    }
  }

  #requireRedis(): RedisLink['client'] {
    if (this.#closed) throw new ClusterUnavailableError('cluster node closed');
    if (!this.#redis.available) throw new ClusterUnavailableError('Redis is unavailable');
    return this.#redis.client;
  }

  #unavailable(what: string, error: unknown): ClusterUnavailableError {
    return new ClusterUnavailableError(`${what}: Redis did not answer`, { cause: error });
  }

  /** Runs one Redis command (or script) for `what`; rejects with ClusterUnavailableError when Redis is down or does not answer. */
  async #command<T>(what: string, run: (redis: RedisLink['client']) => Promise<T>): Promise<T> {
    const redis = this.#requireRedis();
    try {
      return await run(redis);
    } catch (error) {
      throw this.#unavailable(`${what} failed`, error);
    }
  }

  #key(suffix: string): string {
    return `${this.#options.keyPrefix}${suffix}`;
  }

  #nodeKey(id: string): string {
    return this.#key(`node:${id}`);
  }

  #roomKey(roomId: string): string {
    return this.#key(`room:${roomId}`);
  }

  #delegationChannel(id: string): string {
    return this.#key(`delegations:${id}`);
  }

  #cascadeChannel(id: string): string {
    return this.#key(`cascade:${id}`);
  }

  #roomNodesKey(roomId: string): string {
    return this.#key(`roomnodes:${roomId}`);
  }
}

/** A delay delegation as published between nodes (a parsed value, or undefined when malformed). */
export function parseDelegation(value: unknown):
  | { roomId: string; userId: string; deviceId: string; delayId: string; delayTimeoutMs: number; csApiUrl: string }
  | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const text = (x: unknown, max: number): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;
  if (!text(v['roomId'], 255) || !text(v['userId'], 255) || !text(v['deviceId'], 255) || !text(v['delayId'], 255) || !text(v['csApiUrl'], 1024)) {
    return undefined;
  }
  const timeout = v['delayTimeoutMs'];
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0) return undefined;
  return { roomId: v['roomId'], userId: v['userId'], deviceId: v['deviceId'], delayId: v['delayId'], delayTimeoutMs: timeout, csApiUrl: v['csApiUrl'] };
}
