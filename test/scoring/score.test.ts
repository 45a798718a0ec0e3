import { describe, expect, it } from 'vitest';
import type { Attack } from '../../src/contracts.ts';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { alertIdFor, emptyUserState, isIdle, isUserState, resolvePolicy, riskView, scoreEvent, type Policy, type ScoreResult, type UserState } from '../../src/scoring/index.ts';
import { attack, DAY, HOUR, MINUTE, NOW, policyWith, T0 } from './fixtures.ts';

const KEY = { application_id: 'app', environment: 'production', user: 'alice' };

function run(events: Attack[], policy: Policy = policyWith(), state: UserState = emptyUserState(), now = NOW): ScoreResult[] {
  return events.map((e) => scoreEvent(state, e, policy, now));
}
const alertsOf = (results: ScoreResult[]) => results.flatMap((r) => (r.alert ? [r.alert] : []));

describe('threshold boundary', () => {
  it('exactly 10 points in an hour do not fire; one more point fires once, listing the contributions', () => {
    const events = Array.from({ length: 11 }, (_, i) => attack({ at: T0 + i * 5 * MINUTE }));
    const results = run(events);
    expect(alertsOf(results.slice(0, 10))).toEqual([]);
    const alerts = alertsOf(results);
    expect(alerts).toHaveLength(1);
    const a = alerts[0]!;
    expect(a).toMatchObject({ tier: 1, tier_bound: 10, increase_24h: 11, risk_score: 11, threshold: 10, trigger_event_id: events[10]!.event_id });
    // 10 listed (maxContributions), newest first among equal points; the oldest one left out.
    expect(a.contributions.map((c) => c.event_id)).toEqual(events.slice(1).reverse().map((e) => e.event_id));
    expect(a.contributions_truncated).toBe(1);
  });

  it('6 points at T and 6 at T+24h+1ms (or T+24h) do not fire; at T+23h59m they do', () => {
    for (const [later, fires] of [
      [DAY + 1, false],
      [DAY, false],
      [DAY - 1, true],
      [23 * HOUR + 59 * MINUTE, true],
    ] as const) {
      const results = run([attack({ at: T0, severity: 'HIGH' }), attack({ at: T0 + later, severity: 'HIGH' })]);
      expect(alertsOf(results).length, `second event at T+${later}ms`).toBe(fires ? 1 : 0);
    }
  });

  it('counts an out-of-order event inside the window', () => {
    const results = run([attack({ at: T0 + 10 * HOUR, severity: 'HIGH' }), attack({ at: T0, severity: 'HIGH' })]);
    expect(alertsOf(results)).toMatchObject([{ increase_24h: 12, window_end: T0 + 10 * HOUR, triggered_at: T0 + 10 * HOUR }]);
  });
});

