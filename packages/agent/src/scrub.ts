// Request facts that leave the application are scrubbed: the Attack record carries only ip, method, a
// truncated path and a truncated user agent. Query parameters with sensitive names lose their values,
// values that look like credentials (JWTs, long hex or base64 strings) are redacted wherever they are,
// and cookies, headers and bodies are never reported at all (the WAF reads them, the record does not).

import type { RequestInfo } from './contracts.ts';

export const REDACTED = '[redacted]';
export const MAX_PATH = 512;
export const MAX_QUERY_VALUE = 128;
export const MAX_QUERY_PARAMS = 20;
export const MAX_USER_AGENT = 256;
export const MAX_SEGMENT = 96;

/** Parameter names whose values are never reported. */
export const SENSITIVE_NAME =
  /pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|^key$|auth|session|sess_?id|^sid$|cookie|credential|private[-_]?key|signature|^sig$|^otp$|^pin$|^ssn$|card|cvv|^code$|code_verifier|access[-_]?key|jwt|bearer|^hash$|salt/i;

/** Values that look like credentials wherever they appear: JWTs, long hex strings, long base64/base64url strings. */
export const SECRET_VALUE = /^(?:eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*|[0-9a-f]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})$/;

export interface ScrubOptions {
  /** Extra parameter names to redact (matched against the decoded name). */
  sensitiveNames?: RegExp;
}

function isSensitiveName(name: string, opts: ScrubOptions): boolean {
  return SENSITIVE_NAME.test(name) || (opts.sensitiveNames?.test(name) ?? false);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Scrubs a raw request target (`/a/b?x=1&password=…#frag`): the fragment goes, path segments that look
 * like credentials are redacted, sensitive query values are redacted, long values truncated, at most
 * MAX_QUERY_PARAMS parameters kept, and the whole is cut to MAX_PATH characters.
 */
export function scrubPath(rawUrl: string, opts: ScrubOptions = {}): string {
  let url = rawUrl;
  const hash = url.indexOf('#');
  if (hash >= 0) url = url.slice(0, hash);
  // absolute-form targets (proxies): keep only the path
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(url);
  if (abs) url = url.slice(abs[0].length) || '/';
  const q = url.indexOf('?');
  const pathPart = q >= 0 ? url.slice(0, q) : url;
  const queryPart = q >= 0 ? url.slice(q + 1) : undefined;

  const path = pathPart
    .split('/')
    .map((seg) => {
      if (seg === '') return seg;
      const decoded = safeDecode(seg);
      if (SECRET_VALUE.test(decoded)) return REDACTED;
      return truncate(seg, MAX_SEGMENT);
    })
    .join('/');

  let out = truncate(path, MAX_PATH);
  if (queryPart !== undefined && queryPart !== '') {
    const pairs = queryPart.split('&').filter((p) => p !== '');
    const kept: string[] = [];
    for (const pair of pairs.slice(0, MAX_QUERY_PARAMS)) {
      const eq = pair.indexOf('=');
      const rawName = eq >= 0 ? pair.slice(0, eq) : pair;
      const rawValue = eq >= 0 ? pair.slice(eq + 1) : undefined;
      const name = safeDecode(rawName);
      if (rawValue === undefined) {
        kept.push(truncate(rawName, MAX_SEGMENT));
      } else if (isSensitiveName(name, opts) || SECRET_VALUE.test(safeDecode(rawValue))) {
        kept.push(`${truncate(rawName, MAX_SEGMENT)}=${REDACTED}`);
      } else {
        kept.push(`${truncate(rawName, MAX_SEGMENT)}=${truncate(rawValue, MAX_QUERY_VALUE)}`);
      }
    }
    if (pairs.length > MAX_QUERY_PARAMS) kept.push('…');
    out = truncate(`${out}?${kept.join('&')}`, MAX_PATH);
  }
  return out;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; anything else unchanged. */
export function normalizeIp(ip: string | undefined | null): string | null {
  if (!ip) return null;
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

export function scrubRequest(
  facts: { ip?: string | null | undefined; method?: string | undefined; url?: string | undefined; userAgent?: string | string[] | undefined },
  opts: ScrubOptions = {},
): RequestInfo {
  const ua = Array.isArray(facts.userAgent) ? facts.userAgent[0] : facts.userAgent;
  return {
    ip: normalizeIp(facts.ip),
    method: facts.method ? truncate(facts.method.toUpperCase(), 16) : null,
    path: facts.url ? scrubPath(facts.url, opts) : null,
    user_agent: ua ? truncate(ua, MAX_USER_AGENT) : null,
  };
}
