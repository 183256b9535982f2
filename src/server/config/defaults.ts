// Typed defaults: the first layer of the configuration (layers: defaults → file → env → strict → validate → freeze).

import type { Config } from './types.ts';

/** Default values of every key. Keep native-config/config/sfu.defaults.yaml in step. */
export const DEFAULT_CONFIG: Config = {
  server: { host: '127.0.0.1', port: 8080, publicUrl: '', dataDir: '.cache/sfu-data', trustedProxies: [] },
  media: {
    numWorkers: 0,
    listenIp: '127.0.0.1',
    announcedAddress: '',
    basePort: 40000,
    workerLogLevel: 'warn',
    initialAvailableOutgoingBitrate: 1_000_000,
    maxIncomingBitrate: 5_000_000,
    activeSpeakerIntervalMs: 300,
    requestTimeoutMs: 5000,
    maxConsumersPerWorker: 5000,
  },
  conference: { maxParticipants: 100, maxProducersPerParticipant: 4, maxConsumersPerParticipant: 500, maxRebuildAttempts: 3 },
  signalling: {
    maxFrameBytes: 65_536,
    ratePerSecond: 50,
    rateBurst: 100,
    maxProtocolFaults: 20,
    pingIntervalMs: 15_000,
    joinTimeoutMs: 30_000,
    faultDecayMs: 10_000,
    maxPendingFrames: 16,
    maxPendingBytes: 262_144,
  },
  auth: {
    mode: 'matrix',
    jwtAlgorithm: 'EdDSA',
    jwtPrivateKeyFile: '',
    jwtLifetimeMs: 300_000,
    allowedServers: [],
    serverUrlOverrides: {},
    maxBodyBytes: 8192,
    federationTimeoutMs: 5000,
  },
  matrix: {
    homeserverUrl: '',
    userId: '',
    accessToken: '',
    password: '',
    inviteAllowList: [],
    syncTimeoutMs: 30_000,
    reconcileIntervalMs: 60_000,
    membershipGraceMs: 15_000,
    staleAdmissionMs: 120_000,
    adminTokenFile: '',
    adminPollIntervalMs: 1000,
  },
  widget: { homeserverUrls: [] },
  livekit: { enabled: true, maxFrameBytes: 262_144, pingIntervalS: 5, pingTimeoutS: 15 },
  log: { level: 'info', format: 'auto' },
  drain: { gracePeriodMs: 30_000 },
};
