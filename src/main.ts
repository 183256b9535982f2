// Entry point: Node 24 check, config (defaults → file → env → validate),
// logger, then the SFU node; SIGTERM/SIGINT drain gracefully, a second signal
// exits at once.

import { loadConfig, ConfigError } from './config/loadConfig.ts';
import { createLogger } from './lib/logger.ts';
import { SfuNode } from './SfuNode.ts';
import { maskConfig } from './config/maskConfig.ts';

async function main(): Promise<void> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 24) {
    console.error(`Node.js 24 LTS required, this is ${process.versions.node}; run native-config/setup and use npm start.`);
    process.exit(1);
  }
  let config;
  try {
    config = loadConfig({ ...(process.env['SFU_CONFIG'] ? { file: process.env['SFU_CONFIG'] } : {}), env: process.env });
  } catch (error) {
    console.error(error instanceof ConfigError ? error.message : error);
    process.exit(2);
  }
  const logger = createLogger({ level: config.log.level, bindings: {} });
  const log = logger.child({ component: 'main' });
  log.info('effective configuration', { config: maskConfig(config) });
  const node = await SfuNode.start({ config, logger });
  log.info('listening', { url: `http://${config.server.host}:${node.port}`, ws: node.wsUrl });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    log.info('signal received: draining', { signal });
    node.drain().then(
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
