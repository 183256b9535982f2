// Used jtis survive a restart: marked ids are on disk before mark() resolves, expired ones
// are pruned, the store is bounded, and an unreadable file refuses older tokens.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JTI_FILE_NAME, JtiStore } from '../../../../src/server/auth/JtiStore.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'sfu-jti-'));

describe('JtiStore', () => {
  it('mark() refuses a second use and the refusal survives reopening the data dir', async () => {
    const dataDir = dir();
    const now = Date.now();
    const first = await JtiStore.open({ dataDir, logger: silentLogger() });
    expect(await first.mark('jti-1', now, now + 60_000)).toBe('marked');
    expect(await first.mark('jti-1', now, now + 60_000)).toBe('replayed');
    const reopened = await JtiStore.open({ dataDir, logger: silentLogger() });
    expect(reopened.has('jti-1', now)).toBe(true);
    expect(await reopened.mark('jti-1', now, now + 60_000)).toBe('replayed');
    expect(reopened.has('jti-2', now)).toBe(false);
  });

  it('concurrent marks are all on disk when each resolves (writes coalesce)', async () => {
    const dataDir = dir();
    const now = Date.now();
    const store = await JtiStore.open({ dataDir, logger: silentLogger() });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.mark(`j${i}`, now, now + 60_000)));
    expect(results.every((r) => r === 'marked')).toBe(true);
    const file = JSON.parse(readFileSync(join(dataDir, JTI_FILE_NAME), 'utf8')) as { used: Array<[string, number]> };
    expect(file.used.map(([jti]) => jti).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `j${i}`).sort());
  });

  it('drops expired ids, on load and on write', async () => {
    const dataDir = dir();
    let now = 1_000_000;
    const store = await JtiStore.open({ dataDir, logger: silentLogger(), now: () => now });
    await store.mark('old', now, now + 1000);
    now += 2000;
    await store.mark('new', now, now + 1000);
    expect(store.size).toBe(1);
    const reopened = await JtiStore.open({ dataDir, logger: silentLogger(), now: () => now + 5000 });
    expect(reopened.size).toBe(0);
  });

  it('is bounded: when maxEntries live ids are kept, mark() answers full', async () => {
    const store = await JtiStore.open({ dataDir: dir(), logger: silentLogger(), maxEntries: 2 });
    const now = Date.now();
    await store.mark('a', now, now + 60_000);
    await store.mark('b', now, now + 60_000);
    expect(await store.mark('c', now, now + 60_000)).toBe('full');
    expect(store.has('c', now)).toBe(false);
  });

  it('an unreadable file makes every token issued before this start count as used', async () => {
    const dataDir = dir();
    writeFileSync(join(dataDir, JTI_FILE_NAME), '{"version":1,"used":[["trunc');
    const startedAt = 5_000_000;
    const store = await JtiStore.open({ dataDir, logger: silentLogger(), now: () => startedAt });
    expect(store.has('anything', startedAt - 1)).toBe(true);
    expect(store.has('anything', startedAt)).toBe(false);
  });
});
