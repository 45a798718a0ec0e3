// Issue 13 item 2: everything an outsider controls is bounded. A record over a bound is dead-lettered
// (event id) or truncated (attack type, identifiers), and a user's encoded state stays within
// stateBytesBound (≤ MAX_STATE_BYTES) whatever the input.

import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { ScoringSchema } from '../../src/config/scoring.ts';
import type { Attack } from '../../src/contracts.ts';
import { boundIdentifiers, eventIdProblem, MAX_ATTACK_TYPE_BYTES, MAX_EVENT_ID_BYTES, MAX_IDENTIFIERS, truncateUtf8, utf8Length } from '../../src/identity.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { batchKeys, processBatch, type InputRecord } from '../../src/scorer/processor.ts';
import { candidateCount, contributionsOf, emptyUserState, MAX_STATE_BYTES, pushCandidate, resolvePolicy, stateBytesBound, type UserState } from '../../src/scoring/index.ts';
import { decodeState, encodeState } from '../../src/state/codec.ts';

const scoring = ScoringSchema.parse({});
const T = Date.UTC(2026, 10, 20);
const KEY = 'shop/production/mallory';
const CTX = { partition: partitionFor(KEY, 6), partitions: 6, nowMs: T + 3_600_000 };

function attack(id: string, at: number, over: Partial<Attack> = {}): Attack {
  return {
    event_id: id,
    occurred_at: at,
    application_id: 'shop',
    environment: 'production',
    user: { key: 'mallory', identifiers: {} },
    attack_type: 'sql_injection',
    severity: 'HIGH',
    points: null,
    blocked: false,
    request: null,
    agent: { name: 't', version: '0', language: 'node' },
    ...over,
  };
}

const rec = (i: number, a: Attack): InputRecord => ({ offset: String(i), recordKey: `${a.application_id}/${a.environment}/${a.user.key}`, attack: a });

function run(records: InputRecord[], states = new Map<string, UserState>()) {
  batchKeys(records);
  return { result: processBatch(records, states, scoring, CTX), states };
}

