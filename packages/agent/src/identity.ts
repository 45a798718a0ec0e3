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

// Sizes. Everything an outsider controls is bounded. Fields that say WHO and WHICH EVENT (application,
// environment, user key, event id) are refused over their bound: cutting them would merge users or
// events. Descriptive fields (attack type, identifiers, request) are truncated: refusing them would let
// an attacker who can lengthen them (a long login name, a long path) escape scoring.

/** Most UTF-8 bytes of an event id (a UUID is 36); empty or longer ids are refused (`INVALID_EVENT_ID`). */
export const MAX_EVENT_ID_BYTES = 256;
/** Dead-letter reason of a record whose event_id is empty or longer than MAX_EVENT_ID_BYTES. */
export const INVALID_EVENT_ID = 'invalid-event-id';
/** Most UTF-8 bytes of an attack type; longer ones are truncated (a priced type is short). */
export const MAX_ATTACK_TYPE_BYTES = 64;
/** Most entries of user.identifiers; the entries after the first this many are dropped. */
export const MAX_IDENTIFIERS = 16;
/** Most UTF-8 bytes of an identifier's name; longer names are truncated. */
export const MAX_IDENTIFIER_NAME_BYTES = 64;
/** Most UTF-8 bytes of an identifier's value; longer values are truncated. */
export const MAX_IDENTIFIER_VALUE_BYTES = 256;
/**
 * Most UTF-8 bytes of each request field; agents truncate longer ones. The scorer never reads the
 * request (its reader schema skips it), so there it only counts toward the record's size.
 */
export const MAX_REQUEST_FIELD_BYTES = Object.freeze({ ip: 64, method: 16, path: 2048, user_agent: 512 });

/** Why an event id is refused (empty, or over MAX_EVENT_ID_BYTES); undefined when it is fine. */
export function eventIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return 'event_id must be a non-empty string';
  // At most 3 bytes of UTF-8 per UTF-16 unit: short ids need no count.
  if (id.length * 3 <= MAX_EVENT_ID_BYTES) return undefined;
  const bytes = utf8Length(id);
  return bytes > MAX_EVENT_ID_BYTES ? `event_id is ${bytes} bytes of UTF-8, above the limit of ${MAX_EVENT_ID_BYTES}` : undefined;
}

/** `s` cut to at most `maxBytes` bytes of UTF-8, never inside a character; `s` itself when it fits. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes) return s;
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
    const n = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + n > maxBytes) return s.slice(0, i);
    bytes += n;
    if (pair) i++;
  }
  return s;
}

/**
 * The identifiers within bounds: the first MAX_IDENTIFIERS entries, names and values truncated.
 * `identifiers` itself when it already is (the common case: no copy).
 */
export function boundIdentifiers(identifiers: Record<string, string>): Record<string, string> {
  let n = 0;
  let within = true;
  for (const k in identifiers) {
    const v = identifiers[k]!;
    if (++n > MAX_IDENTIFIERS || truncateUtf8(k, MAX_IDENTIFIER_NAME_BYTES) !== k || typeof v !== 'string' || truncateUtf8(v, MAX_IDENTIFIER_VALUE_BYTES) !== v) {
      within = false;
      break;
    }
  }
  if (within) return identifiers;
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  n = 0;
  for (const k in identifiers) {
    if (n === MAX_IDENTIFIERS) break;
    const v = identifiers[k];
    const name = truncateUtf8(k, MAX_IDENTIFIER_NAME_BYTES);
    if (name in out) continue; // two long names cut to one: the first is kept
    out[name] = truncateUtf8(typeof v === 'string' ? v : String(v), MAX_IDENTIFIER_VALUE_BYTES);
    n++;
  }
  return out;
}

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
