// Builders shared by the scoring tests.

import type { Attack, Severity } from '../../src/contracts.ts';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { resolvePolicy, type Policy } from '../../src/scoring/index.ts';

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
