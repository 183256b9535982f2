import { describe, expect, it } from 'vitest';
import { AsyncQueue } from '../../../../src/common/lib/AsyncQueue.ts';
import { InvalidStateError } from '../../../../src/common/lib/errors.ts';

describe('AsyncQueue', () => {
  it('queue.push() runs tasks one at a time in push order', async () => {
    const queue = new AsyncQueue('test');
    const events: string[] = [];
    const task = (name: string, delayMs: number) => async () => {
      events.push(`start ${name}`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      events.push(`end ${name}`);
      return name;
    };
    const results = await Promise.all([queue.push(task('a', 20)), queue.push(task('b', 1)), queue.push(task('c', 5))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('queue.push() keeps going after a task throws, and passes the error to its caller', async () => {
    const queue = new AsyncQueue('test');
    const failing = queue.push(() => {
      throw new Error('boom');
    });
    const next = queue.push(() => 42);
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe(42);
    expect(queue.pending).toBe(0);
  });

  it('queue.push() rejects with InvalidStateError after close()', async () => {
    const queue = new AsyncQueue('test');
    queue.close();
    await expect(queue.push(() => 1)).rejects.toBeInstanceOf(InvalidStateError);
  });
});