describe('tiers and re-arm', () => {
  it('20 more attacks above the threshold alert nothing new until 25 is crossed', () => {
    const state = emptyUserState();
    const first = run(Array.from({ length: 11 }, (_, i) => attack({ at: T0 + i * MINUTE })), policyWith(), state);
    expect(alertsOf(first).map((a) => a.tier)).toEqual([1]);
    const more = run(Array.from({ length: 20 }, (_, i) => attack({ at: T0 + (20 + i) * MINUTE })), policyWith(), state);
    // increase 12..31: tier 2 (> 25) is reached by the 15th (26 points), alerted once.
    expect(more.map((r) => r.alert?.tier ?? 0)).toEqual([...Array(14).fill(0), 2, ...Array(5).fill(0)]);
    expect(more[14]!.alert).toMatchObject({ increase_24h: 26, tier_bound: 25 });
  });

  it('re-arms once the increase has fallen to the threshold or below, and a new crossing alerts again', () => {
    const state = emptyUserState();
    const p = policyWith();
    const a1 = run([attack({ at: T0, points: 11 })], p, state);
    expect(alertsOf(a1).map((a) => a.tier)).toEqual([1]);
    // 24 h later the 11 points have left: the window before this event is 0 <= 10, re-armed.
    const a2 = run([attack({ at: T0 + DAY, points: 11 })], p, state);
    expect(alertsOf(a2)).toMatchObject([{ tier: 1, increase_24h: 11, window_start: T0, window_end: T0 + DAY }]);
  });

  it('falling below a tier and climbing back alerts nothing new unless re-armed', () => {
    const state = emptyUserState();
    const p = policyWith();
    const r = run(
      [
        attack({ at: T0, points: 15 }), // 15: tier 1
        attack({ at: T0 + HOUR, points: 15 }), // 30: tier 2
        attack({ at: T0 + DAY + 1, points: 0 }), // 15 (still > 10, not re-armed)
        attack({ at: T0 + DAY + 2, points: 15 }), // 30 again: nothing new
        attack({ at: T0 + DAY + 3, points: 25 }), // 55: tier 3
      ],
      p,
      state,
    );
    expect(r.map((x) => x.alert?.tier ?? 0)).toEqual([1, 2, 0, 0, 3]);
  });

  it('sum exactly at the threshold re-arms (observed at the next event)', () => {
    const state = emptyUserState();
    const p = policyWith();
    const r = run(
      [
        attack({ at: T0, points: 1 }),
        attack({ at: T0 + HOUR, points: 10 }), // 11: tier 1
        attack({ at: T0 + DAY, points: 0 }), // window (T0, T0+DAY]: 10 <= 10, re-armed
        attack({ at: T0 + DAY + 1, points: 1 }), // 11 again: alerts again
      ],
      p,
      state,
    );
    expect(r.map((x) => x.alert?.tier ?? 0)).toEqual([0, 1, 0, 1]);
    expect(riskView(state, p, KEY)).toMatchObject({ increase_24h: 11, tier: 1, alerted_tier: 1 });
  });

  it('one event jumping several tiers raises one alert carrying the highest tier', () => {
    const r = run([attack({ at: T0, points: 5 }), attack({ at: T0 + 1, points: 60 }), attack({ at: T0 + 2, points: 100 })]);
    expect(alertsOf(r)).toMatchObject([
      { tier: 3, tier_bound: 50, increase_24h: 65 },
      { tier: 4, tier_bound: 100, increase_24h: 165 },
    ]);
  });
});

describe('duplicates', () => {
  it('count once and leave the state untouched', () => {
    const state = emptyUserState();
    const e = attack({ at: T0, points: 6 });
    run([e], policyWith(), state);
    const before = JSON.stringify(state);
    const [again] = run([{ ...e, occurred_at: T0 + HOUR }], policyWith(), state);
    expect(again).toEqual({ outcome: 'duplicate', points: 0, clamped: false, alert: null });
    expect(JSON.stringify(state)).toBe(before);
    // After a JSON round trip too.
    const restored = JSON.parse(before) as UserState;
    expect(run([e], policyWith(), restored)[0]!.outcome).toBe('duplicate');
  });

  it('are remembered for the last maxRememberedEvents scored events only', () => {
    const state = emptyUserState();
    const p = policyWith({ maxRememberedEvents: 16 });
    const first = attack({ at: T0, points: 0 });
    run([first, ...Array.from({ length: 15 }, () => attack({ at: T0, points: 0 }))], p, state);
    expect(run([first], p, state)[0]!.outcome).toBe('duplicate');
    run([attack({ at: T0, points: 0 })], p, state); // the 17th scored id pushes `first` out
    expect(run([first], p, state)[0]!.outcome).toBe('scored');
    expect(state.ids).toHaveLength(16);
  });
});

describe('late events', () => {
  it('at or before T − 24h are dropped without touching the state', () => {
    const state = emptyUserState();
    run([attack({ at: T0 + 2 * DAY, points: 5 })], policyWith(), state);
    const before = JSON.stringify(state);
    expect(run([attack({ at: T0 + DAY, points: 50 })], policyWith(), state)[0]).toEqual({ outcome: 'late', points: 0, clamped: false, alert: null });
    expect(JSON.stringify(state)).toBe(before);
    expect(run([attack({ at: T0 + DAY + 1, points: 6 })], policyWith(), state)[0]).toMatchObject({ outcome: 'scored', points: 6, alert: { increase_24h: 11 } });
  });

  it('within lateGraceMs are scored for the lifetime score but not in the window', () => {
    const state = emptyUserState();
    const p = policyWith({ lateGraceMs: HOUR });
    run([attack({ at: T0 + 2 * DAY, points: 5 })], p, state);
    expect(run([attack({ at: T0 + DAY - HOUR, points: 50 })], p, state)[0]!.outcome).toBe('late');
    expect(run([attack({ at: T0 + DAY - HOUR + 1, points: 50 })], p, state)[0]).toMatchObject({ outcome: 'scored', points: 50, alert: null });
    expect(riskView(state, p, KEY)).toMatchObject({ increase_24h: 5, risk_score: 55, last_event_at: T0 + 2 * DAY });
  });
});

