import { describe, expect, it } from 'vitest';
import { DecisionsSchema } from '../../src/config/decisions.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import type { DecisionRequest, RiskAlert } from '../../src/contracts.ts';
import {
  decideForAlert,
  decideForRequest,
  expired,
  formatDuration,
  parseDuration,
  parseRequest,
  policyDecisionId,
  remember,
  requestRecord,
  resolveDecisionPolicy,
  type DecisionMemory,
} from '../../src/decisions/index.ts';

// The pure decision step: which rule an alert takes, escalation, exemptions, simulation, never
// weakening a decision that holds, people's requests and lifts.

const NOW = Date.UTC(2026, 11, 3, 12);
const MIN = 60_000;
const HOUR = 60 * MIN;

const config = DecisionsSchema.parse({
  rules: [
    { tier: 1, action: 'monitor', durations: ['1h'] },
    { tier: 2, action: 'challenge', durations: ['15m'] },
    { tier: 3, action: 'block', durations: ['15m', '1h', '24h'] },
  ],
  exempt: { users: ['root'], patterns: ['qa-.*'] },
  applications: { lab: { simulate: true }, quiet: { rules: [] } },
});

function alert(tier: number, over: Partial<RiskAlert> = {}): RiskAlert {
  return {
    alert_id: `alert-${tier}-${Math.random()}`,
    application_id: 'shop',
    environment: 'prod',
    user: { key: 'mallory', identifiers: { email: 'm@example.com' } },
    increase_24h: 30,
    risk_score: 30,
    threshold: 10,
    tier,
    tier_bound: 25,
    window_start: NOW - 24 * HOUR,
    window_end: NOW,
    trigger_event_id: 'e1',
    contributions: [],
    contributions_truncated: 0,
    triggered_at: NOW,
    ...over,
  };
}

const decide = (a: RiskAlert, mem: DecisionMemory = {}, now = NOW) => decideForAlert(a, mem, resolveDecisionPolicy(config, a.application_id), now);

describe('decideForAlert', () => {
  it('takes the rule of the highest tier at or below the alert', () => {
    expect(decide(alert(1)).decision).toMatchObject({ action: 'MONITOR', until: NOW + HOUR, offense: 0, source: 'POLICY', made_by: 'policy' });
    expect(decide(alert(2)).decision).toMatchObject({ action: 'CHALLENGE', until: NOW + 15 * MIN, offense: 1 });
    expect(decide(alert(4)).decision).toMatchObject({ action: 'BLOCK', until: NOW + 15 * MIN, offense: 1, tier: 4 });
  });

  it('has a deterministic id from the alert, and carries the alert id, tier and user', () => {
    const a = alert(3);
    const d = decide(a).decision!;
    expect(d.decision_id).toBe(policyDecisionId(a.alert_id));
    expect(decide(a).decision!.decision_id).toBe(d.decision_id);
    expect(d).toMatchObject({ alert_id: a.alert_id, tier: 3, application_id: 'shop', environment: 'prod', user: { key: 'mallory' }, simulated: false, lifts: null });
  });

  it('escalates: a second block lasts longer than the first, the last duration repeats', () => {
    const mem: DecisionMemory = {};
    const untils: number[] = [];
    for (let i = 0; i < 4; i++) {
      const now = NOW + i * 48 * HOUR; // each after the previous one ended
      const d = decide(alert(3), mem, now).decision!;
      remember(mem, d);
      untils.push(d.until - now);
    }
    expect(untils).toEqual([15 * MIN, HOUR, 24 * HOUR, 24 * HOUR]);
    expect(mem.offenses).toBe(4);
  });

  it('never weakens or shortens a decision that holds, but a stronger or longer one replaces it', () => {
    const mem: DecisionMemory = {};
    remember(mem, decide(alert(3)).decision!); // block 15m
    expect(decide(alert(1), mem)).toEqual({ decision: null, why: 'already-stronger' }); // monitor < block
    expect(decide(alert(2), mem)).toEqual({ decision: null, why: 'already-stronger' });
    // once it ended, a lower tier acts again
    expect(decide(alert(1), mem, NOW + 16 * MIN).decision).toMatchObject({ action: 'MONITOR' });
    // a block that lasts longer (the 2nd offense: 1h) replaces the 15m one
    expect(decide(alert(3), mem, NOW + MIN).decision).toMatchObject({ action: 'BLOCK', offense: 2, until: NOW + MIN + HOUR });
  });

  it('never acts on exempt users (exact keys and anchored patterns)', () => {
    expect(decide(alert(4, { user: { key: 'root', identifiers: {} } }))).toEqual({ decision: null, why: 'exempt' });
    expect(decide(alert(4, { user: { key: 'qa-bot-7', identifiers: {} } }))).toEqual({ decision: null, why: 'exempt' });
    // anchored: a key merely containing the pattern is not exempt
    expect(decide(alert(4, { user: { key: 'not-qa-bot', identifiers: {} } })).decision).not.toBeNull();
  });

  it('per application: simulation marks the decision, an empty rule list decides nothing', () => {
    expect(decide(alert(3, { application_id: 'lab' })).decision).toMatchObject({ action: 'BLOCK', simulated: true });
    expect(decide(alert(3, { application_id: 'quiet' }))).toEqual({ decision: null, why: 'no-rule' });
    // an application without overrides takes the global policy, the same object every time
    expect(resolveDecisionPolicy(config, 'other')).toBe(resolveDecisionPolicy(config, 'shop'));
  });

  it('the default configuration decides nothing (an upgrade never starts blocking anyone)', () => {
    const d = ConfigSchema.parse({}).decisions;
    expect(decideForAlert(alert(9), {}, resolveDecisionPolicy(d, 'shop'), NOW)).toEqual({ decision: null, why: 'no-rule' });
  });
});

