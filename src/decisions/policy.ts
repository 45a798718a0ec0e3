// The decision policy in force for one application: the global `decisions` configuration with that
// application's overrides. Pure; memoized per configuration object like the scoring policy.

import type { DecisionRule, DecisionsConfig } from '../config/decisions.ts';

export interface DecisionPolicy {
  /** In strictly increasing tier order. */
  rules: readonly DecisionRule[];
  simulate: boolean;
  exemptUsers: ReadonlySet<string>;
  /** Anchored (the whole user key must match). */
  exemptPatterns: readonly RegExp[];
}

function build(cfg: DecisionsConfig, applicationId: string | undefined): DecisionPolicy {
  const o = applicationId === undefined ? undefined : cfg.applications[applicationId];
  const exempt = o?.exempt ?? cfg.exempt;
  return Object.freeze({
    rules: Object.freeze([...(o?.rules ?? cfg.rules)]),
    simulate: o?.simulate ?? cfg.simulate,
    exemptUsers: new Set(exempt.users),
    exemptPatterns: Object.freeze(exempt.patterns.map((p) => new RegExp(`^(?:${p})$`, 'u'))),
  });
}

const cache = new WeakMap<DecisionsConfig, { base: DecisionPolicy; apps: Map<string, DecisionPolicy> }>();

/** The policy of `applicationId`; applications without overrides share one object (ids from the stream cannot grow the cache). */
export function resolveDecisionPolicy(cfg: DecisionsConfig, applicationId: string): DecisionPolicy {
  let c = cache.get(cfg);
  if (!c) {
    c = { base: build(cfg, undefined), apps: new Map() };
    cache.set(cfg, c);
  }
  if (!Object.hasOwn(cfg.applications, applicationId)) return c.base;
  let p = c.apps.get(applicationId);
  if (!p) c.apps.set(applicationId, (p = build(cfg, applicationId)));
  return p;
}

/** Whether the user (their key, as agents report it) is never acted on automatically. */
export function isExempt(policy: DecisionPolicy, userKey: string): boolean {
  if (policy.exemptUsers.has(userKey)) return true;
  for (const re of policy.exemptPatterns) if (re.test(userKey)) return true;
  return false;
}

/** The rule of the highest tier at or below `tier`; undefined when none applies. */
export function ruleFor(policy: DecisionPolicy, tier: number): DecisionRule | undefined {
  let found: DecisionRule | undefined;
  for (const r of policy.rules) {
    if (r.tier <= tier) found = r;
    else break;
  }
  return found;
}
