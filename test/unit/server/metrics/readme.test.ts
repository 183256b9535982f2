// The README's metrics table is the operators' reference: every metric registered in
// src/server/metrics/definitions.ts must have a row there, and every row must name a
// registered metric, so the two cannot drift apart.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../../../', import.meta.url);
const definitions = readFileSync(new URL('src/server/metrics/definitions.ts', ROOT), 'utf8');
const readme = readFileSync(new URL('README.md', ROOT), 'utf8');

const registered = [...definitions.matchAll(/name: '(sfu_[a-z0-9_]+)'/g)].map((match) => match[1]!);
const documented = [...readme.matchAll(/^\| `(sfu_[a-z0-9_]+)` \|/gm)].map((match) => match[1]!);

describe('README metrics table', () => {
  it('finds the registered metrics and the table rows', () => {
    expect(registered.length).toBeGreaterThan(20);
    expect(documented.length).toBeGreaterThan(20);
  });

  it('has a row for every registered metric', () => {
    expect(registered.filter((name) => !documented.includes(name))).toEqual([]);
  });

  it('documents no metric that is not registered', () => {
    expect(documented.filter((name) => !registered.includes(name))).toEqual([]);
  });
});
