// The closing count line CI reads: a failed suite must show as failed even when no test case
// inside it failed (hook failure, import failure, unhandled error).

import { describe, expect, it } from 'vitest';
import { countResults, type CountedModule } from '../../tools/summaryReporter.ts';

type State = 'passed' | 'failed' | 'skipped';

interface FakeTest {
  result(): { state: State };
}

interface FakeSuite {
  state(): State;
  children: { allTests(): Generator<FakeTest> };
}

function test(state: State): FakeTest {
  return { result: () => ({ state }) };
}

function* each<T>(items: readonly T[]): Generator<T> {
  yield* items;
}

function suite(state: State, tests: FakeTest[]): FakeSuite {
  return { state: () => state, children: { allTests: () => each(tests) } };
}

function module(state: State, tests: FakeTest[], suites: FakeSuite[] = [], errors: unknown[] = []): CountedModule {
  return {
    state: () => state,
    errors: () => errors,
    children: { allTests: () => each(tests), allSuites: () => each(suites) },
  } as unknown as CountedModule;
}

describe('countResults()', () => {
  it('counts test cases by state', () => {
    expect(countResults([module('passed', [test('passed'), test('passed'), test('skipped')]), module('failed', [test('failed')])])).toEqual({
      passed: 2,
      failed: 1,
      skipped: 1,
    });
  });

  it('counts a module that failed with every test passed (an afterAll hook failed) as one failure', () => {
    expect(countResults([module('failed', [test('passed'), test('passed')])])).toEqual({ passed: 2, failed: 1, skipped: 0 });
  });

  it('counts a module that failed to import (no tests) as one failure', () => {
    expect(countResults([module('failed', [], [], [new Error('import')])]).failed).toBe(1);
  });

  it('counts a suite whose beforeAll failed and whose tests were skipped as one failure', () => {
    const tests = [test('skipped'), test('skipped')];
    expect(countResults([module('failed', tests, [suite('failed', tests)])])).toEqual({ passed: 0, failed: 1, skipped: 2 });
  });

  it('does not count a failed suite twice when a test inside it failed', () => {
    const tests = [test('failed'), test('passed')];
    expect(countResults([module('failed', tests, [suite('failed', tests)])]).failed).toBe(1);
  });

  it('counts unhandled errors, and a failed run with nothing else failed, as failures', () => {
    expect(countResults([module('passed', [test('passed')])], [new Error('unhandled')]).failed).toBe(1);
    expect(countResults([], [], 'failed').failed).toBe(1);
    expect(countResults([module('passed', [test('passed')])], [], 'passed').failed).toBe(0);
  });
});
