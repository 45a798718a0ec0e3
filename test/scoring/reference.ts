// A naive reference model of DESIGN.md "Scoring semantics": per user, a plain list of the scored
// events, every sum recomputed from scratch. Obviously correct rather than fast (O(events in the
// window) per event). The property tests compare src/scoring with it; the crash test computes the
// expected risk-alerts of an input stream with `referenceAlerts`.

import type { Attack, Contribution, RiskAlert, Severity } from '../../src/contracts.ts';
import { alertIdFor, type Policy } from '../../src/scoring/index.ts';

export type PolicyFor = Policy | ((applicationId: string) => Policy);

export interface ReferenceResult {
  outcome: 'scored' | 'duplicate' | 'late';
  points: number;
  clamped: boolean;
  alert: RiskAlert | null;
  /** After the event: the user's increase over (T − windowMs, T], lifetime score, T, and events counted. */
  increase: number;
  riskScore: number;
  last: number | null;
  windowEvents: number;
  /** After the event: the top maxContributions contributions of the user's window. */
  contributions: Contribution[];
}

interface Scored {
  attack: Attack;
  /** Effective (clamped) event time, ms. */
  t: number;
  points: number;
  /** Arrival order among the user's scored events. */
  seq: number;
}

interface RefUser {
  last: number | null;
  score: number;
  alerted: number;
  /** Scored events; those at or before T − windowMs are pruned (T only grows, they never count again). */
  events: Scored[];
  /** Ids of all scored events, in order. */
  ids: string[];
}

function refPoints(policy: Policy, a: Attack): number {
  const byType = policy.attackTypePoints[a.attack_type];
  const p = a.points ?? byType?.[a.severity as Severity] ?? policy.severityPoints[a.severity] ?? 0;
  return Number.isFinite(p) && p > 0 ? p : 0;
}

function inWindow(u: RefUser, policy: Policy): Scored[] {
  const end = u.last as number;
  return u.events.filter((e) => e.points > 0 && e.t > end - policy.windowMs && e.t <= end);
}

/** The best `max` of the window: more points first, then the newer event, then the later arrival. */
function topOf(window: Scored[], max: number): Contribution[] {
  const ranked = [...window].sort((x, y) => y.points - x.points || y.t - x.t || y.seq - x.seq);
  return ranked.slice(0, max).map((e) => ({
    event_id: e.attack.event_id,
    attack_type: e.attack.attack_type,
    severity: e.attack.severity,
    points: e.points,
    occurred_at: e.t,
  }));
}

function sumOf(events: Scored[]): number {
  return events.reduce((s, e) => s + e.points, 0);
}

function tierOf(policy: Policy, sum: number): number {
  const bounds = [policy.threshold, ...policy.tiers];
  let tier = 0;
  while (tier < bounds.length && sum > (bounds[tier] as number)) tier++;
  return tier;
}

/** Runs the stream in the given order; one result per event. */
export function referenceRun(events: Attack[], policyFor: PolicyFor, nowMs: number): ReferenceResult[] {
  const users = new Map<string, RefUser>();
  const results: ReferenceResult[] = [];
  for (const a of events) {
    const policy = typeof policyFor === 'function' ? policyFor(a.application_id) : policyFor;
    const key = JSON.stringify([a.application_id, a.environment, a.user.key]);
    let u = users.get(key);
    if (!u) {
      u = { last: null, score: 0, alerted: 0, events: [], ids: [] };
      users.set(key, u);
    }
    const done = (outcome: ReferenceResult['outcome'], points: number, clamped: boolean, alert: RiskAlert | null) => {
      const user = u as RefUser;
      const window = user.last === null ? [] : inWindow(user, policy);
      results.push({
        outcome,
        points,
        clamped,
        alert,
        increase: sumOf(window),
        riskScore: user.score,
        last: user.last,
        windowEvents: window.length,
        contributions: topOf(window, policy.maxContributions),
      });
    };

    if (u.ids.slice(-policy.maxRememberedEvents).includes(a.event_id)) {
      done('duplicate', 0, false, null);
      continue;
    }
    if (u.last !== null && a.occurred_at <= u.last - policy.windowMs - policy.lateGraceMs) {
      done('late', 0, false, null);
      continue;
    }
    const limit = nowMs + policy.maxFutureSkewMs;
    const clamped = a.occurred_at > limit;
    const t = clamped ? limit : a.occurred_at;
    u.last = u.last === null ? t : Math.max(u.last, t);

    if (sumOf(inWindow(u, policy)) <= policy.threshold) u.alerted = 0;

    const points = refPoints(policy, a);
    u.events.push({ attack: a, t, points, seq: u.ids.length });
    u.ids.push(a.event_id);
    u.score += points;

    const window = inWindow(u, policy);
    const sum = sumOf(window);
    const tier = tierOf(policy, sum);
    let alert: RiskAlert | null = null;
    if (tier > u.alerted) {
      u.alerted = tier;
      const contributions = topOf(window, policy.maxContributions);
      alert = {
        alert_id: alertIdFor(a.application_id, a.environment, a.user.key, a.event_id, tier),
        application_id: a.application_id,
        environment: a.environment,
        user: { key: a.user.key, identifiers: { ...a.user.identifiers } },
        increase_24h: Math.min(sum, 2_147_483_647),
        risk_score: u.score,
        threshold: policy.threshold,
        tier,
        tier_bound: [policy.threshold, ...policy.tiers][tier - 1] as number,
        window_start: u.last - policy.windowMs,
        window_end: u.last,
        trigger_event_id: a.event_id,
        contributions,
        contributions_truncated: window.length - contributions.length,
        triggered_at: u.last,
      };
    }
    done('scored', points, clamped, alert);
    // Prune what can never count again (keeps the model linear in the window, not in the stream).
    const end = u.last;
    u.events = u.events.filter((e) => e.t > end - policy.windowMs);
  }
  return results;
}

/**
 * The alerts the scoring semantics require for `events` processed in the given order, each user
 * (application_id/environment/user.key) on its own. `policy` is one policy for every application, or
 * a function giving each application's (e.g. `(app) => resolvePolicy(config.scoring, app)`).
 * `nowMs` is the processing clock, used only to clamp events beyond nowMs + maxFutureSkewMs.
 */
export function referenceAlerts(events: Attack[], policy: PolicyFor, nowMs: number): RiskAlert[] {
  return referenceRun(events, policy, nowMs).flatMap((r) => (r.alert ? [r.alert] : []));
}
