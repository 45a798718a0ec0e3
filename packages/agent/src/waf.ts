// Attack detection with libddwaf (Datadog's in-app WAF engine, through @datadog/native-appsec, which ships
// prebuilt binaries) and the ruleset in rules/ruleset.ts. One WAF handle per agent; one short-lived
// context per request. The engine runs under a time budget: a run that exceeds it reports `timeout` and
// counts as no detection (never as an attack, never as an error reaching the application).

import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type * as NativeAppsec from '@datadog/native-appsec';
import { SEVERITIES, type Severity } from './contracts.ts';
import { headersUsedBy, ruleset as defaultRuleset } from './rules/ruleset.ts';

type Waf = NativeAppsec.DDWAF;
type RulesetLike = Parameters<typeof headersUsedBy>[0];

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

/** What the agent knows about a request, already parsed by the web framework. */
export interface RequestFacts {
  /** The raw request target (`req.url` / `req.originalUrl`), still URL-encoded. */
  uri?: string | undefined;
  query?: unknown;
  /**
   * The query string `query` was parsed from, and the parser (a deterministic function of the string):
   * once every value of it is judged clean, the string is remembered and the caller can ask knowsQuery()
   * before parsing it again.
   */
  rawQuery?: string | undefined;
  queryParser?: unknown;
  body?: unknown;
  pathParams?: unknown;
  headers?: IncomingHttpHeaders | undefined;
}

export interface Detection {
  attackType: string;
  severity: Severity;
  /** Ids of the rules that matched (for logs and tests; not sent to Kafka). */
  rules: string[];
}

export interface DetectionResult {
  detections: Detection[];
  /** The WAF ran out of its budget: whatever it found is discarded. */
  timeout: boolean;
}

export interface DetectorOptions {
  /** libddwaf ruleset (format 2.x). Default: the Risk Hub ruleset. */
  rules?: object;
  /** Per-request WAF budget in microseconds (default 5000). */
  budgetMicros?: number;
  /**
   * Distinct values remembered as clean (default 10,000; 0 disables). Only used when every rule has a
   * single condition, so that a value's verdict cannot depend on the other inputs.
   */
  cleanCacheSize?: number;
}

/** Bodies (strings) longer than this are cut before they cross into the engine. libddwaf itself keeps 4096 chars per string. */
const MAX_BODY_STRING = 16 * 1024;
const MAX_COOKIES = 50;

interface WafEvent {
  rule?: { id?: string; tags?: { type?: unknown; attack_type?: unknown; severity?: unknown } };
  rule_matches?: Array<{ parameters?: Array<{ address?: unknown; key_path?: unknown[] }> }>;
}

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

/** A set of string values known clean, for one field (a header, a query parameter name…). */
type Field = Map<string, true>;
/** Fields by name (query and route parameters, cookies, headers). */
type Fields = Map<string, Field>;

/**
 * Values a run must see before they can be remembered, three slots each: the field (or the map of fields
 * by name), the name (undefined for a field), the value. No key is built per lookup.
 */
type Fresh = unknown[];

interface Prepared {
  /** Index in the run's list. */
  i: number;
  data: Record<string, unknown>;
  fresh: Fresh;
  /** Leaf values per address, for a batched run; undefined when the request must run alone. */
  leaves: Array<[string, unknown[]]> | undefined;
}

/** A request's inputs not yet judged by the engine (Detector.prepare). */
export type PreparedRequest = object;

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

/** Handles over a subset of the rules (re-runs after a match), at most this many kept. */
const MAX_SUBSET_HANDLES = 16;

