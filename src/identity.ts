// Who an attack record is about, and how big an outsider may make it: the rules the scorer enforces on
// arrival (a violating record is dead-lettered with the reason named here) and every agent enforces at
// the source. Pure and with NO imports, so that agents and the scorer share one copy of the rules.
//
// Identity. A user is the triple (application_id, environment, user.key). Its string form, the record
// key `application_id/environment/user.key`, is the Kafka key (murmur2 partitioning) and the key of the
// user's state. It is unambiguous because application_id and environment may not contain "/" (nor
// anything outside IDENTIFIER_PATTERN) and the user key, which may contain anything, comes last: the
// first two "/" of a record key always separate the three parts (`parseUserKey`).

/**
 * application_id and environment: 1 to 64 characters, ASCII letters, digits, '.', '_' and '-', starting
 * with a letter or digit. No "/" (the key's separator), no spaces, nothing that needs escaping in a URL
 * path segment, a metric label or a file name.
 */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Most UTF-8 bytes of a user key (user.key): a canonical user id, an e-mail address, `anon:<ip>`. */
export const MAX_USER_KEY_BYTES = 256;

/** Dead-letter reason of a record whose application_id, environment or user key breaks the rules above. */
export const INVALID_IDENTITY = 'invalid-identity';

/** The record key (and state key) of a user: `application_id/environment/user.key`. */
export function userKeyOf(applicationId: string, environment: string, user: string): string {
  return `${applicationId}/${environment}/${user}`;
}

/** The three parts of a record key, split at its first two "/"; undefined when it has fewer. */
export function parseUserKey(key: string): { applicationId: string; environment: string; user: string } | undefined {
  const a = key.indexOf('/');
  const e = a < 0 ? -1 : key.indexOf('/', a + 1);
  if (e < 0) return undefined;
  return { applicationId: key.slice(0, a), environment: key.slice(a + 1, e), user: key.slice(e + 1) };
}

/**
 * Why (application_id, environment, user key) is not a valid identity, in words for a dead letter's
 * header or an error message; undefined when it is valid.
 */
export function identityProblem(applicationId: unknown, environment: unknown, user: unknown): string | undefined {
  if (typeof applicationId !== 'string' || !IDENTIFIER_PATTERN.test(applicationId)) {
    return `application_id ${describe(applicationId)} must match ${IDENTIFIER_PATTERN.source} (1-64 letters, digits, '.', '_', '-'; no '/')`;
  }
  if (typeof environment !== 'string' || !IDENTIFIER_PATTERN.test(environment)) {
    return `environment ${describe(environment)} must match ${IDENTIFIER_PATTERN.source} (1-64 letters, digits, '.', '_', '-'; no '/')`;
  }
  if (typeof user !== 'string' || user.trim() === '') return 'user.key must be a non-blank string';
  const bytes = utf8Length(user);
  if (bytes > MAX_USER_KEY_BYTES) return `user.key is ${bytes} bytes of UTF-8, above the limit of ${MAX_USER_KEY_BYTES}`;
  return undefined;
}

/** UTF-8 byte length of a string (a lone surrogate counts 3 bytes, as its U+FFFD replacement encodes). */
export function utf8Length(s: string): number {
  let n = s.length; // one byte per UTF-16 unit, plus what multi-byte characters add
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 2 units, 4 bytes
      i++;
    } else n += 2;
  }
  return n;
}

/** A value for a message: strings quoted and clipped to 80 characters. */
function describe(v: unknown): string {
  if (typeof v !== 'string') return String(v);
  return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
}