describe('future events', () => {
  it('are clamped to nowMs + maxFutureSkewMs and still scored', () => {
    const state = emptyUserState();
    const p = policyWith({ maxFutureSkewMs: 5 * MINUTE });
    const now = T0;
    const [r] = run([attack({ at: T0 + 30 * DAY, points: 11 })], p, state, now);
    expect(r).toMatchObject({ outcome: 'scored', clamped: true, points: 11 });
    expect(r!.alert).toMatchObject({ window_end: now + 5 * MINUTE, triggered_at: now + 5 * MINUTE, contributions: [{ occurred_at: now + 5 * MINUTE }] });
    expect(state.last).toBe(now + 5 * MINUTE);
    expect(run([attack({ at: now + 5 * MINUTE, points: 1 })], p, state, now)[0]!.clamped).toBe(false);
  });
});

describe('per-application policy', () => {
  it('scores each application with its own overrides', () => {
    const config = ScoringSchema.parse({ applications: { strict: { threshold: 4, severityPoints: { LOW: 2 } } } });
    const events = (app: string) => [attack({ application_id: app, at: T0 }), attack({ application_id: app, at: T0 + 1 }), attack({ application_id: app, at: T0 + 2 })];
    const strict = run(events('strict'), resolvePolicy(config, 'strict'));
    const lax = run(events('lax'), resolvePolicy(config, 'lax'));
    expect(alertsOf(strict)).toMatchObject([{ application_id: 'strict', increase_24h: 6, threshold: 4, tier: 1 }]);
    expect(alertsOf(lax)).toEqual([]);
  });
});

describe('the alert', () => {
  it('carries every field, deterministically', () => {
    const p = policyWith();
    const events = [
      attack({ at: T0, severity: 'HIGH', attack_type: 'xss' }),
      attack({ at: T0 + MINUTE, severity: 'CRITICAL', attack_type: 'ssrf', user: { key: 'alice', identifiers: { email: 'a@x.io', ip: '10.0.0.1' } } }),
    ];
    const [, second] = run(events, p);
    const alert = second!.alert!;
    expect(alert).toEqual({
      alert_id: alertIdFor('app', 'production', 'alice', events[1]!.event_id, 1),
      application_id: 'app',
      environment: 'production',
      user: { key: 'alice', identifiers: { email: 'a@x.io', ip: '10.0.0.1' } },
      increase_24h: 16,
      risk_score: 16,
      threshold: 10,
      tier: 1,
      tier_bound: 10,
      window_start: T0 + MINUTE - DAY,
      window_end: T0 + MINUTE,
      trigger_event_id: events[1]!.event_id,
      contributions: [
        { event_id: events[1]!.event_id, attack_type: 'ssrf', severity: 'CRITICAL', points: 10, occurred_at: T0 + MINUTE },
        { event_id: events[0]!.event_id, attack_type: 'xss', severity: 'HIGH', points: 6, occurred_at: T0 },
      ],
      contributions_truncated: 0,
      triggered_at: T0 + MINUTE,
    });
    // Same input, fresh state: the same alert.
    expect(run(events, p)[1]!.alert).toEqual(alert);
    // The alert does not share objects with the event or the state.
    expect(alert.user.identifiers).not.toBe(events[1]!.user.identifiers);
  });

  it('has a 32-hex-char id that depends on every component', () => {
    const id = alertIdFor('app', 'production', 'alice', 'ev-1', 1);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(alertIdFor('app', 'production', 'alice', 'ev-1', 1)).toBe(id);
    const variants = [
      alertIdFor('app2', 'production', 'alice', 'ev-1', 1),
      alertIdFor('app', 'staging', 'alice', 'ev-1', 1),
      alertIdFor('app', 'production', 'bob', 'ev-1', 1),
      alertIdFor('app', 'production', 'alice', 'ev-2', 1),
      alertIdFor('app', 'production', 'alice', 'ev-1', 2),
      alertIdFor('app/production', 'alice', '', 'ev-1', 1), // no ambiguity from separators
    ];
    expect(new Set([id, ...variants]).size).toBe(variants.length + 1);
  });

  it('lists contributions highest points first, then newest, and counts the rest', () => {
    const p = policyWith({ maxContributions: 3 });
    const events = [1, 6, 3, 6, 1, 3].map((points, i) => attack({ at: T0 + i, points }));
    const alert = alertsOf(run(events, p))[0]!;
    expect(alert.increase_24h).toBe(16);
    expect(alert.contributions.map((c) => [c.points, c.occurred_at - T0])).toEqual([
      [6, 3],
      [6, 1],
      [3, 2],
    ]);
    expect(alert.contributions_truncated).toBe(1);
  });
});

