// Building the engine's input from what the framework parsed: only non-empty addresses; of the raw URI
// only the path (the query string is inspected decoded, as server.request.query); only the headers the
// ruleset reads; cookies parsed; and none of the string values the clean-value cache knows. dd-trace-js
// builds its addresses from the request apart from the engine in the same way.

import type { IncomingHttpHeaders } from 'node:http';
import type { CleanValueCache, Fields, FreshValue } from './clean-cache.ts';

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

/** Bodies (strings) longer than this are cut before they cross into the engine. libddwaf itself keeps 4096 chars per string. */
const MAX_BODY_STRING = 16 * 1024;
const MAX_COOKIES = 50;
/** Cookie headers whose parse is remembered (the same header comes with many requests of a batch). */
const COOKIE_MEMO = 4;

/**
 * An empty object for names that come from the request (parameters, cookies, headers): no prototype,
 * so that a name such as `__proto__` is an own property like any other, not a write to the prototype
 * that would drop its value from inspection (`?__proto__=<attack>` went unseen: issue 13).
 */
function bag<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

export function nonEmpty(value: unknown): boolean {
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

export class InputBuilder {
  /** The last cookie headers parsed, and their cookies (read-only results: uncached() copies what it keeps). */
  private readonly cookieMemo: Array<{ header: string; cookies: Record<string, string> }> = [];
  private cookieMemoAt = 0;

  /**
   * @param cache the clean-value cache (its values are left out of the input)
   * @param headerList the headers the ruleset reads (undefined: all of them but cookies)
   */
  constructor(
    private readonly cache: CleanValueCache,
    private readonly headerList: string[] | undefined,
  ) {}

  /**
   * The engine's input for a request, its values not known clean noted in `fresh`; undefined when
   * nothing is left: the request is clean without an engine run. Allocates nothing then.
   */
  build(facts: RequestFacts, fresh: FreshValue[]): Record<string, unknown> | undefined {
    const cache = this.cache;
    let data: Record<string, unknown> | undefined;
    const uri = facts.uri;
    if (uri) {
      const q = uri.indexOf('?');
      const path = q >= 0 ? uri.slice(0, q) : uri;
      if (path && cache.needs(cache.uri, path, path.length, fresh)) (data ??= {})['server.request.uri.raw'] = path;
    }
    const query = this.uncached(cache.query, facts.query, fresh, true);
    if (query !== undefined) (data ??= {})['server.request.query'] = query;
    // every value known clean already: so is the string; else it is, once the run of its new values is
    if (facts.rawQuery !== undefined) cache.noteQueryString(facts.queryParser, facts.rawQuery, query === undefined, fresh);
    const params = this.uncached(cache.params, facts.pathParams, fresh, true);
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
        const fields = cache.headerFields;
        for (let k = 0; k < list.length; k++) {
          const name = list[k]!;
          const value = headers[name];
          if (value === undefined) continue;
          if (typeof value === 'string' && !cache.needs(fields[k]!, value, value.length, fresh)) continue;
          (picked ??= bag())[name] = value;
        }
      } else {
        for (const name of Object.keys(headers)) {
          const value = headers[name];
          if (value === undefined || name === 'cookie' || name === 'set-cookie') continue;
          if (typeof value === 'string' && !cache.needsNamed(cache.headers, name, value, value.length, fresh, true)) continue;
          (picked ??= bag())[name] = value;
        }
      }
      if (picked) (data ??= {})['server.request.headers.no_cookies'] = picked;
      const cookie = headers.cookie;
      // the whole header first (it repeats), then each cookie (a new session id leaves the others known)
      if (cookie && cache.needs(cache.cookieHeader, cookie, cookie.length, fresh)) {
        // (the cookies of a cookie header already counted as one miss)
        const cookies = this.uncached(cache.cookies, this.cookiesOf(cookie), fresh, false);
        if (cookies !== undefined) (data ??= {})['server.request.cookies'] = cookies;
        // every cookie known clean: so is the header (only its cookies are inspected)
        else if (data === undefined) cache.remember(fresh);
      }
    }
    return data;
  }

  clear(): void {
    this.cookieMemo.length = 0;
    this.cookieMemoAt = 0;
  }

  /** parseCookies, remembering the last few headers. */
  private cookiesOf(header: string): Record<string, string> {
    const memo = this.cookieMemo;
    for (const m of memo) if (m.header === header) return m.cookies;
    const cookies = parseCookies(header);
    if (memo.length < COOKIE_MEMO) memo.push({ header, cookies });
    else {
      const slot = memo[this.cookieMemoAt]!;
      slot.header = header;
      slot.cookies = cookies;
      this.cookieMemoAt = (this.cookieMemoAt + 1) % COOKIE_MEMO;
    }
    return cookies;
  }

  /** A flat parameter object without the string values already known clean; undefined when nothing is left. */
  private uncached(fields: Fields, value: unknown, fresh: FreshValue[], counted: boolean): unknown {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object') return value;
    if (!this.cache.enabled || Array.isArray(value)) return nonEmpty(value) ? value : undefined;
    let out: Record<string, unknown> | undefined;
    const obj = value as Record<string, unknown>;
    for (const name in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, name)) continue;
      const v = obj[name];
      if (typeof v === 'string' && !this.cache.needsNamed(fields, name, v, v.length + name.length, fresh, counted)) continue;
      (out ??= bag())[name] = v;
    }
    return out;
  }
}
