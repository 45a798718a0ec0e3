// A corpus request (corpus.ts) as a thin agent sends it to the relay (docs/relay-protocol.md): what
// each language's integration extracts from the real request its framework parsed. The reference for
// the Python, Java, Ruby and PHP agents' own mapping, and what the relay's tests post.

import type { CorpusRequest } from './corpus.ts';

export interface RelayRequestJson {
  method: string;
  uri: string;
  ip: string;
  headers: Record<string, string>;
  query: Record<string, string[]>;
  body: unknown;
  path_params: Record<string, string>;
  cookies: Record<string, string>;
}

export function toRelayJson(r: CorpusRequest, ip = '203.0.113.9'): RelayRequestJson {
  // no prototypes: a name such as __proto__ is an entry like any other (the corpus has one)
  const bag = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;
  const headers = bag<string>();
  const cookies = bag<string>();
  for (const [name, value] of Object.entries(r.headers)) {
    const lower = name.toLowerCase();
    if (lower === 'cookie') {
      for (const part of value.split(';')) {
        const eq = part.indexOf('=');
        if (eq > 0) cookies[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
      }
    } else if (lower !== 'authorization') headers[lower] = value;
  }
  const at = r.uri.indexOf('?');
  const path = at < 0 ? r.uri : r.uri.slice(0, at);
  const query = bag<string[]>();
  if (at >= 0) for (const [k, v] of new URLSearchParams(r.uri.slice(at + 1))) (query[k] ??= []).push(v);
  let body: unknown = null;
  if (r.body && r.content_type === 'application/json') body = JSON.parse(r.body);
  else if (r.body && r.content_type === 'application/x-www-form-urlencoded') {
    const form = bag<string | string[]>();
    for (const [k, v] of new URLSearchParams(r.body)) {
      const prev = form[k];
      form[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    body = form;
  } else if (r.body) body = r.body;
  const pathParams = bag<string>();
  if (r.route) {
    const names = r.route.split('/');
    const values = path.split('/');
    names.forEach((n, i) => {
      const m = /^\{(.+)\}$/.exec(n);
      if (m && values[i] !== undefined) pathParams[m[1]!] = decodeURIComponent(values[i]!);
    });
  }
  return { method: r.method, uri: r.uri, ip, headers, query, body, path_params: pathParams, cookies };
}
