import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROMTOOL_VERSION, promtoolPath, renderedRules, runRuleTests } from '../../scripts/promtool.mjs';

// The chart's alerting rules under Prometheus' own rule engine: `promtool check rules` and `promtool
// test rules` with test/deploy/rules.promtool.yaml (input series → the alerts expected, with labels
// and rendered annotations). promtool is built once from the Go module proxy and cached
// (scripts/promtool.mjs --install; .ci/run does it before the tests). Without it the test is skipped
// on a developer machine, and fails under CI.

const built = existsSync(promtoolPath());

describe('alerting rules (promtool)', () => {
  it('every alert of the rendered PrometheusRule has a promtool test', () => {
    const rules = (parse(renderedRules()) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules.map((r) => r.alert));
    const tested = new Set([...readTests().matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    for (const a of ['RiskHubScorerAbsent', 'RiskHubNotifierAbsent', 'RiskHubScorerPartitionHalted']) {
      expect(rules).toContain(a);
      expect(tested.has(a), `${a} has no promtool test`).toBe(true);
    }
  });

  it.skipIf(!built && process.env.CI !== 'true')(`promtool ${PROMTOOL_VERSION} check rules + test rules pass`, { timeout: 60_000 }, () => {
    expect(built, `promtool is not built: node scripts/promtool.mjs --install`).toBe(true);
    const r = runRuleTests();
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS/);
  });
});

function readTests(): string {
  return readFileSync(new URL('./rules.promtool.yaml', import.meta.url), 'utf8');
}
