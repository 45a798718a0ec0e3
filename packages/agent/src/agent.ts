// The Risk Hub agent: detects attacks in an application's requests with libddwaf, ties them to the
// signed-in user, and produces them to the `attacks` topic in the background.
//
// Never hurt the application:
// - detection runs after the response is sent (at the end of that turn of the event loop, or on the
//   response's `close` if it was still open then; new values wait up to 20 ms to share an engine run),
//   under a WAF time budget;
// - every public method catches its own errors: nothing the agent does throws into the application
//   (only createAgent() throws, on invalid options, at start-up);
// - events wait in a bounded queue (default 10,000) that drops its OLDEST events, counted, when Kafka
//   is slow or unreachable; a single background loop sends batches (linger ~50 ms, up to 500 events);
// - close() flushes within a bounded time and then gives up, counting what it could not send.

import { randomUUID } from 'node:crypto';
import { IncomingMessage, type ServerResponse } from 'node:http';
import { ConfigError, SEVERITIES, type Attack, type RequestInfo, type Severity, type UserRef } from './contracts.ts';
import { AuthFailureTracker, type AuthTrackerOptions } from './auth.ts';
import { BoundedQueue } from './queue.ts';
import { normalizeIp, scrubRequest, type ScrubOptions } from './scrub.ts';
import { KafkaTransport, type KafkaTransportOptions, type RegistryOptions, type Transport } from './transport.ts';
import { anonymousUser, normalizeUser, type UserInput } from './user.ts';
import { Detector, WafUnavailableError, type Detection, type DetectionResult, type PreparedRequest, type RequestFacts } from './waf.ts';

export const AGENT_NAME = 'risk-hub-node';
export const AGENT_VERSION = '0.1.0';
export const AGENT_LANGUAGE = 'node';

/** An Express/Node request (IncomingMessage) or a Fastify request (which has `.raw`). */
export type RequestLike = IncomingMessage | { raw: IncomingMessage };

export interface Logger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

export interface AgentOptions {
  /** application_id of every event. */
  application: string;
  /** Default "production". */
  environment?: string;
  /** Kafka bootstrap brokers: ["host:9092", …] or "host:9092,host2:9092". */
  brokers?: string[] | string;
  /** Confluent-compatible registry (Apicurio: http://host:port/apis/ccompat/v7). */
  schemaRegistry?: string | RegistryOptions;
  /** Default "attacks". */
  topic?: string;
  /** Default `<topic>-value`. */
  subject?: string;
  clientId?: string;
  ssl?: KafkaTransportOptions['ssl'];
  sasl?: KafkaTransportOptions['sasl'];
  compression?: 'none' | 'gzip';
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** kafkajs socket factory (tests use it to put a TCP proxy in front of the broker). */
  socketFactory?: KafkaTransportOptions['socketFactory'];
  /** Replaces the Kafka transport (tests, custom sinks). brokers/schemaRegistry are then not needed. */
  transport?: Transport;

  /** Events held at most while waiting for Kafka (default 10,000); the oldest are dropped beyond. */
  maxQueue?: number;
  /** Events per produce request (default 500). */
  batchSize?: number;
  /** How long a partial batch waits for company (default 50 ms). */
  lingerMs?: number;

  /** Run the WAF on requests seen by the middleware (default true). */
  detect?: boolean;
  /** libddwaf ruleset replacing the Risk Hub one. */
  rules?: object;
  /** Per-request WAF budget in µs (default 5000). A timeout counts as no detection. */
  wafBudgetMicros?: number;
  /** Requests the middleware does not inspect (health checks, static files…). */
  skip?: (req: IncomingMessage) => boolean;

  /** Credential-stuffing thresholds (see auth.ts). */
  auth?: AuthTrackerOptions;
  /** At most this many events per user key per minute; the rest are counted as suppressed (default 120). */
  maxEventsPerUserPerMinute?: number;
  /** User key of requests nobody identified (default `anon:<ip>`). */
  anonymousUser?: (ip: string | null) => UserRef;
  /** Extra query parameter names whose values are redacted. */
  scrub?: ScrubOptions;
  /** Where the agent reports its own state changes (Kafka unreachable / back). Default: console.warn; null: silent. */
  logger?: Logger | null;
  /** Clock (tests). */
  now?: () => number;
}

