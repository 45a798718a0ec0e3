// Property tests: src/scoring against the naive reference model over random streams (out of order,
// equal timestamps, duplicates, late and future events, several users, applications and policies).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SEVERITIES, type Attack } from '../../src/contracts.ts';
import { candidateCount, contributionCap, emptyUserState, entryCap, riskView, scoreEvent, type Policy, type ScoreResult, type UserState } from '../../src/scoring/index.ts';
import { decodeState, encodeState } from '../../src/state/codec.ts';
import { referenceAlerts, referenceRun } from './reference.ts';
import { legacyJson } from './fixtures.ts';

const NOW = 10_000;
const USERS = [
  { application_id: 'a', environment: 'production', key: 'alice' },
  { application_id: 'a', environment: 'staging', key: 'alice' },
  { application_id: 'b', environment: 'production', key: 'alice' },
  { application_id: 'a', environment: 'production', key: 'bob' },
] as const;

interface Op {
  user: number;
  /** Time step from the previous new event (ms); negative = out of order. */
  delta: number;
  severity: Attack['severity'];
  attackType: string;
  points: number | null;
  /** Re-send an earlier event (agent retry) instead of a new one; index modulo the events so far. */
  duplicateOf: number | null;
  /** Round-trip the user's state through storage before scoring this event: the binary codec of
   *  src/state/codec.ts, or (every other event) the JSON that earlier versions stored. */
  viaStore: boolean;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  user: fc.integer({ min: 0, max: USERS.length - 1 }),
  delta: fc.oneof(fc.constant(0), fc.integer({ min: -1500, max: 400 }), fc.integer({ min: 0, max: 60 })),
  severity: fc.constantFrom(...SEVERITIES),
  attackType: fc.constantFrom('xss', 'sql_injection', 'credential_stuffing'),
  points: fc.option(fc.integer({ min: -2, max: 12 }), { nil: null, freq: 2 }),
  duplicateOf: fc.option(fc.nat(), { nil: null, freq: 6 }),
  viaStore: fc.boolean(),
});

const policyArb: fc.Arbitrary<Policy> = fc
  .record({
    threshold: fc.integer({ min: 2, max: 15 }),
    steps: fc.array(fc.integer({ min: 1, max: 15 }), { maxLength: 3 }),
    windowMs: fc.constantFrom(100, 1000),
    bucketMs: fc.constantFrom(1, 7, 100),
    lateGraceMs: fc.constantFrom(0, 1, 50, 300),
    maxFutureSkewMs: fc.constantFrom(0, 10, 100),
    maxContributions: fc.integer({ min: 1, max: 4 }),
    maxRememberedEvents: fc.integer({ min: 1, max: 12 }),
  })
  .map(({ steps, ...p }) => {
    const tiers: number[] = [];
    let bound = p.threshold;
    for (const s of steps) tiers.push((bound += s));
    return {
      ...p,
      tiers,
      severityPoints: { INFO: 0, LOW: 1, MEDIUM: 3, HIGH: 6, CRITICAL: 10 },
      attackTypePoints: { credential_stuffing: { MEDIUM: 4, HIGH: 0 } },
    };
  });

/** Turns ops into attacks: times as a random walk around NOW (some beyond the clamping bound). */
function toEvents(ops: Op[], start: number): { events: Attack[]; viaStore: boolean[] } {
  const events: Attack[] = [];
  const fresh: Attack[] = [];
  const viaStore: boolean[] = [];
  let t = start;
  ops.forEach((op, i) => {
    if (op.duplicateOf !== null && fresh.length > 0) {
      events.push(fresh[op.duplicateOf % fresh.length] as Attack);
    } else {
      t += op.delta;
      const u = USERS[op.user] as (typeof USERS)[number];
      const e: Attack = {
        event_id: `e${i}`,
        occurred_at: t,
        application_id: u.application_id,
        environment: u.environment,
        user: { key: u.key, identifiers: { n: String(op.user) } },
        attack_type: op.attackType,
        severity: op.severity,
        points: op.points,
        blocked: false,
        request: null,
        agent: { name: 't', version: '1', language: 'ts' },
      };
      fresh.push(e);
      events.push(e);
    }
    viaStore.push(op.viaStore);
  });
  return { events, viaStore };
}

/** Runs src/scoring over the stream, one state per user key; also returns each user's view after each event. */
function runImpl(events: Attack[], policyFor: (app: string) => Policy, viaStore: boolean[] = []) {
  const states = new Map<string, UserState>();
  return events.map((e, i) => {
    const key = `${e.application_id}/${e.environment}/${e.user.key}`;
    let state = states.get(key) ?? emptyUserState();
    if (viaStore[i]) state = decodeState(i % 2 ? encodeState(state) : legacyJson(state))!;
    states.set(key, state);
    const policy = policyFor(e.application_id);
    const result: ScoreResult = scoreEvent(state, e, policy, NOW);
    const view = riskView(state, policy, { application_id: e.application_id, environment: e.environment, user: e.user.key });
    if (state.et.length > entryCap(policy) || candidateCount(state) > contributionCap(policy)) throw new Error(`state beyond its caps after event ${i}`);
    return { result, view };
  });
}

