// Runs a real TURN server (Debian's coturn, `turnserver`) as a child process for the
// embedded dev mode (`npm start`) and the tests: writes its own config file into a fresh
// data dir (never the system service or /etc/turnserver.conf), listens on loopback only on
// free ports, relays from a second loopback address (127.0.0.2 by default, so the SFU can
// tell a relayed tuple from a direct one), and allows relaying to the SFU's address alone:
// coturn refuses loopback peers by default, so the config allows them and then denies all of
// 127.0.0.0/8 except the addresses given. TURN over TLS uses a self-signed certificate made
// with the openssl CLI. Credentials are the TURN REST scheme (`use-auth-secret`).

import { execFile } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnLogged } from '../ChildProcessRun.ts';

/** Debian's coturn binary (package `coturn`). */
export const TURNSERVER_PATH = '/usr/bin/turnserver';

/** Realm of the development TURN server. */
export const DEV_TURN_REALM = 'sfu.test';

/** Relay ports coturn may allocate (one per allocation); below the ephemeral range. */
const RELAY_PORT_COUNT = 200;
const PORT_RANGE_START = 20_000;
const PORT_RANGE_END = 32_000;
const READY_POLL_INTERVAL_MS = 100;

/** Options of {@link startCoturn}. */
export interface StartCoturnOptions {
  /** Empty (or missing) directory for config, certificate, secret, database and log. */
  readonly dataDir: string;
  /** Address coturn listens on. Default 127.0.0.1. */
  readonly listenIp?: string;
  /** Address coturn relays from (the address the SFU sees). Default 127.0.0.2. */
  readonly relayIp?: string;
  /** Loopback peers coturn may relay to: the SFU's media address. Default ['127.0.0.1']. */
  readonly allowedPeerIps?: readonly string[];
  /** Shared secret (TURN REST). Default: 32 random bytes, hex. */
  readonly secret?: string;
  /** Make a self-signed certificate and listen for TURN over TLS. Default true. */
  readonly tls?: boolean;
  /** Default {@link TURNSERVER_PATH}. */
  readonly turnserverPath?: string;
  /** Writes another config than {@link renderCoturnConfig} from the same values (tests of the production example). */
  readonly renderConfig?: (values: CoturnConfigValues) => string;
  /** Give up when the listeners do not accept connections by then. Default 20 000 ms. */
  readonly startTimeoutMs?: number;
  /** SIGTERM, then SIGKILL after this long. Default 5 000 ms. */
  readonly stopTimeoutMs?: number;
}

