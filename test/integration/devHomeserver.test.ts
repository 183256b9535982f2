// The embedded development homeserver of `npm start` is supervised: when its Synapse dies it
// is started again on the same data dir and port, so the demo accounts and room survive and
// the SFU's sync comes back without restarting npm start.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevHomeserver, type DevHomeserver } from '../../src/server/dev/devHomeserver.ts';
import { createLogger } from '../../src/common/lib/logger.ts';
import { waitFor } from '../../src/common/lib/waitFor.ts';

const logLines: string[] = [];
let dev: DevHomeserver;

beforeAll(async () => {
  dev = await startDevHomeserver({ publicUrl: 'http://127.0.0.1:9', logger: createLogger({ level: 'info', sink: (line) => logLines.push(line) }) });
}, 120_000);

afterAll(async () => {
  await dev?.stop();
});

async function loginStatus(userId: string, password: string): Promise<number> {
  const response = await fetch(`${dev.synapse.baseUrl}/_matrix/client/v3/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: userId }, password }),
    signal: AbortSignal.timeout(10_000),
  });
  await response.body?.cancel();
  return response.status;
}

describe('the embedded development homeserver', () => {
  it('is started again after its Synapse is killed, with the demo accounts intact', async () => {
    const firstPid = dev.synapse.pid;
    const { userId, password } = dev.users[0]!;
    expect(await loginStatus(userId, password)).toBe(200);
    process.kill(firstPid, 'SIGKILL');
    const killedAt = performance.now();
    await waitFor(() => dev.restarts === 1 || undefined, { timeoutMs: 90_000, description: 'Synapse restarted' });
    console.log(`[integration] dev homeserver answering again ${Math.round(performance.now() - killedAt)} ms after SIGKILL`);
    expect(dev.synapse.pid).not.toBe(firstPid);
    expect(await loginStatus(userId, password)).toBe(200);
    expect(logLines.some((line) => line.includes('development homeserver (Synapse) died'))).toBe(true);
    expect(logLines.some((line) => line.includes('development homeserver restarted'))).toBe(true);
  }, 150_000);

  it('is not started again after stop()', async () => {
    await dev.stop();
    await dev.synapse.exited;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(dev.restarts).toBe(1);
    await expect(dev.synapse.restart()).rejects.toThrow(/stopped/);
  }, 30_000);
});
