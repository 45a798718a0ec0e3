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
//
// This file is the public face and the path of one event; its parts follow the seams of dd-trace-js's
// appsec: options.ts (validated options), request.ts (reading a request), turn.ts (end-of-turn
// batching), waf.ts (the detector), rate-limit.ts (per-user limit), sender.ts (queue and sender).

import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthFailureTracker } from './auth.ts';
import { DecisionFeed, type DecisionFeedStats } from './decision-feed.ts';
import { DecisionStore, type ActiveDecision, type DecisionStoreStats } from './decisions.ts';
import { enforceDecision, nodeAnswer, type Answer, type EnforceContext } from './enforce.ts';
import { ConfigError, SEVERITIES, type Attack, type RequestInfo, type Severity, type UserRef } from './contracts.ts';
import { boundIdentifiers, eventIdProblem, MAX_ATTACK_TYPE_BYTES, truncateUtf8 } from './identity.ts';
import { kafkaTransportOptions, resolveOptions, type AgentOptions, type ResolvedOptions } from './options.ts';
import { PerUserRateLimiter } from './rate-limit.ts';
import { boundRequest, clientIp, readRequest, requestInfo, toRaw, type Extras, type RequestLike } from './request.ts';
import { describeError, newCounters, sleep, Sender, type CloseResult, type Counters } from './sender.ts';
import { KafkaTransport } from './transport.ts';
import { TurnBatcher } from './turn.ts';
import { anonymousUser, hashedUserKey, normalizeUser, type UserInput } from './user.ts';
import { Detector, WafUnavailableError, type Detection, type DetectionResult } from './waf.ts';

export type { AgentOptions, Logger, DecisionsOptions, DecisionHook, BlockResponse } from './options.ts';
export type { ActiveDecision } from './decisions.ts';
export type { Answer } from './enforce.ts';
export type { RequestLike, Extras } from './request.ts';
export { parseQuery } from './request.ts';
export type { CloseResult } from './sender.ts';

export const AGENT_NAME = 'risk-hub-node';
export const AGENT_VERSION = '0.1.0';
export const AGENT_LANGUAGE = 'node';

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
  /** Event id (default a new UUID): 1-256 bytes of UTF-8 (the relay passes on the id a thin agent gave). */
  eventId?: string;
}

/**
 * What a caller that forwards events seen elsewhere (the relay: docs/relay-protocol.md) gives about
 * them: the event's own id and time instead of a new UUID and now. An id that gives several records
 * (a request with two attacks, a failed login that also starts a burst) keeps it for the first and
 * derives one for each next record (eventIdFor), the same on every retry, so the scorer counts each once.
 */
export interface EventMeta {
  /** 1-256 bytes of UTF-8 (invalid: a new UUID is used, as without it). */
  eventId?: string;
  /** Epoch ms (not finite: now). */
  at?: number;
}

/**
 * The id of the n-th record (0-based) an event gives: the event's id for the first, then a UUID-shaped
 * digest of (id, n): deterministic (a retried POST gives the same ids) and within MAX_EVENT_ID_BYTES.
 */
