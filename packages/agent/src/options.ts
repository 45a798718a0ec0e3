// The agent's options: what an application passes to createAgent(), validated once at start-up (the
// only place the agent throws, a ConfigError) and resolved to their defaults. dd-trace-js keeps its
// appsec configuration apart from the code that uses it in the same way.

import type { IncomingMessage } from 'node:http';
import type { AuthTrackerOptions } from './auth.ts';
import { ConfigError, type UserRef } from './contracts.ts';
import type { ActiveDecision } from './decisions.ts';
import { IDENTIFIER_PATTERN } from './identity.ts';
import type { ScrubOptions } from './scrub.ts';
import type { KafkaTransportOptions, RegistryOptions, Transport } from './transport.ts';
import { anonymousUser } from './user.ts';

export interface Logger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

/** What answers a blocked request (default: JSON). */
export type BlockResponse = { json: unknown } | { html: string };

/**
 * An application's handler for an enforced decision: Express `(req, res, decision)`, Fastify
 * `(request, reply, decision)`, agent.enforce's caller `(req, res, decision)`. May be async.
 */
export type DecisionHook = (req: any, res: any, decision: ActiveDecision) => void | Promise<void>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Counter-measures (issue 15): the decisions the agent enforces, read from the compacted decisions topic. */
export interface DecisionsOptions {
  /** Read and enforce decisions (default true; without brokers there is nothing to read). */
  enabled?: boolean;
  /** The compacted decisions topic (default "risk-decisions"). */
  topic?: string;
  /** Most decisions held in memory (default 1,000,000; ~200 bytes each). Beyond, see decisions.ts. */
  maxDecisions?: number;
  /** The 403 body of a blocked request: `{ json: value }` (default `{"error":"forbidden","message":"Access denied."}`) or `{ html: "<!doctype html>…" }`. */
  blockResponse?: BlockResponse;
  /** Answers a blocked request instead (it must send a response; if it does not, or throws, the default 403 is sent). */
  onBlock?: DecisionHook;
  /** Asks a challenged user to prove themselves (re-authenticate, MFA). If it does not answer, the request goes on. Without it, CHALLENGE is not enforced (fail open, logged once). */
  onChallenge?: DecisionHook;
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
  /** Counter-measures: which decisions are read and how they are enforced (see DecisionsOptions). */
  decisions?: DecisionsOptions;
  /** Clock (tests). */
  now?: () => number;
}

export interface ResolvedDecisions {
  enabled: boolean;
  topic: string;
  maxDecisions: number;
  /** The 403 answer, built once. */
  blockBody: string;
  blockContentType: string;
  onBlock: DecisionHook | undefined;
  onChallenge: DecisionHook | undefined;
}

/** The options with their defaults, validated. */
export interface ResolvedOptions {
  application: string;
  environment: string;
  maxQueue: number;
  batchSize: number;
  /** ms */
  lingerMs: number;
  perUserLimit: number;
  logger: Logger | null;
  now: () => number;
  anonymousUser: (ip: string | null) => UserRef;
  scrub: ScrubOptions;
  skip: ((req: IncomingMessage) => boolean) | undefined;
  auth: AuthTrackerOptions | undefined;
  detect: boolean;
  rules: object | undefined;
  /** µs */
  wafBudgetMicros: number;
  decisions: ResolvedDecisions;
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

/**
 * An application or environment id, trimmed, checked against the identity rules (identity.ts): they
 * are joined with "/" into every record's key, so a "/" in one would let two users share a score, and
 * the scorer dead-letters every record of an id outside the rules. Refused here, at start-up, rather
 * than losing every event later.
 */
function identifier(option: string, field: string, value: string): string {
  const id = value.trim();
  if (!IDENTIFIER_PATTERN.test(id)) {
    const shown = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id);
    throw new ConfigError(
      `risk-hub agent: option ${option} (the ${field}) ${shown} must match ${IDENTIFIER_PATTERN.source}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (no '/', no spaces)`,
    );
  }
  return id;
}

