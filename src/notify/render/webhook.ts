import type { RiskAlert } from '../../contracts.ts';

// Webhook body: the Standard Webhooks envelope { type, timestamp, data } with the alert (the
// RiskAlert contract, snake_case) as data. Deterministic: the same alert gives the same bytes on every
// attempt, so only webhook-timestamp and webhook-signature change between retries.

export const WEBHOOK_EVENT_TYPE = 'risk_alert.triggered';

export interface WebhookPayload {
  type: typeof WEBHOOK_EVENT_TYPE;
  timestamp: string;
  data: RiskAlert;
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
    },
  };
  return { payload, body: JSON.stringify(payload) };
}
