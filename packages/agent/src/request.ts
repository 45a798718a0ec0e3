// Reading a request: what the WAF inspects (RequestFacts) and what a record reports (the scrubbed
// RequestInfo), from an Express, Fastify or plain Node request. dd-trace-js's appsec reads its
// requests in its HTTP handlers, apart from the engine, in the same way.

import { IncomingMessage } from 'node:http';
import type { RequestInfo } from './contracts.ts';
import { MAX_REQUEST_FIELD_BYTES, truncateUtf8 } from './identity.ts';
import { normalizeIp, scrubRequest, type ScrubOptions } from './scrub.ts';
import type { RequestFacts } from './waf.ts';

/** An Express/Node request (IncomingMessage) or a Fastify request (which has `.raw`). */
export type RequestLike = IncomingMessage | { raw: IncomingMessage };

/** What a framework parsed, when it is not on the request object itself. */
export type Extras = { query?: unknown; body?: unknown; params?: unknown };

/** The part of the detector request reading asks: whether a query string is known clean already. */
export interface QueryMemory {
  knowsQuery(parser: unknown, rawQuery: string): boolean;
}

export function toRaw(req: RequestLike): IncomingMessage {
  // Express (and plain Node) requests: an instanceof check, not a lookup of a missing `raw` along the
  // long prototype chain of an Express request
  if (req instanceof IncomingMessage) return req;
  const maybe = req as { raw?: unknown };
  return maybe.raw && typeof maybe.raw === 'object' && 'headers' in (maybe.raw as object) ? (maybe.raw as IncomingMessage) : (req as unknown as IncomingMessage);
}

/** The client address as the framework sees it (Express `req.ip` and Fastify `request.ip` honour their trust-proxy settings). */
export function clientIp(req: RequestLike): string | null {
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

/** What the WAF reads of a request. */
export function readRequest(req: RequestLike, extras: Extras | undefined, memory: QueryMemory): RequestFacts {
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
      if (memory.knowsQuery(parser, string)) query = undefined;
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

/** The request as a record reports it: client IP, method, path and User-Agent, scrubbed. */
export function requestInfo(req: RequestLike, scrub: ScrubOptions): RequestInfo {
  const raw = toRaw(req);
  return scrubRequest({ ip: clientIp(req), method: raw.method, url: requestUrl(req), userAgent: raw.headers?.['user-agent'] }, scrub);
}

/**
 * The request's fields cut to MAX_REQUEST_FIELD_BYTES (identity.ts) at a character boundary: an
 * attacker chooses the address a trusted proxy forwards, the user agent, the path. `info` itself when
 * every field fits (the common case: no copy).
 */
export function boundRequest(info: RequestInfo | null): RequestInfo | null {
  if (info === null) return null;
  const cut = (s: string | null, max: number): string | null => (s === null ? null : truncateUtf8(s, max));
  const ip = cut(info.ip, MAX_REQUEST_FIELD_BYTES.ip);
  const method = cut(info.method, MAX_REQUEST_FIELD_BYTES.method);
  const path = cut(info.path, MAX_REQUEST_FIELD_BYTES.path);
  const userAgent = cut(info.user_agent, MAX_REQUEST_FIELD_BYTES.user_agent);
  if (ip === info.ip && method === info.method && path === info.path && userAgent === info.user_agent) return info;
  return { ip, method, path, user_agent: userAgent };
}