export class Detector {
  readonly budgetMicros: number;
  readonly ruleCount: number;
  private readonly waf: Waf;
  private readonly rules: RulesetLike;
  /** Handles loaded with only some of the rules, by their sorted ids (re-runs of a batch after a match); null: could not load. */
  private readonly subsets = new Map<string, Waf | null>();
  /** The headers the ruleset reads (undefined: all of them), and the clean values of each (same order). */
  private readonly headerList: string[] | undefined;
  private readonly headerFields: Field[];
  /** The last cookie headers parsed, and their cookies (the same header comes with many requests of a batch). */
  private readonly cookieMemo: Array<string | Record<string, string>> = [];
  private cookieMemoAt = 0;
  /** Reused by prepare(): the fresh values of the request being read. */
  private readonly freshBuf: Fresh = [];
  /**
   * String values that a complete, match-free WAF run has already seen (paths, query and route
   * parameters, headers, cookie headers): they repeat across requests (the same pages, browsers and
   * session cookies) and are not sent to the engine again; a request made only of such values skips the
   * engine. A value is remembered only after a run with no match at all and no timeout, so every rule
   * judged it clean, and only when every rule has a single condition, so its verdict cannot depend on
   * the other inputs of the request. Bodies are always inspected.
   */
  private readonly cleanUri: Field = new Map();
  private readonly cleanCookieHeader: Field = new Map();
  private readonly cleanHeaders: Fields = new Map();
  private readonly cleanQuery: Fields = new Map();
  private readonly cleanParams: Fields = new Map();
  private readonly cleanCookies: Fields = new Map();
  /** Whole query strings whose values are all known clean, per parser. */
  private readonly cleanQueryStrings = new Map<unknown, Field>();
  private readonly cleanMax: number;
  /** Remembered values in insertion order (field, value, fields, name per entry): the oldest is forgotten first. */
  private ring: unknown[] = [];
  private ringAt = 0;
  /** Values that crossed into the engine only because they were not known clean (tests). */
  cacheMisses = 0;
  /** Calls into the engine (tests: a request made only of known-clean values makes none). */
  engineRuns = 0;
  /** Of which runs over several requests at once. */
  batchedRuns = 0;
  /** Addresses no rule reads through a key path: requests using only these can share an engine run. */
  private readonly batchable: Set<string> | undefined;
  /** A rule reads object keys (keys_only…): batched runs then carry the keys as leaves too. */
  private readonly scanKeys: boolean;

  constructor(opts: DetectorOptions = {}) {
    const rules = (opts.rules ?? defaultRuleset) as RulesetLike;
    this.rules = rules;
    this.budgetMicros = opts.budgetMicros ?? 5000;
    const DDWAF = loadDdwaf();
    try {
      this.waf = new DDWAF(rules, 'risk-hub/agent/rules');
    } catch (err) {
      throw new Error(`risk-hub agent: ruleset rejected by libddwaf: ${(err as Error).message}`, { cause: err });
    }
    const diag = this.waf.diagnostics.rules;
    if (diag && 'error' in diag) throw new Error(`risk-hub agent: ruleset rejected by libddwaf: ${diag.error}`);
    if (diag && diag.failed.length > 0) {
      throw new Error(`risk-hub agent: rules failed to load: ${diag.failed.join(', ')} (${JSON.stringify(diag.errors)})`);
    }
    this.ruleCount = diag?.loaded.length ?? 0;
    const names = headersUsedBy(rules);
    this.headerList = names === 'all' ? undefined : [...names].filter((n) => n !== 'cookie' && n !== 'set-cookie');
    this.headerFields = (this.headerList ?? []).map(() => new Map<string, true>());
    const singleCondition = (rules.rules ?? []).every((r) => (r.conditions?.length ?? 0) === 1);
    this.cleanMax = singleCondition ? (opts.cleanCacheSize ?? 10_000) : 0;
    this.batchable = singleCondition ? batchableAddresses(rules) : undefined;
    this.scanKeys = /"keys/.test(JSON.stringify(rules));
  }

  /** Whether a query string, through this parser, is known to give only clean values (see RequestFacts.rawQuery). */
  knowsQuery(parser: unknown, rawQuery: string): boolean {
    return this.cleanMax > 0 && this.cleanQueryStrings.get(parser)?.has(rawQuery) === true;
  }

