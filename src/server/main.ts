// Entry point: Node 24 check, config (defaults → file → env → validate),
// logger, then the SFU node; SIGTERM/SIGINT drain gracefully, a second signal
// exits at once. With auth.mode matrix and no matrix.homeserverUrl, `npm
// start` runs the embedded development homeserver (loopback Synapse, demo users).
// Log lines are readable text when stdout is a terminal (log.format auto), JSON lines
// otherwise. `GET /` leads to the demo in dev mode and is a plain status page otherwise.

import { loadConfig, ConfigError } from './config/loadConfig.ts';
import type { Config } from './config/types.ts';
import { createLogger, type Logger, type LogFormat } from '../common/lib/logger.ts';
import { SfuNode } from './SfuNode.ts';
import { maskConfig } from './config/maskConfig.ts';
import { sendJson, type RouteHandler } from './http/HttpServer.ts';
// Type only: the development homeserver is loaded with import() in dev mode alone, so a
// production node never loads the test harness (test/unit/layout.test.ts checks this).
import type { DevHomeserver } from './dev/devHomeserver.ts';
import { existsSync } from 'node:fs';
import { statusPage } from './statusPage.ts';

/** log.format `auto`: readable lines for a person at a terminal, JSON lines for everything else. */
function logFormat(config: Config): LogFormat {
  if (config.log.format === 'auto') return process.stdout.isTTY ? 'pretty' : 'json';
  return config.log.format;
}

/** What a person at a terminal needs after start: where to go, and what to fix before production. */
function explainStart(log: Logger, config: Config, node: SfuNode, dev: DevHomeserver | undefined): void {
  if (dev) {
    log.info(`ready: open ${node.publicUrl}/demo/ in two browser tabs (or two browsers) to try a call`);
    log.info('sign in as one demo user per tab (the demo page shows the password); this embedded homeserver is for development only', {
      homeserver: dev.synapse.baseUrl,
      users: dev.users.map((user) => user.userId),
    });
  } else {
    log.info(`ready: ${node.publicUrl}/ shows this node's status; Matrix clients use ${node.publicUrl}/sfu/get and the widget at ${node.publicUrl}/widget/`);
  }
  if (!dev && !config.server.publicUrl) log.warn(`server.publicUrl is not set: clients are told ${node.publicUrl}, which only works on this machine`);
  log.info('stop with Ctrl+C (drains calls first; a second Ctrl+C exits at once)');
}

function configFrom(overrides?: unknown): Config {
  const file = process.env['SFU_CONFIG'];
  return loadConfig({ ...(file ? { file } : {}), ...(overrides ? { overrides } : {}), env: process.env });
}

async function main(): Promise<void> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 24) {
    console.error(`Node.js 24 LTS required, this is ${process.versions.node}; run native-config/setup and use npm start.`);
    process.exit(1);
  }
  let config: Config;
  try {
    config = configFrom();
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(2);
  }
  const format = logFormat(config);
  const logger = createLogger({ level: config.log.level, format });
  const log = logger.child({ component: 'main' });

  let dev: DevHomeserver | undefined;
  const routes = new Map<string, RouteHandler>();
  if (config.auth.mode === 'matrix' && config.matrix.homeserverUrl === '') {
    const { DEFAULT_SYNAPSE_PYTHON } = await import('./dev/synapse/SynapseProcess.ts');
    const { startDevHomeserver } = await import('./dev/devHomeserver.ts');
    if (!existsSync(DEFAULT_SYNAPSE_PYTHON)) {
      console.error(
        'matrix.homeserverUrl is not set (SFU_MATRIX_HOMESERVER_URL). Without it `npm start` runs an embedded ' +
          'development homeserver, which needs the Synapse venv of native-config/setup (missing: ' +
          `${DEFAULT_SYNAPSE_PYTHON}). Configure a homeserver, or SFU_AUTH_MODE=none for development without Matrix.`,
      );
      process.exit(2);
    }
    const publicUrl = config.server.publicUrl || `http://${config.server.host}:${config.server.port}`;
    dev = await startDevHomeserver({ publicUrl, logger });
    config = configFrom(dev.configOverrides);
    const devInfo = {
      homeserverUrl: dev.synapse.baseUrl,
      serverName: dev.synapse.serverName,
      roomId: dev.roomId,
      users: dev.users,
    };
    // Demo accounts for the demo page; this route exists only with the dev homeserver.
    routes.set('/demo/dev.json', (_request, response) => sendJson(response, 200, devInfo));
    routes.set('/', (_request, response) => {
      response.writeHead(302, { location: '/demo/' });
      response.end();
    });
  }
  if (format === 'pretty') {
    // The whole configuration is one very long line; a person gets the summary, debug the rest.
    log.info('starting', {
      authMode: config.auth.mode,
      homeserver: config.matrix.homeserverUrl || undefined,
      publicUrl: config.server.publicUrl || undefined,
      workers: config.media.numWorkers,
    });
    log.debug('effective configuration', { config: maskConfig(config) });
  } else {
    log.info('effective configuration', { config: maskConfig(config) });
  }

  let node: SfuNode | undefined;
  if (!routes.has('/')) routes.set('/', statusPage(config, () => node));
  try {
    node = await SfuNode.start({ config, logger, routes });
  } catch (error) {
    await dev?.stop();
    throw error;
  }
  log.info('listening', { url: node.publicUrl, ws: node.wsUrl, demo: `${node.publicUrl}/demo/` });
  if (format === 'pretty') explainStart(log, config, node, dev);
  const started = node;

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    log.info('signal received: draining', { signal });
    started
      .drain()
      .then(() => dev?.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error('drain failed', { error });
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((error: unknown) => {
  console.error('fatal:', error);
  process.exit(1);
});
