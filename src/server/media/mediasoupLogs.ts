// Routes mediasoup's own log lines (its Node library and, through the library, its
// worker processes) into our JSON logger, and rate-limits repeated lines.
//
// mediasoup (>= 3.14.12) reports every log line through setLogEventListeners(), whether or
// not its `debug` namespaces are enabled; we listen there and leave `debug` off, so no
// plain-text copy reaches stderr.
//
// Hostile datagrams on the media port make the worker warn once per datagram ("ignoring
// received STUN packet with unknown remote ICE usernameFragment"). RepeatedLineLimiter
// lets the first `burst` lines of one kind (the text with numbers, addresses and the
// worker pid masked) through per window and counts the rest; when the window ends, one
// line per kind reports how many similar lines were suppressed.

import mediasoup from 'mediasoup';
import type { Logger, LogLevel } from '../../common/lib/logger.ts';

/** Options of routeMediasoupLogs() and RepeatedLineLimiter. */
export interface MediasoupLogOptions {
  /** Lines of one kind written per window before the rest are only counted. Default 5. */
  burst?: number;
  /** Length of a window in ms; at its end the suppressed counts are reported. Default 10 000. */
  windowMs?: number;
  /** Kinds tracked per window; lines of further kinds share one overflow kind. Default 200. */
  maxKinds?: number;
}

/** A running route; close() restores mediasoup's own logging. */
export interface MediasoupLogRoute {
  /** Reports suppressed counts now and starts a new window. */
  flush(): void;
  close(): void;
}

/** One line handed to the limiter. */
export interface MediasoupLogLine {
  level: LogLevel;
  /** mediasoup's debug namespace, e.g. `mediasoup:WARN:Channel`. */
  namespace: string;
  text: string;
}

/** Where the limiter writes: a line, or a summary of `suppressed` similar lines. */
export type LimitedLineSink = (line: MediasoupLogLine, suppressed?: number) => void;

const DEFAULT_BURST = 5;
const DEFAULT_WINDOW_MS = 10_000;
const DEFAULT_MAX_KINDS = 200;
const OVERFLOW_KIND = '\u0000overflow';

interface KindState {
  written: number;
  suppressed: number;
  /** The first suppressed line, reported as the example of its kind. */
  example: MediasoupLogLine | undefined;
}

/**
 * The kind of a log line: its level, namespace and text with the parts that vary between
 * repetitions (worker pid, addresses, ports, numbers, hex strings, quoted values) masked.
 */
export function logLineKind(line: MediasoupLogLine): string {
  const text = line.text
    .replace(/\[pid:\d+\]\s*/g, '')
    .replace(/"[^"]*"|'[^']*'/g, '"…"')
    .replace(/(?<![\w:])(?=[0-9a-f:]*\d)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])/gi, '<ip>')
    .replace(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g, '<ip>')
    .replace(/\b(?:0x)?[0-9a-f]*\d[0-9a-f]*\b/gi, '#');
  return `${line.level}|${line.namespace}|${text}`;
}

/**
 * Lets `burst` lines of each kind through per window and counts the rest; flush() (or the
 * window timer) writes one summary line per kind that had suppressed lines.
 */
export class RepeatedLineLimiter {
  readonly #sink: LimitedLineSink;
  readonly #burst: number;
  readonly #windowMs: number;
  readonly #maxKinds: number;
  #kinds = new Map<string, KindState>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(sink: LimitedLineSink, options: MediasoupLogOptions = {}) {
    this.#sink = sink;
    this.#burst = options.burst ?? DEFAULT_BURST;
    this.#windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.#maxKinds = options.maxKinds ?? DEFAULT_MAX_KINDS;
  }

  /** Writes or counts one line. */
  push(line: MediasoupLogLine): void {
    if (this.#closed) return;
    let kind = logLineKind(line);
    let state = this.#kinds.get(kind);
    if (!state && this.#kinds.size >= this.#maxKinds) {
      kind = OVERFLOW_KIND;
      state = this.#kinds.get(kind);
    }
    if (!state) {
      state = { written: 0, suppressed: 0, example: undefined };
      this.#kinds.set(kind, state);
    }
    this.#startWindow();
    if (state.written < this.#burst) {
      state.written++;
      this.#sink(line);
      return;
    }
    state.suppressed++;
    state.example ??= line;
  }

  /** Writes the summary lines of the current window and starts a new one. */
  flush(): void {
    const kinds = this.#kinds;
    this.#kinds = new Map();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const state of kinds.values()) {
      if (state.suppressed > 0 && state.example) this.#sink(state.example, state.suppressed);
    }
  }

  /** Flushes and stops. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
  }

  #startWindow(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#windowMs);
    this.#timer.unref();
  }
}

/**
 * Sends mediasoup's log lines to `logger` (component mediasoup) at or above `level`
 * (debug, warn or error), through a RepeatedLineLimiter. Call once per process; a second
 * call replaces the first route.
 */
export function routeMediasoupLogs(
  logger: Logger,
  level: LogLevel,
  options: MediasoupLogOptions = {},
): MediasoupLogRoute {
  activeRoute?.close();
  const log = logger.child({ component: 'mediasoup' });
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
  const limiter = new RepeatedLineLimiter((line, suppressed) => {
    const pid = /\[pid:(\d+)\]/.exec(line.text)?.[1];
    const text = line.text.replace(/\[pid:\d+\]\s*/, '').trim();
    const fields: Record<string, unknown> = { namespace: line.namespace };
    if (pid) fields['workerPid'] = Number(pid);
    if (suppressed === undefined) {
      log[line.level](text, fields);
    } else {
      log[line.level]('similar mediasoup log lines suppressed', { ...fields, suppressed, windowMs, example: text });
    }
  }, options);
  const wanted = (lineLevel: LogLevel): boolean =>
    level === 'debug' || lineLevel === 'error' || (lineLevel === 'warn' && level !== 'error');
  const push = (lineLevel: LogLevel, namespace: string, text: string): void => {
    if (wanted(lineLevel)) limiter.push({ level: lineLevel, namespace, text });
  };

  mediasoup.setLogEventListeners({
    ...(level === 'debug' ? { ondebug: (namespace: string, text: string) => push('debug', namespace, text) } : {}),
    onwarn: (namespace, text) => push('warn', namespace, text),
    onerror: (namespace, text, error) => push('error', namespace, error ? `${text}: ${String(error)}` : text),
  });

  const route: MediasoupLogRoute = {
    flush: () => limiter.flush(),
    close: () => {
      if (activeRoute !== route) return;
      activeRoute = undefined;
      mediasoup.setLogEventListeners(undefined);
      limiter.close();
    },
  };
  activeRoute = route;
  return route;
}

let activeRoute: MediasoupLogRoute | undefined;
