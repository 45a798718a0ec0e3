// Every metric the Grafana dashboard and the PrometheusRule use must be exported by the code
// (src/metrics/index.ts): a renamed metric must not leave an empty panel or an alert that never fires.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../src/metrics/index.ts';
import { CHART, one, renderChart, validateObject, type K8sObject } from './helm.ts';
import {
  PROMETHEUS_SERIES,
  dashboardExpressions,
  exposedSeriesNames,
  promqlMetricNames,
  ruleExpressions,
  unknownMetrics,
  type DashboardExpr,
} from './metric-names.ts';

const dashboardFile = join(CHART, 'files', 'dashboards', 'risk-hub.json');

describe('the PromQL name extractor', () => {
  it('finds metric names and skips functions, keywords, label lists, matchers, ranges, strings and Grafana variables', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le, channel) (rate(risk_hub_a_bucket{namespace="$namespace",job=~"x|y"}[$__rate_interval])))' +
          ' / on(pod) group_left(node) max without (instance) (b_total offset 5m) > bool 1e3 unless c and ignoring(x) d',
      ),
    ).toEqual(['risk_hub_a_bucket', 'b_total', 'c', 'd']);
    expect(promqlMetricNames('label_replace(up{a="b"}, "dst", "$1", "src", "(.*)") or vector(0)')).toEqual(['up']);
    expect(promqlMetricNames('sum(rate(x_total[5m:1m])) by (job) * ${factor:raw}')).toEqual(['x_total']);
    expect(promqlMetricNames('1 - 0.5')).toEqual([]);
  });

  it('refuses what it cannot read instead of passing it', () => {
    expect(() => promqlMetricNames('{__name__=~"risk_hub_.+"}')).toThrow(/__name__/);
    expect(() => promqlMetricNames('sum(rate(x[5m])')).not.toThrow(); // unbalanced () is harmless for names
    expect(() => promqlMetricNames('x{a="b"')).toThrow(/unbalanced/);
  });

  it('reads panels (also inside collapsed rows) and query variables of a dashboard', () => {
    const exprs = dashboardExpressions({
      panels: [
        { title: 'a', targets: [{ refId: 'A', expr: 'rate(m1_total[5m])' }] },
        { type: 'row', title: 'r', panels: [{ title: 'b', targets: [{ refId: 'A', expr: 'm2' }] }] },
      ],
      templating: {
        list: [
          { name: 'ns', type: 'query', query: { query: 'label_values(m3{job="x"}, namespace)' } },
          { name: 'all', type: 'query', query: 'label_values(namespace)' },
          { name: 'ds', type: 'datasource', query: 'prometheus' },
        ],
      },
    });
    expect(exprs.map((e) => e.names)).toEqual([['m1_total'], ['m2'], ['m3'], []]);
  });
});

describe('the exported-names check', () => {
  const exported = exposedSeriesNames([
    { name: 'risk_hub_x_total', type: 'counter' },
    { name: 'risk_hub_lat_seconds', type: 'histogram' },
  ]);
  const exprs = (...list: string[]): DashboardExpr[] => list.map((expr, i) => ({ where: `e${i}`, expr, names: promqlMetricNames(expr) }));

  it('accepts exported names, histogram series and Prometheus-made series', () => {
    expect(unknownMetrics(exprs('rate(risk_hub_x_total[5m])', 'histogram_quantile(0.9, rate(risk_hub_lat_seconds_bucket[5m]))', 'up == 0'), exported)).toEqual([]);
  });

  it('detects an unknown name, a typo and a histogram used by its bare name', () => {
    expect(
      unknownMetrics(exprs('rate(risk_hub_y_total[5m])', 'risk_hub_x', 'rate(risk_hub_lat_seconds[5m])', 'rate(risk_hub_x_total_bucket[1m])'), exported),
    ).toEqual([
      { where: 'e0', unknown: ['risk_hub_y_total'] },
      { where: 'e1', unknown: ['risk_hub_x'] },
      { where: 'e2', unknown: ['risk_hub_lat_seconds'] },
      { where: 'e3', unknown: ['risk_hub_x_total_bucket'] },
    ]);
  });

  it('allows only `up` beyond the code', () => {
    expect([...PROMETHEUS_SERIES]).toEqual(['up']);
  });
});

describe('the chart uses only metrics the code exports', () => {
  let exported: Set<string>;
  let rule: K8sObject;
  let dashboardInChart: string;

  beforeAll(async () => {
    exported = exposedSeriesNames(await registry.getMetricsAsJSON());
    // One render with the rule and the dashboard on (and nothing else asked of helm).
    const objects = renderChart([], ['--set', 'metrics.prometheusRule.enabled=true,metrics.dashboard.enabled=true']);
    rule = one(objects, 'PrometheusRule', 'rh-risk-hub');
    dashboardInChart = one(objects, 'ConfigMap', 'rh-risk-hub-dashboard').data!['risk-hub.json']!;
  }, 60_000);

  it('the code exports the metrics this check relies on', () => {
    for (const n of ['risk_hub_consumer_lag_records', 'risk_hub_scorer_ready', 'risk_hub_scorer_batch_duration_seconds_bucket', 'risk_hub_process_cpu_seconds_total']) {
      expect(exported, n).toContain(n);
    }
  });

  it('every dashboard expression uses exported metrics only', () => {
    const dashboard: unknown = JSON.parse(readFileSync(dashboardFile, 'utf8'));
    const exprs = dashboardExpressions(dashboard);
    expect(exprs.length).toBeGreaterThan(20);
    expect(unknownMetrics(exprs, exported)).toEqual([]);
    // The ConfigMap ships the file as it is.
    expect(JSON.parse(dashboardInChart)).toEqual(dashboard);
  });

  it('every alert expression uses exported metrics only', () => {
    validateObject(rule);
    const exprs = ruleExpressions(rule);
    expect(exprs.map((e) => e.where.split('/')[1])).toEqual(
      expect.arrayContaining(['RiskHubConsumerLagHigh', 'RiskHubScorerNotReady', 'RiskHubScorerDeadLettering', 'RiskHubNotificationsDeadLettered', 'RiskHubNotificationsFailing']),
    );
    expect(unknownMetrics(exprs, exported)).toEqual([]);
    for (const e of exprs) expect(e.names.length, e.where).toBeGreaterThan(0);
  });

  it('the dashboard covers every scorer and notifier metric', () => {
    const used = new Set(dashboardExpressions(JSON.parse(readFileSync(dashboardFile, 'utf8')) as unknown).flatMap((e) => e.names));
    const base = (n: string) => n.replace(/_(bucket|sum|count)$/, '');
    const usedBase = new Set([...used].map(base));
    const missing = [...exported].filter((n) => /^(risk_hub_scorer_|risk_hub_notification|risk_hub_consumer_lag_records)/.test(n)).map(base).filter((n) => !usedBase.has(n));
    expect([...new Set(missing)]).toEqual([]);
  });
});
