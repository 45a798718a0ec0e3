import type { RiskAlert, Contribution } from '../../contracts.ts';

// Facts every message carries, whatever the channel, and the {{placeholder}} filler. Values that come
// from agents (user keys, identifiers, attack types) are attacker-influenced: every renderer escapes
// them for its medium and bounds their length.

export const MAX_FIELD = 200;

/** Cuts to `max` characters (code points) with an ellipsis; removes control characters. */
export function clip(value: string, max = MAX_FIELD): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ');
  const chars = [...clean];
  return chars.length <= max ? clean : chars.slice(0, Math.max(0, max - 1)).join('') + '…';
}

export function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString().replace('.000Z', 'Z') : String(ms);
}

export function placeholders(alert: RiskAlert): Record<string, string> {
  return {
    alert_id: alert.alert_id,
    application: alert.application_id,
    environment: alert.environment,
    user: alert.user.key,
    tier: String(alert.tier),
    tier_bound: String(alert.tier_bound),
    increase: String(alert.increase_24h),
    threshold: String(alert.threshold),
    score: String(alert.risk_score),
    triggered_at: iso(alert.triggered_at),
  };
}

/** Replaces {{name}} with the alert's value passed through `escape` (e.g. HTML or Slack escaping). */
export function fillTemplate(template: string, alert: RiskAlert, escape: (s: string) => string = (s) => s): string {
  const values = placeholders(alert);
  return template.replace(/\{\{\s*([^}\s]*)\s*\}\}/g, (whole, name: string) => {
    const v = values[name];
    return v === undefined ? whole : escape(clip(v));
  });
}

/** Contributions in display order (highest points first, then newest), at most `max`. */
export function topContributions(alert: RiskAlert, max: number): { shown: Contribution[]; more: number } {
  const sorted = [...alert.contributions].sort((a, b) => b.points - a.points || b.occurred_at - a.occurred_at);
  const shown = sorted.slice(0, max);
  return { shown, more: sorted.length - shown.length + (alert.contributions_truncated || 0) };
}

export interface Fact {
  label: string;
  value: string;
}

/** The same facts, in the same order, for Slack fields, the e-mail text part and the HTML table. */
export function alertFacts(alert: RiskAlert, opts: { includeIdentifiers: boolean }): Fact[] {
  const facts: Fact[] = [
    { label: 'User', value: clip(alert.user.key) },
    { label: 'Application', value: clip(alert.application_id) },
    { label: 'Environment', value: clip(alert.environment) },
    { label: 'Increase (24 h)', value: `+${alert.increase_24h} points (threshold ${alert.threshold})` },
    { label: 'Tier', value: `${alert.tier} (above ${alert.tier_bound} points)` },
    { label: 'Lifetime score', value: `${alert.risk_score} points` },
    { label: 'Window', value: `${iso(alert.window_start)} to ${iso(alert.window_end)}` },
    { label: 'Triggered at', value: iso(alert.triggered_at) },
  ];
  if (opts.includeIdentifiers) {
    const ids = identifierList(alert.user.identifiers);
    if (ids) facts.splice(1, 0, { label: 'Identifiers', value: ids });
  }
  return facts;
}

/** At most 10 identifiers, sorted, clipped: "email: a@b.c, login: a"; empty when there are none. */
export function identifierList(identifiers: Record<string, string> | undefined): string {
  return Object.entries(identifiers ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(0, 10)
    .map(([k, v]) => `${clip(k, 40)}: ${clip(v, 120)}`)
    .join(', ');
}

export function contributionLine(c: Contribution): string {
  return `${clip(c.attack_type, 60)} · ${c.severity} · ${c.points} pt${c.points === 1 ? '' : 's'} · ${iso(c.occurred_at)}`;
}

export function summaryLine(alert: RiskAlert): string {
  return (
    `Risk Hub: user ${clip(alert.user.key)} in ${clip(alert.application_id)}/${clip(alert.environment)} ` +
    `gained ${alert.increase_24h} points in 24 h (threshold ${alert.threshold}, tier ${alert.tier})`
  );
}
