// The monitoring files of native-config against the code: the alert rules
// and the scrape config pass promtool, the alerts fire on their unit-test
// series, and every metric name in an alert or a dashboard query exists in
// our registry (and every SFU metric is on the dashboard).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SfuMetrics } from '../../../../src/server/metrics/SfuMetrics.ts';
import { silentLogger } from '../../../../src/common/lib/logger.ts';
import { checkRules, describeResult, runPromtool } from '../../../tools/promtool.ts';

const PROMETHEUS_DIR = fileURLToPath(new URL('../../../../native-config/prometheus/', import.meta.url));
const DASHBOARD_FILE = fileURLToPath(new URL('../../../../native-config/grafana/sfu-dashboard.json', import.meta.url));

const metrics = new SfuMetrics({ logger: silentLogger() });
afterAll(() => metrics.close());

/** Every series name a scrape of our registry can contain, histograms expanded. */
function exposedNames(): Set<string> {
  const names = new Set<string>();
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: strings, label matchers,
 * range selectors, grouping label lists and Grafana variables are removed
 * first; what is left that is not a function call, keyword or number is a
 * metric name.
 */
function metricNamesIn(expr: string): string[] {
  let text = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  text = text.replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  text = text.replace(/\{[^}]*\}/g, ' ');
  text = text.replace(/\[[^\]]*\]/g, ' ');
  text = text.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const before = text[match.index - 1];
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 1e9, 5m
    if (/^\s*\(/.test(text.slice(match.index + word.length))) continue; // function call
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    names.push(word);
  }
  return names;
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function alertRules(): Rule[] {
  const doc = parseYaml(readFileSync(PROMETHEUS_DIR + 'alerts.yml', 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  return doc.groups.flatMap((group) => group.rules);
}

/** Every `expr` of the dashboard's panels, and the metric of each `label_values(metric, label)` variable. */
function dashboardQueries(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr?: string }>; panels?: unknown[] }>;
    templating: { list: Array<{ definition?: string }> };
  };
  const exprs: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') exprs.push(value);
        else visit(value);
      }
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating.list) {
    const labelValues = variable.definition?.match(/^label_values\(\s*([^,)]+)\s*,/);
    if (labelValues) exprs.push(labelValues[1]!);
  }
  return exprs;
}

describe('native-config monitoring files', () => {
  it('promtool check rules accepts alerts.yml, and promtool check config accepts prometheus.yml', async () => {
    const rules = await checkRules(PROMETHEUS_DIR + 'alerts.yml');
    expect(rules.exitCode, describeResult(rules)).toBe(0);
    const config = await runPromtool(['check', 'config', PROMETHEUS_DIR + 'prometheus.yml']);
    expect(config.exitCode, describeResult(config)).toBe(0);
  });

  it('promtool test rules: each alert fires on the series of alerts.test.yml and stays silent on healthy ones', async () => {
    const result = await runPromtool(['test', 'rules', PROMETHEUS_DIR + 'alerts.test.yml']);
    expect(result.exitCode, describeResult(result)).toBe(0);
  });

  it('every alert names only metrics of our registry and carries a severity, a summary and a description', () => {
    const known = exposedNames();
    const rules = alertRules();
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(['SfuWorkerDown', 'SfuHighInboundPacketLoss', 'SfuAdmissionFailuresSpike', 'SfuMatrixSyncLagging']),
    );
    for (const rule of rules) {
      const names = metricNamesIn(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      expect(names.filter((name) => !known.has(name)), rule.alert).toEqual([]);
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.['severity']);
      expect(rule.annotations?.['summary'], rule.alert).toBeTruthy();
      expect(rule.annotations?.['description'], rule.alert).toBeTruthy();
    }
  });

  it('every dashboard query names only metrics of our registry, and every SFU metric is on the dashboard', () => {
    const known = exposedNames();
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    const used = new Set<string>();
    for (const query of queries) {
      const names = metricNamesIn(query);
      expect(names.length, query).toBeGreaterThan(0);
      expect(names.filter((name) => !known.has(name)), query).toEqual([]);
      for (const name of names) used.add(name.replace(/_(bucket|sum|count)$/, ''));
    }
    const ours = metrics.registry
      .getMetricsAsArray()
      .map((metric) => (metric as unknown as { name: string }).name)
      .filter((name) => !/^sfu_(process|nodejs)_/.test(name));
    expect(ours.filter((name) => !used.has(name))).toEqual([]);
  });

  it('metricNamesIn() skips functions, keywords, label lists, matchers, ranges, numbers and Grafana variables', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.95, sum by (le, method) (rate(sfu_x_bucket{a="b{c}",d=~"$v"}[$__rate_interval] offset 5m))) / on (instance) group_left (slot) sfu_y > 1e9 and bool sfu_z',
      ),
    ).toEqual(['sfu_x_bucket', 'sfu_y', 'sfu_z']);
  });
});