describe('contributions over time', () => {
  it('keep a newer event that outlives stronger, older ones arriving out of order', () => {
    const state = emptyUserState();
    const p = policyWith({ maxContributions: 1, windowMs: 1000 });
    const newer = attack({ at: T0 + 900, points: 1 });
    run([newer, attack({ at: T0 + 100, points: 5 }), attack({ at: T0 + 1050, points: 0 })], p, state);
    expect(riskView(state, p, KEY).contributions.map((c) => c.points)).toEqual([5]);
    run([attack({ at: T0 + 1150, points: 0 })], p, state); // the 5 points leave the window
    expect(riskView(state, p, KEY)).toMatchObject({ increase_24h: 1, contributions: [{ event_id: newer.event_id }], contributions_truncated: 0 });
  });
});

describe('riskView', () => {
  it('describes an unknown user', () => {
    expect(riskView(emptyUserState(), policyWith(), KEY)).toEqual({
      increase_24h: 0,
      risk_score: 0,
      tier: 0,
      alerted_tier: 0,
      window_start: 0,
      window_end: 0,
      contributions: [],
      contributions_truncated: 0,
      last_event_at: null,
    });
  });

  it('reports the window ending at the newest event', () => {
    const state = emptyUserState();
    const p = policyWith({ maxContributions: 2 });
    run([attack({ at: T0, points: 20 }), attack({ at: T0 + DAY, points: 3 }), attack({ at: T0 + DAY + 5, points: 4 }), attack({ at: T0 + 6, points: 1 })], p, state);
    const view = riskView(state, p, KEY);
    expect(view).toMatchObject({ increase_24h: 8, risk_score: 28, tier: 0, alerted_tier: 0, window_start: T0 + 5, window_end: T0 + DAY + 5, contributions_truncated: 1 });
    expect(view.contributions.map((c) => c.points)).toEqual([4, 3]);
  });
});

describe('state', () => {
  it('is plain JSON and behaves the same after a round trip', () => {
    const p = policyWith({ maxContributions: 3, maxRememberedEvents: 16 });
    const events = Array.from({ length: 60 }, (_, i) => attack({ at: T0 + ((i * 7919) % 50) * HOUR, points: (i * 31) % 7 }));
    const replayed = [...events, ...events.slice(0, 30)];
    const live = emptyUserState();
    const viaJson: UserState[] = [emptyUserState()];
    for (const e of replayed) {
      const a = scoreEvent(live, e, p, NOW);
      const s = JSON.parse(JSON.stringify(viaJson[0])) as UserState;
      expect(isUserState(s)).toBe(true);
      const b = scoreEvent(s, e, p, NOW);
      viaJson[0] = s;
      expect(b).toEqual(a);
    }
    expect(JSON.stringify(viaJson[0])).toBe(JSON.stringify(live));
    expect(live.v).toBe(1);
  });

  it('rejects a non-finite event time', () => {
    expect(() => scoreEvent(emptyUserState(), attack({ at: Number.NaN }), policyWith(), NOW)).toThrow(RangeError);
  });
});

describe('isIdle', () => {
  it('is idle once T is at least the TTL behind, and always without an event', () => {
    const ttl = 7 * 24 * 3_600_000;
    const now = Date.UTC(2026, 10, 25);
    expect(isIdle(now - ttl, now, ttl)).toBe(true);
    expect(isIdle(now - ttl + 1, now, ttl)).toBe(false);
    expect(isIdle(now, now, ttl)).toBe(false);
    expect(isIdle(null, now, ttl)).toBe(true);
  });
});