/** A running coturn. */
export interface CoturnInstance {
  /** UDP and TCP port (`listening-port`). */
  readonly port: number;
  /** TLS port (`tls-listening-port`), when `tls` was on. */
  readonly tlsPort: number | undefined;
  /**
   * base64 SHA-256 of the self-signed certificate's SubjectPublicKeyInfo, when `tls` was on:
   * what Chromium's `--ignore-certificate-errors-spki-list` takes to accept it.
   */
  readonly certificateSpkiSha256: string | undefined;
  readonly listenIp: string;
  readonly relayIp: string;
  readonly realm: string;
  /** The shared secret (also in `secretFile`, mode 0600). */
  readonly secret: string;
  readonly secretFile: string;
  /** `turn:…?transport=udp`, `turn:…?transport=tcp` and (with tls) `turns:…?transport=tcp`. */
  readonly urls: { readonly udp: string; readonly tcp: string; readonly tls: string | undefined };
  readonly dataDir: string;
  readonly logPath: string;
  readonly pid: number;
  /** Resolves when the process exits. */
  readonly exited: Promise<void>;
  logTail(lineCount?: number): string;
  /** SIGTERM, then SIGKILL; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Values of the rendered turnserver.conf. */
export interface CoturnConfigValues {
  readonly listenIp: string;
  readonly relayIp: string;
  readonly port: number;
  readonly tlsPort: number | undefined;
  readonly minRelayPort: number;
  readonly maxRelayPort: number;
  readonly realm: string;
  readonly secret: string;
  readonly allowedPeerIps: readonly string[];
  readonly dataDir: string;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
}

/** The loopback-only development config (pure). */
export function renderCoturnConfig(values: CoturnConfigValues): string {
  const lines = [
    '# Generated for development and tests: loopback only, never the system service.',
    `listening-ip=${values.listenIp}`,
    `relay-ip=${values.relayIp}`,
    `listening-port=${values.port}`,
    `min-port=${values.minRelayPort}`,
    `max-port=${values.maxRelayPort}`,
    `realm=${values.realm}`,
    'use-auth-secret',
    `static-auth-secret=${values.secret}`,
    'fingerprint',
    'no-cli',
    'no-software-attribute',
    'no-multicast-peers',
    'no-rfc5780',
    'no-stun-backward-compatibility',
    // Loopback peers are refused unless allowed; then every loopback address but the SFU's is denied again.
    'allow-loopback-peers',
    'denied-peer-ip=127.0.0.0-127.255.255.255',
    'denied-peer-ip=0.0.0.0-0.255.255.255',
    ...values.allowedPeerIps.map((ip) => `allowed-peer-ip=${ip}`),
    `pidfile=${join(values.dataDir, 'turnserver.pid')}`,
    `userdb=${join(values.dataDir, 'turndb')}`,
    'log-file=stdout',
    'simple-log',
  ];
  if (values.tlsPort !== undefined && values.certFile && values.keyFile) {
    lines.push(`tls-listening-port=${values.tlsPort}`, `cert=${values.certFile}`, `pkey=${values.keyFile}`, 'no-dtls', 'no-tlsv1', 'no-tlsv1_1');
  } else {
    lines.push('no-tls', 'no-dtls');
  }
  return lines.join('\n') + '\n';
}

/** Whether coturn is installed (`apt-get install coturn`). */
export function coturnInstalled(path = TURNSERVER_PATH): boolean {
  return existsSync(path);
}

/**
 * Starts coturn in `options.dataDir` on free loopback ports and resolves once its TCP
 * listeners accept connections and it answers a STUN Binding request over UDP.
 * @throws {Error} if coturn is missing, the data dir is not empty, or it does not start
 *   (the message ends with the tail of its log; the process is stopped).
 */
export async function startCoturn(options: StartCoturnOptions): Promise<CoturnInstance> {
  const turnserverPath = options.turnserverPath ?? TURNSERVER_PATH;
  if (!coturnInstalled(turnserverPath)) throw new Error(`coturn is not installed (no ${turnserverPath}): apt-get install coturn`);
  const { dataDir } = options;
  await mkdir(dataDir, { recursive: true });
  if ((await readdir(dataDir)).length > 0) throw new Error(`coturn data dir ${dataDir} is not empty`);
  const listenIp = options.listenIp ?? '127.0.0.1';
  const relayIp = options.relayIp ?? '127.0.0.2';
  const tls = options.tls ?? true;
  const secret = options.secret ?? randomBytes(32).toString('hex');
  const secretFile = join(dataDir, 'turn-secret');
  await writeFile(secretFile, secret + '\n', { mode: 0o600 });
  let certFile: string | undefined;
  let keyFile: string | undefined;
  if (tls) ({ certFile, keyFile } = await makeSelfSignedCertificate(dataDir));
  const port = await freePort(listenIp, 1);
  const tlsPort = tls ? await freePort(listenIp, 1, [port]) : undefined;
  const minRelayPort = PORT_RANGE_START + Math.floor(Math.random() * (PORT_RANGE_END - PORT_RANGE_START - RELAY_PORT_COUNT));
  const configPath = join(dataDir, 'turnserver.conf');
  await writeFile(
    configPath,
    (options.renderConfig ?? renderCoturnConfig)({
      listenIp,
      relayIp,
      port,
      tlsPort,
      minRelayPort,
      maxRelayPort: minRelayPort + RELAY_PORT_COUNT - 1,
      realm: DEV_TURN_REALM,
      secret,
      allowedPeerIps: options.allowedPeerIps ?? ['127.0.0.1'],
      dataDir,
      certFile,
      keyFile,
    }),
    { mode: 0o600 },
  );
  const logPath = join(dataDir, 'turnserver.log');
  const { child, exited, hasExited, stop } = spawnLogged(turnserverPath, ['-c', configPath], { cwd: dataDir, logPath, stopTimeoutMs: options.stopTimeoutMs ?? 5000 });
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  try {
    for (const p of [port, ...(tlsPort !== undefined ? [tlsPort] : [])]) {
      await pollUntil(() => tcpAccepts(listenIp, p), deadline, hasExited, `coturn TCP ${listenIp}:${p}`);
    }
    await pollUntil(() => stunAnswers(listenIp, port), deadline, hasExited, `coturn UDP ${listenIp}:${port}`);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- tail of ${logPath} ---\n${tail(logPath)}`, { cause: error });
  }
  const host = `${listenIp}:${port}`;
  return {
    port,
    tlsPort,
    certificateSpkiSha256: certFile ? spkiSha256(readFileSync(certFile, 'utf8')) : undefined,
    listenIp,
    relayIp,
    realm: DEV_TURN_REALM,
    secret,
    secretFile,
    urls: {
      udp: `turn:${host}?transport=udp`,
      tcp: `turn:${host}?transport=tcp`,
      tls: tlsPort !== undefined ? `turns:${listenIp}:${tlsPort}?transport=tcp` : undefined,
    },
    dataDir,
    logPath,
    pid: child.pid ?? -1,
    exited,
    logTail: (lineCount?: number) => tail(logPath, lineCount),
    stop,
  };
}

/** Writes `turn-cert.pem` and `turn-key.pem` (P-256, one day, CN turn.test) with the openssl CLI. */
export async function makeSelfSignedCertificate(dir: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dir, 'turn-cert.pem');
  const keyFile = join(dir, 'turn-key.pem');
  await promisify(execFile)(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=turn.test'],
    { timeout: 20_000 },
  );
  return { certFile, keyFile };
}

/** base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo (DER). */
export function spkiSha256(certificatePem: string): string {
  const spki = new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

function tail(path: string, lineCount = 40): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lineCount).join('\n');
  } catch (error) {
    return `(no log at ${path}: ${(error as Error).message})`;
  }
}

async function pollUntil(probe: () => Promise<boolean>, deadline: number, hasExited: () => boolean, what: string): Promise<void> {
  while (Date.now() < deadline) {
    if (hasExited()) throw new Error(`coturn exited while starting (waiting for ${what})`);
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_INTERVAL_MS));
  }
  throw new Error(`${what} did not answer in time`);
}

function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Sends a STUN Binding request (RFC 5389) and waits up to 500 ms for any answer. */
function stunAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const request = Buffer.alloc(20);
    request.writeUInt16BE(0x0001, 0);
    request.writeUInt32BE(0x2112a442, 4);
    randomBytes(12).copy(request, 8);
    const done = (answered: boolean): void => {
      clearTimeout(timer);
      socket.close();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.once('message', () => done(true));
    socket.once('error', () => done(false));
    socket.send(request, port, host);
  });
}

function tcpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function udpFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ port, address: host, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/** A port below 32768 free on UDP and TCP at `host` (not in `except`); 50 random tries. */
async function freePort(host: string, count: number, except: readonly number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = PORT_RANGE_START + Math.floor(Math.random() * (PORT_RANGE_END - PORT_RANGE_START - count));
    if (except.includes(port)) continue;
    if ((await tcpFree(port, host)) && (await udpFree(port, host))) return port;
  }
  throw new Error(`no free UDP+TCP port below 32768 on ${host}`);
}
