// Attack detection: libddwaf (engine.ts) with the ruleset in rules/ruleset.ts, under a time budget: a
// run that exceeds it reports `timeout` and counts as no detection (never as an attack, never as an
// error reaching the application). The detector decides what the engine must see of each request and
// in which runs; its parts follow dd-trace-js appsec's seams: engine.ts (loading and running the
// engine), inputs.ts (a request's addresses), clean-cache.ts (values already judged clean), batch.ts
// (several requests in one run), verdict.ts (events → detections).

import { BatchRunner, batchableAddresses, type Prepared } from './batch.ts';
import { CleanValueCache, type FreshValue } from './clean-cache.ts';
import { WafEngine, type RulesetLike, type Waf } from './engine.ts';
import { InputBuilder, type RequestFacts } from './inputs.ts';
import { headersUsedBy, ruleset as defaultRuleset } from './rules/ruleset.ts';
import { clean, summarize, type DetectionResult } from './verdict.ts';

export { WafUnavailableError } from './engine.ts';
export { parseCookies, type RequestFacts } from './inputs.ts';
export { summarize, type Detection, type DetectionResult } from './verdict.ts';

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

/** A request's inputs not yet judged by the engine (Detector.prepare). */
export type PreparedRequest = object;

export class Detector {
  readonly budgetMicros: number;
  private readonly engine: WafEngine;
  private readonly cache: CleanValueCache;
  private readonly inputs: InputBuilder;
  /** Undefined when requests cannot share a run (a rule with several conditions). */
  private readonly batch: BatchRunner | undefined;
  /** Reused by prepare(): the fresh values of the request being read. */
  private readonly freshBuf: FreshValue[] = [];

  constructor(opts: DetectorOptions = {}) {
    const rules = (opts.rules ?? defaultRuleset) as RulesetLike;
    this.budgetMicros = opts.budgetMicros ?? 5000;
    this.engine = new WafEngine(rules);
    const names = headersUsedBy(rules);
    const headerList = names === 'all' ? undefined : [...names].filter((n) => n !== 'cookie' && n !== 'set-cookie');
    const singleCondition = (rules.rules ?? []).every((r) => (r.conditions?.length ?? 0) === 1);
    this.cache = new CleanValueCache(singleCondition ? (opts.cleanCacheSize ?? 10_000) : 0, headerList?.length ?? 0);
    this.inputs = new InputBuilder(this.cache, headerList);
    const scanKeys = /"keys/.test(JSON.stringify(rules));
    this.batch = singleCondition ? new BatchRunner(this.engine, this.cache, this.budgetMicros, batchableAddresses(rules), scanKeys, this.runOneBound) : undefined;
  }

  /** Rules libddwaf loaded. */
  get ruleCount(): number {
    return this.engine.ruleCount;
  }

  /** Addresses the loaded ruleset reads (libddwaf's own view). */
  get knownAddresses(): Set<string> {
    return this.engine.knownAddresses;
  }

  /** Calls into the engine (tests: a request made only of known-clean values makes none). */
  get engineRuns(): number {
    return this.engine.runs;
  }

  /** Of which runs over several requests at once. */
  get batchedRuns(): number {
    return this.batch?.runs ?? 0;
  }

  /** Values that crossed into the engine only because they were not known clean (tests). */
  get cacheMisses(): number {
    return this.cache.misses;
  }

  /** Whether a query string, through this parser, is known to give only clean values (see RequestFacts.rawQuery). */
  knowsQuery(parser: unknown, rawQuery: string): boolean {
    return this.cache.knowsQuery(parser, rawQuery);
  }

  detect(facts: RequestFacts): DetectionResult {
    const fresh: FreshValue[] = [];
    const data = this.inputs.build(facts, fresh);
    // Everything in this request is known clean: no need to cross into the engine at all.
    if (data === undefined) return clean();
    return this.runOne(data, fresh);
  }

  /**
   * Inspects several requests, in ONE engine run when it can (see batch.ts). prepare() and
   * detectPrepared() split this in two so that a caller can prepare each request when it is done with
   * it and run the engine once over many.
   */
  detectMany(requests: RequestFacts[]): DetectionResult[] {
    const results: DetectionResult[] = new Array<DetectionResult>(requests.length);
    const prepared: PreparedRequest[] = [];
    const at: number[] = [];
    for (let i = 0; i < requests.length; i++) {
      const p = this.prepare(requests[i]!);
      if (p === undefined) results[i] = clean();
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
    const data = this.inputs.build(facts, fresh);
    if (data === undefined) return undefined;
    const prepared: Prepared = { i: 0, data, fresh: fresh.slice(), leaves: this.batch?.leavesOf(data) };
    return prepared;
  }

  /**
   * The verdicts of prepared requests, in their order. The inputs of the requests that can share a run
   * (no address read through a key path, such as the headers; not too many or too deep leaves) are put
   * side by side in one engine run (batch.ts); the others are run on their own.
   */
  detectPrepared(prepared: PreparedRequest[]): DetectionResult[] {
    const results: DetectionResult[] = new Array<DetectionResult>(prepared.length);
    const shared: Prepared[] = [];
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i] as Prepared;
      p.i = i;
      if (p.leaves) shared.push(p);
      else results[i] = this.runOne(p.data, p.fresh);
    }
    if (shared.length === 1) {
      const only = shared[0]!;
      results[only.i] = this.runOne(only.data, only.fresh);
    } else if (shared.length > 1) {
      this.batch!.run(shared, results);
    }
    for (let i = 0; i < results.length; i++) results[i] ??= clean();
    return results;
  }

  close(): void {
    this.engine.dispose();
    this.cache.clear();
    this.inputs.clear();
  }

  /** One request alone; a complete, match-free run makes its fresh values known clean. */
  private runOne(data: Record<string, unknown>, fresh: FreshValue[], waf?: Waf): DetectionResult {
    const result = this.engine.run(data, this.budgetMicros, waf);
    if (result.timeout) return { detections: [], timeout: true };
    if (result.events.length === 0) {
      this.cache.remember(fresh);
      return clean();
    }
    return { detections: summarize(result.events), timeout: false };
  }

  private readonly runOneBound = (data: Record<string, unknown>, fresh: FreshValue[], waf?: Waf): DetectionResult => this.runOne(data, fresh, waf);
}
