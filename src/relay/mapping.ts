// From the relay protocol's JSON (docs/relay-protocol.md) to what the Node agent takes: the envelope
// and each event checked against the protocol's rules (an event that breaks one is rejected, counted
// by reason, and the others go on), and a request event's `request` turned into the RequestLike and
// Extras a watched Express request gives the agent (request.ts readRequest): the same inputs reach the
// same engine, so the verdicts are the Node agent's.
//
// Pure: no agent, no Kafka. Every container built from input has no prototype, so a key such as
// `__proto__` or `constructor` is an own entry like any other (inspected, never a prototype write).

import type { Extras, RequestLike } from '@risk-hub/agent';
import { eventIdProblem, IDENTIFIER_PATTERN, MAX_USER_KEY_BYTES, utf8Length } from '../identity.ts';
import {
  MAX_BODY_DEPTH,
  MAX_BODY_NODES,
  MAX_ENTRIES,
  MAX_EVENTS,
  MAX_IP_CHARS,
  MAX_METHOD_CHARS,
  MAX_NAME_CHARS,
  MAX_TYPE_BYTES,
  MAX_URI_CHARS,
  MAX_VALUE_CHARS,
} from './limits.ts';

export const SEVERITIES = ['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const ENFORCED_ACTIONS = ['BLOCK', 'CHALLENGE', 'MONITOR'] as const;

/** A user as an event gives it: key within the identity rules, identifiers as strings. */
export interface RelayUser {
  key: string;
  identifiers: Record<string, string>;
}

/** A request of an event, bounded, every container prototype-less. */
export interface RelayRequest {
  method: string | undefined;
  uri: string | undefined;
  ip: string | null;
  headers: Record<string, string | string[]>;
  query: Record<string, string | string[]> | undefined;
  body: unknown;
  pathParams: Record<string, string> | undefined;
  cookies: Record<string, string> | undefined;
}

interface Common {
  id: string;
  at: number;
  user: RelayUser | null;
  request: RelayRequest | null;
}

export type RelayEvent =
  | (Common & { kind: 'request'; request: RelayRequest })
  | (Common & { kind: 'login'; success: boolean })
  | (Common & { kind: 'custom'; type: string; severity: Severity; points: number | null; blocked: boolean })
  | (Common & { kind: 'enforcement'; action: (typeof ENFORCED_ACTIONS)[number]; decisionId: string | null; simulated: boolean });

export interface Envelope {
  applicationId: string;
  environment: string;
  events: unknown[];
}

/** Why an event was rejected: a short stable reason (a metric label) and the detail. */
export class EventRejected extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** A body that is not a protocol envelope: 400, or 413 for too many events. */
export class ShapeError extends Error {
  constructor(
    readonly status: 400 | 413,
    message: string,
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

function bag<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** The envelope of POST /v1/events (application_id, environment, events); ShapeError when it is not one. */
export function readEnvelope(body: unknown): Envelope {
  if (!isObject(body)) throw new ShapeError(400, 'body must be a JSON object');
  const applicationId = own(body, 'application_id');
  const environment = own(body, 'environment');
  const events = own(body, 'events');
  if (typeof applicationId !== 'string') throw new ShapeError(400, 'application_id must be a string');
  if (typeof environment !== 'string') throw new ShapeError(400, 'environment must be a string');
  if (!Array.isArray(events)) throw new ShapeError(400, 'events must be an array');
  if (events.length > MAX_EVENTS) throw new ShapeError(413, `at most ${MAX_EVENTS} events per request, got ${events.length}`);
  return { applicationId, environment, events };
}

/** Whether an application id or environment follows the identity rules. */
export function validIdentifier(s: string): boolean {
  return IDENTIFIER_PATTERN.test(s);
}

/** One event of the envelope, checked; EventRejected naming the rule it broke. */
export function readEvent(raw: unknown): RelayEvent {
  if (!isObject(raw)) throw new EventRejected('shape', 'an event must be an object');
  const kind = own(raw, 'kind');
  const id = own(raw, 'id');
  const idProblem = eventIdProblem(id);
  if (idProblem) throw new EventRejected('id', idProblem.replace('event_id', 'id'));
  const at = own(raw, 'at');
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) throw new EventRejected('at', 'at must be epoch milliseconds (a non-negative integer)');
  const user = readUser(own(raw, 'user'));
  const rawRequest = own(raw, 'request');
  const request = rawRequest === undefined || rawRequest === null ? null : readRequestJson(rawRequest);
  const common = { id: id as string, at, user, request };
  switch (kind) {
    case 'request':
      if (request === null) throw new EventRejected('request', 'a request event needs a request');
      return { ...common, kind, request };
    case 'login': {
      const success = own(raw, 'success');
      if (typeof success !== 'boolean') throw new EventRejected('success', 'a login event needs success: true or false');
      if (user === null && request === null) throw new EventRejected('user', 'a login event needs a user or a request (for anon:<ip>)');
      return { ...common, kind, success };
    }
    case 'custom': {
      const type = own(raw, 'type');
      if (typeof type !== 'string' || type.trim() === '' || utf8Length(type) > MAX_TYPE_BYTES) throw new EventRejected('type', `type must be 1-${MAX_TYPE_BYTES} bytes of UTF-8`);
      const severity = own(raw, 'severity');
      if (!(SEVERITIES as readonly unknown[]).includes(severity)) throw new EventRejected('severity', `severity must be one of ${SEVERITIES.join(', ')}`);
      const points = own(raw, 'points');
      if (points !== undefined && points !== null && !(typeof points === 'number' && Number.isSafeInteger(points))) throw new EventRejected('points', 'points must be null or an integer');
      const blocked = own(raw, 'blocked');
      if (user === null && request === null) throw new EventRejected('user', 'a custom event needs a user or a request (for anon:<ip>)');
      return { ...common, kind, type, severity: severity as Severity, points: (points as number | null | undefined) ?? null, blocked: blocked === true };
    }
    case 'enforcement': {
      const action = own(raw, 'action');
      if (!(ENFORCED_ACTIONS as readonly unknown[]).includes(action)) throw new EventRejected('action', `action must be one of ${ENFORCED_ACTIONS.join(', ')}`);
      const decisionId = own(raw, 'decision_id');
      if (user === null && request === null) throw new EventRejected('user', 'an enforcement event needs a user or a request (for anon:<ip>)');
      return {
        ...common,
        kind,
        action: action as (typeof ENFORCED_ACTIONS)[number],
        decisionId: typeof decisionId === 'string' ? decisionId.slice(0, 256) : null,
        simulated: own(raw, 'simulated') === true,
      };
    }
    default:
      throw new EventRejected('kind', 'kind must be request, login, custom or enforcement');
  }
}

/** null (anonymous) or { key, identifiers }; keys over MAX_USER_KEY_BYTES are rejected, as the agents drop them. */
export function readUser(v: unknown): RelayUser | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw new EventRejected('user', 'user must be null or an object with a key');
  const key = own(v, 'key');
  if (typeof key !== 'string' || key.trim() === '') throw new EventRejected('user', 'user.key must be a non-blank string');
  const bytes = utf8Length(key);
  if (bytes > MAX_USER_KEY_BYTES) throw new EventRejected('user', `user.key is ${bytes} bytes of UTF-8, above the limit of ${MAX_USER_KEY_BYTES}`);
  const identifiers = bag<string>();
  const ids = own(v, 'identifiers');
  if (isObject(ids)) {
    let n = 0;
    for (const name of Object.keys(ids)) {
      if (n >= MAX_ENTRIES) break;
      const value = ids[name];
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        identifiers[name.slice(0, MAX_NAME_CHARS)] = String(value).slice(0, MAX_VALUE_CHARS);
        n++;
      }
    }
  }
  return { key, identifiers };
}

