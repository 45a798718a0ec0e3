// TypeScript shapes of the Avro records in schemas/. Timestamps are epoch milliseconds (the Avro
// `timestamp-millis` logical type is carried as a plain long number end to end).

import { userKeyOf } from './identity.ts';

export const SEVERITIES = ['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface UserRef {
  key: string;
  identifiers: Record<string, string>;
}

export interface RequestInfo {
  ip: string | null;
  method: string | null;
  path: string | null;
  user_agent: string | null;
}

export interface Attack {
  event_id: string;
  occurred_at: number;
  application_id: string;
  environment: string;
  user: UserRef;
  attack_type: string;
  severity: Severity;
  points: number | null;
  blocked: boolean;
  request: RequestInfo | null;
  agent: { name: string; version: string; language: string };
}

/**
 * Attack fields the scorer never reads: its reader schema leaves them out, so Avro skips them instead
 * of building their strings and objects for every event (~1 µs of the ~2.5 µs a record takes to decode).
 */
export const SCORER_SKIPPED_FIELDS = ['blocked', 'request', 'agent'] as const;

/** An attack as the scorer decodes it (see SCORER_SKIPPED_FIELDS); a full `Attack` is one too. */
export type ScoredAttack = Omit<Attack, (typeof SCORER_SKIPPED_FIELDS)[number]>;

export interface Contribution {
  event_id: string;
  attack_type: string;
  severity: Severity;
  points: number;
  occurred_at: number;
}

export interface RiskAlert {
  alert_id: string;
  application_id: string;
  environment: string;
  user: UserRef;
  increase_24h: number;
  risk_score: number;
  threshold: number;
  tier: number;
  tier_bound: number;
  window_start: number;
  window_end: number;
  trigger_event_id: string;
  contributions: Contribution[];
  contributions_truncated: number;
  triggered_at: number;
  /** The counter-measure this alert caused, if any (schemas/risk-alert.avsc, added with a null default). */
  decision?: Decision | null;
}

/**
 * The record key shared by `attacks`, `risk-alerts` and the changelog: `application/environment/user`,
 * unambiguous for identities within the rules of src/identity.ts (no "/" in application or environment).
 */
export function userKey(applicationId: string, environment: string, user: string): string {
  return userKeyOf(applicationId, environment, user);
}

/** What a decision makes the agents do (schemas/decision.avsc); LIFT: the decision named by `lifts` no longer holds. */
export const DECISION_ACTIONS = ['MONITOR', 'CHALLENGE', 'BLOCK', 'LIFT'] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];
/** The actions a policy rule or a person can take (LIFT is `decisions remove`). */
export type EnforcedAction = Exclude<DecisionAction, 'LIFT'>;
export type DecisionSource = 'POLICY' | 'MANUAL';

/**
 * A counter-measure against one user: the value of the compacted decisions topic, keyed like the user
 * (`userKey`, same partition as their attacks). The latest record of a key is the user's decision.
 */
export interface Decision {
  decision_id: string;
  application_id: string;
  environment: string;
  user: UserRef;
  action: DecisionAction;
  source: DecisionSource;
  reason: string;
  alert_id: string | null;
  tier: number | null;
  made_by: string;
  made_at: number;
  until: number;
  offense: number;
  simulated: boolean;
  lifts: string | null;
  /** LIFT only: the action of the decision lifted. */
  lifted_action?: DecisionAction | null;
}

/**
 * A person's request (`risk-hub decisions add | remove`), a JSON value on the decision-requests topic,
 * keyed like the user; the scorer owning the user's partition turns it into a Decision record, so that
 * the decisions topic has one writer per partition (ordering, expiry and exactly-once hold for manual
 * decisions as for automatic ones). Bounded: see src/decisions/request.ts.
 */
export interface DecisionRequest {
  v: 1;
  /** Unique per request (a UUID); the decision id derives from it, so a retried request is idempotent. */
  request_id: string;
  op: 'add' | 'remove';
  application_id: string;
  environment: string;
  user_key: string;
  /** add only. */
  action?: EnforcedAction;
  /** add only: the decision lasts from requested_at for this long (ms). */
  duration_ms?: number;
  reason: string;
  made_by: string;
  requested_at: number;
}
