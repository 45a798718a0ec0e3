// Points policy and tier levels: which points an event is worth and which tier a 24-hour increase
// reaches. Pure: no I/O, nothing here reads configuration files or the clock.

import type { Attack, Severity } from '../contracts.ts';
import { DEFAULT_SEVERITY_POINTS, type ScoringConfig } from '../config/scoring.ts';

/** The scoring rules in force for one application (the global config with its overrides merged). */
export interface Policy {
  /** Tier 1 fires when the window's increase is strictly greater than this (points). */
  threshold: number;
  /** Further tier bounds (points), strictly increasing, each above `threshold`. */
  tiers: number[];
  /** Sliding window length (ms of event time): the window is (T − windowMs, T]. */
  windowMs: number;
  /** Bucket width (ms) used only to coarsen the oldest window entries of a flooding user. */
  bucketMs: number;
  /** Extra time (ms) behind the window an event may arrive without being dropped as late. */
  lateGraceMs: number;
  /** Events more than this (ms) ahead of the processing clock are clamped to it. */
  maxFutureSkewMs: number;
  /** Points by severity (complete: defaults filled in). */
  severityPoints: Record<Severity, number>;
  /** Points by attack type then severity; a missing entry falls back to `severityPoints`. */
  attackTypePoints: Record<string, Partial<Record<Severity, number>>>;
  /** Contributions carried by an alert (highest points first). */
  maxContributions: number;
  /** Event ids remembered per user for duplicate detection (the last N scored events). */
  maxRememberedEvents: number;
}

type SeverityTable = Partial<Record<Severity, number | undefined>>;

/** `base` overlaid with the defined entries of `over` (an explicit `undefined` does not erase). */
function mergeTable(base: SeverityTable, over: SeverityTable | undefined): Partial<Record<Severity, number>> {
  const out: Partial<Record<Severity, number>> = {};
  for (const src of [base, over]) {
    if (!src) continue;
    for (const [sev, pts] of Object.entries(src) as [Severity, number | undefined][]) {
      if (pts !== undefined) out[sev] = pts;
    }
  }
  return out;
}

function buildPolicy(scoring: ScoringConfig, applicationId: string | undefined): Policy {
  const o = applicationId === undefined ? undefined : scoring.applications[applicationId];
  // Severity points: defaults, then the global table, then the application's (entry by entry), so an
  // override of one severity keeps the others.
  const severityPoints = mergeTable(mergeTable(DEFAULT_SEVERITY_POINTS, scoring.severityPoints), o?.severityPoints) as Record<
    Severity,
    number
  >;
  // Attack-type tables merge per type and per severity, the application's entries winning.
  const attackTypePoints: Record<string, Partial<Record<Severity, number>>> = {};
  for (const src of [scoring.attackTypePoints, o?.attackTypePoints ?? {}]) {
    for (const [type, table] of Object.entries(src)) {
      const prev = Object.hasOwn(attackTypePoints, type) ? attackTypePoints[type] : undefined;
      attackTypePoints[type] = Object.freeze(mergeTable(prev ?? {}, table));
    }
  }
  return Object.freeze({
    threshold: o?.threshold ?? scoring.threshold,
    tiers: Object.freeze([...(o?.tiers ?? scoring.tiers)]) as number[],
    windowMs: scoring.windowMs,
    bucketMs: scoring.bucketMs,
    lateGraceMs: scoring.lateGraceMs,
    maxFutureSkewMs: scoring.maxFutureSkewMs,
    severityPoints: Object.freeze(severityPoints),
    attackTypePoints: Object.freeze(attackTypePoints),
    maxContributions: scoring.maxContributions,
    maxRememberedEvents: scoring.maxRememberedEvents,
  });
}

interface PolicyCache {
  base: Policy;
  apps: Map<string, Policy>;
}
const policyCache = new WeakMap<ScoringConfig, PolicyCache>();

/**
 * The policy for `applicationId`: the global scoring config with that application's overrides
 * (threshold, tiers, severity and attack-type tables) merged in. Memoized per (config object,
 * application); applications without overrides share one frozen object, so arbitrary application
 * ids from the stream cannot grow the cache. The returned object is frozen: do not mutate it.
 */
export function resolvePolicy(scoring: ScoringConfig, applicationId: string): Policy {
  let cache = policyCache.get(scoring);
  if (!cache) {
    cache = { base: buildPolicy(scoring, undefined), apps: new Map() };
    policyCache.set(scoring, cache);
  }
  // hasOwn: an application id such as "constructor" must not find Object.prototype members.
  if (!Object.hasOwn(scoring.applications, applicationId)) return cache.base;
  let policy = cache.apps.get(applicationId);
  if (!policy) {
    policy = buildPolicy(scoring, applicationId);
    cache.apps.set(applicationId, policy);
  }
  return policy;
}

/**
 * Points an event is worth: `points` carried by the event if not null, else the attack-type table
 * for its severity, else the severity table, else 0. Negative or non-finite values count as 0: a
 * risk score only increases, and one bad agent value must not poison a user's sums.
 */
export function pointsFor(policy: Policy, a: Pick<Attack, 'points' | 'attack_type' | 'severity'>): number {
  let p: number | undefined;
  if (a.points !== null && a.points !== undefined) {
    p = a.points;
  } else {
    const byType = Object.hasOwn(policy.attackTypePoints, a.attack_type) ? policy.attackTypePoints[a.attack_type] : undefined;
    if (byType !== undefined && Object.hasOwn(byType, a.severity)) p = byType[a.severity];
    if (p === undefined) p = Object.hasOwn(policy.severityPoints, a.severity) ? policy.severityPoints[a.severity] : 0;
  }
  return p !== undefined && Number.isFinite(p) && p > 0 ? p : 0;
}

/**
 * Tier reached by a window increase of `sum` points: 0 when `sum <= threshold`, 1 when above the
 * threshold, k + 1 when above `tiers[k - 1]` (bounds [threshold, ...tiers], strictly greater).
 */
export function tierFor(policy: Policy, sum: number): number {
  if (!(sum > policy.threshold)) return 0;
  let tier = 1;
  for (const bound of policy.tiers) {
    if (sum > bound) tier++;
    else break;
  }
  return tier;
}

/** The bound (points) a sum must exceed to reach `tier` (>= 1). */
export function tierBound(policy: Policy, tier: number): number {
  return tier <= 1 ? policy.threshold : (policy.tiers[tier - 2] ?? policy.threshold);
}
