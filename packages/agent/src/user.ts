// Users as the agent reports them. `user.key` is the canonical id Risk Hub scores (and part of the Kafka
// key); `identifiers` are extra labels (email, login, tenant) shown in alerts. Requests with no
// identified user are keyed by a pseudonymous key derived from the client IP: `anon:<ip>`.
//
// Every user leaves here within the bounds of identity.ts (docs/agents.md "Limits"). A key over
// MAX_USER_KEY_BYTES is not refused, since a credential-stuffing attacker chooses the login tried
// (refusing it would let them escape scoring), nor cut, since cutting would merge different logins into
// one user: it is replaced by its hashed form (hashedUserKey). Identifiers are cut at a character boundary.

import { createHash } from 'node:crypto';
import type { UserRef } from './contracts.ts';
import { MAX_IDENTIFIER_NAME_BYTES, MAX_IDENTIFIER_VALUE_BYTES, MAX_IDENTIFIERS, MAX_USER_KEY_BYTES, truncateUtf8, utf8Length } from './identity.ts';

export type UserInput = string | number | { key: string | number; identifiers?: Record<string, unknown> | undefined };

/** UTF-8 bytes of a long key kept readable in front of its hash (what an analyst sees in an alert). */
export const HASHED_KEY_PREFIX_BYTES = 128;
/** What separates that prefix from the hash: `…sha256:`. */
export const HASHED_KEY_MARK = '…sha256:';

/**
 * The key itself when it fits in MAX_USER_KEY_BYTES; else `<its first HASHED_KEY_PREFIX_BYTES bytes, cut
 * at a character boundary>…sha256:<64 hex digits: SHA-256 of its UTF-8>`, at most 128 + 10 + 64 = 202
 * bytes. Deterministic (one long login is one user on every event, every agent, every restart) and
 * collision-resistant (two long logins sharing their first 128 bytes stay two users).
 */
export function hashedUserKey(key: string): string {
  if (utf8Length(key) <= MAX_USER_KEY_BYTES) return key;
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  return `${truncateUtf8(key, HASHED_KEY_PREFIX_BYTES)}${HASHED_KEY_MARK}${digest}`;
}

/**
 * Validates and normalizes a user given by the application; null when unusable (empty key, wrong type).
 * `onHashed` is called when the key was over MAX_USER_KEY_BYTES and replaced by its hashed form.
 */
export function normalizeUser(input: unknown, onHashed?: () => void): UserRef | null {
  let key: unknown;
  let identifiers: unknown;
  if (typeof input === 'string' || typeof input === 'number') {
    key = input;
  } else if (input && typeof input === 'object' && 'key' in input) {
    key = (input as { key: unknown }).key;
    identifiers = (input as { identifiers?: unknown }).identifiers;
  } else {
    return null;
  }
  if (typeof key === 'number' && Number.isFinite(key)) key = String(key);
  if (typeof key !== 'string') return null;
  const trimmed = key.trim();
  if (trimmed === '') return null;
  // no prototype: an identifier named __proto__ is kept like any other
  const ids = Object.create(null) as Record<string, string>;
  if (identifiers && typeof identifiers === 'object') {
    let n = 0;
    for (const [name, value] of Object.entries(identifiers as Record<string, unknown>)) {
      if (n >= MAX_IDENTIFIERS) break;
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
      const bounded = truncateUtf8(name, MAX_IDENTIFIER_NAME_BYTES);
      if (bounded in ids) continue; // two long names cut to one: the first is kept (as the scorer does)
      ids[bounded] = truncateUtf8(String(value), MAX_IDENTIFIER_VALUE_BYTES);
      n++;
    }
  }
  const bounded = hashedUserKey(trimmed);
  if (bounded !== trimmed) onHashed?.();
  return { key: bounded, identifiers: ids };
}

/** The pseudonymous user of a request nobody identified: `anon:<ip>` (`anon:unknown` without an address). */
export function anonymousUser(ip: string | null): UserRef {
  return { key: `anon:${ip ?? 'unknown'}`, identifiers: ip ? { ip } : {} };
}
