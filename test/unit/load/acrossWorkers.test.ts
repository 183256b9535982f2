// The load generator's measurements across workers: the options that set the SFU's
// conference spreading and the pipe-cost mode, the placement summary of a run (routers,
// workers, pipe transports) and the cost of a pipe hop derived from alternating runs.

import { describe, expect, it } from 'vitest';
import { pipeCost, type PipeCostRun } from '../../load/analysis.ts';
import { runPlacement } from '../../load/figures.ts';
import { parseCliOptions } from '../../load/options.ts';

describe('parseCliOptions across workers', () => {
  it('passes conference spreading settings through, 0 keeping a room on one worker', () => {
    expect(parseCliOptions(['--workers', '2', '--spread-consumers', '0'])).toMatchObject({ workers: 2, spreadConsumersPerWorker: 0 });
    expect(parseCliOptions(['--spread-consumers', '120', '--spread-worker-load', '0.3'])).toMatchObject({ spreadConsumersPerWorker: 120, spreadWorkerLoad: 0.3 });
    expect(parseCliOptions([])).toMatchObject({ spreadConsumersPerWorker: undefined, spreadWorkerLoad: undefined });
  });

  it('refuses spreading settings out of range or for the baseline, with every fault', () => {
    expect(() => parseCliOptions(['--spread-consumers', '-1', '--spread-worker-load', '0'])).toThrow(/integer >= 0[\s\S]*\(0, 1\]/);
    expect(() => parseCliOptions(['--spread-consumers', '2.5'])).toThrow(/integer >= 0/);
    expect(() => parseCliOptions(['--target', 'baseline', '--spread-consumers', '10'])).toThrow(/settings of our SFU/);
  });

  it('runs the pipe-cost mode on two workers unless told more, and refuses one worker or no spreading', () => {
    expect(parseCliOptions(['--pipe-cost'])).toMatchObject({ mode: 'pipe-cost', workers: 2, spreadConsumersPerWorker: undefined });
    expect(parseCliOptions(['--pipe-cost', '--workers', '3', '--spread-consumers', '50'])).toMatchObject({ workers: 3, spreadConsumersPerWorker: 50 });
    expect(() => parseCliOptions(['--pipe-cost', '--workers', '1', '--spread-consumers', '0', '--rooms', '2'])).toThrow(
      /--workers 2 or more[\s\S]*above 0[\s\S]*--rooms 1/,
    );
  });

  it('finds the largest room on two spreading workers with the max mode', () => {
    expect(parseCliOptions(['--max', '--max-start', '4', '--max-step', '2', '--workers', '2', '--spread-consumers', '1'])).toMatchObject({
      mode: 'max',
      maxStart: 4,
      maxStep: 2,
      workers: 2,
      spreadConsumersPerWorker: 1,
    });
  });
});

describe('runPlacement', () => {
  const noCascade = { cascadePacketsByNode: [0], cascadeConsumers: 0, nodes: [] };

  it('counts the workers and routers the rooms used and their pipe transports', () => {
    const placement = runPlacement(
      {
        conferences: [
          {
            id: 'load-0',
            node: 0,
            routers: [
              { slotIndex: 0, participants: 3, pipeTransports: 1, primary: true },
              { slotIndex: 1, participants: 3, pipeTransports: 1, primary: false },
            ],
            participants: [],
          },
          { id: 'load-1', node: 0, routers: [{ slotIndex: 1, participants: 2, pipeTransports: 0, primary: true }], participants: [] },
        ],
        pipedPackets: 1234,
        pipeConsumers: 12,
        ...noCascade,
      },
      { spreadConsumersPerWorker: 1 },
    );
    expect(placement).toMatchObject({ spreadConsumersPerWorker: 1, spreadWorkerLoad: undefined, workersUsed: 2, maxRoutersPerRoom: 2, pipeTransports: 2, pipeConsumers: 12 });
    expect(runPlacement({ conferences: [], pipedPackets: 0, pipeConsumers: 0, ...noCascade }, {})).toMatchObject({ workersUsed: 0, maxRoutersPerRoom: 0, pipeTransports: 0 });
  });
});

describe('pipeCost', () => {
  const run = (label: string, workerUsPerPacket: number, pipedPackets: number, routers: number): PipeCostRun => ({
    label,
    window: { workerUsPerPacket, forwardedPackets: 100_000, pipedPackets, pipedPps: pipedPackets / 10 },
    placement: { maxRoutersPerRoom: routers },
  });

  it('derives the extra worker CPU per piped packet from the same room on one worker and spread over two', () => {
    // 100 000 forwarded packets: 8 µs each on one worker, 9 µs spread, 10 000 of them crossed a pipe → 10 µs per piped packet.
    const cost = pipeCost([run('one-1', 8, 0, 1), run('spread-1', 9, 10_000, 2), run('one-2', 8, 0, 1), run('spread-2', 8.5, 10_000, 2)]);
    expect(cost.pairs).toHaveLength(2);
    expect(cost.pairs[0]).toMatchObject({ oneRouters: 1, spreadRouters: 2, pipedPerForwarded: 0.1 });
    expect(cost.pairs[0]!.usPerPipedPacket).toBeCloseTo(10);
    expect(cost.pairs[1]!.usPerPipedPacket).toBeCloseTo(5);
    expect(cost.usPerPipedPacket.mean).toBeCloseTo(7.5);
    expect(cost.ratio.mean).toBeCloseTo((9 / 8 + 8.5 / 8) / 2);
    expect(cost.pipedPps.mean).toBe(1000);
  });

  it('gives no per-packet figure when nothing crossed a pipe', () => {
    expect(Number.isNaN(pipeCost([run('one-1', 8, 0, 1), run('spread-1', 8, 0, 1)]).pairs[0]!.usPerPipedPacket)).toBe(true);
  });
});