export function eventIdFor(id: string, n: number): string {
  if (n === 0) return id;
  const h = createHash('sha256').update(id).update('\u0000').update(String(n)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 17), 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The id of the n-th record of an event (meta's id when valid, else new UUIDs). */
function idOf(meta: EventMeta | undefined, n: number): string {
  const id = meta?.eventId;
  return id !== undefined && eventIdProblem(id) === undefined ? eventIdFor(id, n) : randomUUID();
}

function timeOf(meta: EventMeta | undefined, now: () => number): number {
  const at = meta?.at;
  return typeof at === 'number' && Number.isFinite(at) ? at : now();
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
  /** User keys over 256 bytes of UTF-8 replaced by their hashed form (each time the agent was given one). */
  userKeysHashed: number;
  /** Events produced with a field cut to its bound (attack type, identifiers, request fields). */
  truncated: number;
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
  /** The decisions store (null when decisions are disabled). */
  decisions: DecisionsStats | null;
  /** Requests a decision applied to, by what was done (simulated: a simulated decision, never enforced). */
  enforced: { block: number; challenge: number; monitor: number; simulated: number };
}

export interface DecisionsStats extends DecisionStoreStats, DecisionFeedStats {
  /** The decisions topic read (null without brokers: nothing is read). */
  topic: string | null;
}

/** attack_type of the event reporting an enforcement; INFO severity and 0 points: it never raises a score. */
export const ENFORCEMENT_EVENT_PREFIX = 'risk-hub.decision.';
/** Enforcement events per user key per minute at most (on their own budget, apart from attacks). */
const ENFORCEMENT_EVENTS_PER_USER_PER_MINUTE = 60;
/** How often (ms) the clock decision lookups compare `until` with is refreshed: a decision holds at most this long past its `until`. */
export const DECISION_CLOCK_TICK_MS = 100;

export class Agent {
  readonly application: string;
  readonly environment: string;
  private readonly options: ResolvedOptions;
  private readonly counters: Counters = newCounters();
  private readonly detector: Detector | undefined;
  private readonly batcher: TurnBatcher;
  private readonly authTracker: AuthFailureTracker;
  private readonly limiter: PerUserRateLimiter;
  private readonly sender: Sender;
  /** The user each request was tied to (identify, trackAuth). */
  private readonly users = new WeakMap<IncomingMessage, UserRef>();
  private closePromise: Promise<CloseResult> | undefined;
  /** Counter-measures: the store (undefined when disabled) and the Kafka reader feeding it (undefined without brokers). */
  private readonly decisionStore: DecisionStore | undefined;
  private readonly decisionFeed: DecisionFeed | undefined;
  private readonly enforcementLimiter = new PerUserRateLimiter(ENFORCEMENT_EVENTS_PER_USER_PER_MINUTE);
  private readonly enforced = { block: 0, challenge: 0, monitor: 0, simulated: 0 };
  private readonly enforceContext: EnforceContext;
  private challengeWarned = false;
  private clockTimer: NodeJS.Timeout | undefined;

  constructor(opts: AgentOptions) {
    const o = resolveOptions(opts);
    this.options = o;
    this.application = o.application;
    this.environment = o.environment;
    this.limiter = new PerUserRateLimiter(o.perUserLimit);
    this.authTracker = new AuthFailureTracker(o.auth);
    this.detector = o.detect ? this.createDetector(o) : undefined;
    const kafkaOptions = opts.transport === undefined || opts.brokers !== undefined ? kafkaTransportOptions(opts, o.application) : undefined;
    const transport = opts.transport ?? new KafkaTransport(kafkaOptions!);
    this.sender = new Sender(transport, o, this.counters);
    this.enforceContext = {
      options: o.decisions,
      caught: (err) => this.caught(err),
      noChallengeHook: () => {
        if (this.challengeWarned) return;
        this.challengeWarned = true;
        o.logger?.warn({}, 'a CHALLENGE decision was not enforced: no decisions.onChallenge hook is configured (fail open)');
      },
    };
    if (o.decisions.enabled) {
      const d = o.decisions;
      this.decisionStore = new DecisionStore({
        application: o.application,
        environment: o.environment,
        maxDecisions: d.maxDecisions,
        now: o.now,
        onBound: (info) =>
          o.logger?.warn(
            { ...info, topic: d.topic },
            'decisions store full (decisions.maxDecisions): new decisions are refused (MONITOR and simulated first, then BLOCK and CHALLENGE once no unenforced one is left to evict); raise maxDecisions',
          ),
      });
      if (o.now === Date.now) {
        // the real clock: lookups compare with a ticked copy of it (no allocation per request, see decisions.ts)
        const store = this.decisionStore;
        store.tick(Date.now());
        this.clockTimer = setInterval(() => store.tick(Date.now()), DECISION_CLOCK_TICK_MS);
        this.clockTimer.unref();
      }
      if (kafkaOptions) {
        this.decisionFeed = new DecisionFeed(
          {
            brokers: kafkaOptions.brokers,
            topic: d.topic,
            registry: kafkaOptions.registry,
            clientId: kafkaOptions.clientId ?? `risk-hub-agent-${o.application}`,
            ssl: kafkaOptions.ssl,
            sasl: kafkaOptions.sasl,
            connectionTimeoutMs: kafkaOptions.connectionTimeoutMs,
            requestTimeoutMs: kafkaOptions.requestTimeoutMs,
            socketFactory: kafkaOptions.socketFactory,
            logger: o.logger,
          },
          this.decisionStore,
        );
        this.decisionFeed.start();
      }
    }
    this.batcher = new TurnBatcher({
      inspecting: () => this.detector !== undefined && !this.sender.closed,
      closing: () => this.sender.closing,
      prepare: (req, extras) => {
        this.counters.inspected++;
        return this.detector!.prepare(readRequest(req, extras, this.detector!));
      },
      run: (prepared) => this.detector!.detectPrepared(prepared),
      record: (req, result) => {
        this.record(req, result);
      },
      caught: (err) => this.caught(err),
    });
  }

  /** A missing native engine disables detection (logged, in stats) rather than the application; an invalid ruleset is a configuration error. */
  private createDetector(o: ResolvedOptions): Detector | undefined {
    try {
      return new Detector({ rules: o.rules, budgetMicros: o.wafBudgetMicros });
    } catch (err) {
      if (!(err instanceof WafUnavailableError)) throw new ConfigError((err as Error).message, { cause: err });
      this.counters.lastError = describeError(err);
      o.logger?.warn({ error: this.counters.lastError }, 'attack detection disabled; auth and custom events are still reported');
      return undefined;
    }
  }

  // -- public API: none of these throw ------------------------------------------------------------

  /**
   * Ties the request to an application user; attacks found in it are reported for that user. Returns
   * the user's decision in force (see decisionFor), or null: enforcing it is left to the integration
   * (riskHubEnforce, the Fastify plugin, agent.enforce) or to the caller.
   */
  identify(req: RequestLike, user: UserInput): ActiveDecision | null {
    try {
      const ref = this.user(user);
      if (!ref || !req) return null;
      this.users.set(toRaw(req), ref);
      return this.decisionStore?.get(ref.key) ?? null;
    } catch (err) {
      this.caught(err);
      return null;
    }
  }

  /**
   * The decision in force for a request's user (the identified user, else its anonymous `anon:<ip>`
   * user) or for a user key (user.key as given to identify): BLOCK, CHALLENGE or MONITOR, with its
   * `until` (epoch ms), reason and decision_id; a simulated decision reads as MONITOR. Null when there
   * is none, when it expired, or on any error (fail open). A Map lookup: no allocation for users
   * without a decision. Nothing is reported: enforce() reports what it does.
   */
  decisionFor(subject: RequestLike | string): ActiveDecision | null {
    try {
      const store = this.decisionStore;
      if (store === undefined || store.size === 0) return null;
      if (typeof subject === 'string') return store.get(hashedUserKey(subject));
      const key = this.decisionKeyOf(subject);
      return key === null ? null : store.get(key);
    } catch (err) {
      this.caught(err);
      return null;
    }
  }

  /**
   * Enforces the decision of the request's user on a node:http (or Express) response: BLOCK answers
   * 403 (or decisions.onBlock does), CHALLENGE calls decisions.onChallenge, MONITOR and simulated
   * decisions only report. `done(handled)`: handled = a response was sent, stop there; else go on.
   * Call it where the user is known (after identify). Every enforcement is reported as an event.
   */
  enforce(req: RequestLike, res: ServerResponse, done: (handled: boolean) => void): void {
    const decision = this.decisionFor(req);
    if (decision === null) done(false); // every request without a decision: one lookup, nothing allocated
    else this.applyDecision(decision, req, req, res, () => nodeAnswer(res), done);
  }

  /** enforce() for any framework: `answer()` gives how it responds, `hookReq`/`hookRes` are what the app's hooks receive. */
  enforceWith(req: RequestLike, hookReq: unknown, hookRes: unknown, answer: () => Answer, done: (handled: boolean) => void): void {
    const decision = this.decisionFor(req);
    if (decision === null) done(false);
    else this.applyDecision(decision, req, hookReq, hookRes, answer, done);
  }

  private applyDecision(decision: ActiveDecision, req: RequestLike, hookReq: unknown, hookRes: unknown, answer: () => Answer, done: (handled: boolean) => void): void {
    try {
      this.reportEnforcement(req, decision);
    } catch (err) {
      this.caught(err);
    }
    if (decision.simulated || decision.action === 'MONITOR') {
      done(false);
      return;
    }
    let finished = false;
    const once = (handled: boolean): void => {
      if (finished) return;
      finished = true;
      done(handled);
    };
    try {
      enforceDecision(this.enforceContext, decision, hookReq, hookRes, answer(), once);
    } catch (err) {
      this.caught(err);
      once(false);
    }
  }

  /** Express middleware that enforces decisions: register it right after the middleware that identifies users. */
  expressEnforcer(): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
    return (req, res, next) => {
      this.enforce(req, res, (handled) => {
        if (!handled) next();
      });
    };
  }

  /** Reports a login attempt. Failures are auth_failure (LOW); repeated failures for one user within a minute add credential_stuffing (MEDIUM, then HIGH). A success identifies the request. */
  trackAuth(success: boolean, user: UserInput, req?: RequestLike, meta?: EventMeta): void {
    try {
      const ref = this.user(user) ?? (req ? this.anonymous(clientIp(req)) : null);
      if (!ref) return;
      if (success) {
        if (req) this.users.set(toRaw(req), ref);
        return;
      }
      const request = req ? requestInfo(req, this.options.scrub) : null;
      const at = timeOf(meta, this.options.now);
      this.enqueue(this.event(ref, 'auth_failure', 'LOW', request, at, idOf(meta, 0)));
      const { stuffing } = this.authTracker.failure(ref.key, at);
      if (stuffing) this.enqueue(this.event(ref, 'credential_stuffing', stuffing, request, at, idOf(meta, 1)));
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
      let user = event.user === undefined ? null : this.user(event.user);
      if (!user && req) user = this.userOf(req);
      if (!user) {
        this.counters.droppedInvalid++;
        return null;
      }
      const at = event.occurredAt instanceof Date ? event.occurredAt.getTime() : (event.occurredAt ?? this.options.now());
      const points = event.points === undefined || event.points === null ? null : Math.trunc(event.points);
      if (!Number.isFinite(at) || (points !== null && !Number.isFinite(points))) {
        this.counters.droppedInvalid++;
        return null;
      }
      const attack = this.event(user, event.type.trim(), event.severity, req ? requestInfo(req, this.options.scrub) : null, at, idOf(event.eventId === undefined ? undefined : { eventId: event.eventId }, 0));
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
   * Nothing is attached to the request or the response here (see turn.ts).
   */
  watch(req: RequestLike, res: ServerResponse, extras?: () => Extras): void {
    try {
      if (this.detector === undefined || this.sender.closing) return;
      const skip = this.options.skip;
      if (skip !== undefined && skip(toRaw(req))) return;
      this.batcher.add(req, res, extras);
    } catch (err) {
      this.caught(err);
    }
  }

  /** Inspects a request now (for frameworks without an adapter). Returns the detections (empty on error or timeout). */
  inspect(req: RequestLike, extras?: Extras, meta?: EventMeta): Detection[] {
    try {
      const detector = this.detector;
      if (!detector || this.sender.closed) return [];
      if (this.batcher.claim(toRaw(req))) return [];
      this.counters.inspected++;
      return this.record(req, detector.detect(readRequest(req, extras, detector)), meta);
    } catch (err) {
      this.caught(err);
      return [];
    }
  }

  /**
   * inspect() for several requests at once (the relay's batches): the engine judges them in as few runs
   * as it can (one run over many requests, as for the watched requests of one turn: batch.ts), then
   * each request's attacks are reported as inspect() reports them. Returns each request's detections,
   * in order (empty on error or timeout).
   */
  inspectMany(items: ReadonlyArray<{ req: RequestLike; extras?: Extras; meta?: EventMeta }>): Detection[][] {
    try {
      const detector = this.detector;
      if (!detector || this.sender.closed) return items.map(() => []);
      const facts = items.map((i) => readRequest(i.req, i.extras, detector));
      this.counters.inspected += items.length;
      const results = detector.detectMany(facts);
      return results.map((r, k) => this.record(items[k]!.req, r, items[k]!.meta));
    } catch (err) {
      this.caught(err);
      return items.map(() => []);
    }
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
    const s = this.sender;
    return {
      queued: s.queued,
      inFlight: s.inFlight,
      sent: c.sent,
      dropped: s.droppedQueueFull + c.droppedInvalid + c.droppedShutdown,
      droppedQueueFull: s.droppedQueueFull,
      droppedInvalid: c.droppedInvalid,
      droppedShutdown: c.droppedShutdown,
      suppressed: c.suppressed,
      userKeysHashed: c.userKeysHashed,
      truncated: c.truncated,
      inspected: c.inspected,
      detections: c.detections,
      wafTimeouts: c.wafTimeouts,
      errors: c.errors,
      detecting: this.detector !== undefined,
      kafkaReachable: s.kafkaReachable,
      lastError: c.lastError,
      decisions: this.decisionsStats(),
      enforced: { ...this.enforced },
    };
  }

  private decisionsStats(): DecisionsStats | null {
    const store = this.decisionStore;
    if (store === undefined) return null;
    const feed = this.decisionFeed?.counts ?? { records: 0, undecodable: 0, consuming: false, lastRecordAt: null };
    return { ...store.stats(), ...feed, topic: this.decisionFeed ? this.options.decisions.topic : null };
  }

  /** Resolves once everything queued so far is sent, or after timeoutMs (false). */
  async flush(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    this.batcher.drainNow(); // responses already sent but not inspected yet
    return this.sender.flush(deadline);
  }

  /** Stops accepting events, sends what is queued within timeoutMs (default 5000), then disconnects. Never throws. */
  close(opts: { timeoutMs?: number } = {}): Promise<CloseResult> {
    this.closePromise ??= this.doClose(opts.timeoutMs ?? 5000);
    return this.closePromise;
  }

  // -- one event's path: verdict → user → record → rate limit → queue ------------------------------

  private async doClose(timeoutMs: number): Promise<CloseResult> {
    const started = Date.now();
    this.batcher.drainNow(); // responses completed in this very turn: their events are queued before closing
    if (this.clockTimer) clearInterval(this.clockTimer);
    const feedClosed = this.decisionFeed?.close();
    const result = await this.sender.close(timeoutMs, started);
    // the decisions reader disconnects within what is left of the bound (kafkajs may wait on a broker that is gone)
    if (feedClosed) await Promise.race([feedClosed, sleep(Math.max(0, timeoutMs - (Date.now() - started)))]);
    this.detector?.close();
    if (result.dropped > 0) this.options.logger?.warn({ dropped: result.dropped }, 'closed before every event was sent');
    return result;
  }

  private record(req: RequestLike, result: DetectionResult, meta?: EventMeta): Detection[] {
    if (result.timeout) this.counters.wafTimeouts++;
    if (result.detections.length === 0) return [];
    const user = this.userOf(req);
    const request = requestInfo(req, this.options.scrub);
    const at = timeOf(meta, this.options.now);
    let n = 0;
    for (const d of result.detections) {
      this.counters.detections++;
      this.enqueue(this.event(user, d.attackType, d.severity, request, at, idOf(meta, n++)));
    }
    return result.detections;
  }

  /** The user key a request's decision is kept under: the identified user's, else `anon:<ip>` when the store holds anonymous decisions. */
  private decisionKeyOf(req: RequestLike): string | null {
    const ref = this.users.get(toRaw(req));
    if (ref !== undefined) return ref.key;
    return this.decisionStore?.hasAnonymous ? this.anonymous(clientIp(req)).key : null;
  }

  /** One event per enforcement (INFO, 0 points), on a per-user budget of its own; stats count every one. */
  private reportEnforcement(req: RequestLike, d: ActiveDecision, meta?: EventMeta): boolean {
    const what = d.simulated ? 'simulated' : d.action === 'BLOCK' ? 'block' : d.action === 'CHALLENGE' ? 'challenge' : 'monitor';
    this.enforced[what]++;
    if (this.sender.closing) return false;
    const user = this.userOf(req);
    const at = timeOf(meta, this.options.now);
    if (!this.enforcementLimiter.allow(user.key, at)) {
      this.counters.suppressed++;
      return false;
    }
    const type = d.simulated ? `${ENFORCEMENT_EVENT_PREFIX}simulated-${d.simulatedAction!.toLowerCase()}` : `${ENFORCEMENT_EVENT_PREFIX}${what}`;
    const event = this.event(user, type, 'INFO', requestInfo(req, this.options.scrub), at, idOf(meta, 0));
    event.points = 0;
    event.blocked = what === 'block';
    return this.sender.push(event);
  }

  /**
   * Reports an enforcement done elsewhere (a thin agent behind the relay enforced a decision it
   * polled): the same event enforce() reports (`risk-hub.decision.<action>` or
   * `risk-hub.decision.simulated-<action>`, INFO, 0 points, blocked for a BLOCK), on the same per-user
   * budget, for the identified user of `req` (identify first) or its `anon:<ip>` user. Returns whether
   * it was queued. Never throws.
   */
  reportEnforced(req: RequestLike, enforced: { action: 'BLOCK' | 'CHALLENGE' | 'MONITOR'; simulated?: boolean; decision_id?: string }, meta?: EventMeta): boolean {
    try {
      const simulated = enforced.simulated === true;
      const d: ActiveDecision = {
        action: simulated ? 'MONITOR' : enforced.action,
        until: Infinity,
        reason: '',
        decision_id: enforced.decision_id ?? '',
        simulated,
        simulatedAction: simulated ? enforced.action : null,
      };
      return this.reportEnforcement(req, d, meta);
    } catch (err) {
      this.caught(err);
      return false;
    }
  }

  /**
   * The decisions in force for this application and environment, with the store's version (it
   * changes whenever a record changes the store): what the relay serves to thin agents
   * (GET /v1/decisions). Decisions past their `until` are left out. Empty without a store.
   */
  activeDecisions(): { version: number; decisions: Array<{ userKey: string; decision: ActiveDecision }> } {
    const store = this.decisionStore;
    if (store === undefined) return { version: 0, decisions: [] };
    return { version: store.version, decisions: store.list() };
  }

  /** The identified user of a request, else its pseudonymous `anon:<ip>` user. */
  private userOf(req: RequestLike): UserRef {
    return this.users.get(toRaw(req)) ?? this.anonymous(clientIp(req));
  }

  /** A user the application gave, normalized and within bounds (user.ts); null when unusable. */
  private user(input: unknown): UserRef | null {
    return normalizeUser(input, () => this.counters.userKeysHashed++);
  }

  /**
   * The pseudonymous user of an address, within bounds like any other: the address can be whatever a
   * trusted proxy forwarded. The default `anon:<ip>` when the `anonymousUser` option gives no usable user.
   */
  private anonymous(ip: string | null): UserRef {
    return this.user(this.options.anonymousUser(ip)) ?? this.user(anonymousUser(ip))!;
  }

  /**
   * The record of one event, inside the bounds of identity.ts whatever the detection rules, the
   * application or the request gave: the user is bounded already (user()); the attack type, the
   * identifiers and the request fields are cut here at a character boundary (counted). The event id is
   * a UUID (36 bytes) or one given through EventMeta, checked against MAX_EVENT_ID_BYTES by idOf().
   */
  private event(user: UserRef, type: string, severity: Severity, request: RequestInfo | null, at: number, eventId: string = randomUUID()): Attack {
    const attackType = truncateUtf8(type, MAX_ATTACK_TYPE_BYTES);
    const identifiers = boundIdentifiers(user.identifiers);
    const bounded = boundRequest(request);
    if (attackType !== type || identifiers !== user.identifiers || bounded !== request) this.counters.truncated++;
    return {
      event_id: eventId,
      occurred_at: Math.trunc(at),
      application_id: this.application,
      environment: this.environment,
      user: identifiers === user.identifiers ? user : { key: user.key, identifiers },
      attack_type: attackType,
      severity,
      points: null,
      blocked: false,
      request: bounded,
      agent: { name: AGENT_NAME, version: AGENT_VERSION, language: AGENT_LANGUAGE },
    };
  }

  /** Queues an event (rate limit per user first). Returns whether it was accepted. */
  private enqueue(event: Attack): boolean {
    if (this.sender.closing) return this.sender.push(event); // counted as dropped at shutdown
    if (!this.limiter.allow(event.user.key, this.options.now())) {
      this.counters.suppressed++;
      return false;
    }
    return this.sender.push(event);
  }

  private caught(err: unknown): void {
    this.counters.errors++;
    this.counters.lastError = describeError(err);
  }
}

export function createAgent(opts: AgentOptions): Agent {
  return new Agent(opts);
}
