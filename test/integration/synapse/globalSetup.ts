// vitest global setup of the integration project: starts one real Synapse for the whole
// run, provides its coordinates to every test file (inject('synapse')), and stops it at
// teardown. The data dir is removed afterwards unless SYNAPSE_KEEP_DATA=1.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { TestProject } from 'vitest/node';

import { startSynapse } from '../../../src/server/dev/synapse/SynapseProcess.ts';
import type { ProvidedSynapse } from './context.ts';

/** Starts Synapse and returns the teardown that stops it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'matrix-sfu-synapse-'));
  const startedAt = performance.now();
  const synapse = await startSynapse({ dataDir });
  const startupMs = Math.round(performance.now() - startedAt);
  console.info(`synapse: ${synapse.baseUrl} (${synapse.serverName}) ready in ${startupMs} ms, log ${synapse.logPath}`);

  const provided: ProvidedSynapse = {
    baseUrl: synapse.baseUrl,
    serverName: synapse.serverName,
    sharedSecret: synapse.sharedSecret,
    logPath: synapse.logPath,
  };
  project.provide('synapse', provided);

  return async () => {
    await synapse.stop();
    if (process.env['SYNAPSE_KEEP_DATA'] === '1') {
      console.info(`synapse: data kept in ${dataDir}`);
    } else {
      await rm(dataDir, { recursive: true, force: true });
    }
  };
}
