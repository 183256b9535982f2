// Runs a real Synapse homeserver as a child process for integration tests (vitest global
// setup) and the embedded dev mode: renders native-config/synapse/homeserver.template.yaml
// into a fresh data dir, writes a signing key, starts Synapse from .cache/synapse-venv
// (made by native-config/synapse/install), and waits until the client API answers.
// Synapse's stdout and stderr go to `synapse.log` in the data dir; start failures quote its tail.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { spawnLogged } from '../ChildProcessRun.ts';
import { generateSigningKey } from './signingKey.ts';
import { renderTemplate } from './template.ts';

/** Repository root, found from this file's place in `test/tools/synapse/`. */
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * Server name of the test homeserver. `.test` is reserved (RFC 2606) and never resolves,
 * so the SFU must reach this server through its server-name override map.
 */
export const DEFAULT_SERVER_NAME = 'synapse.test';

/** The venv interpreter that native-config/synapse/install creates. */
export const DEFAULT_SYNAPSE_PYTHON = join(REPO_ROOT, '.cache', 'synapse-venv', 'bin', 'python');

/** The config template shipped in native-config/synapse. */
export const DEFAULT_SYNAPSE_TEMPLATE = join(REPO_ROOT, 'native-config', 'synapse', 'homeserver.template.yaml');

/** File names inside the data dir. */
const FILES = {
  config: 'homeserver.yaml',
  signingKey: 'signing.key',
  database: 'homeserver.db',
  mediaStore: 'media_store',
  pid: 'homeserver.pid',
  log: 'synapse.log',
} as const;

const READY_PATH = '/_matrix/client/versions';
const READY_POLL_INTERVAL_MS = 100;
const READY_REQUEST_TIMEOUT_MS = 2_000;
const LOG_TAIL_LINES = 60;

/** A MatrixRTC transport object to advertise in `matrix_rtc.transports` (MSC4143). */
export type RtcTransportConfig = Readonly<{ type: string } & Record<string, unknown>>;

/** Options for {@link startSynapse}. */
export interface StartSynapseOptions {
  /** Directory for config, keys, database, media and log. Created if missing; must be empty. */
  readonly dataDir: string;
  /** Port of the loopback listener. Default: a free port chosen by the OS. */
  readonly port?: number;
  /** Homeserver server name. Default {@link DEFAULT_SERVER_NAME}. */
  readonly serverName?: string;
  /**
   * Transports served at `GET /_matrix/client/unstable/org.matrix.msc4143/rtc/transports`.
   * Default none (the endpoint then answers `{}`). Pass our SFU's transport in dev mode.
   */
  readonly rtcTransports?: readonly RtcTransportConfig[];
  /** Python of a venv with matrix-synapse installed. Default {@link DEFAULT_SYNAPSE_PYTHON}. */
  readonly pythonPath?: string;
  /** Config template. Default {@link DEFAULT_SYNAPSE_TEMPLATE}. */
  readonly templatePath?: string;
  /**
   * Give up if the client API has not answered by then. Default 60 000 ms: a cold start
   * (imports plus creating the SQLite schema) takes a few seconds on a 2-core machine, and
   * a loaded CI box can be several times slower.
   */
  readonly startTimeoutMs?: number;
  /** Wait this long after SIGTERM before SIGKILL. Default 10 000 ms. */
  readonly stopTimeoutMs?: number;
}

/** A running Synapse. */
export interface SynapseInstance {
  /** Client and federation API base, `http://127.0.0.1:{port}`. */
  readonly baseUrl: string;
  readonly serverName: string;
  /** The `registration_shared_secret`, for {@link registerUser}. */
  readonly sharedSecret: string;
  readonly dataDir: string;
  readonly logPath: string;
  /** Pid of the current process (a restart changes it). */
  readonly pid: number;
  /** Resolves when the current process exits (for whatever reason). */
  readonly exited: Promise<void>;
  /** The last `lineCount` lines (default 60) of the Synapse log. */
  logTail(lineCount?: number): string;
  /**
   * Starts the homeserver again on the same data dir, port and secrets (its database and
   * users survive), after the current process exited; resolves once it answers. Refused
   * after stop().
   */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Asks the OS for a free TCP port on `host` by binding port 0 and closing again.
 * Another process could take the port before Synapse binds it; on loopback in a test run
 * that race is rare, and Synapse then fails fast with "Address already in use" in its log.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the bound port'));
        return;
      }
      const { port } = address;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}

/** The last `lineCount` lines of the file at `path`, or a note if it cannot be read. */
export function readLogTail(path: string, lineCount = LOG_TAIL_LINES): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return `(no log at ${path}: ${(error as Error).message})`;
  }
  const lines = text.trimEnd().split('\n');
  return lines.slice(-lineCount).join('\n');
}

/** Values for every placeholder of the homeserver template. */
export interface HomeserverConfigValues {
  readonly serverName: string;
  readonly port: number;
  readonly dataDir: string;
  readonly registrationSharedSecret: string;
  readonly macaroonSecretKey: string;
  readonly formSecret: string;
  readonly rtcTransports: readonly RtcTransportConfig[];
}

/** Renders the homeserver config for a data dir (pure: no file or process access). */
export function renderHomeserverConfig(template: string, values: HomeserverConfigValues): string {
  return renderTemplate(template, {
    serverName: values.serverName,
    publicBaseUrl: `http://127.0.0.1:${values.port}/`,
    port: values.port,
    pidFile: join(values.dataDir, FILES.pid),
    databasePath: join(values.dataDir, FILES.database),
    mediaStorePath: join(values.dataDir, FILES.mediaStore),
    signingKeyPath: join(values.dataDir, FILES.signingKey),
    registrationSharedSecret: values.registrationSharedSecret,
    macaroonSecretKey: values.macaroonSecretKey,
    formSecret: values.formSecret,
    rtcTransports: values.rtcTransports,
  });
}

