// WorkerLoadMonitor with a fake CPU reader: load is CPU seconds per second of one
// worker, smoothed; overloaded at or above maxLoad; unknown load (one sample, an
// unreadable /proc, a replaced worker) never counts as overloaded; 0 turns it off.

import { describe, expect, it } from 'vitest';
import { procCpuSeconds, WorkerLoadMonitor } from '../../../../src/server/media/WorkerLoadMonitor.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';

function setup(maxLoad: number) {
  const cpu = new Map<number, number | undefined>([
    [100, 0],
    [200, 0],
  ]);
  const pool = {
    slots: [
      { index: 0, worker: { pid: 100 } },
      { index: 1, worker: { pid: 200 } },
    ],
  };
  const samples: Array<ReadonlyMap<number, number>> = [];
  const monitor = new WorkerLoadMonitor({
    pool,
    maxLoad,
    smoothing: 0.5,
    logger: silentLogger(),
    readCpu: (pid) => cpu.get(pid),
    onSample: (loads) => samples.push(loads),
  });
  return { cpu, pool, monitor, samples };
}

describe('WorkerLoadMonitor', () => {
  it('reports the smoothed share of one core each worker used and refuses at the limit', () => {
    const { cpu, monitor, samples } = setup(0.8);
    monitor.sample(0);
    expect(monitor.load(0)).toBeUndefined();
    expect(monitor.overloaded(0)).toBe(false);
    cpu.set(100, 0.9); // 0.9 s of CPU in 1 s
    cpu.set(200, 0.1);
    monitor.sample(1000);
    expect(monitor.load(0)).toBeCloseTo(0.9);
    expect(monitor.load(1)).toBeCloseTo(0.1);
    expect(monitor.overloaded(0)).toBe(true);
    expect(monitor.overloaded(1)).toBe(false);
    expect(monitor.allOverloaded()).toBe(false);
    cpu.set(100, 1.2); // 0.3 in the next second: EWMA 0.5·0.3 + 0.5·0.9 = 0.6
    monitor.sample(2000);
    expect(monitor.load(0)).toBeCloseTo(0.6);
    expect(monitor.overloaded(0)).toBe(false);
    expect(samples.at(-1)?.get(0)).toBeCloseTo(0.6);
  });

  it('says every worker is overloaded only when each one is', () => {
    const { cpu, monitor } = setup(0.5);
    monitor.sample(0);
    cpu.set(100, 0.6);
    cpu.set(200, 0.7);
    monitor.sample(1000);
    expect(monitor.allOverloaded()).toBe(true);
  });

  it('forgets a worker whose /proc entry is unreadable and starts over for a replacement pid', () => {
    const { cpu, pool, monitor } = setup(0.5);
    monitor.sample(0);
    cpu.set(100, 0.9);
    monitor.sample(1000);
    expect(monitor.overloaded(0)).toBe(true);
    cpu.set(100, undefined);
    monitor.sample(2000);
    expect(monitor.load(0)).toBeUndefined();
    (pool.slots as Array<{ index: number; worker: { pid: number } }>)[0] = { index: 0, worker: { pid: 300 } };
    cpu.set(300, 5);
    monitor.sample(3000);
    expect(monitor.load(0)).toBeUndefined();
    expect(monitor.overloaded(0)).toBe(false);
  });

  it('never refuses with maxLoad 0', () => {
    const { cpu, monitor } = setup(0);
    monitor.sample(0);
    cpu.set(100, 1);
    monitor.sample(1000);
    expect(monitor.load(0)).toBeCloseTo(1);
    expect(monitor.overloaded(0)).toBe(false);
  });

  it('reads its own process from /proc and nothing for a pid that does not exist', () => {
    expect(procCpuSeconds(process.pid)).toBeGreaterThanOrEqual(0);
    expect(procCpuSeconds(2 ** 30)).toBeUndefined();
  });
});
