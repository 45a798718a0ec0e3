// Users as the agent reports them. `user.key` is the canonical id Risk Hub scores (and part of the Kafka
// key); `identifiers` are extra labels (email, login, tenant) shown in alerts. Requests with no
// identified user are keyed by a pseudonymous key derived from the client IP: `anon:<ip>`.

import type { UserRef } from './contracts.ts';

export type UserInput = string | number | { key: string | number; identifiers?: Record<string, unknown> | undefined };

export const MAX_KEY = 256;
export const MAX_IDENTIFIERS = 16;
export const MAX_IDENTIFIER_VALUE = 256;

/** Validates and normalizes a user given by the application; null when unusable (empty key, wrong type). */
export function normalizeUser(input: unknown): UserRef | null {
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
  const ids: Record<string, string> = {};
  if (identifiers && typeof identifiers === 'object') {
    let n = 0;
    for (const [name, value] of Object.entries(identifiers as Record<string, unknown>)) {
      if (n >= MAX_IDENTIFIERS) break;
      if (value === undefined || value === null) continue;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
      ids[name.slice(0, 64)] = String(value).slice(0, MAX_IDENTIFIER_VALUE);
      n++;
    }
  }
  return { key: trimmed.slice(0, MAX_KEY), identifiers: ids };
}

/** The pseudonymous user of a request nobody identified: `anon:<ip>` (`anon:unknown` without an address). */
export function anonymousUser(ip: string | null): UserRef {
  return { key: `anon:${ip ?? 'unknown'}`, identifiers: ip ? { ip } : {} };
}
