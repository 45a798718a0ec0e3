import type { Channel, NotifyConfig, RouteConfig } from '../config/notify.ts';
import type { Decision, RiskAlert } from '../contracts.ts';
import type { ResolvedTargets, TargetOf } from './types.ts';

// Routing: which targets of a channel receive an alert. Pure; used by the notifier and by
// `risk-hub config test`.
//
//  1. A per-application override (notify.applications[<application_id>]) may drop the alert (minTier,
//     environments), name extra targets, or be `exclusive` (only its targets).
//  2. Otherwise every target whose route matches (applications, environments, minTier) receives it.
//
// A person's decision (a manual block, challenge, monitor or lift) is routed as if it were an alert of
// the highest tier: to every target whose applications and environments match, whatever its minTier,
// and through the application's override (its environments, named targets and `exclusive` apply; its
// minTier does not). minTier filters alert noise by score; a person's action is rare and deliberate, and
// the people who heard of a user's block at any tier must hear of its lift.

export interface Routed<C extends Channel = Channel> {
  target: TargetOf<C>;
  /** Why this target was chosen, for `config test` and debug logs. */
  reason: string;
}

/** `*` matches any run of characters; everything else is literal. */
export function matchesPattern(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(value);
}

export function matchesAny(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => matchesPattern(p, value));
}

export function routeMatches(route: RouteConfig, alert: Pick<RiskAlert, 'application_id' | 'environment' | 'tier'>): boolean {
  return alert.tier >= route.minTier && matchesAny(route.applications, alert.application_id) && matchesAny(route.environments, alert.environment);
}

export interface RouteDecision<C extends Channel = Channel> {
  routed: Routed<C>[];
  /** Set when the alert goes nowhere on this channel because of an application override. */
  dropped?: string;
}

export function routeAlert<C extends Channel>(
  alert: Pick<RiskAlert, 'application_id' | 'environment' | 'tier'>,
  channel: C,
  notify: Pick<NotifyConfig, 'applications'>,
  targets: Pick<ResolvedTargets, C>,
): RouteDecision<C> {
  const all = targets[channel] as unknown as TargetOf<C>[];
  const override = notify.applications[alert.application_id];
  if (override) {
    if (override.minTier !== undefined && alert.tier < override.minTier)
      return { routed: [], dropped: `applications.${alert.application_id}.minTier is ${override.minTier}, alert tier is ${alert.tier}` };
    if (override.environments && !matchesAny(override.environments, alert.environment))
      return { routed: [], dropped: `applications.${alert.application_id}.environments does not list ${alert.environment}` };
  }
  const out = new Map<string, Routed<C>>();
  const named = new Set(override?.[channel] ?? []);
  if (!override?.exclusive) {
    for (const t of all) {
      if (routeMatches(t.route, alert))
        out.set(t.id, {
          target: t,
          reason: `route (applications ${t.route.applications.join(',') || '(none)'}; environments ${t.route.environments.join(',') || '(none)'}; minTier ${t.route.minTier})`,
        });
    }
  }
  for (const t of all) {
    if (named.has(t.id) && !out.has(t.id)) {
      out.set(t.id, { target: t, reason: `applications.${alert.application_id}.${channel}${override?.exclusive ? ' (exclusive)' : ''}` });
    }
  }
  return { routed: [...out.values()].sort((a, b) => a.target.id.localeCompare(b.target.id)) };
}

/** Above every tier: minTier never holds a person's decision back. */
export const MANUAL_DECISION_TIER = Number.MAX_SAFE_INTEGER;

/** Where a person's decision goes on `channel` (see the rule at the top of this file). */
export function routeDecision<C extends Channel>(
  decision: Pick<Decision, 'application_id' | 'environment'>,
  channel: C,
  notify: Pick<NotifyConfig, 'applications'>,
  targets: Pick<ResolvedTargets, C>,
): RouteDecision<C> {
  return routeAlert({ application_id: decision.application_id, environment: decision.environment, tier: MANUAL_DECISION_TIER }, channel, notify, targets);
}
