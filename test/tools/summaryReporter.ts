// A vitest reporter that ends the run with one plain line, `vitest: N passed, N failed,
// N skipped`, which CI reads whatever the default reporter's colours. A failure that no
// test case carries (a file that fails to import, a failing beforeAll/afterAll hook, an
// unhandled error, a failing global setup) still counts: every summary line of a failed
// run shows at least one failure.

import type { Reporter, SerializedError, TestModule, TestRunEndReason } from 'vitest/node';

/** Counts of the closing line. */
export interface SummaryCounts {
  passed: number;
  failed: number;
  skipped: number;
}

/** The parts of vitest's TestModule the counting reads (narrow, so a unit test can fake it). */
export type CountedModule = Pick<TestModule, 'state' | 'children' | 'errors'>;

/**
 * Counts test cases by state, then adds one failure for each module or suite that failed
 * without any failed test case inside it, one for unhandled errors, and one when vitest
 * says the run failed but nothing else was counted as failed.
 */
export function countResults(
  modules: ReadonlyArray<CountedModule>,
  unhandledErrors: ReadonlyArray<unknown> = [],
  reason: TestRunEndReason = 'passed',
): SummaryCounts {
  const counts: SummaryCounts = { passed: 0, failed: 0, skipped: 0 };
  for (const module of modules) {
    let failedHere = 0;
    for (const test of module.children.allTests()) {
      const state = test.result().state;
      if (state === 'passed') counts.passed++;
      else if (state === 'failed') failedHere++;
      else counts.skipped++;
    }
    for (const suite of module.children.allSuites()) {
      if (suite.state() !== 'failed') continue;
      const anyTestFailed = [...suite.children.allTests()].some((test) => test.result().state === 'failed');
      if (!anyTestFailed) failedHere++;
    }
    if (failedHere === 0 && (module.state() === 'failed' || module.errors().length > 0)) failedHere = 1;
    counts.failed += failedHere;
  }
  if (unhandledErrors.length > 0) counts.failed++;
  if (reason === 'failed' && counts.failed === 0) counts.failed = 1;
  return counts;
}

/** Prints the closing count line after every run. */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>, reason: TestRunEndReason): void {
    const { passed, failed, skipped } = countResults(testModules, unhandledErrors, reason);
    process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
