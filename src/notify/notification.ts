import type { Decision, RiskAlert } from '../contracts.ts';

// What the notifier delivers: an alert from risk-alerts (which may carry the automatic decision it
// caused), or a person's decision from the decisions topic (a manual block, challenge, monitor or lift).
// Both go through the same machinery (routing, ledger, retries, dead letters, per-user order within a
// topic); `kind` tells the processor and the renderers which one they hold.

export type Notification = { kind: 'alert'; alert: RiskAlert } | { kind: 'decision'; decision: Decision };
export type NotificationKind = Notification['kind'];

/** Accepts a bare alert where a notification is expected (the alert-only call sites predate decisions). */
export function asNotification(input: RiskAlert | Notification): Notification {
  return 'kind' in input ? input : { kind: 'alert', alert: input };
}

/**
 * The idempotency key of a notification: the alert id, or the decision id (both deterministic, from
 * disjoint spaces: decision ids are 32 hex characters of a hash of ['manual' | 'policy', …]). It is the
 * ledger key's last part (the ledger field is still named alert_id), webhook-id and the e-mail Message-ID.
 */
export function notificationId(n: Notification): string {
  return n.kind === 'alert' ? n.alert.alert_id : n.decision.decision_id;
}

/** The facts the ledger and the logs record about a notification; a person's decision has no tier (0). */
export function notificationFacts(n: Notification): { application_id: string; environment: string; tier: number; user: string } {
  const s = n.kind === 'alert' ? n.alert : n.decision;
  const tier = n.kind === 'alert' ? n.alert.tier : (n.decision.tier ?? 0);
  return { application_id: s.application_id, environment: s.environment, tier, user: s.user.key };
}

/**
 * Whether a record of the decisions topic is notified on its own. Only a person's decisions (source
 * MANUAL: block, challenge, monitor, and lifts): an automatic (POLICY) decision travels inside the alert
 * that caused it, which is notified already.
 */
export function isNotifiedDecision(d: Pick<Decision, 'source'>): boolean {
  return d.source === 'MANUAL';
}
