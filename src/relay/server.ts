// `risk-hub relay`: the HTTP server of docs/relay-protocol.md (node:http). Every request but /healthz
// and /metrics needs an application's bearer token (tokens.ts); bodies are bounded (body.ts), events
// checked one by one (mapping.ts) and handed to the Node agent of their application and environment
// (agents.ts, process.ts), which inspects, tracks and produces them in the background. Nothing an
// agent sends can crash the relay: every handler's error becomes an answer (500 at worst, logged).

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Detector } from '@risk-hub/agent';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { registry, relayEvents, relayHandleDuration, relayQueued, relayRejections, relayRequests, relayWafTimeouts } from '../metrics/index.ts';
import { AgentPool } from './agents.ts';
import { BodyError, parseJsonBody, readBody } from './body.ts';
import { EventRejected, readEnvelope, readEvent, readRequestJson, ShapeError, toRequestLike, type RelayEvent } from './mapping.ts';
import { processEvent, processRequests } from './process.ts';
import { TokenTable, type RelayApplication } from './tokens.ts';

export interface RelayOptions {
  config: Config;
  log: Logger;
  /** Where tokens are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Replaces the agent pool (unit tests). */
  pool?: AgentPool;
}

export interface RelayHandle {
  server: Server;
  port: number;
  pool: AgentPool;
  /** Stops accepting, then flushes every agent within timeoutMs. */
  close(timeoutMs?: number): Promise<void>;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

/** Event kinds of the protocol (a metric label: anything else is `unknown`). */
const KINDS = new Set(['request', 'login', 'custom', 'enforcement']);

/** Least WAF budget (µs) of POST /v1/inspect. */
const INSPECT_BUDGET_MICROS = 50_000;

const ROUTES = new Set(['/v1/events', '/v1/inspect', '/v1/decisions', '/healthz', '/metrics']);

export async function startRelay(opts: RelayOptions): Promise<RelayHandle> {
  const relay = new Relay(opts);
  const server = createServer((req, res) => relay.serve(req, res));
  server.requestTimeout = 15_000; // a slow upload of a 1 MiB body on loopback takes milliseconds
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const { host, port } = opts.config.relay;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  opts.log.info({ host, port: bound, applications: relay.tokens.size }, 'relay listening');
  return {
    server,
    port: bound,
    pool: relay.pool,
    close: async (timeoutMs = 5000) => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), Math.min(timeoutMs, 2000)).unref();
      });
      await relay.close(timeoutMs);
    },
  };
}

export class Relay {
  readonly tokens: TokenTable;
  readonly pool: AgentPool;
  /** ETag prefix: a restarted relay never answers 304 to a version of the previous one. */
  private readonly boot = randomBytes(4).toString('hex');
  private active = 0;
  private detector: Detector | null | undefined;
  /** The agents' WAF timeouts already added to the metric. */
  private wafTimeoutsSeen = 0;

  constructor(private readonly opts: RelayOptions) {
    this.tokens = new TokenTable(opts.config.relay, opts.env ?? process.env);
    this.pool = opts.pool ?? new AgentPool({ config: opts.config, log: opts.log });
  }

  serve(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?', 1)[0]!;
    const route = ROUTES.has(path) ? path : 'other';
    this.handle(req, path)
      .catch((err: unknown): Answer => {
        this.opts.log.error({ err }, 'relay handler failed');
        return { status: 500, body: { error: 'internal error' } };
      })
      .then((a) => {
        relayRequests.labels(route, String(a.status)).inc();
        if (route.startsWith('/v1/')) relayHandleDuration.labels(route).observe(Number(process.hrtime.bigint() - started) / 1e9);
        send(req, res, a);
      })
      .catch(() => res.destroy());
  }

  async close(timeoutMs: number): Promise<void> {
    await this.pool.close(timeoutMs);
    this.detector?.close();
  }

  private async handle(req: IncomingMessage, path: string): Promise<Answer> {
    const method = req.method ?? 'GET';
    if (path === '/healthz') return method === 'GET' || method === 'HEAD' ? { status: 200, body: { status: 'ok' } } : notAllowed('GET');
    if (path === '/metrics') {
      if (method !== 'GET') return notAllowed('GET');
      relayQueued.set(this.pool.queued());
      this.countWafTimeouts();
      return { status: 200, body: await registry.metrics(), headers: { 'content-type': registry.contentType } };
    }
    if (!ROUTES.has(path)) return { status: 404, body: { error: `no route for ${path.slice(0, 100)}` } };
    const wanted = path === '/v1/decisions' ? 'GET' : 'POST';
    if (method !== wanted) return notAllowed(wanted);
    const app = this.tokens.applicationOf(req.headers.authorization);
    if (app === undefined) return { status: 401, body: { error: 'missing or unknown bearer token' }, headers: { 'www-authenticate': 'Bearer' } };
    if (this.active >= this.opts.config.relay.queue.maxRequests) return { status: 503, body: { error: 'relay busy' }, headers: { 'retry-after': '1' } };
    this.active++;
    try {
      if (path === '/v1/decisions') return this.decisions(req, app);
      let body: unknown;
      try {
        body = parseJsonBody(await readBody(req));
      } catch (err) {
        if (err instanceof BodyError) return { status: err.status, body: { error: err.message } };
        throw err;
      }
      return path === '/v1/events' ? this.events(body, app) : this.inspect(body);
    } finally {
      this.active--;
    }
  }

