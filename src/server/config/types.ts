// The SFU's typed configuration. Every key has a default in defaults.ts and a
// commented line in native-config/config/sfu.defaults.yaml.

import type { LogLevel } from '../../common/lib/logger.ts';

/** Admission mode. `none` admits anyone (development only, warned loudly). */
export type AuthMode = 'none' | 'matrix';

/** The whole configuration, frozen after loading. */
export interface Config {
  readonly server: {
    /** Address the HTTP/WebSocket server binds. */
    readonly host: string;
    /** Port of the HTTP/WebSocket server (0 = any free port). */
    readonly port: number;
    /** Public base URL clients use (https://sfu.example.org); empty = derived from host/port. */
    readonly publicUrl: string;
    /** Directory for state this node writes (the development JWT key, used JWT ids). */
    readonly dataDir: string;
    /**
     * Addresses or CIDRs of reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are
     * believed (src/server/http/clientAddress.ts); empty = the socket's peer is the client.
     */
    readonly trustedProxies: readonly string[];
  };
  readonly media: {
    /** mediasoup workers; 0 = one per CPU core. */
    readonly numWorkers: number;
    /** IP the WebRtcServers listen on. */
    readonly listenIp: string;
    /** Address announced in ICE candidates; empty = listenIp. */
    readonly announcedAddress: string;
    /** First UDP/TCP port; worker i uses basePort + i for both. */
    readonly basePort: number;
    /** mediasoup worker log level. */
    readonly workerLogLevel: 'debug' | 'warn' | 'error' | 'none';
    /** Initial outgoing bitrate estimate per WebRtcTransport (bps). */
    readonly initialAvailableOutgoingBitrate: number;
    /** Max incoming bitrate per send transport (bps); 0 = unlimited. */
    readonly maxIncomingBitrate: number;
    /** Interval of the active-speaker observer. */
    readonly activeSpeakerIntervalMs: number;
    /** Deadline of every mediasoup worker request; a worker that misses it is avoided until it answers. */
    readonly requestTimeoutMs: number;
    /** Consumers one worker may carry (more are refused with LIMIT_EXCEEDED); 0 = unlimited. */
    readonly maxConsumersPerWorker: number;
    /** Admission control: CPU load of a worker (share of one core, 0-1) at or above which joins on it are refused with OVERLOADED; 0 = off. */
    readonly maxWorkerLoad: number;
    /** How often worker CPU load is sampled (from /proc/PID/stat) for admission control and sfu_worker_load_ratio. */
    readonly workerLoadIntervalMs: number;
  };
  readonly conference: {
    /** Participants allowed in one conference. */
    readonly maxParticipants: number;
    /** Producers a participant may have at once. */
    readonly maxProducersPerParticipant: number;
    /** Consumers one participant may hold (more are refused with LIMIT_EXCEEDED). */
    readonly maxConsumersPerParticipant: number;
    /** Routers tried when a conference's worker died, before it closes with 4011. */
    readonly maxRebuildAttempts: number;
    /** A worker with this many consumers is full for placement; new participants go to another worker. 0 = never spread. */
    readonly spreadConsumersPerWorker: number;
    /** A worker at this CPU share (0-1) is full for placement. */
    readonly spreadWorkerLoad: number;
  };
  readonly signalling: {
    /** Largest accepted WebSocket frame; larger frames are refused before JSON.parse. */
    readonly maxFrameBytes: number;
    /** Sustained requests per second per connection. */
    readonly ratePerSecond: number;
    /** Burst of requests allowed above the sustained rate. */
    readonly rateBurst: number;
    /** Protocol faults tolerated per connection before it is closed (4002). */
    readonly maxProtocolFaults: number;
    /** WebSocket ping period; a peer missing two pongs is dropped. */
    readonly pingIntervalMs: number;
    /** Time a connection may stay open without joining. */
    readonly joinTimeoutMs: number;
    /** One protocol fault or rate-limit strike is forgiven per this many ms. */
    readonly faultDecayMs: number;
    /** Frames that may wait for admission; more close the connection (4003). */
    readonly maxPendingFrames: number;
    /** Bytes of frames that may wait for admission; more close the connection (4003). */
    readonly maxPendingBytes: number;
  };
  readonly auth: {
    /** Admission mode; `none` is a development switch only and must be set explicitly. */
    readonly mode: AuthMode;
    /** JWT signature algorithm (pinned on verify). */
    readonly jwtAlgorithm: 'EdDSA' | 'ES256';
    /** Private key file (PKCS#8 PEM or JWK JSON); empty = a development key generated once in server.dataDir. */
    readonly jwtPrivateKeyFile: string;
    /** JWT lifetime; at most 300 000 ms (5 min). */
    readonly jwtLifetimeMs: number;
    /** Homeservers whose users may ask for a token; `*` allows any. */
    readonly allowedServers: readonly string[];
    /** Server name → federation base URL, bypassing .well-known discovery (private DNS, tests). */
    readonly serverUrlOverrides: Readonly<Record<string, string>>;
    /** Largest accepted /sfu/get body. */
    readonly maxBodyBytes: number;
    /** Timeout of each federation request (well-known, userinfo). */
    readonly federationTimeoutMs: number;
  };
  readonly matrix: {
    /** Client-server API base URL of the SFU account's homeserver; empty with auth.mode matrix = embedded dev homeserver. */
    readonly homeserverUrl: string;
    /** The SFU account (bot) user id. */
    readonly userId: string;
    /** Access token of the SFU account (secret; SFU_MATRIX_ACCESS_TOKEN_FILE). */
    readonly accessToken: string;
    /** Password, used to log in when no access token is given (secret). */
    readonly password: string;
    /** Servers whose users' invites the SFU account accepts; `*` allows any. */
    readonly inviteAllowList: readonly string[];
    /** Sync long-poll timeout. */
    readonly syncTimeoutMs: number;
    /**
     * Period of the backstop that re-reads `/rooms/{id}/state` of every room with sessions
     * (each run jittered by ±20 %); 0 = off. Lower finds missed state sooner, costs requests.
     */
    readonly reconcileIntervalMs: number;
    /**
     * Time a connected session keeps its place after its membership was emptied or expired
     * (`membership-ended` / `membership-expired`), so its client can re-publish it (homeserver
     * outage: delayed leaves fire on return). 0 = evict at once.
     */
    readonly membershipGraceMs: number;
    /**
     * While the sync is stale, how long returning sessions may still be admitted on the
     * last synced state; after that (and for new sessions at once) admission answers "try again".
     */
    readonly staleAdmissionMs: number;
    /**
     * File holding the access token of a homeserver server admin (Synapse). When set, the SFU
     * reads the state of rooms its account has not joined through the admin API
     * (`/_synapse/admin/v1/rooms/{id}/state`), so calls work in any room the homeserver is in
     * without inviting the SFU account. Empty = only rooms the SFU account joined.
     */
    readonly adminTokenFile: string;
    /** Period between admin API reads of a room with live sessions (eviction delay of such rooms). */
    readonly adminPollIntervalMs: number;
  };
  readonly widget: {
    /**
     * Extra homeserver base URLs the call widget may connect to (its CSP connect-src), beyond
     * matrix.homeserverUrl and the auth.serverUrlOverrides values: the homeservers of every
     * user who opens the widget from this node.
     */
    readonly homeserverUrls: readonly string[];
  };
  readonly livekit: {
    /**
     * Serve as a MatrixRTC `livekit` focus: POST /get_token, the LiveKit signalling edge at
     * /rtc, and LiveKit transports naming server.publicUrl count as this SFU.
     */
    readonly enabled: boolean;
    /** Largest accepted LiveKit signalling frame (protobuf); larger frames close the socket. */
    readonly maxFrameBytes: number;
    /** Ping interval and timeout told to LiveKit clients in the join response (seconds). */
    readonly pingIntervalS: number;
    readonly pingTimeoutS: number;
    /**
     * How long a LiveKit participant whose signalling socket dropped (no leave, no eviction)
     * stays in its conference, so the client can resume on a new socket without the others
     * seeing it leave. 0 disables resume (clients reconnect fully).
     */
    readonly resumeGraceMs: number;
    /** Dynacast: how long a publisher keeps a simulcast layer nobody needs before it is told to stop it. */
    readonly dynacastPauseMs: number;
  };
  readonly turn: {
    /**
     * TURN (and STUN) URLs handed to every admitted client with fresh credentials, e.g.
     * `turn:turn.example.org:3478?transport=udp`, `turns:turn.example.org:443?transport=tcp`;
     * empty = no TURN (clients reach the media ports directly or not at all).
     */
    readonly urls: readonly string[];
    /** File holding the secret shared with the TURN server (coturn `static-auth-secret`); required with urls. */
    readonly sharedSecretFile: string;
    /** How long an issued credential stays valid; an allocation cannot be refreshed after it (the call then needs a reconnect). */
    readonly credentialLifetimeMs: number;
    /** Addresses the TURN server relays from (coturn relay-ip / external-ip), which mark a relayed ICE tuple; empty = the IP hosts of urls. */
    readonly relayAddresses: readonly string[];
  };
  readonly log: {
    /** Lowest level written. */
    readonly level: LogLevel;
    /**
     * Line format: `json` (JSON lines), `pretty` (readable text), or `auto`: pretty when
     * stdout is a terminal, JSON otherwise (services, containers, pipes).
     */
    readonly format: 'auto' | 'json' | 'pretty';
  };
  readonly drain: {
    /** Time between SIGTERM and closing remaining sessions. */
    readonly gracePeriodMs: number;
  };
  readonly cluster: {
    /** redis:// URL of the cluster's Redis (secret: may carry a password); empty = single node, no Redis. */
    readonly redisUrl: string;
    /** This node's id in the cluster; empty = host name and HTTP port. */
    readonly nodeId: string;
    /** This node's own base URL for clients (https://sfu1.example.org); empty = the bound address. */
    readonly advertisedUrl: string;
    /** Period of the node's heartbeat in Redis. */
    readonly heartbeatMs: number;
    /** A node silent this long is dead (its record expires). */
    readonly nodeTimeoutMs: number;
    /** A room placed on a node with nobody connected yet goes back to placement after this long. */
    readonly roomClaimMs: number;
    /** Prefix of every Redis key and channel (several clusters can share one Redis). */
    readonly keyPrefix: string;
    /** Deadline of each Redis command. */
    readonly commandTimeoutMs: number;
    /**
     * Participants this node takes (all rooms) before a room it serves spans to another node
     * (cascade over pipe transports); 0 = no budget: a room stays on one node, except while a
     * draining or dead node's participants move.
     */
    readonly participantsPerNode: number;
    /** IP the inter-node pipe transports listen on; empty = media.listenIp. */
    readonly pipeListenIp: string;
    /** Address other nodes send pipe media to; empty = media.announcedAddress, else pipeListenIp. */
    readonly pipeAnnouncedAddress: string;
    /** UDP port range of the pipe transports (both 0 = mediasoup's default range, 10000-59999). */
    readonly pipeMinPort: number;
    readonly pipeMaxPort: number;
  };
}
