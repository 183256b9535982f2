// selectedPath() reads a transport's media path from RTCStatsReport-shaped stats.

import { describe, expect, it } from 'vitest';
import { selectedPath } from '../../../../src/browser/client/mediaPath.ts';

function report(stats: Array<Record<string, unknown>>): Map<string, Record<string, unknown>> {
  return new Map(stats.map((stat) => [String(stat['id']), stat]));
}

describe('selectedPath', () => {
  it('is relay when the selected pair of the transport stats has a relay local candidate', () => {
    const stats = report([
      { id: 'T1', type: 'transport', selectedCandidatePairId: 'P2' },
      { id: 'P1', type: 'candidate-pair', localCandidateId: 'L1', nominated: true, state: 'succeeded' },
      { id: 'P2', type: 'candidate-pair', localCandidateId: 'L2' },
      { id: 'L1', type: 'local-candidate', candidateType: 'host' },
      { id: 'L2', type: 'local-candidate', candidateType: 'relay' },
    ]);
    expect(selectedPath(stats)).toBe('relay');
  });

  it('is direct for host, srflx and prflx candidates, falling back to the nominated succeeded pair', () => {
    for (const candidateType of ['host', 'srflx', 'prflx']) {
      const stats = report([
        { id: 'P1', type: 'candidate-pair', localCandidateId: 'L1', nominated: true, state: 'succeeded' },
        { id: 'L1', type: 'local-candidate', candidateType },
      ]);
      expect(selectedPath(stats)).toBe('direct');
    }
  });

  it('is undefined while no pair is selected or the candidate is missing', () => {
    expect(selectedPath(report([{ id: 'T1', type: 'transport' }]))).toBeUndefined();
    expect(selectedPath(report([{ id: 'T1', type: 'transport', selectedCandidatePairId: 'P1' }, { id: 'P1', type: 'candidate-pair', localCandidateId: 'gone' }]))).toBeUndefined();
  });
});
