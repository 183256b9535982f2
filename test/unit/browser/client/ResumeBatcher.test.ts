import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ResumeBatcher, type ResumeSignalling } from '../../../../src/browser/client/ResumeBatcher.ts';

function fakeSignalling(gone: ReadonlySet<string> = new Set()) {
  const calls: string[][] = [];
  const signalling: ResumeSignalling = {
    request: async (_method, data) => {
      calls.push([...data.consumerIds]);
      return {
        results: data.consumerIds.map((consumerId) =>
          gone.has(consumerId) ? { consumerId, ok: false as const, code: 'GONE' as const } : { consumerId, ok: true as const },
        ),
      };
    },
  };
  return { signalling, calls };
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('ResumeBatcher', () => {
  it('resume() called for 150 consumers at once sends three resumeConsumers requests of at most 64 ids', async () => {
    const { signalling, calls } = fakeSignalling();
    const batcher = new ResumeBatcher(signalling, 10);
    const outcomes = Array.from({ length: 150 }, (_, i) => batcher.resume(`c${i}`));
    await vi.advanceTimersByTimeAsync(20);
    expect(await Promise.all(outcomes)).toEqual(Array(150).fill('resumed'));
    expect(calls.map((ids) => ids.length)).toEqual([64, 64, 22]);
  });

  it('a consumer that closed meanwhile resolves gone; another refusal rejects with its code', async () => {
    const { signalling } = fakeSignalling(new Set(['old']));
    const batcher = new ResumeBatcher({
      request: async (method, data) => {
        const answer = await signalling.request(method, data);
        return { results: answer.results.map((r) => (r.consumerId === 'bad' ? { consumerId: 'bad', ok: false as const, code: 'NOT_FOUND' as const } : r)) };
      },
    });
    const old = batcher.resume('old');
    const bad = expect(batcher.resume('bad')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await vi.advanceTimersByTimeAsync(20);
    expect(await old).toBe('gone');
    await bad;
  });
});