function optionalString(v: unknown, field: string, max: number): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new EventRejected('request', `request.${field} must be a string`);
  return v.length > max ? v.slice(0, max) : v;
}

/** A request object of the protocol, bounded (see limits.ts). */
export function readRequestJson(v: unknown): RelayRequest {
  if (!isObject(v)) throw new EventRejected('request', 'request must be an object');
  const uri = own(v, 'uri');
  if (uri !== undefined && uri !== null && typeof uri === 'string' && uri.length > MAX_URI_CHARS) throw new EventRejected('request', `request.uri is over ${MAX_URI_CHARS} characters`);
  const headers = bag<string | string[]>();
  const rawHeaders = own(v, 'headers');
  if (isObject(rawHeaders)) {
    let n = 0;
    for (const name of Object.keys(rawHeaders)) {
      if (n >= MAX_ENTRIES) break;
      if (name.length > MAX_NAME_CHARS) continue;
      const lower = name.toLowerCase();
      if (lower === 'authorization' || lower === 'proxy-authorization') continue; // never inspected nor kept
      const value = rawHeaders[name];
      if (typeof value === 'string') headers[lower] = cut(value);
      else if (Array.isArray(value)) headers[lower] = value.filter((x): x is string => typeof x === 'string').slice(0, 16).map(cut);
      else continue;
      n++;
    }
  }
  const cookies = stringMap(own(v, 'cookies'));
  // cookies arrive parsed; the engine reads them from the Cookie header (inputs.ts parseCookies), so
  // they go back into one, URI-encoded, which parseCookies decodes to the same values
  if (cookies !== undefined) headers.cookie = Object.keys(cookies).map((k) => `${k}=${encodeURIComponent(cookies[k]!)}`).join('; ');
  else delete headers.cookie;
  return {
    method: optionalString(own(v, 'method'), 'method', MAX_METHOD_CHARS),
    uri: optionalString(uri, 'uri', MAX_URI_CHARS),
    ip: optionalString(own(v, 'ip'), 'ip', MAX_IP_CHARS) ?? null,
    headers,
    query: queryMap(own(v, 'query')),
    body: boundBody(own(v, 'body')),
    pathParams: stringMap(own(v, 'path_params')),
    cookies,
  };
}

