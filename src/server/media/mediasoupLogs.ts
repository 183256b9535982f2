// Routes mediasoup's `debug` namespaces into our structured logger.
// mediasoup 3.12.16 predates setLogEventListeners() (3.14.12), so we hook the
// `debug` package it uses: warn and error namespaces by default, debug on request.

import debugModule from 'debug';
import type { Logger, LogLevel } from '../../common/lib/logger.ts';

/** Sends mediasoup's log lines to `logger` (component mediasoup) at or above `level`. */
export function routeMediasoupLogs(logger: Logger, level: LogLevel): void {
  const namespaces =
    level === 'debug' ? 'mediasoup*' : level === 'error' ? 'mediasoup:ERROR*' : 'mediasoup:WARN*,mediasoup:ERROR*';
  const log = logger.child({ component: 'mediasoup' });
  debugModule.log = (...args: unknown[]) => {
    const text = args.map((arg) => (typeof arg === 'string' ? arg : String(arg))).join(' ');
    // debug prefixes lines with the namespace, e.g. "mediasoup:ERROR:Channel ...".
    if (text.includes(':ERROR')) log.error(text.trim());
    else if (text.includes(':WARN')) log.warn(text.trim());
    else log.debug(text.trim());
  };
  debugModule.enable(namespaces);
}
