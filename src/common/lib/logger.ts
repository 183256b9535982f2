// Structured JSON-lines logger with child bindings and redaction (JSON is the default;
// `format: 'pretty'` writes one readable line per record for a person at a terminal). Every line
// carries time, level, component and whatever ids were bound (conferenceId,
// participantId, workerPid). Secrets never reach a line: keys named in
// REDACTED_KEYS are masked at any depth, and string values that look like a
// JWT or an SDP body are masked too: keys, JWTs, OpenID tokens, SDP bodies and
// media are never logged.

/** Log levels, in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Parses a level name; undefined when it is not one. */
export function parseLogLevel(value: string): LogLevel | undefined {
  return value === 'debug' || value === 'info' || value === 'warn' || value === 'error' ? value : undefined;
}

/** Field names whose values are always masked, compared case-insensitively without `_`/`-`. */
export const REDACTED_KEYS: readonly string[] = [
  'jwt',
  'token',
  'accesstoken',
  'openidtoken',
  'refreshtoken',
  'authorization',
  'password',
  'secret',
  'sharedsecret',
  'credential',
  'credentials',
  'key',
  'keys',
  'basekey',
  'encryptionkey',
  'sdp',
  'dtlsparameters',
  'fingerprints',
  'plaintext',
  'payload',
  'redisurl',
];

const REDACTED = '[redacted]';
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const SDP_PATTERN = /(^|\n)v=0\r?\n/;
const MAX_DEPTH = 6;

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

const redactedKeySet = new Set(REDACTED_KEYS.map(normaliseKey));

/** Returns a copy of `value` safe to log: secret-named fields and JWT/SDP-looking strings masked. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    if (SDP_PATTERN.test(value)) return REDACTED;
    return value.replace(JWT_PATTERN, REDACTED);
  }
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[depth]';
  if (value instanceof Error) {
    const out: Record<string, unknown> = { name: value.name, message: redact(value.message, depth + 1) };
    const code = (value as { code?: unknown }).code;
    if (code !== undefined) out['code'] = code;
    if (value.cause !== undefined) out['cause'] = redact(value.cause, depth + 1);
    return out;
  }
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => redact(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = redactedKeySet.has(normaliseKey(key)) ? REDACTED : redact(item, depth + 1);
  }
  return out;
}

/** Where finished lines go; the default writes to stdout. */
export type LogSink = (line: string) => void;

/** Structured logger; `child()` binds more fields. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
  isLevelEnabled(level: LogLevel): boolean;
}

/** Line format: JSON lines (machines, the default) or readable text (a person at a terminal). */
export type LogFormat = 'json' | 'pretty';

/** Options of createLogger(). */
export interface LoggerOptions {
  /** Line format. Default 'json'. */
  format?: LogFormat;
  /** Lowest level written. Default 'info'. */
  level?: LogLevel;
  /** Line sink. Default: process.stdout. */
  sink?: LogSink;
  /** Fields bound to every line. */
  bindings?: Record<string, unknown>;
  /** Clock, for tests. */
  now?: () => Date;
}

/** Creates the root logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const sink: LogSink = options.sink ?? ((line) => process.stdout.write(line + '\n'));
  const now = options.now ?? (() => new Date());
  const format = options.format === 'pretty' ? prettyLine : jsonLine;
  return makeLogger(LEVEL_RANK[level], sink, now, options.bindings ?? {}, format);
}

type Formatter = (time: Date, level: LogLevel, message: unknown, record: Record<string, unknown>) => string;

const jsonLine: Formatter = (time, level, message, record) => {
  try {
    return JSON.stringify({ time: time.toISOString(), level, msg: message, ...record });
  } catch {
    return JSON.stringify({ time: time.toISOString(), level, msg: message, unserialisable: true });
  }
};

/** Longest rendering of one field value in a pretty line. */
const MAX_PRETTY_VALUE = 160;
const PRETTY_LEVEL: Record<LogLevel, string> = { debug: 'debug', info: 'info ', warn: 'WARN ', error: 'ERROR' };

function prettyValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = '[unserialisable]';
    }
  }
  return text.length > MAX_PRETTY_VALUE ? `${text.slice(0, MAX_PRETTY_VALUE - 1)}…` : text;
}

/** `12:00:00 WARN  [component] message  key=value …` (local time; fields already redacted). */
const prettyLine: Formatter = (time, level, message, record) => {
  const { component, ...fields } = record;
  const clock = time.toTimeString().slice(0, 8);
  const where = typeof component === 'string' ? ` [${component}]` : '';
  const rest = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${prettyValue(value)}`)
    .join(' ');
  return `${clock} ${PRETTY_LEVEL[level]}${where} ${String(message)}${rest ? `  ${rest}` : ''}`;
};

function makeLogger(
  minRank: number,
  sink: LogSink,
  now: () => Date,
  bindings: Record<string, unknown>,
  format: Formatter,
): Logger {
  const write = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (LEVEL_RANK[level] < minRank) return;
    const record = redact({ ...bindings, ...fields }) as Record<string, unknown>;
    sink(format(now(), level, redact(message), record));
  };
  return {
    debug: (message, fields) => write('debug', message, fields),
    info: (message, fields) => write('info', message, fields),
    warn: (message, fields) => write('warn', message, fields),
    error: (message, fields) => write('error', message, fields),
    child: (more) => makeLogger(minRank, sink, now, { ...bindings, ...more }, format),
    isLevelEnabled: (level) => LEVEL_RANK[level] >= minRank,
  };
}

/** A logger that drops everything, for tests that do not look at logs. */
export function silentLogger(): Logger {
  return createLogger({ level: 'error', sink: () => undefined });
}
