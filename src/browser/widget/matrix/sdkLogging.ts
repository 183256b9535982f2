// matrix-js-sdk's logging inside the widget: the embedded client logs through a logger we
// hand it (warnings and errors only, to the console via our ClientLogger), and the SDK's
// global loglevel logger, where its MatrixRTC classes write, is cut down to warnings and
// errors as well. Sync and membership chatter would otherwise flood the host's console.

import { logger as sdkGlobalLogger, type Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import type { ClientLogger } from '../../client/types.ts';

function line(parts: readonly unknown[]): string {
  return parts.map((part) => (part instanceof Error ? part.message : typeof part === 'string' ? part : String(part))).join(' ').slice(0, 1000);
}

/** A js-sdk Logger that keeps warnings and errors. */
export function sdkLogger(logger: ClientLogger): SdkLogger {
  const quiet = (): void => undefined;
  return {
    trace: quiet,
    debug: quiet,
    info: quiet,
    warn: (...parts: unknown[]) => logger.warn(`matrix-js-sdk: ${line(parts)}`),
    error: (...parts: unknown[]) => logger.warn(`matrix-js-sdk: ${line(parts)}`),
    getChild: () => sdkLogger(logger),
  };
}

type MethodFactory = ((method: string, level: unknown, name: unknown) => (...args: unknown[]) => void) & { widgetQuiet?: true };

/**
 * Quiets the SDK's global loglevel logger below warn. Its child loggers copy the factory
 * when created, so the factory is replaced (not only the level). Idempotent.
 */
export function quietSdk(): void {
  const global = sdkGlobalLogger as unknown as { methodFactory: MethodFactory; rebuild?: () => void };
  if (global.methodFactory.widgetQuiet) return;
  const original = global.methodFactory;
  const factory: MethodFactory = (method, level, name) => (method === 'warn' || method === 'error' ? original(method, level, name) : () => undefined);
  factory.widgetQuiet = true;
  global.methodFactory = factory;
  global.rebuild?.();
}