describe('scoreEvent against the reference model', () => {
  it('gives the same outcomes, points, clamping, alerts and windows over random streams', () => {
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 0, max: 20 }), fc.array(opArb, { maxLength: 150, size: 'large' }), fc.integer({ min: 7000, max: 10_000 }), (base, otherThreshold, ops, start) => {
        // Application "b" overrides the threshold, as resolvePolicy would.
        const policyB: Policy = { ...base, threshold: otherThreshold, tiers: base.tiers.map((t) => t - base.threshold + otherThreshold) };
        const policyFor = (app: string) => (app === 'b' ? policyB : base);
        const { events, viaStore } = toEvents(ops, start);
        const expected = referenceRun(events, policyFor, NOW).map((r) => ({
          result: { outcome: r.outcome, points: r.points, clamped: r.clamped, alert: r.alert },
          view: { increase: r.increase, riskScore: r.riskScore, last: r.last, windowEvents: r.windowEvents, contributions: r.contributions },
        }));
        const actual = runImpl(events, policyFor, viaStore).map(({ result, view }) => ({
          result,
          view: {
            increase: view.increase_24h,
            riskScore: view.risk_score,
            last: view.last_event_at,
            windowEvents: view.contributions.length + view.contributions_truncated,
            contributions: view.contributions,
          },
        }));
        // One deep comparison per stream (per-event expects would dominate the run time).
        expect(actual).toEqual(expected);
        expect(actual.flatMap(({ result }) => (result.alert ? [result.alert] : []))).toEqual(referenceAlerts(events, policyFor, NOW));
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('agrees on duplicates when a user remembers more ids than a linear scan handles (a Set, kept in step as the ring wraps)', () => {
    // Retries aimed around the ring's edge: ids just remembered, and ids just forgotten.
    const retryOp = fc.record({
      back: fc.option(fc.integer({ min: 1, max: 70 }), { nil: null, freq: 2 }),
      delta: fc.integer({ min: 0, max: 30 }),
      viaStore: fc.integer({ min: 0, max: 9 }).map((n) => n === 0), // rarely: a round trip rebuilds the Set
    });
    fc.assert(
      fc.property(policyArb, fc.integer({ min: 33, max: 60 }), fc.array(retryOp, { minLength: 60, maxLength: 250, size: 'large' }), (policy0, remembered, rops) => {
        const policy: Policy = { ...policy0, maxRememberedEvents: remembered, windowMs: 1000, lateGraceMs: 0 };
        const events: Attack[] = [];
        const fresh: Attack[] = [];
        const viaStore: boolean[] = [];
        let t = 5000;
        rops.forEach((o, i) => {
          if (o.back !== null && fresh.length >= o.back) events.push(fresh[fresh.length - o.back]!);
          else {
            t += o.delta;
            const e: Attack = { ...toEvents([{ user: 0, delta: 0, severity: 'LOW', attackType: 'xss', points: 1, duplicateOf: null, viaStore: false }], t).events[0]!, event_id: `r${i}` };
            fresh.push(e);
            events.push(e);
          }
          viaStore.push(o.viaStore);
        });
        const expected = referenceRun(events, () => policy, NOW).map((r) => ({ outcome: r.outcome, points: r.points, alert: r.alert }));
        const actual = runImpl(events, () => policy, viaStore).map(({ result }) => ({ outcome: result.outcome, points: result.points, alert: result.alert }));
        expect(actual).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('agrees for one user under heavy reordering (events arriving up to a window late)', () => {
    const reorderedOp = fc.record({
      delta: fc.integer({ min: -900, max: 300 }),
      severity: fc.constantFrom(...SEVERITIES),
      points: fc.option(fc.integer({ min: 0, max: 12 }), { nil: null }),
    });
    fc.assert(
      fc.property(policyArb, fc.array(reorderedOp, { maxLength: 80, size: 'large' }), (policy0, rops) => {
        const policy: Policy = { ...policy0, windowMs: 1000, lateGraceMs: 0, maxRememberedEvents: 1000 };
        const ops: Op[] = rops.map((o) => ({ ...o, user: 0, attackType: 'xss', duplicateOf: null, viaStore: false }));
        const { events } = toEvents(ops, 5000);
        const expected = referenceRun(events, policy, NOW).map((r) => ({ alert: r.alert, increase: r.increase, contributions: r.contributions }));
        const actual = runImpl(events, () => policy).map(({ result, view }) => ({ alert: result.alert, increase: view.increase_24h, contributions: view.contributions }));
        expect(actual).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('keeps the exact top contributions with many distinct point values while nothing expires', () => {
    const pointsArb = fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 400, size: 'max' });
    fc.assert(
      fc.property(pointsArb, fc.integer({ min: 1, max: 10 }), (pts, k) => {
        const policy: Policy = {
          threshold: 10,
          tiers: [1000, 5000, 20_000, 100_000],
          windowMs: 1_000_000,
          bucketMs: 1000,
          lateGraceMs: 0,
          maxFutureSkewMs: 0,
          severityPoints: { INFO: 0, LOW: 1, MEDIUM: 3, HIGH: 6, CRITICAL: 10 },
          attackTypePoints: {},
          maxContributions: k,
          maxRememberedEvents: 16,
        };
        const { events } = toEvents(
          pts.map(([p, dt]) => ({ user: 0, delta: dt, severity: 'LOW', attackType: 'xss', points: p, duplicateOf: null, viaStore: false })),
          0,
        );
        const expected = referenceRun(events, policy, NOW); // times stay below NOW: nothing clamped
        const actual = runImpl(events, () => policy);
        const ref = expected.map((r) => ({ alert: r.alert, contributions: r.contributions, windowEvents: r.windowEvents }));
        const got = actual.map(({ result, view }) => ({
          alert: result.alert,
          contributions: view.contributions,
          windowEvents: view.contributions.length + view.contributions_truncated,
        }));
        expect(got).toEqual(ref);
      }),
      { numRuns: 50 },
    );
  }, 60_000);
});

describe('coarsened windows (a user beyond entryCap)', () => {
  it('stay conservative: the exact window sum <= the kept sum <= the sum over one more bucket', () => {
    const policy: Policy = {
      threshold: 10,
      tiers: [25, 50, 100],
      windowMs: 200,
      bucketMs: 20, // entryCap = 11 + 64 = 75 entries; ~150 distinct timestamps fit in a window
      lateGraceMs: 20,
      maxFutureSkewMs: 0,
      severityPoints: { INFO: 0, LOW: 1, MEDIUM: 3, HIGH: 6, CRITICAL: 10 },
      attackTypePoints: {},
      maxContributions: 3,
      maxRememberedEvents: 16,
    };
    const denseOp = fc.record({
      delta: fc.oneof(
        { arbitrary: fc.constantFrom(1, 2, 3), weight: 8 },
        { arbitrary: fc.constant(0), weight: 1 },
        { arbitrary: fc.integer({ min: -30, max: 20 }), weight: 1 },
      ),
      points: fc.integer({ min: 0, max: 5 }),
    });
    let runsWhereCoarseningShowed = 0;
    fc.assert(
      fc.property(fc.array(denseOp, { minLength: 300, maxLength: 500, size: 'max' }), (dense) => {
        const ops: Op[] = dense.map((d) => ({ user: 0, delta: d.delta, severity: 'LOW', attackType: 'xss', points: d.points, duplicateOf: null, viaStore: false }));
        const { events } = toEvents(ops, 0);
        const expected = referenceRun(events, policy, 1e9);
        const state = emptyUserState();
        const scored: { t: number; p: number }[] = [];
        let showed = false;
        const fail = (i: number, what: string) => {
          throw new Error(`event ${i}: ${what}`);
        };
        const total = (xs: { p: number }[]) => xs.reduce((a, x) => a + x.p, 0);
        events.forEach((e, i) => {
          const r = scoreEvent(state, e, policy, 1e9);
          const ref = expected[i]!;
          // Outcomes depend on T and the remembered ids only, which coarsening never touches.
          if (r.outcome !== ref.outcome || state.last !== ref.last) fail(i, `outcome ${r.outcome}/${ref.outcome}, T ${state.last}/${ref.last}`);
          if (state.score !== ref.riskScore) fail(i, 'lifetime score');
          const T = state.last as number;
          if (r.outcome === 'scored') scored.push({ t: e.occurred_at, p: r.points });
          while (scored.length > 0 && (scored[0] as { t: number }).t <= T - 2 * policy.windowMs) scored.shift(); // speed only
          const over = (from: number) => scored.filter((x) => x.p > 0 && x.t > from && x.t <= T);
          const exact = over(T - policy.windowMs);
          const wide = over(T - policy.windowMs - policy.bucketMs);
          const kept = riskView(state, policy, { application_id: 'a', environment: 'production', user: 'alice' }).increase_24h;
          if (kept !== state.ep.reduce((a, b) => a + b, 0)) fail(i, 'sum out of step with the entries');
          if (kept < total(exact) || kept > total(wide)) fail(i, `sum ${kept} outside [${total(exact)}, ${total(wide)}]`);
          if (state.count < exact.length || state.count > wide.length) fail(i, `count ${state.count} outside [${exact.length}, ${wide.length}]`);
          if (state.et.length > entryCap(policy)) fail(i, 'entries beyond the cap');
          if (kept !== total(exact)) showed = true;
        });
        if (showed) runsWhereCoarseningShowed++;
      }),
      { numRuns: 60 },
    );
    // The generator does exercise coarsening (not only streams that fit below the cap).
    expect(runsWhereCoarseningShowed).toBeGreaterThan(10);
  }, 60_000);
});
