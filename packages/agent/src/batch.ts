// Batched engine runs: the requests that complete together are judged in one run (each crossing into
// libddwaf has a fixed cost that dominates small requests), each request still getting exactly the
// verdict it would get alone (a property test checks this).

import type { CleanValueCache, FreshValue } from './clean-cache.ts';
import type { RulesetLike, Waf, WafEngine, WafEvent } from './engine.ts';
import { copyDetection, summarize, type Detection, type DetectionResult } from './verdict.ts';

/** libddwaf reads at most this many elements of a container (and of a batched run's flat arrays). */
const MAX_CONTAINER = 256;
/** Leaves one request may put in a batched run, per address; beyond, it runs alone. */
const MAX_LEAVES = 128;
/**
 * Deeper values run alone. A single run does not see leaves nested more than 18 containers deep (the
 * binding's conversion limit), a flat batched run sees every leaf it is given: a batch's verdict can only
 * stand for a request whose every leaf a single run sees too (a test pins the limit).
 */
const MAX_DEPTH = 16;

/** A request's inputs not yet judged by the engine. */
export interface Prepared {
  /** Index in the run's list. */
  i: number;
  data: Record<string, unknown>;
  fresh: FreshValue[];
  /** Leaf values per address, for a batched run; undefined when the request must run alone. */
  leaves: Array<[string, unknown[]]> | undefined;
}

/** Appends the leaf values of `value` (and the object keys, if `keys`) to `out`; false when over MAX_LEAVES or MAX_DEPTH. */
function collectLeaves(value: unknown, out: unknown[], keys: boolean, depth: number): boolean {
  if (value === null || value === undefined) return true;
  if (typeof value !== 'object') {
    if (out.length >= MAX_LEAVES) return false;
    out.push(value);
    return true;
  }
  if (depth >= MAX_DEPTH || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (!collectLeaves(v, out, keys, depth + 1)) return false;
    return true;
  }
  for (const k in value) {
    if (!Object.prototype.hasOwnProperty.call(value, k)) continue;
    if (keys) {
      if (out.length >= MAX_LEAVES) return false;
      out.push(k);
    }
    if (!collectLeaves((value as Record<string, unknown>)[k], out, keys, depth + 1)) return false;
  }
  return true;
}

/**
 * What the events of a flat batched run say about its requests (their index in the batch): for each rule
 * that matched, the requests that own the matched value (address + first key of the key path). Undefined
 * when an event names no request or no rule: the whole batch is then run again request by request.
 */
function matchesOf(events: WafEvent[], owners: Record<string, number[][]>): Map<string, Set<number>> | undefined {
  const byRule = new Map<string, Set<number>>();
  for (const event of events) {
    const id = event.rule?.id;
    if (typeof id !== 'string') return undefined;
    let named = byRule.get(id);
    if (!named) byRule.set(id, (named = new Set()));
    for (const match of event.rule_matches ?? []) {
      for (const param of match.parameters ?? []) {
        const own = typeof param.address === 'string' ? owners[param.address] : undefined;
        const first = param.key_path?.[0];
        const owner = own && (typeof first === 'string' || typeof first === 'number') ? own[Number(first)] : undefined;
        if (owner === undefined) return undefined;
        for (const i of owner) named.add(i);
      }
    }
    if (named.size === 0) return undefined;
  }
  return byRule;
}

/** Addresses that no rule reads through a key path (their values can be nested one level deeper). */
export function batchableAddresses(rules: RulesetLike): Set<string> {
  const all = new Set<string>();
  const keyed = new Set<string>();
  for (const rule of rules.rules ?? []) {
    for (const condition of rule.conditions ?? []) {
      for (const input of condition.parameters?.inputs ?? []) {
        all.add(input.address);
        if (input.key_path && input.key_path.length > 0) keyed.add(input.address);
      }
    }
  }
  for (const a of keyed) all.delete(a);
  return all;
}

/** One run of one request on its own (the detector's), optionally on a handle with fewer rules. */
export type RunOne = (data: Record<string, unknown>, fresh: FreshValue[], waf?: Waf) => DetectionResult;

export class BatchRunner {
  /** Runs over several requests at once (tests, bench). */
  runs = 0;

  /**
   * @param batchable addresses requests may share a run on
   * @param scanKeys a rule reads object keys: batched runs carry the keys as leaves too
   */
  constructor(
    private readonly engine: WafEngine,
    private readonly cache: CleanValueCache,
    private readonly budgetMicros: number,
    private readonly batchable: Set<string>,
    private readonly scanKeys: boolean,
    private readonly runOne: RunOne,
  ) {}

