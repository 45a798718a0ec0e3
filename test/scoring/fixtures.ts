// Builders shared by the scoring tests.

import type { Attack, Severity } from '../../src/contracts.ts';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { contributionsOf, resolvePolicy, setContributions, type Policy, type StoredContribution, type UserState } from '../../src/scoring/index.ts';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** An arbitrary event-time origin (2025-01-01T00:00:00Z), ms. */
export const T0 = Date.UTC(2025, 0, 1);
/** A processing clock far ahead of T0, so nothing is clamped unless a test wants it. */
export const NOW = T0 + 365 * DAY;

/** The policy of the default configuration, optionally with some fields replaced. */
export function policyWith(overrides: Partial<Policy> = {}): Policy {
  return { ...resolvePolicy(ScoringSchema.parse({}), 'app'), ...overrides };
}

let counter = 0;

/** An attack with sensible defaults; `severity` LOW (1 point) unless given. */
export function attack(fields: Partial<Attack> & { at?: number; severity?: Severity } = {}): Attack {
  const { at, ...rest } = fields;
  counter++;
  return {
    event_id: `ev-${counter}`,
    occurred_at: at ?? T0,
    application_id: 'app',
    environment: 'production',
    user: { key: 'alice', identifiers: { email: 'alice@example.com' } },
    attack_type: 'sql_injection',
    severity: 'LOW',
    points: null,
    blocked: true,
    request: null,
    agent: { name: 'test', version: '1', language: 'ts' },
    ...rest,
  };
}

/** Deterministic xorshift32 in [0, 1): reproducible random streams without a seed argument. */
export function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

/**
 * A state as plain data with its candidates as tuples (`top`), whatever its event ids refer to (strings
 * or bytes of the value it was decoded from): what two states that behave alike have in common.
 */
export function plain(s: UserState): Record<string, unknown> {
  const { cn: _cn, cid: _cid, ctype: _ctype, csev: _csev, cbytes: _cbytes, ...rest } = s;
  return { ...rest, top: contributionsOf(s) };
}

/** The JSON value the first versions wrote to LevelDB and the changelog for `s` (candidates as tuples in `top`). */
export function legacyJson(s: UserState, extra: Record<string, unknown> = {}): Buffer {
  const { v, last, activeAt, score, scored, alerted, sum, count, et, ep, ec, ids, idPos } = s;
  return Buffer.from(JSON.stringify({ v, last, activeAt, score, scored, alerted, sum, count, et, ep, ec, ids, idPos, top: contributionsOf(s), ...extra }));
}

/** A copy of `s` (sharing its arrays but the candidates') whose candidates are `top`, best first. */
export function withTop(s: UserState, top: StoredContribution[]): UserState {
  const out: UserState = { ...s, cn: [], cid: [], ctype: [], csev: [], cbytes: null };
  setContributions(out, top);
  return out;
}
