// Shared lifecycle pieces of the browser e2e files: dump the server log and
// the browser console of a failed test, and tear down browser, node and
// worker processes (optionally keeping full logs in SFU_E2E_LOG_FILE).

import { writeFile } from 'node:fs/promises';
import { beforeEach } from 'vitest';
import type { SfuNode } from '../../src/SfuNode.ts';
import type { BrowserHandle } from './browser.ts';
import { waitForExit } from './workerPid.ts';

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