/**
 * Starts Synapse in `options.dataDir` and resolves once `GET /_matrix/client/versions`
 * answers 200.
 *
 * @throws {Error} if Synapse is not installed, the data dir is not empty, the process
 *   exits early or does not answer within `startTimeoutMs`; the message then ends with
 *   the tail of the Synapse log, and the process has been stopped.
 */
export async function startSynapse(options: StartSynapseOptions): Promise<SynapseInstance> {
  const pythonPath = options.pythonPath ?? DEFAULT_SYNAPSE_PYTHON;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
  const serverName = options.serverName ?? DEFAULT_SERVER_NAME;
  const { dataDir } = options;

  if (!existsSync(pythonPath)) {
    throw new Error(`Synapse is not installed (no ${pythonPath}): run native-config/synapse/install`);
  }
  await mkdir(dataDir, { recursive: true });
  const existing = await readdir(dataDir);
  if (existing.length > 0) {
    throw new Error(`Synapse data dir ${dataDir} is not empty; startSynapse needs a fresh one`);
  }

  const port = options.port ?? (await findFreePort());
  const sharedSecret = randomSecret();
  const template = await readFile(options.templatePath ?? DEFAULT_SYNAPSE_TEMPLATE, 'utf8');
  const config = renderHomeserverConfig(template, {
    serverName,
    port,
    dataDir,
    registrationSharedSecret: sharedSecret,
    macaroonSecretKey: randomSecret(),
    formSecret: randomSecret(),
    rtcTransports: options.rtcTransports ?? [],
  });
  const configPath = join(dataDir, FILES.config);
  await writeFile(configPath, config, { mode: 0o600 });
  await writeFile(join(dataDir, FILES.signingKey), generateSigningKey(), { mode: 0o600 });
  await mkdir(join(dataDir, FILES.mediaStore));

  const logPath = join(dataDir, FILES.log);
  const baseUrl = `http://127.0.0.1:${port}`;
  const spawnOptions: SpawnSynapseOptions = { pythonPath, configPath, dataDir, logPath, baseUrl, startTimeoutMs, stopTimeoutMs };
  let current = await spawnSynapse(spawnOptions);
  let stopped = false;
  return {
    baseUrl,
    serverName,
    sharedSecret,
    dataDir,
    logPath,
    get pid() {
      return current.pid;
    },
    get exited() {
      return current.exited;
    },
    logTail: (lineCount?: number) => readLogTail(logPath, lineCount),
    async restart() {
      if (stopped) throw new Error('Synapse was stopped; it is not restarted');
      await current.stop();
      const next = await spawnSynapse(spawnOptions);
      current = next;
      // stop() may have run while the new process was starting: it stopped the old one only.
      if (stopped) await next.stop();
    },
    stop() {
      stopped = true;
      return current.stop();
    },
  };
}

/** What spawnSynapse() needs: a prepared data dir (config written) and its limits. */
interface SpawnSynapseOptions {
  readonly pythonPath: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly logPath: string;
  readonly baseUrl: string;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
}

/** One Synapse process. */
interface SynapseRun {
  readonly pid: number;
  readonly exited: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Spawns Synapse on a prepared data dir and resolves once it answers; on failure stops it
 * and throws with the tail of its log.
 */
async function spawnSynapse(options: SpawnSynapseOptions): Promise<SynapseRun> {
  const { pythonPath, configPath, dataDir, logPath, stopTimeoutMs } = options;
  const { child, exited, hasExited, spawnError, stop } = spawnLogged(pythonPath, ['-m', 'synapse.app.homeserver', '--config-path', configPath], {
    cwd: dataDir,
    env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    logPath,
    stopTimeoutMs,
  });

  try {
    await waitUntilReady({
      url: new URL(READY_PATH, options.baseUrl),
      deadline: Date.now() + options.startTimeoutMs,
      hasExited,
      describeExit: () => {
        const failure = spawnError();
        return failure !== undefined ? `could not spawn ${pythonPath}: ${failure.message}` : `Synapse exited early (code ${child.exitCode}, signal ${child.signalCode})`;
      },
      exited,
    });
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- tail of ${logPath} ---\n${readLogTail(logPath)}`, {
      cause: error,
    });
  }
  return { pid: child.pid ?? -1, exited, stop };
}

interface ReadinessProbe {
  readonly url: URL;
  readonly deadline: number;
  readonly hasExited: () => boolean;
  readonly describeExit: () => string;
  readonly exited: Promise<void>;
}

/** Polls the probe URL until it answers 200, the process exits, or the deadline passes. */
async function waitUntilReady(probe: ReadinessProbe): Promise<void> {
  let lastFailure = 'no attempt yet';
  while (Date.now() < probe.deadline) {
    if (probe.hasExited()) throw new Error(probe.describeExit());
    try {
      const response = await fetch(probe.url, { signal: AbortSignal.timeout(READY_REQUEST_TIMEOUT_MS) });
      await response.body?.cancel();
      if (response.status === 200) return;
      lastFailure = `HTTP ${response.status}`;
    } catch (error) {
      // Connection refused until Synapse binds its listener: expected while starting.
      lastFailure = describeFetchError(error);
    }
    await Promise.race([delay(READY_POLL_INTERVAL_MS), probe.exited]);
  }
  if (probe.hasExited()) throw new Error(probe.describeExit());
  throw new Error(`Synapse did not answer ${probe.url.href} in time (last attempt: ${lastFailure})`);
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error) return `${error.message}: ${cause.message}`;
  return error.message;
}

function randomSecret(): string {
  return randomBytes(32).toString('hex');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms);
  });
}
