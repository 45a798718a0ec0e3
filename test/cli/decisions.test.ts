import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import type { Decision, RiskAlert } from '../../src/contracts.ts';
import { parseRequest, requestRecord } from '../../src/decisions/index.ts';
import { buildAddRequest, buildRemoveRequest, checkNotExempt, configuredApplication, formatApplied, formatList, formatQueued, listed, osUserName, parseWait } from '../../src/cli/decisions.ts';
import { formatDecisionPreview, previewDecision } from '../../src/cli/config-test.ts';
import { formatDecisionLine, formatUserRisk, type QueryResult } from '../../src/cli/user-risk.ts';
import { ConfigError } from '../../src/errors.ts';

// `risk-hub decisions`, `config test` and `user-risk`: argument validation and output, no broker.

const ROOT = new URL('../../', import.meta.url).pathname;
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const H = 3_600_000;
const ID = '6f1c9e4e-2d7b-4a55-9a0e-6c1f0b7d2a11';

const config = (decisions: Record<string, unknown> = {}) => loadConfig({ env: {}, overrides: { decisions } }) as Config;

function decision(over: Omit<Partial<Decision>, 'user'> & { user: string }): Decision {
  return {
    decision_id: `d-${over.user}`,
    application_id: 'shop',
    environment: 'production',
    action: 'BLOCK',
    source: 'MANUAL',
    reason: 'test',
    alert_id: null,
    tier: null,
    made_by: 'bob',
    made_at: NOW,
    until: NOW + H,
    offense: 1,
    simulated: false,
    lifts: null,
    ...over,
    user: { key: over.user, identifiers: {} },
  };
}

const add = { app: 'shop', user: 'alice', action: 'block', for: '1h', reason: 'stuffing', by: 'bob' };

