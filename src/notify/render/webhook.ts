import type { Decision, RiskAlert } from '../../contracts.ts';

// Webhook body: the Standard Webhooks envelope { type, timestamp, data } with the alert (the
// RiskAlert contract, snake_case) as data. Deterministic: the same alert gives the same bytes on every
// attempt, so only webhook-timestamp and webhook-signature change between retries.
//
// Backward compatible evolution (as for every topic): fields are added, never removed or renamed. The
// alert's `decision` (the automatic decision it caused, or null) was added with issue 15; a person's
// decisions are events of their own types (risk_decision.made, risk_decision.lifted) whose data is the
// Decision contract (schemas/decision.avsc). A receiver that ignores unknown types sees no change.

export const WEBHOOK_EVENT_TYPE = 'risk_alert.triggered';
export const DECISION_MADE_TYPE = 'risk_decision.made';
export const DECISION_LIFTED_TYPE = 'risk_decision.lifted';

export interface WebhookPayload {
  type: typeof WEBHOOK_EVENT_TYPE;
  timestamp: string;
  data: RiskAlert & { decision: Decision | null };
}

export interface DecisionWebhookPayload {
  type: typeof DECISION_MADE_TYPE | typeof DECISION_LIFTED_TYPE;
  timestamp: string;
  data: Decision;
}

/** A copy in schema order (stable bytes), nothing more than the contract. */
function decisionData(d: Decision): Decision {
  return {
    decision_id: d.decision_id,
    application_id: d.application_id,
    environment: d.environment,
    user: { key: d.user.key, identifiers: { ...d.user.identifiers } },
    action: d.action,
    source: d.source,
    reason: d.reason,
    alert_id: d.alert_id ?? null,
    tier: d.tier ?? null,
    made_by: d.made_by,
    made_at: d.made_at,
    until: d.until,
    offense: d.offense,
    simulated: d.simulated,
    lifts: d.lifts ?? null,
  };
}

export function renderWebhookDecision(d: Decision): { payload: DecisionWebhookPayload; body: string } {
  const payload: DecisionWebhookPayload = {
    type: d.action === 'LIFT' ? DECISION_LIFTED_TYPE : DECISION_MADE_TYPE,
    timestamp: new Date(d.made_at).toISOString(),
    data: decisionData(d),
  };
  return { payload, body: JSON.stringify(payload) };
}

export function renderWebhook(alert: RiskAlert): { payload: WebhookPayload; body: string } {
  const payload: WebhookPayload = {
    type: WEBHOOK_EVENT_TYPE,
    timestamp: new Date(alert.triggered_at).toISOString(),
    data: {
      alert_id: alert.alert_id,
      application_id: alert.application_id,
      environment: alert.environment,
      user: { key: alert.user.key, identifiers: { ...alert.user.identifiers } },
      increase_24h: alert.increase_24h,
      risk_score: alert.risk_score,
      threshold: alert.threshold,
      tier: alert.tier,
      tier_bound: alert.tier_bound,
      window_start: alert.window_start,
      window_end: alert.window_end,
      trigger_event_id: alert.trigger_event_id,
      contributions: alert.contributions.map((c) => ({ ...c })),
      contributions_truncated: alert.contributions_truncated,
      triggered_at: alert.triggered_at,
      decision: alert.decision ? decisionData(alert.decision) : null,
    },
  };
  return { payload, body: JSON.stringify(payload) };
}
