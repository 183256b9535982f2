// The Redis connection of a cluster node (ioredis, the only module importing it). Commands
// fail fast instead of queueing while Redis is down (no offline queue, one retry, a
// command deadline), so a token request gets a clear "cluster unavailable" answer within
// the deadline; the client reconnects on its own (bounded back-off) and `available`
// follows the connection state. Running calls never wait on Redis.

import { Redis } from 'ioredis';
import type { Logger } from '../../common/lib/logger.ts';

/** Options of openRedis(). */
export interface RedisOptions {
  /** redis://[user:password@]host:port[/db] (rediss:// for TLS). */
  readonly url: string;
  /** Deadline of each command. */
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
  /** Connection name shown by CLIENT LIST (node id and role). */
  readonly name: string;
}

/** A Redis connection with its availability. */
export interface RedisLink {
  readonly client: Redis;
  /** Connected and ready for commands. */
  readonly available: boolean;
  /** A second connection for SUBSCRIBE (a subscribed connection takes no other command). */
  duplicate(name: string): RedisLink;
  /** Closes the connection; pending commands fail. Idempotent. */
  close(): void;
}

/** Opens a Redis connection that reconnects forever with back-off (200 ms steps, at most 2 s). */
export function openRedis(options: RedisOptions): RedisLink {
  const log = options.logger.child({ component: 'redis', connection: options.name });
  const client = new Redis(options.url, {
    connectionName: options.name.replace(/[^A-Za-z0-9_.:-]/g, '_'),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(1000, options.commandTimeoutMs),
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    lazyConnect: false,
  });
  let available = false;
  let closed = false;
  let warned = false;
  client.on('ready', () => {
    available = true;
    warned = false;
    log.info('Redis connected');
  });
  client.on('close', () => {
    if (available && !closed) log.warn('Redis connection lost; reconnecting (new joins are refused meanwhile, running calls continue)');
    available = false;
  });
  client.on('error', (error: unknown) => {
    // ioredis emits an error per failed connection attempt: log the first of a series only.
    if (!warned && !closed) log.warn('Redis error', { error });
    warned = true;
  });
  return {
    client,
    get available() {
      return available && !closed;
    },
    duplicate: (name) => openRedis({ ...options, name }),
    close: () => {
      if (closed) return;
      closed = true;
      available = false;
      client.disconnect(false);
    },
  };
}