  /** The leaf values of a request's inputs per address, or undefined when it cannot share a run (keyed address, too many or too deep leaves). */
  leavesOf(data: Record<string, unknown>): Array<[string, unknown[]]> | undefined {
    const out: Array<[string, unknown[]]> = [];
    for (const address in data) {
      if (!this.batchable.has(address)) return undefined;
      const leaves: unknown[] = [];
      if (!collectLeaves(data[address], leaves, this.scanKeys, 0)) return undefined;
      if (leaves.length > 0) out.push([address, leaves]);
    }
    return out;
  }

  /**
   * Runs over the batch; on a match, the requests named by the match are run on their own and the rest is
   * run again as a batch, until a batch comes back clean. A timeout, or a match that names no request,
   * sends everyone to single runs. Requests are grouped so that no address holds more leaves than
   * libddwaf reads in one container.
   */
  run(prepared: Prepared[], results: DetectionResult[]): void {
    let group: Prepared[] = [];
    const counts = new Map<string, number>();
    for (const p of prepared) {
      let fits = true;
      for (const [address, leaves] of p.leaves!) if ((counts.get(address) ?? 0) + leaves.length > MAX_CONTAINER) fits = false;
      if (!fits) {
        this.runGroup(group, results);
        group = [];
        counts.clear();
      }
      group.push(p);
      for (const [address, leaves] of p.leaves!) counts.set(address, (counts.get(address) ?? 0) + leaves.length);
    }
    this.runGroup(group, results);
  }

  /**
   * One engine run over a group. The leaf values (strings, numbers…) of every request are put in one flat
   * array per address, `{ "server.request.query": ["socks 1", "2", "tea"] }`, with who owns each index:
   * converting a flat array into the engine costs a fraction of nested objects (~2 µs a value instead of
   * ~8). Every rule here has one condition on an address read without a key path, and libddwaf judges
   * each leaf on its own (object keys only with a keys transformer, and then the keys are leaves too), so
   * a clean flat run means every request would be clean alone.
   *
   * A match names the index, hence the request(s) owning the value. libddwaf evaluates every rule over
   * every value but stops a rule at its first match, so after a run with matches:
   * - a rule that did not match matches none of the group's values;
   * - a rule that matched is known for the requests it names, unknown for the others.
   * A request named by every rule that matched is therefore known exactly (it has all of them, and no
   * other): its verdict is the run's (unless object keys are scanned as leaves: it is then run alone). A
   * request named by some of them only is run alone, on its original structure. The others are run again
   * as a group, with a handle holding only the rules that matched (the rest are known not to match):
   * cheaper, and the same reasoning applies to that run, until a run comes back clean. A timeout, or a
   * match that names no request, sends everyone to single runs.
   */
  private runGroup(group: Prepared[], results: DetectionResult[]): void {
    let rest = group;
    let waf = this.engine.main;
    while (rest.length > 1) {
      // a value shared by several requests (a session cookie, a popular search) is sent once, owned by all
      const combined: Record<string, unknown[]> = {};
      const owners: Record<string, number[][]> = {};
      const seen = new Map<string, Map<unknown, number>>();
      for (const { i, leaves } of rest) {
        for (const [address, values] of leaves!) {
          const flat = (combined[address] ??= []);
          const own = (owners[address] ??= []);
          let index = seen.get(address);
          if (!index) seen.set(address, (index = new Map()));
          for (const v of values) {
            const at = index.get(v);
            if (at !== undefined) {
              const list = own[at]!;
              if (list[list.length - 1] !== i) list.push(i);
              continue;
            }
            index.set(v, flat.length);
            flat.push(v);
            own.push([i]);
          }
        }
      }
      this.runs++;
      const result = this.engine.run(combined, this.budgetMicros * rest.length, waf);
      if (!result.timeout && result.events.length === 0) {
        for (const { fresh } of rest) this.cache.remember(fresh);
        return;
      }
      const events = result.events;
      const byRule = result.timeout ? undefined : matchesOf(events, owners);
      if (!byRule) {
        for (const { i, data, fresh } of rest) results[i] = this.runOne(data, fresh);
        return;
      }
      const next: Prepared[] = [];
      let detections: Detection[] | undefined;
      for (const p of rest) {
        let named = 0;
        for (const owners of byRule.values()) if (owners.has(p.i)) named++;
        if (named === 0) next.push(p);
        else if (named === byRule.size && !this.scanKeys) results[p.i] = { detections: (detections ??= summarize(events)).map(copyDetection), timeout: false };
        else results[p.i] = this.runOne(p.data, p.fresh);
      }
      rest = next;
      if (rest.length > 1) waf = this.engine.subset(byRule.keys(), waf);
    }
    // one request left, not named by any rule that matched: run it alone with the rules that could still match
    for (const { i, data, fresh } of rest) results[i] = this.runOne(data, fresh, waf);
  }
}
