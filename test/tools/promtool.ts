// Test helper around Prometheus' promtool (Debian package `prometheus`, listed
// in native-config/packages/debian-test.txt): lint a scrape (`check metrics`,
// text on stdin) and validate rule files (`check rules`). promtool exits 0
// when clean, 3 when `check metrics` found only lint problems, 1 on errors.

import { spawn } from 'node:child_process';

/** Path of the promtool binary; PROMTOOL overrides it. */
export const PROMTOOL = process.env['PROMTOOL'] ?? '/usr/bin/promtool';

/** What one promtool run printed and how it exited. */
export interface PromtoolResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs promtool with `args`, writing `stdin` (if any) to it; bounded by `timeoutMs` (default 20 000). */
export function runPromtool(args: readonly string[], stdin?: string, timeoutMs = 20_000): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`promtool ${args.join(' ')} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${PROMTOOL} (install the Debian package prometheus)`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // promtool may exit before reading everything; a broken pipe is not our failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin ?? '');
  });
}

/** `promtool check metrics` on a scrape body; exit 0 = clean, 3 = lint problems, 1 = parse error. */
export function checkMetrics(scrape: string): Promise<PromtoolResult> {
  return runPromtool(['check', 'metrics'], scrape);
}

/** `promtool check rules` on rule files. */
export function checkRules(...files: string[]): Promise<PromtoolResult> {
  return runPromtool(['check', 'rules', ...files]);
}

/** One line for an assertion message. */
export function describeResult(result: PromtoolResult): string {
  return `exit ${result.exitCode}\n${result.stdout}${result.stderr}`;
}

/**
 * Samples of a scrape by series, exactly as printed (`name{a="x",b="y"}` or
 * `name`), e.g. `samples.get('sfu_producers{kind="audio"}')`.
 */
export function parseSamples(scrape: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of scrape.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return samples;
}
