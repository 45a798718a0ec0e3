// End-of-turn batching of watched requests. The middleware only puts a request on a list; at the end of
// that turn of the event loop the requests whose responses have ended (every synchronous handler) are
// read one after the other (the agent's caches stay warm), and those with values new to the engine wait
// up to RUN_LINGER_MS (or until MAX_BATCH of them wait) to share one engine run. Responses still open
// at the end of the turn get a `close` listener and join a later run. No state is attached to requests
// or responses on the common path (both cost the application measurably).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { toRaw, type Extras, type RequestLike } from './request.ts';
import type { DetectionResult, PreparedRequest } from './waf.ts';

/** Requests inspected in one engine run at most. */
const MAX_BATCH = 64;
/** How long requests with values new to the engine wait for others before the engine runs (ms; 0: the end of the turn). */
const RUN_LINGER_MS: number = 20;

/** What the batcher needs from the agent. */
export interface TurnHooks {
  /** Whether requests are still inspected (a detector, the agent not closed). */
  inspecting(): boolean;
  /** The agent is closing: runs are not delayed any more. */
  closing(): boolean;
  /** Reads a request and checks it against the clean-value cache: undefined when it is clean already. */
  prepare(req: RequestLike, extras: Extras | undefined): PreparedRequest | undefined;
  /** One engine run over prepared requests. */
  run(prepared: PreparedRequest[]): DetectionResult[];
  /** Reports a request's verdict. */
  record(req: RequestLike, result: DetectionResult): void;
  /** An error inside the agent: counted, never thrown into the application. */
  caught(err: unknown): void;
}

export class TurnBatcher {
  /** Requests watch() saw in this turn, their responses and what their framework parsed (parallel arrays: no object per request). */
  private pendingReqs: RequestLike[] = [];
  private pendingRes: ServerResponse[] = [];
  private pendingExtras: Array<(() => Extras) | undefined> = [];
  /** Requests with values new to the engine, waiting for their run (parallel arrays). */
  private readyReqs: RequestLike[] = [];
  private readyPrepared: PreparedRequest[] = [];
  private turnScheduled = false;
  private runScheduled = false;
  private inTurn = false;
  /** Requests inspected by inspect() or by the slow path of watch(): created on first use. */
  private inspectedReqs: WeakSet<IncomingMessage> | undefined;

  constructor(private readonly hooks: TurnHooks) {}

  /** Puts a request on this turn's list (once, even if the middleware is registered twice). */
  add(req: RequestLike, res: ServerResponse, extras: (() => Extras) | undefined): void {
    const reqs = this.pendingReqs;
    for (let i = 0; i < reqs.length; i++) if (reqs[i] === req) return;
    reqs.push(req);
    this.pendingRes.push(res);
    this.pendingExtras.push(extras);
    this.schedule();
  }

  /**
   * Whether the request was inspected already (by inspect(), or by watch() before inspect() was first
   * called), and marks it. Only inspect() and the slow path of watch() (responses not ended at the end
   * of the turn) use this: a mark stored on every request, or a WeakMap entry per request, is what the
   * common path avoids.
   */
  claim(raw: IncomingMessage): boolean {
    const done = (this.inspectedReqs ??= new WeakSet());
    if (done.has(raw)) return true;
    done.add(raw);
    return false;
  }

  /** Everything watched and prepared so far, inspected now (flush, close). */
  drainNow(): void {
    this.endOfTurn();
    if (this.readyReqs.length > 0) this.runReady();
  }

  private schedule(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(this.endOfTurnBound);
  }

  private readonly endOfTurnBound = (): void => this.endOfTurn();
  private readonly runReadyBound = (): void => {
    this.runScheduled = false;
    this.runReady();
  };

  /** The end of a turn: the watched requests are read; those with new values wait up to RUN_LINGER_MS for company. */
  private endOfTurn(): void {
    this.turnScheduled = false;
    this.inTurn = true;
    try {
      if (this.pendingReqs.length > 0) this.inspectPending();
    } finally {
      this.inTurn = false;
    }
    if (this.readyReqs.length === 0) return;
    if (RUN_LINGER_MS === 0 || this.hooks.closing()) this.runReady();
    else if (!this.runScheduled) {
      this.runScheduled = true;
      setTimeout(this.runReadyBound, RUN_LINGER_MS).unref();
    }
  }

  /** The requests watch() saw in the last turn: ended responses are prepared, the others wait for their close. */
  private inspectPending(): void {
    const reqs = this.pendingReqs;
    const ress = this.pendingRes;
    const extras = this.pendingExtras;
    this.pendingReqs = [];
    this.pendingRes = [];
    this.pendingExtras = [];
    if (!this.hooks.inspecting()) return;
    const done = this.inspectedReqs;
    for (let i = 0; i < reqs.length; i++) {
      try {
        const req = reqs[i]!;
        const res = ress[i]!;
        const extra = extras[i];
        if (!res.writableEnded && !res.destroyed) {
          // the handler has not answered yet (asynchronous work): inspect once the response is done
          this.waitFor(req, res, extra);
          continue;
        }
        if (done !== undefined) {
          const raw = toRaw(req);
          if (done.has(raw)) continue;
          done.add(raw);
        }
        this.prepare(req, extra?.());
      } catch (err) {
        this.hooks.caught(err);
      }
    }
  }

  /** Reads a request; what is new waits for the run. */
  private prepare(req: RequestLike, extras: Extras | undefined): void {
    const prepared = this.hooks.prepare(req, extras);
    if (prepared === undefined) return; // every value known clean
    this.readyReqs.push(req);
    this.readyPrepared.push(prepared);
    if (this.readyReqs.length >= MAX_BATCH) this.runReady();
    else if (!this.inTurn) this.schedule(); // (a response that closed later)
  }

  /** One engine run (batched where it can) over the requests prepared so far that have new values. */
  private runReady(): void {
    const reqs = this.readyReqs;
    const prepared = this.readyPrepared;
    this.readyReqs = [];
    this.readyPrepared = [];
    try {
      if (!this.hooks.inspecting()) return;
      const results = this.hooks.run(prepared);
      for (let i = 0; i < results.length; i++) this.hooks.record(reqs[i]!, results[i]!);
    } catch (err) {
      this.hooks.caught(err);
    }
  }

  /** A response not ended yet: the request is inspected once it closes. */
  private waitFor(req: RequestLike, res: ServerResponse, extras: (() => Extras) | undefined): void {
    if (this.claim(toRaw(req))) return;
    res.once('close', () => {
      try {
        if (!this.hooks.inspecting()) return;
        this.prepare(req, extras?.());
      } catch (err) {
        this.hooks.caught(err);
      }
    });
  }
}