/** A valid request of alice's blocking shop/prod/mallory for an hour, with `over` applied. */
const req = (over: Partial<DecisionRequest> = {}): DecisionRequest => ({
  v: 1,
  request_id: '0b7a3c1e-1111-4222-8333-444455556666',
  op: 'add',
  application_id: 'shop',
  environment: 'prod',
  user_key: 'mallory',
  action: 'BLOCK',
  duration_ms: HOUR,
  reason: 'fraud ticket 42',
  made_by: 'alice',
  requested_at: NOW,
  ...over,
});

describe('decideForRequest', () => {

  it('adds a decision lasting from the request time (a retried request gives the same record)', () => {
    const d = decideForRequest(req({}), {}, {}, NOW + 5000)!;
    expect(d).toMatchObject({ action: 'BLOCK', source: 'MANUAL', made_by: 'alice', reason: 'fraud ticket 42', made_at: NOW, until: NOW + HOUR, offense: 1 });
    expect(decideForRequest(req({}), {}, {}, NOW + 9000)).toEqual(d);
  });

  it('a remove lifts the decision that holds, until it would have ended; nothing holds → nothing', () => {
    const mem: DecisionMemory = {};
    remember(mem, decide(alert(3)).decision!);
    const lift = decideForRequest(req({ op: 'remove', action: undefined, duration_ms: undefined, request_id: 'aaaaaaaa-bbbb' }), {}, mem, NOW + MIN)!;
    expect(lift).toMatchObject({ action: 'LIFT', lifts: mem.dec!.id, lifted_action: 'BLOCK', until: mem.dec!.until, source: 'MANUAL' });
    remember(mem, lift);
    expect(decideForRequest(req({ op: 'remove', action: undefined, duration_ms: undefined }), {}, mem, NOW + 2 * MIN)).toBeNull();
    // the user crossing a tier again acts again: a lift does not stop the policy
    expect(decide(alert(3), mem, NOW + 3 * MIN).decision).toMatchObject({ action: 'BLOCK', offense: 2 });
    expect(expired(mem, mem.dec!.until)).toBe(true);
  });
});

describe('parseRequest: bounded and strict', () => {
  const good = req({ reason: 'r' });
  const parse = (value: unknown, key = 'shop/prod/mallory') => parseRequest(key, Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

  it('accepts what requestRecord writes', () => {
    const rec = requestRecord(good);
    expect(parseRequest(rec.key, rec.value)).toEqual({ ok: true, request: good });
  });

  it.each([
    ['not JSON', '{', 'undecodable'],
    ['an unknown field', { ...good, extra: 1 }, 'invalid-request'],
    ['a bad application id', { ...good, application_id: 'a/b' }, 'invalid-request'],
    ['a duration under a minute', { ...good, duration_ms: 1000 }, 'invalid-request'],
    ['an add without an action', { ...good, action: undefined }, 'invalid-request'],
    ['a remove with a duration', { ...good, op: 'remove', action: undefined }, 'invalid-request'],
    ['a LIFT action', { ...good, action: 'LIFT' }, 'invalid-request'],
    ['an oversized value', { ...good, reason: 'x'.repeat(5000) }, 'too-large'],
  ])('refuses %s', (_what, value, reason) => {
    const r = parse(value);
    expect(r.ok).toBe(false);
    expect(r.ok ? undefined : r.reason).toBe(reason);
  });

  it('refuses a request keyed for another user (it would act on the wrong partition)', () => {
    expect(parse(good, 'shop/prod/eve')).toMatchObject({ ok: false, reason: 'key-mismatch' });
    expect(parseRequest('shop/prod/mallory', null)).toMatchObject({ ok: false, reason: 'undecodable' });
  });
});

describe('policy configuration', () => {
  it('loads its own parsed form again (config print → file → load)', () => {
    const once = ConfigSchema.parse({ decisions: { rules: [{ tier: 2, action: 'block', durations: ['15m', 3_600_000] }] } });
    expect(ConfigSchema.parse(JSON.parse(JSON.stringify(once))).decisions).toEqual(once.decisions);
  });

  it('parses durations and refuses bad ones naming the field', () => {
    expect(parseDuration('15m')).toBe(15 * MIN);
    expect(parseDuration('7d')).toBe(7 * 24 * HOUR);
    expect(parseDuration('1.5h')).toBeUndefined();
    expect(formatDuration(90 * MIN)).toBe('1h 30m');
    const bad = ConfigSchema.safeParse({ decisions: { rules: [{ tier: 1, action: 'block', durations: ['soon'] }] } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['decisions', 'rules', 0, 'durations', 0]);
  });

  it.each([
    [{ rules: [{ tier: 2, action: 'block', durations: ['1h'] }, { tier: 1, action: 'monitor', durations: ['1h'] }] }, ['decisions', 'rules', 1, 'tier']],
    [{ rules: [{ tier: 1, action: 'ban', durations: ['1h'] }] }, ['decisions', 'rules', 0, 'action']],
    [{ rules: [{ tier: 1, action: 'block', durations: ['400d'] }] }, ['decisions', 'rules', 0, 'durations', 0]],
    [{ exempt: { patterns: ['(unclosed'] } }, ['decisions', 'exempt', 'patterns', 0]],
    [{ applications: { 'bad/app': { simulate: true } } }, ['decisions', 'applications', 'bad/app']],
  ])('refuses an invalid policy (%j) at %j', (decisions, path) => {
    const r = ConfigSchema.safeParse({ decisions });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path)).toContainEqual(path);
  });
});
