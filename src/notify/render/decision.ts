import type { Decision, RiskAlert } from '../../contracts.ts';
import { formatDuration } from '../../decisions/duration.ts';
import { clip, identifierList, iso, type Fact } from './common.ts';

// What was done, in words, for every channel: "Blocked for 1h, until 2026-12-03 14:05 UTC (2nd
// offense)" on an alert that caused a decision, "Blocked by alice for 24h, until …: reason" and "Block
// lifted by alice: reason" for a person's decisions. `made_by` and `reason` come from the person who
// ran `risk-hub decisions` (bounded by src/decisions/request.ts): clipped here, escaped by each renderer.

/** Longest reason shown (characters); the full one is on the decisions topic and in the webhook body. */
export const MAX_REASON = 500;

/** "2026-12-03 14:05 UTC": minute precision, what a person reads in a chat message. */
export function utcMinute(ms: number): string {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : String(ms);
}

/** 1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd". */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

const VERB_ALONE: Record<Decision['action'], string> = { BLOCK: 'Blocked', CHALLENGE: 'Challenge required', MONITOR: 'Monitoring', LIFT: 'Block lifted' };
const VERB_BY: Record<Decision['action'], string> = { BLOCK: 'Blocked', CHALLENGE: 'Challenge required', MONITOR: 'Monitored', LIFT: 'Block lifted' };

const LIFTED: Record<Decision['action'], string> = { BLOCK: 'Block lifted', CHALLENGE: 'Challenge lifted', MONITOR: 'Monitoring lifted', LIFT: 'Block lifted' };

/**
 * The action in one sentence, without the reason: "Blocked for 1h, until … (2nd offense)", or with
 * `by` "Blocked by alice for 24h, until …". A LIFT says what it lifted (`lifted_action`; records
 * written before that field read "Block lifted": `decisions remove` lifts blocks most of the time).
 */
export function decisionAction(d: Decision, opts: { by?: boolean } = {}): string {
  const who = opts.by ? ` by ${clip(d.made_by, 100)}` : '';
  const sim = d.simulated ? ' (simulation: not enforced)' : '';
  if (d.action === 'LIFT') return `${LIFTED[d.lifted_action ?? 'BLOCK']}${who}${sim}`;
  const verb = (opts.by ? VERB_BY : VERB_ALONE)[d.action];
  const offense = d.action !== 'MONITOR' && d.offense > 0 ? ` (${ordinal(d.offense)} offense)` : '';
  return `${verb}${who} for ${formatDuration(d.until - d.made_at)}, until ${utcMinute(d.until)}${offense}${sim}`;
}

/** "Blocked for 1h, until 2026-12-03 14:05 UTC (2nd offense)" when the alert caused a decision. */
export function actionLine(alert: RiskAlert): string | undefined {
  return alert.decision ? decisionAction(alert.decision) : undefined;
}

/** A person's decision in one line: "Blocked by alice for 24h, until …: reason". */
export function manualDecisionLine(d: Decision): string {
  const reason = clip(d.reason, MAX_REASON);
  return reason ? `${decisionAction(d, { by: true })}: ${reason}` : decisionAction(d, { by: true });
}

export function decisionSummaryLine(d: Decision): string {
  return `Risk Hub: user ${clip(d.user.key)} in ${clip(d.application_id)}/${clip(d.environment)}: ${manualDecisionLine(d)}`;
}

/** The facts of a person's decision, in the same order for Slack fields, e-mail text and HTML. */
export function decisionFacts(d: Decision, opts: { includeIdentifiers: boolean }): Fact[] {
  const facts: Fact[] = [
    { label: 'User', value: clip(d.user.key) },
    { label: 'Action', value: decisionAction(d) },
    { label: 'Made by', value: clip(d.made_by, 100) },
    { label: 'Reason', value: clip(d.reason, MAX_REASON) || '(none given)' },
    { label: 'Application', value: clip(d.application_id) },
    { label: 'Environment', value: clip(d.environment) },
    { label: 'Made at', value: iso(d.made_at) },
  ];
  if (d.action === 'LIFT') {
    if (d.lifts) facts.push({ label: 'Lifts decision', value: clip(d.lifts, 100) });
  } else facts.push({ label: 'Until', value: iso(d.until) });
  if (opts.includeIdentifiers) {
    const ids = identifierList(d.user.identifiers);
    if (ids) facts.splice(1, 0, { label: 'Identifiers', value: ids });
  }
  return facts;
}
