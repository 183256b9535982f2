// Adapts matrix-js-sdk's Logger interface to our structured logger: warn and
// error pass through (redacted like every line), trace/debug/info only at our
// debug level, so the SDK's chatty sync logs stay out of production logs. Warnings the SDK
// gives about its own housekeeping on every start (default push rules it adds) go to debug:
// they are not an operator's problem.

import { logger as sdkGlobalLogger, type Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger } from '../../common/lib/logger.ts';

function text(parts: unknown[]): string {
  return parts
    .map((part) => (typeof part === 'string' ? part : part instanceof Error ? part.message : safeJson(part)))
    .join(' ')
    .slice(0, 2000);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** SDK warnings that describe its own routine housekeeping, not a fault. */
const ROUTINE_SDK_WARNINGS = [/^Adding default global (override|underride) push rule /];

/** A matrix-js-sdk logger writing into `logger` under component `matrix-sdk`. */
export function sdkLoggerFor(logger: Logger, namespace = 'matrix-sdk'): SdkLogger {
  const log = logger.child({ component: namespace });
  const verbose = log.isLevelEnabled('debug');
  return {
    trace: (...msg: unknown[]) => (verbose ? log.debug(text(msg)) : undefined),
    debug: (...msg: unknown[]) => (verbose ? log.debug(text(msg)) : undefined),
    info: (...msg: unknown[]) => (verbose ? log.debug(text(msg)) : undefined),
    warn: (...msg: unknown[]) => {
      const line = text(msg);
      if (ROUTINE_SDK_WARNINGS.some((pattern) => pattern.test(line))) log.debug(line);
      else log.warn(line);
    },
    error: (...msg: unknown[]) => log.error(text(msg)),
    getChild: (child: string) => sdkLoggerFor(logger, `${namespace}:${child}`),
  };
}

/**
 * Quiets matrix-js-sdk's global loglevel logger (its MatrixRTC classes log
 * there, not through the client's logger): below warn, nothing is printed.
 * Child loggers copy the parent's methodFactory when created (and force their
 * own level to debug), so the factory, not the level, is what we replace.
 * Idempotent.
 */
export function quietSdkGlobalLogger(): void {
  type Factory = (method: string, level: unknown, name: unknown) => (...args: unknown[]) => void;
  const global = sdkGlobalLogger as unknown as { methodFactory: Factory & { quiet?: true }; rebuild(): void };
  if (global.methodFactory.quiet) return;
  const original = global.methodFactory;
  const quiet: Factory & { quiet?: true } = (method, level, name) =>
    method === 'warn' || method === 'error' ? original(method, level, name) : () => undefined;
  quiet.quiet = true;
  global.methodFactory = quiet;
  global.rebuild();
}
