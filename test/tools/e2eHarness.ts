// Shared lifecycle pieces of the browser e2e files: start a dev-admission
// node, dump the server log and
// the browser console of a failed test, and tear down browser, node and
// worker processes (optionally keeping full logs in SFU_E2E_LOG_FILE).

import { writeFile } from 'node:fs/promises';
import { beforeEach } from 'vitest';
import { SfuNode } from '../../src/server/SfuNode.ts';
import { loadConfig } from '../../src/server/config/loadConfig.ts';
import { createLogger, type LogLevel } from '../../src/common/lib/logger.ts';
import { buildTestPage, TEST_PAGE_DIR, TEST_PAGE_PREFIX } from '../e2e/pages/buildTestPage.ts';
import { buildClient } from '../../src/build/buildClient.ts';
import type { BrowserHandle } from './browser.ts';
import { waitForExit } from './workerPid.ts';
import { freeMediaBasePort } from './ports.ts';

/** Registers a beforeEach that prints this test's slice of the logs if it fails. */
export function dumpLogsOnFailure(serverLog: readonly string[], browser: () => BrowserHandle | undefined): void {
  beforeEach(({ onTestFailed }) => {
    const serverFrom = serverLog.length;
    const consoleFrom = browser()?.consoleLines.length ?? 0;
    onTestFailed(() => {
      console.log(`--- server log ---\n${serverLog.slice(serverFrom).join('\n')}`);
      console.log(`--- browser console ---\n${browser()?.consoleLines.slice(consoleFrom).join('\n') ?? ''}`);
    });
  });
}

/** Closes the browser and the node, waits for the workers to exit, keeps logs if asked. */
export async function tearDown(browser: BrowserHandle | undefined, node: SfuNode | undefined, workerPids: readonly number[], serverLog: readonly string[]): Promise<void> {
  await browser?.close();
  await node?.stop();
  await waitForExit(workerPids);
  // Opt-in full logs for debugging a passing run too.
  const logFile = process.env['SFU_E2E_LOG_FILE'];
  if (logFile) await writeFile(logFile, [...serverLog, '--- browser console ---', ...(browser?.consoleLines ?? [])].join('\n'));
}

/** A dev-admission SFU node for browser tests, its worker pids and the test page URL. */
export interface DevNode {
  readonly node: SfuNode;
  readonly workerPids: number[];
  readonly pageUrl: string;
}

/**
 * Builds the client bundles and starts an SfuNode with dev admission (pages
 * name their conference and participant in the URL query), one worker on a
 * free base port below 32768 (test/tools/ports.ts), logging into `serverLog`. Workers
 * started later (after a kill) are added to `workerPids`.
 */
export async function startDevNode(
  serverLog: string[],
  overrides: Record<string, unknown> = {},
  level: LogLevel = 'debug',
): Promise<DevNode> {
  // The test page for the tests, and the demo page (dist/client, served at /demo/) that one test opens.
  await Promise.all([buildTestPage(), buildClient()]);
  const config = loadConfig({
    overrides: {
      server: { port: 0 },
      auth: { mode: 'none' },
      media: { numWorkers: 1, basePort: await freeMediaBasePort() },
      ...overrides,
    },
  });
  const node = await SfuNode.start({ config, logger: createLogger({ level, sink: (line) => serverLog.push(line) }), staticDirs: [[TEST_PAGE_PREFIX, TEST_PAGE_DIR]] });
  const workerPids = node.pool.slots.map((slot) => slot.worker.pid);
  node.pool.observer.on('workerStarted', (slot) => workerPids.push(slot.worker.pid));
  return { node, workerPids, pageUrl: `http://127.0.0.1:${node.port}${TEST_PAGE_PREFIX}test.html` };
}
