import { describe, expect, it } from 'vitest';
import type { Decision, RiskAlert } from '../../src/contracts.ts';
import { clock, COLOR, decisionCounts, decisionLabel, renderDashboard, renderLine, type Snapshot } from '../../src/demo/view.ts';

const T = Date.UTC(2026, 10, 25, 9, 34);
const alert = (user: string, tier: number, increase: number): RiskAlert => ({
  alert_id: `id-${user}-${tier}`,
  application_id: 'shop',
  environment: 'production',
  user: { key: user, identifiers: {} },
  increase_24h: increase,
  risk_score: increase,
  threshold: 10,
  tier,
  tier_bound: [10, 25, 50][tier - 1]!,
  window_start: T - 86_400_000,
  window_end: T,
  trigger_event_id: 'e',
  contributions: [],
  contributions_truncated: 0,
  triggered_at: T,
});
const counts = (delivered: number) => ({ delivered, retrying: 0, dead_lettered: 0, attempts: delivered, received: delivered });

const snap: Snapshot = {
  runId: 'abc123',
  elapsedMs: 83_000,
  phase: 'running',
  produced: 3210,
  producedPerSec: 41.2,
  scoredPerSec: 40.7,
  eventTime: T,
  speed: 1440,
  caughtUp: false,
  usersTracked: 388,
  top: [
    { key: 'shop/production/mallory', application: 'shop', environment: 'production', user: 'mallory', increase: 53, tier: 3, score: 53, lastEventAt: T, role: 'injection' },
    { key: 'shop/production/user-0042', application: 'shop', environment: 'production', user: 'user-0042', increase: 7, tier: 0, score: 9, lastEventAt: T, role: 'benign' },
  ],
  threshold: 10,
  tierBounds: [25, 50, 100],
  alerts: [
    { alert: alert('mallory', 1, 11), deliveries: { slack: 'delivered', email: 'delivered', webhook: 'delivered' } },
    { alert: alert('mallory', 3, 53), deliveries: { slack: 'delivered', email: 'retrying' } },
  ],
  deliveries: { slack: counts(2), email: { ...counts(1), retrying: 1 }, webhook: counts(1) },
  scorerUrl: 'http://127.0.0.1:9464',
  outDir: '.risk-hub/demo',
  decisions: [],
};

const decision = (user: string, action: Decision['action'], minutes: number, over: Partial<Decision> = {}): Decision => ({
  decision_id: `d-${user}-${action}`,
  application_id: 'demo-shop',
  environment: 'production',
  user: { key: user, identifiers: {} },
  action,
  source: 'POLICY',
  reason: 'tier',
  alert_id: 'a',
  tier: 3,
  made_by: 'policy',
  made_at: T,
  until: T + minutes * 60_000,
  offense: 1,
  simulated: false,
  lifts: null,
  ...over,
});
const alice = { key: 'demo-shop/production/u-1001', application: 'demo-shop', environment: 'production', user: 'u-1001', increase: 54, tier: 3, score: 54, lastEventAt: T, role: 'app: hijacked' };
const withDecisions: Snapshot = {
  ...snap,
  top: [{ ...alice, decision: decision('u-1001', 'BLOCK', 60, { offense: 2 }) }, ...snap.top],
  decisions: [decision('u-1001', 'MONITOR', 60), decision('u-1001', 'CHALLENGE', 15), decision('u-1001', 'BLOCK', 60, { offense: 2 })],
  app: { url: 'http://127.0.0.1:41234', requests: 321, detections: 12, refused: 7 },
  cliConfig: '.risk-hub/demo/cli.yaml',
};

