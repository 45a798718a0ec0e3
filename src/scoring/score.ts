// The per-event scoring step and the read-only risk view. Pure: the only clock is the `nowMs`
// argument, used for nothing but clamping future timestamps.

import { createHash } from 'node:crypto';
import type { Contribution, RiskAlert, ScoredAttack } from '../contracts.ts';
import { pointsFor, tierBound, tierFor, type Policy } from './policy.ts';
import { addContribution, addEntry, eventIdKey, evict, isRemembered, remember, topContributions, type UserState } from './state.ts';

/** What one event did to a user. */
export interface ScoreResult {
  /** 'duplicate': event_id already remembered; 'late': at or before T − windowMs − lateGraceMs. */
  outcome: 'scored' | 'duplicate' | 'late';
  /** Points added to the lifetime score (0 unless scored). */
  points: number;
  /** The event time was beyond nowMs + maxFutureSkewMs and was scored at that bound instead. */
  clamped: boolean;
  /** The alert this event raised, if any (at most one per event). */
  alert: RiskAlert | null;
}

/** The current risk of one user, for the interactive query endpoint. */
export interface RiskView {
  /** Points in (window_start, window_end]. */
  increase_24h: number;
  /** Lifetime points. */
  risk_score: number;
  /** Tier the increase reaches now (0 = at or below the threshold). */
  tier: number;
  /** The tier the next alert must exceed: highest tier alerted since re-armed (0 = armed). */
  alerted_tier: number;
  /** Window bounds (ms, event time); 0 for a user without events. */
  window_start: number;
  window_end: number;
  contributions: Contribution[];
  contributions_truncated: number;
  /** T, the newest event time scored for the user (ms); null for a user without events. */
  last_event_at: number | null;
}

/** Largest Avro `int`: increase_24h is an int in the alert schema. */
const INT_MAX = 2_147_483_647;

/**
 * Deterministic alert id: the first 32 hex chars (128 bits) of SHA-256 over an unambiguous encoding
 * of (application, environment, user key, triggering event id, tier). Replaying the same input
 * yields the same id, which notifiers use as the idempotency key.
 */
export function alertIdFor(applicationId: string, environment: string, userKey: string, triggerEventId: string, tier: number): string {
  return createHash('sha256')
    .update(JSON.stringify([applicationId, environment, userKey, triggerEventId, tier]))
    .digest('hex')
    .slice(0, 32);
}

function scoredResult(points: number, clamped: boolean, alert: RiskAlert | null): ScoreResult {
  return { outcome: 'scored', points, clamped, alert };
}

/**
 * Scores one event for the user whose state is `state`. MUTATES `state` in place (no copy, for
 * speed); a caller that may have to discard the effect (e.g. an aborted transaction) must keep or
 * re-read the previous state itself. Duplicate and late events leave `state` untouched.
 *
 * Order, with t the event time and T the user's newest event time:
 * 1. event_id among the last maxRememberedEvents scored ids → 'duplicate'.
 * 2. t <= T − windowMs − lateGraceMs → 'late'.
 * 3. t > nowMs + maxFutureSkewMs → t := nowMs + maxFutureSkewMs, clamped.
 * 4. T' = max(T, t); entries at or before T' − windowMs leave the window; if the sum left is
 *    <= threshold the user is re-armed.
 * 5. The event's points are added (to the window only if t > T' − windowMs) and the sum S at T' gives
 *    the tier; an alert is raised when that tier is above the highest one alerted since re-armed.
 *
 * `nowMs` is the processing clock (ms since epoch); it only bounds future timestamps, so results are
 * a pure function of the input whenever no event is clamped.
 */
export function scoreEvent(state: UserState, attack: ScoredAttack, policy: Policy, nowMs: number): ScoreResult {
  const idKey = eventIdKey(attack.event_id);
  if (isRemembered(state, idKey, policy.maxRememberedEvents)) return { outcome: 'duplicate', points: 0, clamped: false, alert: null };

  let t = attack.occurred_at;
  if (!Number.isFinite(t)) throw new RangeError(`occurred_at is not a finite number of ms: ${String(t)}`);
  const last = state.last;
  if (last !== null && t <= last - policy.windowMs - policy.lateGraceMs) return { outcome: 'late', points: 0, clamped: false, alert: null };

  const limit = nowMs + policy.maxFutureSkewMs;
  const clamped = t > limit;
  if (clamped) t = limit;

  const end = last === null || t > last ? t : last;
  const start = end - policy.windowMs;
  if (end !== last) {
    state.last = end;
    evict(state, start);
  }
  if (state.sum <= policy.threshold) state.alerted = 0;

  const points = pointsFor(policy, attack);
  const seq = state.scored;
  state.scored = seq + 1;
  state.score += points;
  remember(state, idKey, policy.maxRememberedEvents);
  if (points > 0 && t > start) {
    addEntry(state, t, points, policy);
    addContribution(state, attack.event_id, attack.attack_type, attack.severity, points, t, seq, policy);
  }

  const tier = tierFor(policy, state.sum);
  if (tier <= state.alerted) return scoredResult(points, clamped, null);
  state.alerted = tier;
  const contributions = topContributions(state, policy.maxContributions);
  const alert: RiskAlert = {
    alert_id: alertIdFor(attack.application_id, attack.environment, attack.user.key, attack.event_id, tier),
    application_id: attack.application_id,
    environment: attack.environment,
    user: { key: attack.user.key, identifiers: { ...attack.user.identifiers } },
    increase_24h: Math.min(state.sum, INT_MAX),
    risk_score: state.score,
    threshold: policy.threshold,
    tier,
    tier_bound: tierBound(policy, tier),
    window_start: start,
    window_end: end,
    trigger_event_id: attack.event_id,
    contributions,
    contributions_truncated: state.count - contributions.length,
    triggered_at: end,
  };
  return scoredResult(points, clamped, alert);
}

/**
 * The user's current risk: the window ending at T, the newest event time scored (event time, not the
 * wall clock, exactly as the next event will see it before it moves T). Read-only.
 * `alerted_tier` is 0 when the increase is at or below the threshold: the next event will re-arm.
 */
export function riskView(state: UserState, policy: Policy, _key: { application_id: string; environment: string; user: string }): RiskView {
  const contributions = topContributions(state, policy.maxContributions);
  const last = state.last;
  return {
    increase_24h: state.sum,
    risk_score: state.score,
    tier: tierFor(policy, state.sum),
    alerted_tier: state.sum <= policy.threshold ? 0 : state.alerted,
    window_start: last === null ? 0 : last - policy.windowMs,
    window_end: last ?? 0,
    contributions,
    contributions_truncated: state.count - contributions.length,
    last_event_at: last,
  };
}