describe('decisions add / remove: arguments', () => {
  it('builds the request the scorer accepts: user key, action, duration, author, time', () => {
    const r = buildAddRequest({ ...add, action: 'CHALLENGE', env: 'staging' }, NOW, ID);
    expect(r).toEqual({ v: 1, request_id: ID, op: 'add', application_id: 'shop', environment: 'staging', user_key: 'alice', action: 'CHALLENGE', duration_ms: H, reason: 'stuffing', made_by: 'bob', requested_at: NOW });
    const { key, value } = requestRecord(r);
    expect(key).toBe('shop/staging/alice');
    expect(parseRequest(key, value)).toEqual({ ok: true, request: r });
    expect(buildAddRequest(add, NOW, ID).environment).toBe('production');
    expect(buildAddRequest({ ...add, by: undefined }, NOW, ID).made_by).toBe(osUserName());
    expect(buildRemoveRequest({ app: 'shop', user: 'alice', reason: 'ok', by: 'bob' }, NOW, ID)).toMatchObject({ op: 'remove', user_key: 'alice' });
    expect(buildRemoveRequest({ app: 'shop', user: 'alice', reason: 'ok' }, NOW, ID)).not.toHaveProperty('action');
  });

  it.each([
    [{ for: '1x' }, '--for "1x" is not a duration: write a whole number and a unit, e.g. 15m, 1h, 7d'],
    [{ for: 'forever' }, '--for "forever" is not a duration: write a whole number and a unit, e.g. 15m, 1h, 7d'],
    [{ for: '30s' }, '--for 30s is outside [1m, 365d]'],
    [{ for: '366d' }, '--for 366d is outside [1m, 365d]'],
    [{ action: 'ban' }, '--action "ban": expected block, challenge or monitor'],
    [{ action: 'lift' }, '--action "lift": expected block, challenge or monitor'],
    [{ app: 'sh/op' }, /^unknown application or user: application_id "sh\/op" must match/],
    [{ app: '' }, /^unknown application or user: application_id "" must match/],
    [{ env: 'prod env' }, /^unknown application or user: environment "prod env" must match/],
    [{ user: '  ' }, 'unknown application or user: user.key must be a non-blank string'],
    [{ user: 'u'.repeat(257) }, 'unknown application or user: user.key is 257 bytes of UTF-8, above the limit of 256'],
    [{ reason: undefined }, '--reason is required and must not be blank'],
    [{ reason: ' ' }, '--reason is required and must not be blank'],
    [{ reason: 'é'.repeat(257) }, '--reason is 514 bytes of UTF-8, above the limit of 512'],
    [{ by: 'b'.repeat(129) }, '--by is 129 bytes of UTF-8, above the limit of 128'],
  ])('refuses bad input in one line (case %#)', (over, message) => {
    let err: unknown;
    try {
      buildAddRequest({ ...add, ...over }, NOW, ID);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('RH_USAGE');
    const m = (err as Error).message;
    expect(m).not.toContain('\n');
    if (typeof message === 'string') expect(m).toBe(message);
    else expect(m).toMatch(message);
  });

  it('bounds the wait for the scorer to [1s, 10m]', () => {
    expect(parseWait('15s')).toBe(15_000);
    expect(parseWait('10m')).toBe(600_000);
    expect(() => parseWait('0s')).toThrow('--timeout "0s": expected a duration within [1s, 10m], e.g. 15s');
    expect(() => parseWait('11m')).toThrow(/within \[1s, 10m\]/);
    expect(() => parseWait('soon')).toThrow(/within \[1s, 10m\]/);
  });

  it('knows applications named in scoring.applications or decisions.applications', () => {
    const c = loadConfig({ env: {}, overrides: { scoring: { applications: { shop: {} } }, decisions: { applications: { blog: { simulate: true } } } } }) as Config;
    expect(configuredApplication(c, 'shop')).toBe(true);
    expect(configuredApplication(c, 'blog')).toBe(true);
    expect(configuredApplication(c, 'ghost')).toBe(false);
    expect(configuredApplication(c, 'constructor')).toBe(false);
  });

  it('refuses exempt users (exact and patterns, per application override)', () => {
    const c = config({ exempt: { users: ['admin'], patterns: ['.*@corp\\.example'] }, applications: { blog: { exempt: { users: ['editor'] } } } });
    expect(() => checkNotExempt(c, 'shop', 'admin')).toThrow('user "admin" is exempt in the decisions policy of shop (decisions.exempt): refused; pass --force to decide anyway');
    expect(() => checkNotExempt(c, 'shop', 'ops@corp.example')).toThrow(/exempt/);
    expect(() => checkNotExempt(c, 'shop', 'ops@corp.example.evil')).not.toThrow();
    expect(() => checkNotExempt(c, 'shop', 'alice')).not.toThrow();
    expect(() => checkNotExempt(c, 'blog', 'admin')).not.toThrow(); // the override replaces the global list
    expect(() => checkNotExempt(c, 'blog', 'editor')).toThrow(/exempt/);
  });
});

describe('decisions: output', () => {
  it('prints one line for the scorer\'s answer', () => {
    expect(formatApplied(decision({ user: 'alice', decision_id: 'abc' }))).toBe('blocked shop/production/alice for 1h, until 2026-01-15 13:00Z, decision abc');
    expect(formatApplied(decision({ user: 'bo', action: 'CHALLENGE', until: NOW + 90 * 60_000, decision_id: 'x' }))).toBe('challenged shop/production/bo for 1h 30m, until 2026-01-15 13:30Z, decision x');
    expect(formatApplied(decision({ user: 'c', action: 'MONITOR', until: NOW + 7 * 24 * H, decision_id: 'y', simulated: true }))).toBe('monitored shop/production/c for 7d, until 2026-01-22 12:00Z, decision y (simulated: recorded, not enforced)');
    expect(formatApplied(decision({ user: 'alice', action: 'LIFT', lifts: 'abc', decision_id: 'z' }))).toBe('lifted the decision abc of shop/production/alice, decision z');
    const q = formatQueued(buildAddRequest(add, NOW, ID), 'risk-decision-requests', 4, 15_000);
    expect(q).toBe(`request ${ID} for shop/production/alice is queued on risk-decision-requests (partition 4) but no scorer applied it within 15s: is a scorer running? (risk-hub scorer); it applies the request when it runs`);
  });

  it('lists active decisions only (unless --all), oldest first, as a table', () => {
    const latest = new Map<string, Decision | null>([
      ['shop/production/alice', decision({ user: 'alice', made_at: NOW - 2000 })],
      ['shop/production/bob', decision({ user: 'bob', action: 'CHALLENGE', source: 'POLICY', made_by: 'policy', reason: 'tier 3: +80 points in 24 h (above 75)', tier: 3, made_at: NOW - 5000, until: NOW + 15 * 60_000 })],
      ['shop/production/carol', decision({ user: 'carol', until: NOW - 1 })],
      ['shop/production/dave', decision({ user: 'dave', action: 'LIFT', lifts: 'd' })],
      ['shop/production/erin', null],
      ['shop/staging/gina', decision({ user: 'gina', environment: 'staging', simulated: true, made_at: NOW - 1000 })],
    ]);
    expect(listed(latest, NOW).map((d) => d.user.key)).toEqual(['bob', 'alice', 'gina']);
    expect(listed(latest, NOW, true).map((d) => d.user.key)).toEqual(['bob', 'alice', 'gina', 'carol', 'dave']);
    const text = formatList('shop', listed(latest, NOW), NOW);
    expect(text.split('\n')).toEqual([
      'shop: 3 active decisions',
      'ACTION       USER              UNTIL              REMAINING  SOURCE  MADE BY  REASON',
      'CHALLENGE    production/bob    2026-01-15 12:15Z  15m        POLICY  policy   tier 3: +80 points in 24 h (above 75)',
      'BLOCK        production/alice  2026-01-15 13:00Z  1h         MANUAL  bob      test',
      'BLOCK (sim)  staging/gina      2026-01-15 13:00Z  1h         MANUAL  bob      test',
      '',
    ]);
    expect(formatList('shop', listed(latest, NOW, true), NOW, true)).toMatch(/carol +2026-01-15 11:59Z +expired/);
    expect(formatList('shop', listed(latest, NOW, true), NOW, true)).toMatch(/LIFT +production\/dave .* lifted/);
    expect(formatList('blog', [], NOW)).toBe('blog: no active decisions\n');
  });

  it('user-risk: the decision line', () => {
    expect(formatDecisionLine({ decision: null })).toBe('decision         none');
    expect(formatDecisionLine({ error: 'cannot reach Kafka' })).toBe('decision         unknown (cannot reach Kafka)');
    expect(formatDecisionLine(undefined)).toBeUndefined();
    const d = decision({ user: 'alice', source: 'POLICY', tier: 2, made_by: 'policy', reason: 'tier 2: +30 points', decision_id: 'abc' });
    expect(formatDecisionLine({ decision: d }, NOW + 30 * 60_000)).toBe('decision         BLOCK until 2026-01-15 13:00Z (30m left; policy, tier 2: tier 2: +30 points) abc');
    expect(formatDecisionLine({ decision: { ...d, source: 'MANUAL', made_by: 'bob', simulated: true } }, NOW)).toMatch(/^decision {9}BLOCK \(simulated, not enforced\) until .*manual, by bob/);
    const r = { url: 'http://s', redirected: false, answer: { application_id: 'shop', environment: 'production', user: 'alice', partition: 1, known: false } } as unknown as QueryResult;
    expect(formatUserRisk(r, 10, { decision: null }).split('\n')).toEqual(['shop/production/alice  (partition 1, answered by http://s)', 'no events scored for this user: increase 0, tier 0', 'decision         none', '']);
    expect(formatUserRisk(r, 10)).not.toContain('decision');
  });
});

describe('config test: the decision an alert would produce', () => {
  const alert = (tier: number, over: Partial<RiskAlert> = {}): RiskAlert => ({
    alert_id: 'a1',
    application_id: 'shop',
    environment: 'production',
    user: { key: 'alice', identifiers: {} },
    increase_24h: 37,
    risk_score: 120,
    threshold: 10,
    tier,
    tier_bound: 25,
    window_start: NOW - 24 * H,
    window_end: NOW,
    trigger_event_id: 'e',
    contributions: [],
    contributions_truncated: 0,
    triggered_at: NOW,
    ...over,
  });
  const c = config({
    rules: [
      { tier: 1, action: 'monitor', durations: ['1h'] },
      { tier: 2, action: 'block', durations: ['15m', '1h', '1d'] },
    ],
    exempt: { users: ['admin'], patterns: ['.*@corp\\.example'] },
    applications: { blog: { simulate: true, rules: [{ tier: 3, action: 'challenge', durations: ['10m', '20m'] }] } },
  });

  it('shows the rule, the decision for a first offense and the escalation', () => {
    const p = previewDecision(c, alert(3), NOW);
    expect(p).toMatchObject({ channel: 'decision', policy: 'decisions (global)', simulate: false, rule: { tier: 2, action: 'BLOCK', durations: ['15m', '1h', '1d'] }, escalation: ['15m', '1h', '1d'], exempt: { users: ['admin'], patterns: ['.*@corp\\.example'] } });
    expect(p.decision).toMatchObject({ action: 'BLOCK', until: NOW + 15 * 60_000, offense: 1, source: 'POLICY', simulated: false });
    expect(formatDecisionPreview(p)).toEqual([
      '\n== decision (decisions (global))',
      '   → BLOCK for 15m (1st offense)\n     because tier 3 takes rule { tier: 2, action: block }',
      '     escalation: 1st 15m, 2nd 1h, 3rd 1d (the last duration repeats)',
      '   exempt: "admin", /.*@corp\\.example/',
    ]);
  });

  it('shows the application override, simulation, exemptions and alerts no rule covers', () => {
    const blog = previewDecision(c, alert(3, { application_id: 'blog' }), NOW);
    expect(blog).toMatchObject({ policy: 'decisions.applications.blog (over the global decisions section)', simulate: true, escalation: ['10m', '20m', '20m'] });
    expect(blog.decision).toMatchObject({ action: 'CHALLENGE', simulated: true });
    expect(formatDecisionPreview(blog)[0]).toBe('\n== decision (decisions.applications.blog (over the global decisions section), SIMULATION: recorded and notified, never enforced)');
    const none = previewDecision(c, alert(2, { application_id: 'blog' }), NOW);
    expect(none.decision).toBeNull();
    expect(formatDecisionPreview(none)[1]).toBe('   no decision: no rule covers this tier (decisions.rules)');
    const exempt = previewDecision(c, alert(3, { user: { key: 'ops@corp.example', identifiers: {} } }), NOW);
    expect(exempt).toMatchObject({ decision: null, why: 'the user is exempt (decisions.exempt)' });
    expect(previewDecision(c, alert(1), NOW)).toMatchObject({ escalation: [], decision: { action: 'MONITOR', until: NOW + H, offense: 0 } });
    expect(formatDecisionPreview(previewDecision(config(), alert(3), NOW)).slice(1)).toEqual(['   no decision: no rule covers this tier (decisions.rules)', '   exempt: nobody']);
  });
});

describe('an invalid decisions policy stops start-up naming the field', () => {
  it.each([
    [{ rules: [{ tier: 2, action: 'block', durations: ['1x'] }] }, 'decisions.rules.0.durations.0: "1x" is not a duration'],
    [{ rules: [{ tier: 2, action: 'block', durations: ['30s'] }] }, 'decisions.rules.0.durations.0: 30s is outside [1m, 365d]'],
    [{ rules: [{ tier: 2, action: 'ban', durations: ['1h'] }] }, 'decisions.rules.0.action:'],
    [{ rules: [{ tier: 2, action: 'block', durations: ['1h'] }, { tier: 2, action: 'block', durations: ['1h'] }] }, 'decisions.rules.1.tier: rules must be in strictly increasing tier order (2 after 2)'],
    [{ exempt: { patterns: ['(['] } }, 'decisions.exempt.patterns.0: not a regular expression'],
    [{ applications: { 'sh/op': { simulate: true } } }, 'decisions.applications.sh/op: no alert of application_id "sh/op" can exist'],
    [{ simulate: 'yes' }, 'decisions.simulate:'],
    [{ rule: [] }, 'decisions: Unrecognized key: "rule"'],
  ])('%j', (decisions, field) => {
    expect(() => config(decisions)).toThrow(ConfigError);
    expect(() => config(decisions)).toThrow(field);
  });

  it('from a file, through the CLI: one line, exit 1', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'rh-decisions-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'decisions:\n  rules:\n    - { tier: 2, action: block, durations: [15m, forever] }\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '-c', file, 'config', 'test', '--alert', 'test/notify/fixtures/alert.json'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RISK_HUB_CONFIG: '' }, timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`invalid configuration: ${file}: decisions.rules.0.durations.1: "forever" is not a duration`);
  });

  it('decisions add with a bad duration: one line, exit 1, before any connection', { timeout: 60_000 }, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'decisions', 'add', '--app', 'shop', '--user', 'alice', '--action', 'block', '--for', '2 weeks', '--reason', 'r'], {
      cwd: ROOT,
      encoding: 'utf8',
      // Nothing listens there: validation must fail first.
      env: { ...process.env, RISK_HUB_CONFIG: '', KAFKA_BROKERS: '127.0.0.1:9', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:9' },
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('risk-hub: --for "2 weeks" is not a duration: write a whole number and a unit, e.g. 15m, 1h, 7d [RH_USAGE]\n');
  });
});