function cut(s: string): string {
  return s.length > MAX_VALUE_CHARS ? s.slice(0, MAX_VALUE_CHARS) : s;
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return cut(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** name → string (path params, cookies); undefined when empty or not an object. */
function stringMap(v: unknown): Record<string, string> | undefined {
  if (!isObject(v)) return undefined;
  const out = bag<string>();
  let n = 0;
  for (const name of Object.keys(v)) {
    if (n >= MAX_ENTRIES) break;
    if (name.length > MAX_NAME_CHARS) continue;
    const s = scalar(v[name]);
    if (s === undefined) continue;
    out[name] = s;
    n++;
  }
  return n === 0 ? undefined : out;
}

/**
 * The parsed query as the Node agent parses one (request.ts parseQuery): a name given once maps to its
 * string, a repeated name to the list. The protocol sends every name → list.
 */
function queryMap(v: unknown): Record<string, string | string[]> | undefined {
  if (!isObject(v)) return undefined;
  const out = bag<string | string[]>();
  let n = 0;
  for (const name of Object.keys(v)) {
    if (n >= MAX_ENTRIES) break;
    if (name.length > MAX_NAME_CHARS) continue;
    const value = v[name];
    const list = (Array.isArray(value) ? value : [value]).slice(0, MAX_ENTRIES).map(scalar).filter((s): s is string => s !== undefined);
    if (list.length === 0) continue;
    out[name] = list.length === 1 ? list[0]! : list;
    n++;
  }
  return n === 0 ? undefined : out;
}

/**
 * A copy of a parsed body within bounds: depth MAX_BODY_DEPTH (deeper values dropped), strings cut to
 * MAX_VALUE_CHARS, at most MAX_BODY_NODES values, objects without a prototype. Iterative: no input
 * can exhaust the stack.
 */
export function boundBody(v: unknown): unknown {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object') return scalar(v);
  let nodes = 0;
  const root: unknown = Array.isArray(v) ? [] : bag<unknown>();
  const stack: Array<{ from: unknown; to: unknown; depth: number }> = [{ from: v, to: root, depth: 1 }];
  while (stack.length > 0) {
    const { from, to, depth } = stack.pop()!;
    const entries: Array<[string | number, unknown]> = Array.isArray(from) ? from.map((x, i) => [i, x]) : Object.keys(from as object).map((k) => [k, (from as Record<string, unknown>)[k]]);
    for (const [k, x] of entries) {
      if (++nodes > MAX_BODY_NODES) return root;
      let copy: unknown;
      if (x !== null && typeof x === 'object') {
        if (depth >= MAX_BODY_DEPTH) continue;
        copy = Array.isArray(x) ? [] : bag<unknown>();
        stack.push({ from: x, to: copy, depth: depth + 1 });
      } else if (x === null) copy = null;
      else copy = scalar(x);
      if (copy === undefined) continue;
      if (Array.isArray(to)) to.push(copy);
      else (to as Record<string, unknown>)[k as string] = copy;
    }
  }
  return root;
}

/**
 * The request as the Node agent sees a watched Express request: the raw request's method, target and
 * headers, the client address as `req.ip` (Express with trust proxy), and what the framework parsed
 * (query, body, route params) as Extras. Each call gives a new object: the agent ties a user to it.
 */
export function toRequestLike(r: RelayRequest | null): { req: RequestLike; extras: Extras } {
  const raw = { headers: r?.headers ?? bag<string>(), method: r?.method, url: r?.uri, socket: { remoteAddress: r?.ip ?? undefined } };
  const req = { raw, ip: r?.ip ?? undefined } as unknown as RequestLike;
  return { req, extras: { query: r?.query, body: r?.body, params: r?.pathParams } };
}