describe('bounded input', () => {
  it('dead-letters 90 events with 14 KB event ids instead of growing the state past 1 MB', () => {
    // Before: each id was kept in the contribution candidates, and the state passed 1 MB.
    const records = Array.from({ length: 90 }, (_, i) => rec(i, attack(`${i}-`.padEnd(14_000, 'x'), T + i * 1000, { points: 6 + i })));
    const { result, states } = run(records);
    expect(result.deadLetters).toHaveLength(90);
    expect(new Set(result.deadLetters.map((d) => d.reason))).toEqual(new Set(['invalid-event-id']));
    expect(result.deadLetters[0]!.message).toBe('event_id is 14000 bytes of UTF-8, above the limit of 256');
    expect(states.size).toBe(0);
    expect(result.alerts).toEqual([]);
    // At the limit, the same 90 events are scored and the state stays small.
    const ok = run(Array.from({ length: 90 }, (_, i) => rec(i, attack(`${i}-`.padEnd(MAX_EVENT_ID_BYTES, 'x'), T + i * 1000, { points: 6 + i }))));
    expect(ok.result.deadLetters).toEqual([]);
    expect(ok.result.counts.scored).toBe(90);
    const bytes = encodeState(ok.states.get(KEY)!).length;
    expect(bytes).toBeLessThan(40_000);
  });

  it('refuses empty event ids and counts bytes, not characters', () => {
    expect(eventIdProblem('')).toMatch(/non-empty/);
    expect(eventIdProblem('é'.repeat(128))).toBeUndefined();
    expect(eventIdProblem('é'.repeat(129))).toMatch(/258 bytes/);
    const { result } = run([rec(0, attack('', T))]);
    expect(result.deadLetters.map((d) => d.reason)).toEqual(['invalid-event-id']);
  });

  it('truncates attack types and identifiers (refusing them would let a long value escape scoring)', () => {
    const identifiers = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`name-${i}`.padEnd(100, 'n'), 'v'.repeat(1000)]));
    const a = attack('e1', T, { points: 11, attack_type: 'custom_'.padEnd(500, 'é'), user: { key: 'mallory', identifiers } });
    const { result } = run([rec(0, a)]);
    expect(result.counts).toMatchObject({ scored: 1, truncated: 1 });
    const alert = result.alerts[0]!;
    expect(utf8Length(alert.contributions[0]!.attack_type)).toBeLessThanOrEqual(MAX_ATTACK_TYPE_BYTES);
    expect(Object.keys(alert.user.identifiers)).toHaveLength(MAX_IDENTIFIERS);
    for (const [k, v] of Object.entries(alert.user.identifiers)) {
      expect(utf8Length(k)).toBeLessThanOrEqual(64);
      expect(utf8Length(v)).toBeLessThanOrEqual(256);
    }
    // Within bounds: the very same objects (no copy on the hot path).
    const small = { email: 'a@example.com' };
    expect(boundIdentifiers(small)).toBe(small);
    expect(truncateUtf8('ab€', 4)).toBe('ab'); // never inside a character
    expect(truncateUtf8('a😀b', 3)).toBe('a');
    expect(truncateUtf8('a😀b', 5)).toBe('a😀');
  });

  it('keeps a state filled to every cap within stateBytesBound, itself within MAX_STATE_BYTES', () => {
    const policy = resolvePolicy(scoring, 'shop');
    const bound = stateBytesBound(policy);
    expect(bound).toBe(106_693);
    expect(bound).toBeLessThanOrEqual(MAX_STATE_BYTES);
    const states = new Map<string, UserState>();
    const start = T - 23 * 3_600_000;
    // 2,400 events at distinct times, each with a 256-byte id, a 64-byte type of its own and its own points.
    const big = Array.from({ length: 2400 }, (_, i) =>
      rec(i, attack(`${i}-`.padEnd(MAX_EVENT_ID_BYTES, 'x'), start + i * 31_000, { points: 1_000_000 - i, attack_type: `${i}`.padEnd(MAX_ATTACK_TYPE_BYTES, 't') })),
    );
    run(big, states);
    // Then 512 ids of 14 three-byte characters: the longest ids the duplicate ring keeps as text.
    const ring = Array.from({ length: 512 }, (_, i) => rec(3000 + i, attack(String.fromCharCode(0x4e00 + i) + '€'.repeat(13), start + 2400 * 31_000 + i, { points: 1 })));
    run(ring, states);
    const s = states.get(KEY)!;
    expect(s.ids.length).toBe(512);
    expect(candidateCount(s)).toBe(80);
    const bytes = encodeState(s).length;
    expect(bytes).toBeGreaterThan(50_000);
    expect(bytes).toBeLessThanOrEqual(bound);
  });

  it('clips the contributions of a state written before the limits, so that it shrinks back within the bound', () => {
    // Before the limits: 60 events with 14 KB ids made a state of ~840 KB (the next ones would not fit in 1 MiB).
    const legacy = emptyUserState();
    legacy.last = T;
    for (let i = 0; i < 60; i++) pushCandidate(legacy, `${i}-`.padEnd(14_000, 'x'), 'sql_injection', 'HIGH', 6, T - i, i, 0);
    const stored = encodeState(legacy);
    expect(stored.length).toBeGreaterThan(800_000);
    const back = decodeState(stored)!;
    for (const c of contributionsOf(back)) expect(c[0].length).toBe(MAX_EVENT_ID_BYTES);
    expect(encodeState(back).length).toBeLessThan(20_000);
  });

  it('refuses a scoring configuration whose states could outgrow MAX_STATE_BYTES', () => {
    expect(() => ScoringSchema.parse({ maxContributions: 100 })).toThrow(/above the 262144-byte limit/);
    expect(() => ScoringSchema.parse({ maxRememberedEvents: 100_000 })).toThrow(/lower maxRememberedEvents or maxContributions, or raise bucketMs/);
    expect(() => ScoringSchema.parse({ bucketMs: 1000 })).toThrow(/state can reach/);
    expect(ScoringSchema.parse({ maxRememberedEvents: 2048 }).maxRememberedEvents).toBe(2048);
    expect(() => loadConfig({ env: { RISK_HUB_SCORING__MAX_REMEMBERED_EVENTS: '100000' } })).toThrow(/scoring\.maxRememberedEvents/);
  });
});