describe('demo view', () => {
  it('renders the dashboard: rates, users, alerts by tier, deliveries, top users, latest alerts, the query command', () => {
    const text = renderDashboard(snap).join('\n');
    expect(text).toContain('run abc123 · 01:23 · event time 2026-11-25 09:34Z (×1440)');
    expect(text).toMatch(/41\/s produced · 41\/s scored · 3,210 in all/);
    expect(text).toContain('388 tracked by the scorer');
    expect(text).toContain('2 fired (tier 1: 1, tier 3: 1)');
    expect(text).toMatch(/slack 2 · email 1 \(1 retrying\) · webhook 1/);
    expect(text).toMatch(/shop\/production\/mallory\s+injection\s+53\s+█+\s+tier 3/);
    expect(text).toMatch(/shop\/production\/user-0042\s+benign\s+7\s+█+\s+below threshold/);
    // Newest alert first, with per-channel marks.
    expect(text).toMatch(/✓ ↻ … {2}tier 3 {2}\+53 +shop\/production\/mallory[\s\S]*✓ ✓ ✓ {2}tier 1 {2}\+11/);
    expect(text).toContain('risk-hub user-risk shop production mallory --url http://127.0.0.1:9464');
    expect(text).not.toContain('\x1b[');
  });

  it('shows the decisions made, the app’s 403 answers, each top user’s active decision and the decisions hints', () => {
    const text = renderDashboard(withDecisions).join('\n');
    expect(text).toContain('decisions   3 made (block 1, challenge 1, monitor 1) · app refused 7 requests (403)');
    expect(text).toMatch(/demo-shop\/production\/u-1001\s+app: hijacked\s+54\s+█+\s+tier 3 · BLOCKED 1h$/m);
    expect(text).toMatch(/shop\/production\/mallory\s+injection\s+53\s+█+\s+tier 3$/m);
    expect(text).toContain('risk-hub -c .risk-hub/demo/cli.yaml decisions list --app demo-shop');
    expect(text).toContain('risk-hub -c .risk-hub/demo/cli.yaml decisions remove --app demo-shop --env production --user u-1001 --reason');
    expect(text).toContain('.risk-hub/demo/decisions.jsonl');
    expect(text).toContain('query a user:  risk-hub -c .risk-hub/demo/cli.yaml user-risk demo-shop production u-1001 --url http://127.0.0.1:9464');
    expect(renderLine(withDecisions)).toContain('webhook 1 · decisions 3 made (block 1, challenge 1, monitor 1) · app refused 7 (403) · top: demo-shop/production/u-1001 54 (tier 3, BLOCKED 1h)');
    // Before any decision: a zero, and no refusals.
    expect(renderDashboard(snap).join('\n')).toMatch(/^decisions {3}0 made$/m);
  });

  it('shows the example Python app beside the Express one: its line, its requests and its 403 answers', () => {
    const py = { ...alice, key: 'demo-shop-py/production/u-1001', application: 'demo-shop-py', role: 'py app: hijacked' };
    const both: Snapshot = {
      ...withDecisions,
      top: [{ ...py, decision: decision('u-1001', 'BLOCK', 60, { offense: 2, application_id: 'demo-shop-py' }) }, ...withDecisions.top],
      pythonApp: { url: 'http://127.0.0.1:41300', requests: 300, detections: 11, refused: 5 },
    };
    const text = renderDashboard(both).join('\n');
    expect(text).toContain('python app  http://127.0.0.1:41300 · 300 requests · 11 attacks detected (Python agent → relay)');
    expect(text).toContain('· app refused 7 requests (403) · python app refused 5 requests (403)');
    expect(text).toMatch(/demo-shop-py\/production\/u-1001\s+py app: hijacked\s+54\s+█+\s+tier 3 · BLOCKED 1h$/m);
    expect(renderLine(both)).toContain('app refused 7 (403) · python app refused 5 (403)');
  });

  it('labels decisions by action and length, and counts lifts apart', () => {
    expect(decisionLabel(decision('x', 'CHALLENGE', 15))).toBe('CHALLENGED 15m');
    expect(decisionLabel(decision('x', 'BLOCK', 24 * 60, { simulated: true }))).toBe('BLOCKED 1d (simulated)');
    expect(decisionCounts([decision('x', 'BLOCK', 15), decision('x', 'LIFT', 15)])).toBe('1 made (block 1) · 1 lifted');
  });

  it('keeps the decision column visible at 80 columns', () => {
    const row = renderDashboard(withDecisions, undefined, 80).find((l) => l.includes('u-1001') && l.includes('hijacked'))!;
    expect(row.length).toBeLessThanOrEqual(80);
    expect(row).toMatch(/BLOCKED 1h$/);
  });

  it('colours only when asked', () => {
    expect(renderDashboard(snap, COLOR).join('\n')).toContain('\x1b[31m');
  });

  it('renders one plain line for --no-tty', () => {
    expect(renderLine(snap)).toBe(
      '[01:23] events 3210 (41/s, scored 41/s) · users 388 · alerts 2 · delivered slack 2 email 1 webhook 1 · top: shop/production/mallory 53 (tier 3), shop/production/user-0042 7',
    );
    expect(clock(3_725_000)).toBe('1:02:05');
  });
});

describe('fit', () => {
  it('cuts to the visible width, ignoring and closing colour sequences', async () => {
    const { fit } = await import('../../src/demo/view.ts');
    expect(fit('abcdef', 4)).toBe('abcd\x1b[0m');
    expect(fit('\x1b[31mabcdef\x1b[39m', 3)).toBe('\x1b[31mabc\x1b[0m');
    expect(fit('ab', 4)).toBe('ab');
    expect(fit('█✓█✓█', 3)).toBe('█✓█\x1b[0m');
  });
});

describe('narrow terminals', () => {
  it('keeps the tier column visible at 80 columns by shortening the bars', () => {
    const lines = renderDashboard(snap, undefined, 80);
    const row = lines.find((l) => l.includes('shop/production/mallory') && l.includes('injection'))!;
    expect(row.length).toBeLessThanOrEqual(80);
    expect(row).toMatch(/tier 3$/);
    expect(lines.find((l) => l.includes('user-0042'))!).toMatch(/below threshold$/);
  });
});