  /** Addresses the loaded ruleset reads (libddwaf's own view). */
  get knownAddresses(): Set<string> {
    return this.waf.knownAddresses;
  }

  detect(facts: RequestFacts): DetectionResult {
    const fresh: Fresh = [];
    const data = this.inputs(facts, fresh);
    // Everything in this request is known clean: no need to cross into the engine at all.
    if (data === undefined) return { detections: [], timeout: false };
    return this.runOne(data, fresh);
  }

  /**
   * Inspects several requests, in ONE engine run when it can: each crossing into libddwaf has a fixed
   * cost (context, conversion, result) that dominates small requests. See prepare() and
   * detectPrepared(), which split this in two so that a caller can prepare each request when it is
   * done with it and run the engine once over many.
   */
  detectMany(batch: RequestFacts[]): DetectionResult[] {
    const results: DetectionResult[] = new Array<DetectionResult>(batch.length);
    const prepared: PreparedRequest[] = [];
    const at: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const p = this.prepare(batch[i]!);
      if (p === undefined) results[i] = { detections: [], timeout: false };
      else {
        prepared.push(p);
        at.push(i);
      }
    }
    const found = this.detectPrepared(prepared);
    for (let j = 0; j < found.length; j++) results[at[j]!] = found[j]!;
    return results;
  }

  /**
   * What the engine must see of a request: undefined when every value in it is known clean (no engine
   * run is needed: the request is clean), else its inputs, to give to detectPrepared() with others.
   */
  prepare(facts: RequestFacts): PreparedRequest | undefined {
    const fresh = this.freshBuf;
    fresh.length = 0;
    const data = this.inputs(facts, fresh);
    if (data === undefined) return undefined;
    return { i: 0, data, fresh: fresh.slice(), leaves: this.batchable ? this.leavesOf(data) : undefined };
  }

  /**
   * The verdicts of prepared requests, in their order. The inputs of the requests that can share a run
   * (no address read through a key path, such as the headers; not too many or too deep leaves) are put
   * side by side in one engine run (see runGroup); the others are run on their own.
   */
  detectPrepared(prepared: PreparedRequest[]): DetectionResult[] {
    const results: DetectionResult[] = new Array<DetectionResult>(prepared.length);
    const batch: Prepared[] = [];
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i] as Prepared;
      p.i = i;
      if (p.leaves) batch.push(p);
      else results[i] = this.runOne(p.data, p.fresh);
    }
    if (batch.length === 1) {
      const only = batch[0]!;
      results[only.i] = this.runOne(only.data, only.fresh);
    } else if (batch.length > 1) {
      this.runBatch(batch, results);
    }
    for (let i = 0; i < results.length; i++) results[i] ??= { detections: [], timeout: false };
    return results;
  }

  /**
   * Runs over the batch; on a match, the requests named by the match are run on their own and the rest is
   * run again as a batch, until a batch comes back clean. A timeout, or a match that names no request,
   * sends everyone to single runs. Requests are grouped so that no address holds more leaves than
   * libddwaf reads in one container.
   */
  private runBatch(prepared: Prepared[], results: DetectionResult[]): void {
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
   * other): its verdict is the run's (unless object keys are scanned as leaves: it is then run alone). A request named by some of them only is run alone, on its original
   * structure. The others are run again as a group, with a handle holding only the rules that matched (the
   * rest are known not to match): cheaper, and the same reasoning applies to that run, until a run comes
   * back clean. A timeout, or a match that names no request, sends everyone to single runs.
   */
  private runGroup(group: Prepared[], results: DetectionResult[]): void {
    let rest = group;
    let waf = this.waf;
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
      this.engineRuns++;
      this.batchedRuns++;
      const ctx = waf.createContext();
      let result;
      try {
        result = ctx.run({ persistent: combined }, this.budgetMicros * rest.length);
      } finally {
        ctx.dispose();
      }
      if (!result.timeout && (!result.events || result.events.length === 0)) {
        for (const { fresh } of rest) this.remember(fresh);
        return;
      }
      const events = result.events as WafEvent[];
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
      if (rest.length > 1) waf = this.subset(byRule.keys(), waf);
    }
    // one request left, not named by any rule that matched: run it alone with the rules that could still match
    for (const { i, data, fresh } of rest) results[i] = this.runOne(data, fresh, waf);
  }

  /** A handle with only the given rules (ids) of `current`'s rules; `current` itself if it cannot be made. */
  private subset(ids: Iterable<string>, current: Waf): Waf {
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

  /** The leaf values of a request's inputs per address, or undefined when it cannot share a run (keyed address, too many leaves). */
  private leavesOf(data: Record<string, unknown>): Array<[string, unknown[]]> | undefined {
    const out: Array<[string, unknown[]]> = [];
    for (const address in data) {
      if (!this.batchable!.has(address)) return undefined;
      const leaves: unknown[] = [];
      if (!collectLeaves(data[address], leaves, this.scanKeys, 0)) return undefined;
      if (leaves.length > 0) out.push([address, leaves]);
    }
    return out;
  }

  private runOne(data: Record<string, unknown>, fresh: Fresh, waf: Waf = this.waf): DetectionResult {
    this.engineRuns++;
    const ctx = waf.createContext();
    let result;
    try {
      result = ctx.run({ persistent: data }, this.budgetMicros);
    } finally {
      ctx.dispose();
    }
    if (result.timeout) return { detections: [], timeout: true };
    if (!result.events || result.events.length === 0) {
      this.remember(fresh);
      return { detections: [], timeout: false };
    }
    return { detections: summarize(result.events as WafEvent[]), timeout: false };
  }

  close(): void {
    if (!this.waf.disposed) this.waf.dispose();
    for (const waf of this.subsets.values()) if (waf && !waf.disposed) waf.dispose();
    this.subsets.clear();
    for (const f of [this.cleanUri, this.cleanCookieHeader, this.cleanHeaders, this.cleanQuery, this.cleanParams, this.cleanCookies, ...this.headerFields]) f.clear();
    this.cleanQueryStrings.clear();
    this.cookieMemo.length = 0;
    this.ring = [];
    this.ringAt = 0;
  }

  private remember(fresh: Fresh): void {
    const ring = this.ring;
    for (let j = 0; j < fresh.length; j += 3) {
      const name = fresh[j + 1] as string | undefined;
      const value = fresh[j + 2] as string;
      let field: Field;
      if (name === undefined) field = fresh[j] as Field;
      else {
        const fields = fresh[j] as Fields;
        let f = fields.get(name);
        if (!f) fields.set(name, (f = new Map()));
        field = f;
      }
      if (field.has(value)) continue;
      if (ring.length >= this.cleanMax * 4) {
        // forget the oldest value (and its field, once empty: names are not kept forever)
        const at = this.ringAt;
        const oldField = ring[at] as Field;
        oldField.delete(ring[at + 1] as string);
        const oldFields = ring[at + 2] as Fields | undefined;
        if (oldFields && oldField.size === 0 && oldFields.get(ring[at + 3] as string) === oldField) oldFields.delete(ring[at + 3] as string);
        ring[at] = field;
        ring[at + 1] = value;
        ring[at + 2] = name === undefined ? undefined : fresh[j];
        ring[at + 3] = name;
        this.ringAt = at + 4 >= ring.length ? 0 : at + 4;
      } else {
        ring.push(field, value, name === undefined ? undefined : fresh[j], name);
      }
      field.set(value, true);
    }
  }

  /** Whether a value of a field must go to the engine; records it in `fresh` if so (cacheable ones only). */
  private needs(field: Field, value: string, length: number, fresh: Fresh): boolean {
    if (this.cleanMax === 0 || length > 2048) return true;
    if (field.has(value)) return false;
    this.cacheMisses++;
    fresh.push(field, undefined, value);
    return true;
  }

  /** The same for a named field (a query or route parameter, a cookie, a header). */
  private needsNamed(fields: Fields, name: string, value: string, length: number, fresh: Fresh, counted: boolean): boolean {
    if (this.cleanMax === 0 || length > 2048) return true;
    if (fields.get(name)?.has(value)) return false;
    if (counted) this.cacheMisses++;
    fresh.push(fields, name, value);
    return true;
  }

  /**
   * Builds the WAF input: only non-empty addresses; of the raw URI only the path (the query string is
   * inspected decoded, as server.request.query); only the headers the ruleset reads; cookies parsed; and
   * none of the string values already known clean (query and route parameters, path, headers, cookie).
   * Undefined when nothing is left: the request is clean without an engine run. Allocates nothing then.
   */
  private inputs(facts: RequestFacts, fresh: Fresh): Record<string, unknown> | undefined {
    let data: Record<string, unknown> | undefined;
    const uri = facts.uri;
    if (uri) {
      const q = uri.indexOf('?');
      const path = q >= 0 ? uri.slice(0, q) : uri;
      if (path && this.needs(this.cleanUri, path, path.length, fresh)) (data ??= {})['server.request.uri.raw'] = path;
    }
    const query = this.uncached(this.cleanQuery, facts.query, fresh, true);
    if (query !== undefined) (data ??= {})['server.request.query'] = query;
    const rawQuery = facts.rawQuery;
    if (rawQuery !== undefined && this.cleanMax > 0 && rawQuery.length <= 2048) {
      let field = this.cleanQueryStrings.get(facts.queryParser);
      if (field === undefined) this.cleanQueryStrings.set(facts.queryParser, (field = new Map()));
      // every value known clean already: so is the string; else it is, once the run of its new values is
      if (query === undefined) this.remember([field, undefined, rawQuery]);
      else fresh.push(field, undefined, rawQuery);
    }
    const params = this.uncached(this.cleanParams, facts.pathParams, fresh, true);
    if (params !== undefined) (data ??= {})['server.request.path_params'] = params;
    const body = facts.body;
    if (body !== undefined && body !== null) {
      if (typeof body === 'string') {
        if (body.length > 0) (data ??= {})['server.request.body'] = body.length > MAX_BODY_STRING ? body.slice(0, MAX_BODY_STRING) : body;
      } else if (nonEmpty(body) && !Buffer.isBuffer(body) && !ArrayBuffer.isView(body)) {
        (data ??= {})['server.request.body'] = body;
      }
    }
    const headers = facts.headers;
    if (headers) {
      let picked: Record<string, string | string[]> | undefined;
      const list = this.headerList;
      if (list !== undefined) {
        const fields = this.headerFields;
        for (let k = 0; k < list.length; k++) {
          const name = list[k]!;
          const value = headers[name];
          if (value === undefined) continue;
          if (typeof value === 'string' && !this.needs(fields[k]!, value, value.length, fresh)) continue;
          (picked ??= bag())[name] = value;
        }
      } else {
        for (const name of Object.keys(headers)) {
          const value = headers[name];
          if (value === undefined || name === 'cookie' || name === 'set-cookie') continue;
          if (typeof value === 'string' && !this.needsNamed(this.cleanHeaders, name, value, value.length, fresh, true)) continue;
          (picked ??= bag())[name] = value;
        }
      }
      if (picked) (data ??= {})['server.request.headers.no_cookies'] = picked;
      const cookie = headers.cookie;
      // the whole header first (it repeats), then each cookie (a new session id leaves the others known)
      if (cookie && this.needs(this.cleanCookieHeader, cookie, cookie.length, fresh)) {
        // (the cookies of a cookie header already counted as one miss)
        const cookies = this.uncached(this.cleanCookies, this.cookiesOf(cookie), fresh, false);
        if (cookies !== undefined) (data ??= {})['server.request.cookies'] = cookies;
        // every cookie known clean: so is the header (only its cookies are inspected)
        else if (data === undefined) this.remember(fresh);
      }
    }
    return data;
  }

  /** parseCookies, remembering the last few headers (read-only results: uncached() copies what it keeps). */
  private cookiesOf(header: string): Record<string, string> {
    const memo = this.cookieMemo;
    for (let j = 0; j < memo.length; j += 2) if (memo[j] === header) return memo[j + 1] as Record<string, string>;
    const cookies = parseCookies(header);
    if (memo.length < 8) memo.push(header, cookies);
    else {
      memo[this.cookieMemoAt] = header;
      memo[this.cookieMemoAt + 1] = cookies;
      this.cookieMemoAt = (this.cookieMemoAt + 2) % 8;
    }
    return cookies;
  }

  /** A flat parameter object without the string values already known clean; undefined when nothing is left. */
  private uncached(fields: Fields, value: unknown, fresh: Fresh, counted: boolean): unknown {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object') return value;
    if (this.cleanMax === 0 || Array.isArray(value)) return nonEmpty(value) ? value : undefined;
    let out: Record<string, unknown> | undefined;
    const obj = value as Record<string, unknown>;
    for (const name in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, name)) continue;
      const v = obj[name];
      if (typeof v === 'string' && !this.needsNamed(fields, name, v, v.length + name.length, fresh, counted)) continue;
      (out ??= bag())[name] = v;
    }
    return out;
  }
}