export interface CustomEvent {
  /** attack_type, e.g. "custom", "account_takeover", "enumeration". */
  type: string;
  severity: Severity;
  /** Who: a user; else the identified user of `req`; else `anon:<ip>` of `req`. */
  user?: UserInput;
  req?: RequestLike;
  /** Points override (the scorer's policy table otherwise). */
  points?: number | null;
  blocked?: boolean;
  /** Event time (default now). */
  occurredAt?: number | Date;
}

export interface AgentStats {
  /** Events waiting in the queue. */
  queued: number;
  /** Events in the batch being sent. */
  inFlight: number;
  /** Events acknowledged by Kafka. */
  sent: number;
  /** Events lost, all reasons (queue full → oldest, invalid for the schema, still queued at close, after close). */
  dropped: number;
  droppedQueueFull: number;
  droppedInvalid: number;
  droppedShutdown: number;
  /** Events over the per-user rate limit (not queued). */
  suppressed: number;
  /** Requests inspected by the WAF, attacks found, budgets exceeded, internal errors caught. */
  inspected: number;
  detections: number;
  wafTimeouts: number;
  errors: number;
  /** Whether attack detection runs (false with `detect: false`, or when libddwaf could not be loaded). */
  detecting: boolean;
  /** Whether the last send attempt succeeded (null before the first). */
  kafkaReachable: boolean | null;
  lastError: string | null;
}

export interface CloseResult {
  /** Everything queued was sent before the deadline. */
  flushed: boolean;
  /** Events given up at close. */
  dropped: number;
}

/** What a framework parsed, when it is not on the request object itself. */
export type Extras = { query?: unknown; body?: unknown; params?: unknown };

/** Requests inspected in one engine run at most. */
const MAX_BATCH = 64;
/** How long requests with values new to the engine wait for others before the engine runs (0: the end of the turn). */
const RUN_LINGER_MS: number = 20;

interface RequestState {
  user?: UserRef;
}

