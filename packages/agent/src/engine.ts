// The libddwaf engine (Datadog's in-app WAF, through @datadog/native-appsec, which ships prebuilt
// binaries): the ruleset loaded once, one short-lived context per run, handles over subsets of the
// rules for re-runs after a match. dd-trace-js keeps the same seam: its waf_manager loads the engine
// and its context wrapper runs it; deciding what to run is the detector's business (waf.ts).

import { createRequire } from 'node:module';
import type * as NativeAppsec from '@datadog/native-appsec';
import type { headersUsedBy } from './rules/ruleset.ts';

export type Waf = NativeAppsec.DDWAF;
export type RulesetLike = Parameters<typeof headersUsedBy>[0];

/** An event of a run: the rule that matched, and where. */
export interface WafEvent {
  rule?: { id?: string; tags?: { type?: unknown; attack_type?: unknown; severity?: unknown } };
  rule_matches?: Array<{ parameters?: Array<{ address?: unknown; key_path?: unknown[] }> }>;
}

/** What one run found: nothing when it ran out of its budget (`timeout`). */
export interface RunResult {
  timeout: boolean;
  events: WafEvent[];
}

/** The native engine could not be loaded (no prebuilt binary for this platform, broken install). */
export class WafUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`risk-hub agent: libddwaf (@datadog/native-appsec) could not be loaded: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'WafUnavailableError';
  }
}

let ddwaf: typeof NativeAppsec.DDWAF | undefined;
/** Loads the native binding on first use (CommonJS, prebuilt binaries), so that a platform without one fails here, catchably, not at import. */
function loadDdwaf(): typeof NativeAppsec.DDWAF {
  if (!ddwaf) {
    try {
      ddwaf = (createRequire(import.meta.url)('@datadog/native-appsec') as typeof NativeAppsec).DDWAF;
    } catch (err) {
      throw new WafUnavailableError(err);
    }
  }
  return ddwaf;
}

/** Handles over a subset of the rules (re-runs after a match), at most this many kept. */
const MAX_SUBSET_HANDLES = 16;

export class WafEngine {
  readonly rules: RulesetLike;
  /** Rules libddwaf loaded. */
  readonly ruleCount: number;
  /** The handle with every rule. */
  readonly main: Waf;
  /** Handles loaded with only some of the rules, by their sorted ids; null: could not load. */
  private readonly subsets = new Map<string, Waf | null>();
  /** Calls into the engine (tests, bench). */
  runs = 0;

  /** Loads the ruleset; throws WafUnavailableError without the binding, Error for a rejected ruleset. */
  constructor(rules: RulesetLike) {
    this.rules = rules;
    const DDWAF = loadDdwaf();
    try {
      this.main = new DDWAF(rules, 'risk-hub/agent/rules');
    } catch (err) {
      throw new Error(`risk-hub agent: ruleset rejected by libddwaf: ${(err as Error).message}`, { cause: err });
    }
    const diag = this.main.diagnostics.rules;
    if (diag && 'error' in diag) throw new Error(`risk-hub agent: ruleset rejected by libddwaf: ${diag.error}`);
    if (diag && diag.failed.length > 0) {
      throw new Error(`risk-hub agent: rules failed to load: ${diag.failed.join(', ')} (${JSON.stringify(diag.errors)})`);
    }
    this.ruleCount = diag?.loaded.length ?? 0;
  }

  /** Addresses the loaded ruleset reads (libddwaf's own view). */
  get knownAddresses(): Set<string> {
    return this.main.knownAddresses;
  }

  /** One run over `data` (addresses → values) in a fresh context, within `budgetMicros` of wall time. */
  run(data: Record<string, unknown>, budgetMicros: number, handle: Waf = this.main): RunResult {
    this.runs++;
    const ctx = handle.createContext();
    let result;
    try {
      result = ctx.run({ persistent: data }, budgetMicros);
    } finally {
      ctx.dispose();
    }
    if (result.timeout) return { timeout: true, events: [] };
    return { timeout: false, events: (result.events ?? []) as WafEvent[] };
  }

  /** A handle with only the given rules (ids) of `current`'s rules; `current` itself if it cannot be made. */
  subset(ids: Iterable<string>, current: Waf): Waf {
    const wanted = [...ids].sort();
    const key = wanted.join('\n');
    let waf = this.subsets.get(key);
    if (waf === undefined) {
      if (this.subsets.size >= MAX_SUBSET_HANDLES) return current;
      waf = null;
      try {
        const keep = new Set(wanted);
        const candidate = new (loadDdwaf())({ ...this.rules, rules: (this.rules.rules ?? []).filter((r) => keep.has((r as { id?: string }).id ?? '')) }, 'risk-hub/agent/rules-subset');
        const diag = candidate.diagnostics.rules;
        if (diag && !('error' in diag) && diag.failed.length === 0 && diag.loaded.length === keep.size) waf = candidate;
        else candidate.dispose();
      } catch {
        waf = null;
      }
      this.subsets.set(key, waf);
    }
    return waf ?? current;
  }

  dispose(): void {
    if (!this.main.disposed) this.main.dispose();
    for (const waf of this.subsets.values()) if (waf && !waf.disposed) waf.dispose();
    this.subsets.clear();
  }
}
