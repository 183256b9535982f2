// Which network path a transport's media takes, read from its PeerConnection's stats: the
// selected ICE candidate pair (`transport.selectedCandidatePairId`, or the nominated succeeded
// pair where the browser does not report it) and the type of its local candidate. `relay`
// means the media goes through a TURN server; `direct` means host, srflx or prflx.

/** The path of one transport; `failed`: ICE failed (neither direct nor relay worked). */
export type MediaPath = 'direct' | 'relay' | 'failed';

/** What we read of an RTCStatsReport (a Map of stats objects by id). */
export interface StatsLike {
  get(id: string): unknown;
  forEach(callback: (value: Record<string, unknown>) => void): void;
}

/** `relay` or `direct` for the selected pair of `report`, or undefined while none is selected. */
export function selectedPath(report: StatsLike): 'direct' | 'relay' | undefined {
  let pairId: string | undefined;
  let nominated: Record<string, unknown> | undefined;
  report.forEach((stat) => {
    if (stat['type'] === 'transport' && typeof stat['selectedCandidatePairId'] === 'string') pairId = stat['selectedCandidatePairId'];
    if (stat['type'] === 'candidate-pair' && stat['nominated'] === true && stat['state'] === 'succeeded') nominated ??= stat;
  });
  const pair = (pairId !== undefined ? report.get(pairId) : nominated) as Record<string, unknown> | undefined;
  if (!pair || typeof pair['localCandidateId'] !== 'string') return undefined;
  const local = report.get(pair['localCandidateId']) as Record<string, unknown> | undefined;
  if (!local || typeof local['candidateType'] !== 'string') return undefined;
  return local['candidateType'] === 'relay' ? 'relay' : 'direct';
}