const consoleLogger: Logger = {
  warn: (obj, msg) => console.warn(`[risk-hub agent] ${msg}`, obj),
  info: (obj, msg) => console.info(`[risk-hub agent] ${msg}`, obj),
};

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ConfigError(`risk-hub agent: option ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function toRaw(req: RequestLike): IncomingMessage {
  // Express (and plain Node) requests: an instanceof check, not a lookup of a missing `raw` along the
  // long prototype chain of an Express request
  if (req instanceof IncomingMessage) return req;
  const maybe = req as { raw?: unknown };
  return maybe.raw && typeof maybe.raw === 'object' && 'headers' in (maybe.raw as object) ? (maybe.raw as IncomingMessage) : (req as unknown as IncomingMessage);
}

/** The client address as the framework sees it (Express `req.ip` and Fastify `request.ip` honour their trust-proxy settings). */
function clientIp(req: RequestLike): string | null {
  const ip = (req as { ip?: unknown }).ip;
  if (typeof ip === 'string' && ip) return normalizeIp(ip);
  return normalizeIp(toRaw(req).socket?.remoteAddress);
}

function requestUrl(req: RequestLike): string | undefined {
  const original = (req as { originalUrl?: unknown }).originalUrl;
  if (typeof original === 'string') return original;
  return toRaw(req).url;
}

/** The query string of a raw request target, for plain Node servers (frameworks give theirs parsed). */
export function parseQuery(uri: string): Record<string, string | string[]> | undefined {
  const q = uri.indexOf('?');
  if (q < 0) return undefined;
  // no prototype: a parameter named __proto__ is kept and inspected like any other (issue 13)
  const out = Object.create(null) as Record<string, string | string[]>;
  for (const [name, value] of new URLSearchParams(uri.slice(q + 1))) {
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [prev, value];
  }
  return out;
}

function describe(message: unknown): string {
  if (message instanceof Error) return `${message.name}: ${message.message}`;
  return String(message);
}

export class Agent {
  readonly application: string;
  readonly environment: string;
  private readonly queue: BoundedQueue<Attack>;
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly transport: Transport;
  private readonly detector: Detector | undefined;
  private readonly authTracker: AuthFailureTracker;
  private readonly perUserLimit: number;
  private readonly logger: Logger | null;
  private readonly now: () => number;
  private readonly anon: (ip: string | null) => UserRef;
  private readonly scrubOpts: ScrubOptions;
  private readonly skip: ((req: IncomingMessage) => boolean) | undefined;
  private readonly requests = new WeakMap<IncomingMessage, RequestState>();
  /** Requests watch() saw in this turn of the event loop, their responses and what their framework parsed (parallel arrays: no object per request). */
  private pendingReqs: RequestLike[] = [];
  private pendingRes: ServerResponse[] = [];
  private pendingExtras: Array<(() => Extras) | undefined> = [];
  /** Requests with values new to the engine, waiting for the end of the turn (parallel arrays). */
  private readyReqs: RequestLike[] = [];
  private readyPrepared: PreparedRequest[] = [];
  private turnScheduled = false;
  private runScheduled = false;
  private inTurn = false;
  /** Requests inspected by inspect() or by the slow path of watch(): created on first use. */
  private inspectedReqs: WeakSet<IncomingMessage> | undefined;

  private readonly counters = {
    sent: 0,
    droppedInvalid: 0,
    droppedShutdown: 0,
    suppressed: 0,
    inspected: 0,
    detections: 0,
    wafTimeouts: 0,
    errors: 0,
  };
  private rateWindowStart = 0;
  private readonly rate = new Map<string, number>();
  private inFlight: Attack[] = [];
  private reachable: boolean | null = null;
  private lastError: string | null = null;
  private failures = 0;
  private closing = false;
  private closed = false;
  private wake: (() => void) | undefined;
  private interrupt: (() => void) | undefined;
  private readonly loop: Promise<void>;
  private closePromise: Promise<CloseResult> | undefined;

  constructor(opts: AgentOptions) {
    if (!opts || typeof opts.application !== 'string' || opts.application.trim() === '') {
      throw new ConfigError('risk-hub agent: option application (the application_id) is required');
    }
    this.application = opts.application.trim();
    this.environment = (opts.environment ?? 'production').trim() || 'production';
    const maxQueue = positiveInt('maxQueue', opts.maxQueue, 10_000);
    this.queue = new BoundedQueue<Attack>(maxQueue);
    this.batchSize = positiveInt('batchSize', opts.batchSize, 500);
    this.lingerMs = opts.lingerMs ?? 50;
    this.perUserLimit = positiveInt('maxEventsPerUserPerMinute', opts.maxEventsPerUserPerMinute, 120);
    this.logger = opts.logger === undefined ? consoleLogger : opts.logger;
    this.now = opts.now ?? Date.now;
    this.anon = opts.anonymousUser ?? anonymousUser;
    this.scrubOpts = opts.scrub ?? {};
    this.skip = opts.skip;
    this.authTracker = new AuthFailureTracker(opts.auth);
    this.detector = opts.detect === false ? undefined : this.createDetector(opts);
    this.transport = opts.transport ?? this.kafkaTransport(opts);
    this.loop = this.run();
  }

  /** A missing native engine disables detection (logged, in stats) rather than the application; an invalid ruleset is a configuration error. */
  private createDetector(opts: AgentOptions): Detector | undefined {
    try {
      return new Detector({ rules: opts.rules, budgetMicros: opts.wafBudgetMicros ?? 5000 });
    } catch (err) {
      if (!(err instanceof WafUnavailableError)) throw new ConfigError((err as Error).message, { cause: err });
      this.lastError = describe(err);
      this.logger?.warn({ error: this.lastError }, 'attack detection disabled; auth and custom events are still reported');
      return undefined;
    }
  }

  private kafkaTransport(opts: AgentOptions): Transport {
    const brokers = typeof opts.brokers === 'string' ? opts.brokers.split(',').map((b) => b.trim()).filter(Boolean) : (opts.brokers ?? []);
    if (brokers.length === 0) throw new ConfigError('risk-hub agent: option brokers is required (e.g. ["127.0.0.1:9092"])');
    const registry = typeof opts.schemaRegistry === 'string' ? { url: opts.schemaRegistry } : opts.schemaRegistry;
    if (!registry?.url) throw new ConfigError('risk-hub agent: option schemaRegistry is required (e.g. "http://127.0.0.1:8081/apis/ccompat/v7")');
    const topic = opts.topic ?? 'attacks';
    return new KafkaTransport({
      brokers,
      topic,
      subject: opts.subject ?? `${topic}-value`,
      registry,
      clientId: opts.clientId ?? `risk-hub-agent-${this.application}`,
      ssl: opts.ssl,
      sasl: opts.sasl,
      compression: opts.compression,
      connectionTimeoutMs: opts.connectionTimeoutMs,
      requestTimeoutMs: opts.requestTimeoutMs,
      socketFactory: opts.socketFactory,
    });
  }

  // -- public API: none of these throw ------------------------------------------------------------

  /** Ties the request to an application user; attacks found in it are reported for that user. */
  identify(req: RequestLike, user: UserInput): void {
    try {
      const ref = normalizeUser(user);
      if (!ref || !req) return;
      this.state(toRaw(req)).user = ref;
    } catch (err) {
      this.caught(err);
    }
  }

  /** Reports a login attempt. Failures are auth_failure (LOW); repeated failures for one user within a minute add credential_stuffing (MEDIUM, then HIGH). A success identifies the request. */
  trackAuth(success: boolean, user: UserInput, req?: RequestLike): void {
    try {
      const ref = normalizeUser(user) ?? (req ? this.anon(clientIp(req)) : null);
      if (!ref) return;
      if (success) {
        if (req) this.state(toRaw(req)).user = ref;
        return;
      }
      const request = req ? this.requestInfo(req) : null;
      const at = this.now();
      this.enqueue(this.event(ref, 'auth_failure', 'LOW', request, at));
      const { stuffing } = this.authTracker.failure(ref.key, at);
      if (stuffing) this.enqueue(this.event(ref, 'credential_stuffing', stuffing, request, at));
    } catch (err) {
      this.caught(err);
    }
  }

  /** Reports a custom event. Returns its event_id, or null when it was not accepted (invalid, rate-limited, agent closed). */
  report(event: CustomEvent): string | null {
    try {
      if (!event || typeof event.type !== 'string' || event.type.trim() === '' || !SEVERITIES.includes(event.severity)) {
        this.counters.droppedInvalid++;
        return null;
      }
      const req = event.req;
      let user = event.user === undefined ? null : normalizeUser(event.user);
      if (!user && req) user = this.state(toRaw(req)).user ?? this.anon(clientIp(req));
      if (!user) {
        this.counters.droppedInvalid++;
        return null;
      }
      const at = event.occurredAt instanceof Date ? event.occurredAt.getTime() : (event.occurredAt ?? this.now());
      const points = event.points === undefined || event.points === null ? null : Math.trunc(event.points);
      if (!Number.isFinite(at) || (points !== null && !Number.isFinite(points))) {
        this.counters.droppedInvalid++;
        return null;
      }
      const attack = this.event(user, event.type.trim().slice(0, 64), event.severity, req ? this.requestInfo(req) : null, at);
      attack.points = points;
      attack.blocked = event.blocked === true;
      return this.enqueue(attack) ? attack.event_id : null;
    } catch (err) {
      this.caught(err);
      return null;
    }
  }

  /**
   * Watches one request: when its response has been sent, the WAF inspects it (query, body, route
   * params, headers, cookies, raw URI) and attacks are reported for the identified user. Framework
   * adapters call this; `extras` gives what the framework parsed (Fastify keeps it off the raw request).
   *
   * Nothing is attached to the request or the response here: the request is put on a list that is
   * looked at once at the end of this turn of the event loop. Responses ended by then (every
   * synchronous handler) are read then, one after the other (the agent's caches stay warm: doing the
   * same work request by request, interleaved with the application's, measured ~50% more), and what
   * is new in them goes to one batched engine run; only the others get a `close` listener.
   */
  watch(req: RequestLike, res: ServerResponse, extras?: () => Extras): void {
    try {
      if (this.detector === undefined || this.closing) return;
      if (this.skip !== undefined && this.skip(toRaw(req))) return;
      const reqs = this.pendingReqs;
      // watched twice in this turn (the middleware registered twice): inspected once
      for (let i = 0; i < reqs.length; i++) if (reqs[i] === req) return;
      reqs.push(req);
      this.pendingRes.push(res);
      this.pendingExtras.push(extras);
      this.schedule();
    } catch (err) {
      this.caught(err);
    }
  }

  /** Inspects a request now (for frameworks without an adapter). Returns the detections (empty on error or timeout). */
  inspect(req: RequestLike, extras?: Extras): Detection[] {
    try {
      if (!this.detector || this.closed) return [];
      if (this.claim(toRaw(req))) return [];
      this.counters.inspected++;
      return this.record(req, this.detector.detect(this.facts(req, extras)));
    } catch (err) {
      this.caught(err);
      return [];
    }
  }

  /**
   * Whether the request was inspected already (by inspect(), or by watch() before inspect() was first
   * called), and marks it. Only inspect() and the slow path of watch() (responses not ended at the end
   * of the turn) use this: a mark stored on every request, or a WeakMap entry per request, is what the
   * common path avoids (both cost the application measurably).
   */
  private claim(raw: IncomingMessage): boolean {
    const done = (this.inspectedReqs ??= new WeakSet());
    if (done.has(raw)) return true;
    done.add(raw);
    return false;
  }

  /** Reads a request and checks its values against the clean-value cache; what is new waits for the end of the turn. */
  private prepare(req: RequestLike, extras: Extras | undefined): void {
    this.counters.inspected++;
    const prepared = this.detector!.prepare(this.facts(req, extras));
    if (prepared === undefined) return; // every value known clean
    this.readyReqs.push(req);
    this.readyPrepared.push(prepared);
    if (this.readyReqs.length >= MAX_BATCH) this.runReady();
    else if (!this.inTurn) this.schedule(); // (a response that closed later)
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

  /**
   * At the end of a turn of the event loop: the requests watch() saw are read (those made only of known
   * values are done); those with new values wait up to RUN_LINGER_MS for company, so that one engine run
   * judges more of them (each run has a fixed cost).
   */
  private endOfTurn(): void {
    this.turnScheduled = false;
    this.inTurn = true;
    try {
      if (this.pendingReqs.length > 0) this.inspectPending();
    } finally {
      this.inTurn = false;
    }
    if (this.readyReqs.length === 0) return;
    if (RUN_LINGER_MS === 0 || this.closing) this.runReady();
    else if (!this.runScheduled) {
      this.runScheduled = true;
      setTimeout(this.runReadyBound, RUN_LINGER_MS).unref();
    }
  }

  /** Everything watched and prepared so far, inspected now (flush, close). */
  private drainNow(): void {
    this.endOfTurn();
    if (this.readyReqs.length > 0) this.runReady();
  }

  /** The requests watch() saw in the last turn: ended responses are prepared, the others wait for their close. */
  private inspectPending(): void {
    const reqs = this.pendingReqs;
    const ress = this.pendingRes;
    const extras = this.pendingExtras;
    this.pendingReqs = [];
    this.pendingRes = [];
    this.pendingExtras = [];
    if (this.detector === undefined || this.closed) return;
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
        this.caught(err);
      }
    }
  }

  /** One engine run (batched where it can) over the requests prepared in this turn that have new values. */
  private runReady(): void {
    const reqs = this.readyReqs;
    const prepared = this.readyPrepared;
    this.readyReqs = [];
    this.readyPrepared = [];
    try {
      if (this.detector === undefined || this.closed) return;
      const results = this.detector.detectPrepared(prepared);
      for (let i = 0; i < results.length; i++) this.record(reqs[i]!, results[i]!);
    } catch (err) {
      this.caught(err);
    }
  }

  /** A response not ended yet: the request is inspected once it closes. */
  private waitFor(req: RequestLike, res: ServerResponse, extras: (() => Extras) | undefined): void {
    if (this.claim(toRaw(req))) return;
    res.once('close', () => {
      try {
        if (this.detector === undefined || this.closed) return;
        this.prepare(req, extras?.());
      } catch (err) {
        this.caught(err);
      }
    });
  }

  /** What the WAF reads of a request. */
  private facts(req: RequestLike, extras?: Extras): RequestFacts {
    const raw = toRaw(req);
    const r = req as { query?: unknown; body?: unknown; params?: unknown; app?: { settings?: Record<string, unknown> } };
    const uri = requestUrl(req);
    let query: unknown;
    let rawQuery: string | undefined;
    let queryParser: unknown;
    if (extras && 'query' in extras) query = extras.query;
    else if (Object.prototype.hasOwnProperty.call(r, 'query')) query = r.query; // set by the framework (Express 4…)
    // no query string: nothing to read (Express 5's req.query getter parses the URL again on every read)
    else if (uri !== undefined && !uri.includes('?')) query = undefined;
    else {
      // Express 5's getter (the app's parser over req.url's query string) or a plain Node request (parsed
      // here): the same string through the same parser gives the same values, so a query string whose
      // values were all judged clean is not parsed again
      const app = r.app;
      const plain = app === undefined ? r.query : undefined;
      const parser = app === undefined ? (plain === undefined ? parseQuery : undefined) : app.settings?.['query parser fn'];
      const url = app === undefined ? uri : raw.url;
      const at = url === undefined ? -1 : url.indexOf('?');
      if (typeof parser === 'function' && at >= 0) {
        const string = url!.slice(at + 1);
        if (this.detector!.knowsQuery(parser, string)) query = undefined;
        else {
          rawQuery = string;
          queryParser = parser;
          query = app === undefined ? parseQuery(url!) : r.query;
        }
      } else if (app !== undefined) query = r.query;
      else query = plain ?? (uri ? parseQuery(uri) : undefined);
    }
    return {
      uri,
      query,
      rawQuery,
      queryParser,
      body: extras && 'body' in extras ? extras.body : r.body,
      pathParams: extras && 'params' in extras ? extras.params : r.params,
      headers: raw.headers,
    };
  }

  private record(req: RequestLike, result: DetectionResult): Detection[] {
    if (result.timeout) this.counters.wafTimeouts++;
    if (result.detections.length === 0) return [];
    const user = this.state(toRaw(req)).user ?? this.anon(clientIp(req));
    const request = this.requestInfo(req);
    const at = this.now();
    for (const d of result.detections) {
      this.counters.detections++;
      this.enqueue(this.event(user, d.attackType, d.severity, request, at));
    }
    return result.detections;
  }

  /** Express middleware (register it before your routes, after body parsers if you want bodies inspected). */
  expressMiddleware(): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
    return (req, res, next) => {
      this.watch(req, res);
      next();
    };
  }

  stats(): AgentStats {
    const c = this.counters;
    return {
      queued: this.queue.length,
      inFlight: this.inFlight.length,
      sent: c.sent,
      dropped: this.queue.dropped + c.droppedInvalid + c.droppedShutdown,
      droppedQueueFull: this.queue.dropped,
      droppedInvalid: c.droppedInvalid,
      droppedShutdown: c.droppedShutdown,
      suppressed: c.suppressed,
      inspected: c.inspected,
      detections: c.detections,
      wafTimeouts: c.wafTimeouts,
      errors: c.errors,
      detecting: this.detector !== undefined,
      kafkaReachable: this.reachable,
      lastError: this.lastError,
    };
  }

  /** Resolves once everything queued so far is sent, or after timeoutMs (false). */
  async flush(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.drainNow(); // responses already sent but not inspected yet
    while (this.queue.length > 0 || this.inFlight.length > 0) {
      if (this.closed || Date.now() >= deadline) return false;
      this.wake?.();
      await sleep(10);
    }
    return true;
  }

  /** Stops accepting events, sends what is queued within timeoutMs (default 5000), then disconnects. Never throws. */
  close(opts: { timeoutMs?: number } = {}): Promise<CloseResult> {
    this.closePromise ??= this.doClose(opts.timeoutMs ?? 5000);
    return this.closePromise;
  }

  // -- internals ---------------------------------------------------------------------------------

  private async doClose(timeoutMs: number): Promise<CloseResult> {
    const started = Date.now();
    this.drainNow(); // responses completed in this very turn: their events are queued before closing
    this.closing = true;
    this.wake?.();
    this.interrupt?.();
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.loop.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.closed = true;
    this.wake?.();
    this.interrupt?.();
    const leftover = this.queue.drain().length + this.inFlight.length;
    this.counters.droppedShutdown += leftover;
    this.inFlight = [];
    const remaining = Math.max(250, timeoutMs - (Date.now() - started));
    await Promise.race([this.transport.close().catch(() => undefined), sleep(remaining)]);
    this.detector?.close();
    if (leftover > 0) this.logger?.warn({ dropped: leftover }, 'closed before every event was sent');
    return { flushed: flushed && leftover === 0, dropped: leftover };
  }

  private state(raw: IncomingMessage): RequestState {
    let s = this.requests.get(raw);
    if (!s) {
      s = {};
      this.requests.set(raw, s);
    }
    return s;
  }

  private requestInfo(req: RequestLike): RequestInfo {
    const raw = toRaw(req);
    return scrubRequest({ ip: clientIp(req), method: raw.method, url: requestUrl(req), userAgent: raw.headers?.['user-agent'] }, this.scrubOpts);
  }

  private event(user: UserRef, type: string, severity: Severity, request: RequestInfo | null, at: number): Attack {
    return {
      event_id: randomUUID(),
      occurred_at: Math.trunc(at),
      application_id: this.application,
      environment: this.environment,
      user,
      attack_type: type,
      severity,
      points: null,
      blocked: false,
      request,
      agent: { name: AGENT_NAME, version: AGENT_VERSION, language: AGENT_LANGUAGE },
    };
  }

  /** Queues an event (rate limit per user first). Returns whether it was accepted. */
  private enqueue(event: Attack): boolean {
    if (this.closing) {
      this.counters.droppedShutdown++;
      return false;
    }
    const now = this.now();
    if (now - this.rateWindowStart >= 60_000 || this.rate.size > 50_000) {
      this.rate.clear();
      this.rateWindowStart = now;
    }
    const key = event.user.key;
    const n = (this.rate.get(key) ?? 0) + 1;
    this.rate.set(key, n);
    if (n > this.perUserLimit) {
      this.counters.suppressed++;
      return false;
    }
    this.queue.push(event);
    this.wake?.();
    return true;
  }

  /** The background sender: one batch at a time; a failed batch is retried as is (same events, same order) so the idempotent producer can deduplicate it. */
  private async run(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      if (this.queue.length === 0 && this.inFlight.length === 0) {
        if (this.closing) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      if (this.inFlight.length === 0) {
        if (this.queue.length < this.batchSize && !this.closing && this.lingerMs > 0) await sleep(this.lingerMs);
        this.inFlight = this.queue.take(this.batchSize);
        if (this.inFlight.length === 0) continue;
      }
      const batch = this.inFlight;
      try {
        const { rejected } = await this.transport.send(batch);
        if (this.closed) return;
        this.counters.sent += batch.length - rejected.length;
        this.counters.droppedInvalid += rejected.length;
        if (rejected.length > 0) this.logger?.warn({ rejected: rejected.length }, 'events invalid for the registry schema were dropped');
        if (this.reachable === false) this.logger?.info?.({ after: this.failures }, 'delivering events again');
        this.reachable = true;
        this.failures = 0;
        this.inFlight = [];
      } catch (err) {
        if (this.closed) return;
        this.failures++;
        this.lastError = describe(err);
        if (this.reachable !== false) this.logger?.warn({ error: this.lastError }, 'cannot deliver events (Kafka or schema registry unreachable); queueing, oldest dropped when full');
        this.reachable = false;
        await this.sleepUnlessClosed(Math.min(5000, 100 * 2 ** Math.min(this.failures, 6)));
      }
    }
  }

  /** Back-off between failed batches; only close() cuts it short (new events do not: no hammering a down broker). */
  private async sleepUnlessClosed(ms: number): Promise<void> {
    if (this.closing) ms = Math.min(ms, 250);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.interrupt = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      this.interrupt = done;
    });
  }

  private caught(err: unknown): void {
    this.counters.errors++;
    this.lastError = describe(err);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
}

export function createAgent(opts: AgentOptions): Agent {
  return new Agent(opts);
}