/** Validates the options (ConfigError naming the first bad one) and fills in the defaults. */
export function resolveOptions(opts: AgentOptions): ResolvedOptions {
  if (!opts || typeof opts.application !== 'string' || opts.application.trim() === '') {
    throw new ConfigError('risk-hub agent: option application (the application_id) is required');
  }
  if (opts.environment !== undefined && typeof opts.environment !== 'string') {
    throw new ConfigError(`risk-hub agent: option environment must be a string, got ${typeof opts.environment}`);
  }
  return {
    application: identifier('application', 'application_id', opts.application),
    environment: identifier('environment', 'environment', opts.environment?.trim() || 'production'),
    maxQueue: positiveInt('maxQueue', opts.maxQueue, 10_000),
    batchSize: positiveInt('batchSize', opts.batchSize, 500),
    lingerMs: opts.lingerMs ?? 50,
    perUserLimit: positiveInt('maxEventsPerUserPerMinute', opts.maxEventsPerUserPerMinute, 120),
    logger: opts.logger === undefined ? consoleLogger : opts.logger,
    now: opts.now ?? Date.now,
    anonymousUser: opts.anonymousUser ?? anonymousUser,
    scrub: opts.scrub ?? {},
    skip: opts.skip,
    auth: opts.auth,
    detect: opts.detect !== false,
    rules: opts.rules,
    wafBudgetMicros: opts.wafBudgetMicros ?? 5000,
    decisions: resolveDecisions(opts.decisions),
  };
}

const DEFAULT_BLOCK_JSON = { error: 'forbidden', message: 'Access denied.' };

function resolveDecisions(d: DecisionsOptions | undefined): ResolvedDecisions {
  if (d !== undefined && (d === null || typeof d !== 'object')) throw new ConfigError(`risk-hub agent: option decisions must be an object, got ${String(d)}`);
  const o = d ?? {};
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean') throw new ConfigError(`risk-hub agent: option decisions.enabled must be a boolean, got ${String(o.enabled)}`);
  if (o.topic !== undefined && (typeof o.topic !== 'string' || o.topic.trim() === '')) {
    throw new ConfigError(`risk-hub agent: option decisions.topic must be a non-empty string, got ${String(o.topic)}`);
  }
  for (const hook of ['onBlock', 'onChallenge'] as const) {
    if (o[hook] !== undefined && typeof o[hook] !== 'function') throw new ConfigError(`risk-hub agent: option decisions.${hook} must be a function`);
  }
  let blockBody = JSON.stringify(DEFAULT_BLOCK_JSON);
  let blockContentType = 'application/json; charset=utf-8';
  const r = o.blockResponse as Record<string, unknown> | undefined;
  if (r !== undefined) {
    const keys = r && typeof r === 'object' ? Object.keys(r) : [];
    if (keys.length !== 1 || (keys[0] !== 'json' && keys[0] !== 'html')) {
      throw new ConfigError('risk-hub agent: option decisions.blockResponse must be { json: value } or { html: string }');
    }
    if (keys[0] === 'html') {
      if (typeof r.html !== 'string') throw new ConfigError('risk-hub agent: option decisions.blockResponse.html must be a string');
      blockBody = r.html;
      blockContentType = 'text/html; charset=utf-8';
    } else {
      const json = JSON.stringify(r.json);
      if (json === undefined) throw new ConfigError('risk-hub agent: option decisions.blockResponse.json must be a JSON value');
      blockBody = json;
    }
  }
  return {
    enabled: o.enabled !== false,
    topic: o.topic?.trim() ?? 'risk-decisions',
    maxDecisions: positiveInt('decisions.maxDecisions', o.maxDecisions, 1_000_000),
    blockBody,
    blockContentType,
    onBlock: o.onBlock,
    onChallenge: o.onChallenge,
  };
}

/** The Kafka transport's options (brokers and registry are required without a custom transport). */
export function kafkaTransportOptions(opts: AgentOptions, application: string): KafkaTransportOptions {
  const brokers = typeof opts.brokers === 'string' ? opts.brokers.split(',').map((b) => b.trim()).filter(Boolean) : (opts.brokers ?? []);
  if (brokers.length === 0) throw new ConfigError('risk-hub agent: option brokers is required (e.g. ["127.0.0.1:9092"])');
  const registry = typeof opts.schemaRegistry === 'string' ? { url: opts.schemaRegistry } : opts.schemaRegistry;
  if (!registry?.url) throw new ConfigError('risk-hub agent: option schemaRegistry is required (e.g. "http://127.0.0.1:8081/apis/ccompat/v7")');
  const topic = opts.topic ?? 'attacks';
  return {
    brokers,
    topic,
    subject: opts.subject ?? `${topic}-value`,
    registry,
    clientId: opts.clientId ?? `risk-hub-agent-${application}`,
    ssl: opts.ssl,
    sasl: opts.sasl,
    compression: opts.compression,
    connectionTimeoutMs: opts.connectionTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs,
    socketFactory: opts.socketFactory,
  };
}