/** Addresses that no rule reads through a key path (their values can be nested one level deeper). */
function batchableAddresses(rules: Parameters<typeof headersUsedBy>[0]): Set<string> {
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

/**
 * An empty object for names that come from the request (parameters, cookies, headers): no prototype,
 * so that a name such as `__proto__` is an own property like any other, not a write to the prototype
 * that would drop its value from inspection (`?__proto__=<attack>` went unseen: issue 13).
 */
function bag<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function nonEmpty(value: unknown): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'object') {
    for (const _ in value) return true;
    return Array.isArray(value) ? value.length > 0 : false;
  }
  return true;
}

/** Cookie header → { name: value } (values are scanned by the WAF, never reported). */
export function parseCookies(header: string): Record<string, string> {
  const out = bag<string>();
  let n = 0;
  for (const part of header.split(';')) {
    if (n++ >= MAX_COOKIES) break;
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // keep the raw value
    }
    if (name) out[name] = value;
  }
  return out;
}

function copyDetection(d: Detection): Detection {
  return { attackType: d.attackType, severity: d.severity, rules: [...d.rules] };
}

const RANK: Record<Severity, number> = { INFO: 0, LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 };

/** One detection per attack type (tag `attack_type`, else `type`), at the highest severity among the rules that matched. */
export function summarize(events: WafEvent[]): Detection[] {
  const byType = new Map<string, Detection>();
  for (const event of events) {
    const tags = event.rule?.tags;
    // `attack_type` when the rule has one (the Risk Hub ruleset), else libddwaf's `type` (custom rulesets)
    const named = typeof tags?.attack_type === 'string' && tags.attack_type ? tags.attack_type : tags?.type;
    const type = typeof named === 'string' && named ? named : undefined;
    if (!type) continue;
    const severity: Severity = SEVERITIES.includes(tags?.severity as Severity) ? (tags?.severity as Severity) : 'MEDIUM';
    const id = event.rule?.id ?? '?';
    const seen = byType.get(type);
    if (!seen) {
      byType.set(type, { attackType: type, severity, rules: [id] });
    } else {
      seen.rules.push(id);
      if (RANK[severity] > RANK[seen.severity]) seen.severity = severity;
    }
  }
  return [...byType.values()];
}