  private events(body: unknown, app: RelayApplication): Answer {
    let envelope;
    try {
      envelope = readEnvelope(body);
    } catch (err) {
      if (err instanceof ShapeError) return { status: err.status, body: { error: err.message } };
      throw err;
    }
    if (envelope.applicationId !== app.id) return { status: 403, body: { error: 'the token is not the token of this application_id' } };
    if (!app.environments.has(envelope.environment)) return { status: 403, body: { error: `environment not allowed for ${app.id} (relay.applications.${app.id}.environments)` } };
    const agent = this.pool.get(app.id, envelope.environment);
    const s = agent.stats();
    if (s.queued + s.inFlight + envelope.events.length > this.opts.config.relay.queue.maxEvents) {
      relayQueued.set(this.pool.queued());
      return { status: 503, body: { error: 'relay queue full' }, headers: { 'retry-after': '1' } };
    }
    let accepted = 0;
    let rejected = 0;
    let detections = 0;
    // request events in a row are inspected together (one engine run where it can); any other event
    // first sends the requests before it, so the order of the records follows the events'
    let requests: Array<Extract<RelayEvent, { kind: 'request' }>> = [];
    const inspectPending = (): void => {
      if (requests.length === 0) return;
      detections += processRequests(agent, requests);
      requests = [];
    };
    for (const raw of envelope.events) {
      let ev: RelayEvent;
      try {
        ev = readEvent(raw);
      } catch (err) {
        if (!(err instanceof EventRejected)) throw err;
        rejected++;
        const kind = raw !== null && typeof raw === 'object' && typeof (raw as { kind?: unknown }).kind === 'string' && KINDS.has((raw as { kind: string }).kind) ? (raw as { kind: string }).kind : 'unknown';
        relayEvents.labels(kind, 'rejected').inc();
        relayRejections.labels(err.reason).inc();
        continue;
      }
      accepted++;
      relayEvents.labels(ev.kind, 'accepted').inc();
      if (ev.kind === 'request') requests.push(ev);
      else {
        inspectPending();
        processEvent(agent, ev);
      }
    }
    inspectPending();
    return { status: 202, body: { accepted, rejected, detections } };
  }

  private inspect(body: unknown): Answer {
    const raw = body !== null && typeof body === 'object' && !Array.isArray(body) && Object.prototype.hasOwnProperty.call(body, 'request') ? (body as { request: unknown }).request : undefined;
    let request;
    try {
      request = readRequestJson(raw);
    } catch (err) {
      if (err instanceof EventRejected) return { status: 400, body: { error: err.message } };
      throw err;
    }
    const detector = this.detectorOf();
    if (detector === null) return { status: 503, body: { error: 'attack detection unavailable (libddwaf did not load)' } };
    const { req, extras } = toRequestLike(request);
    const r = (req as unknown as { raw: { headers: Record<string, string | string[]>; url?: string } }).raw;
    // the facts request.ts readRequest gives the agent for this request (query, body and params from the framework)
    const result = detector.detect({ uri: r.url, query: extras.query, body: extras.body, pathParams: extras.params, headers: r.headers });
    return { status: 200, body: { detections: result.detections.map((d) => ({ attack_type: d.attackType, severity: d.severity, rule_id: d.rules[0] ?? null, rules: d.rules })), timeout: result.timeout } };
  }

  private decisions(req: IncomingMessage, app: RelayApplication): Answer {
    const url = new URL(req.url ?? '/', 'http://relay');
    const environment = url.searchParams.get('environment') ?? 'production';
    if (!app.environments.has(environment)) return { status: 403, body: { error: `environment not allowed for ${app.id} (relay.applications.${app.id}.environments)` } };
    const { version, decisions } = this.pool.get(app.id, environment).activeDecisions();
    const tag = `${this.boot}.${version}`;
    const etag = `"${tag}"`;
    const headers = { etag, 'cache-control': 'no-cache' };
    const match = req.headers['if-none-match'];
    if (typeof match === 'string' && match.split(',').some((m) => m.trim().replace(/^W\//, '') === etag)) return { status: 304, headers };
    return {
      status: 200,
      headers,
      body: {
        version: tag,
        decisions: decisions.map(({ userKey, decision: d }) => ({
          user_key: userKey,
          action: d.simulatedAction ?? d.action,
          until: d.until,
          reason: d.reason,
          decision_id: d.decision_id,
          simulated: d.simulated,
        })),
      },
    };
  }

  /** Brings risk_hub_relay_waf_timeouts_total up to the agents' own counts (read when scraped). */
  private countWafTimeouts(): void {
    const delta = this.pool.wafTimeouts() - this.wafTimeoutsSeen;
    if (delta <= 0) return;
    relayWafTimeouts.inc(delta);
    this.wafTimeoutsSeen += delta;
  }

  private detectorOf(): Detector | null {
    if (this.detector === undefined) {
      try {
        // a verdict, not a request path: a generous budget (at least 50 ms) so that a loaded machine
        // never turns an attack into "no detection"; one run first, since libddwaf's first run is slow
        this.detector = new Detector({ budgetMicros: Math.max(this.opts.config.relay.wafBudgetMicros, INSPECT_BUDGET_MICROS) });
        this.detector.detect({ uri: '/', query: { warm: 'up' } });
      } catch (err) {
        this.opts.log.warn({ err }, 'relay: attack detection unavailable');
        this.detector = null;
      }
    }
    return this.detector;
  }
}

function notAllowed(allow: string): Answer {
  return { status: 405, body: { error: 'method not allowed' }, headers: { allow } };
}

function send(req: IncomingMessage, res: ServerResponse, a: Answer): void {
  const text = a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', ...a.headers };
  if (a.status !== 304) headers['content-length'] = Buffer.byteLength(text);
  // a refused upload is not read to its end: close the connection rather than drain it
  if (!req.complete) headers.connection = 'close';
  res.writeHead(a.status, headers);
  res.end(a.status === 304 || req.method === 'HEAD' ? undefined : text);
  if (!req.complete) res.on('finish', () => req.destroy());
}
