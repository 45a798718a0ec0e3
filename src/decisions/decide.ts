// Decisions from alerts (by policy) and from people's requests, and the part of a user's state they
// keep. Pure: the clock is an argument and nothing here does I/O; the scorer calls it inside the
// transaction that carries the alert, so a decision is published exactly once with its cause.

import { createHash } from 'node:crypto';
import type { Decision, DecisionAction, DecisionRequest, EnforcedAction, RiskAlert } from '../contracts.ts';
import type { ActiveDecision } from '../scoring/state.ts';
import { isExempt, ruleFor, type DecisionPolicy } from './policy.ts';

export type { ActiveDecision };

/** The decision part of a user's state (src/scoring/state.ts `offenses` and `dec`; absent there = 0 and null). */
export interface DecisionMemory {
  /** Enforced decisions (BLOCK, CHALLENGE; simulated ones too) made for the user so far: the escalation step. */
  offenses?: number | undefined;
  /** The latest decision record written for the user and not yet tombstoned (a LIFT included). */
  dec?: ActiveDecision | null | undefined;
}

/** Who `made_by` names for automatic decisions. */
export const POLICY_AUTHOR = 'policy';

const STRENGTH: Record<DecisionAction, number> = { LIFT: 0, MONITOR: 1, CHALLENGE: 2, BLOCK: 3 };

export function isEnforced(action: DecisionAction): action is 'BLOCK' | 'CHALLENGE' {
  return action === 'BLOCK' || action === 'CHALLENGE';
}

/** 32 hex chars of SHA-256 over an unambiguous encoding of `parts`. */
function idOf(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/** The decision id of an alert's automatic decision: replaying the alert gives the same id. */
export function policyDecisionId(alertId: string): string {
  return idOf(['policy', alertId]);
}

/** The decision id of a person's request: a request sent twice gives one decision. */
export function requestDecisionId(requestId: string): string {
  return idOf(['manual', requestId]);
}

/** The duration of the `step`-th enforced decision (1-based): the list's entry, the last one repeating. */
function durationFor(durations: readonly number[], step: number): number {
  return durations[Math.min(Math.max(step, 1), durations.length) - 1]!;
}

/** Whether `dec` still holds at `nowMs` (a LIFT never does). */
export function holds(dec: ActiveDecision | null | undefined, nowMs: number): dec is ActiveDecision {
  return dec != null && dec.action !== 'LIFT' && dec.until > nowMs;
}

export type PolicyOutcome =
  | { decision: Decision }
  | { decision: null; why: 'no-rule' | 'exempt' | 'already-stronger' };

/**
 * The automatic decision `alert` leads to under `policy`, for a user whose memory is `mem` (not
 * mutated; `remember` records the decision). None when no rule covers the tier, the user is exempt, or
 * a decision at least as strong and lasting at least as long already holds (an alert never weakens or
 * shortens a block, a person's included). A person's LIFT does not stop it: crossing a tier again acts again.
 */
export function decideForAlert(alert: RiskAlert, mem: DecisionMemory, policy: DecisionPolicy, nowMs: number): PolicyOutcome {
  const rule = ruleFor(policy, alert.tier);
  if (!rule) return { decision: null, why: 'no-rule' };
  if (isExempt(policy, alert.user.key)) return { decision: null, why: 'exempt' };
  const action: EnforcedAction = rule.action;
  const enforced = isEnforced(action);
  const offenses = mem.offenses ?? 0;
  const step = enforced ? offenses + 1 : Math.max(offenses, 1);
  const until = nowMs + durationFor(rule.durations, step);
  const cur = mem.dec;
  if (holds(cur, nowMs) && (STRENGTH[cur.action] > STRENGTH[action] || (STRENGTH[cur.action] === STRENGTH[action] && cur.until >= until))) {
    return { decision: null, why: 'already-stronger' };
  }
  return {
    decision: {
      decision_id: policyDecisionId(alert.alert_id),
      application_id: alert.application_id,
      environment: alert.environment,
      user: { key: alert.user.key, identifiers: { ...alert.user.identifiers } },
      action,
      source: 'POLICY',
      reason: `tier ${alert.tier}: +${alert.increase_24h} points in 24 h (above ${alert.tier_bound})`,
      alert_id: alert.alert_id,
      tier: alert.tier,
      made_by: POLICY_AUTHOR,
      made_at: nowMs,
      until,
      offense: enforced ? step : 0,
      simulated: policy.simulate,
      lifts: null,
      lifted_action: null,
    },
  };
}

/**
 * The record a person's request leads to: `add` → their decision, lasting from the request's time
 * (so a retried request gives the same record); `remove` → a LIFT of the decision that holds, kept
 * until that one would have ended. Null for a `remove` when nothing holds (nothing to lift).
 */
export function decideForRequest(req: DecisionRequest, identifiers: Record<string, string>, mem: DecisionMemory, nowMs: number): Decision | null {
  const base = {
    decision_id: requestDecisionId(req.request_id),
    application_id: req.application_id,
    environment: req.environment,
    user: { key: req.user_key, identifiers: { ...identifiers } },
    source: 'MANUAL' as const,
    reason: req.reason,
    alert_id: null,
    tier: null,
    made_by: req.made_by,
    made_at: req.requested_at,
    simulated: false,
  };
  if (req.op === 'remove') {
    const cur = mem.dec;
    if (!holds(cur, nowMs)) return null;
    return { ...base, action: 'LIFT', until: cur.until, offense: 0, lifts: cur.id, lifted_action: cur.action };
  }
  const action = req.action!;
  return { ...base, action, until: req.requested_at + req.duration_ms!, offense: isEnforced(action) ? (mem.offenses ?? 0) + 1 : 0, lifts: null, lifted_action: null };
}

/**
 * Records in `mem` (mutated) that `decision` was written: it becomes the user's decision, and an
 * enforced one counts as an offense (its escalation step).
 */
export function remember(mem: DecisionMemory, decision: Decision): void {
  if (isEnforced(decision.action) && decision.offense > (mem.offenses ?? 0)) mem.offenses = decision.offense;
  mem.dec = { id: decision.decision_id, action: decision.action, source: decision.source, until: decision.until };
}

/** Whether the user's decision record has run out at `nowMs` and should be tombstoned. */
export function expired(mem: DecisionMemory, nowMs: number): boolean {
  return mem.dec != null && mem.dec.until <= nowMs;
}
