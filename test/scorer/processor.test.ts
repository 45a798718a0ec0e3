import { describe, expect, it } from 'vitest';
import { ScoringSchema } from '../../src/config/scoring.ts';
import type { Attack } from '../../src/contracts.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { batchKeys, processBatch, type InputRecord } from '../../src/scorer/processor.ts';
import type { UserState } from '../../src/scoring/index.ts';

const scoring = ScoringSchema.parse({});
const T = Date.UTC(2026, 10, 20);
const NOW = T + 3_600_000;

function a(user: string, points: number, id = `${user}-${points}-${Math.random()}`, at = T): Attack {
  return {
    event_id: id,
    occurred_at: at,
    application_id: 'shop',
    environment: 'production',
    user: { key: user, identifiers: {} },
    attack_type: 'xss',
    severity: 'LOW',
    points,
    blocked: false,
    request: null,
    agent: { name: 't', version: '0', language: 'node' },
  };
}

/** A record as the scorer decodes it; its key is the value's user key unless `recordKey` is given. */
const rec = (offset: number, attack?: Attack, poison?: InputRecord['poison'], recordKey?: string | null): InputRecord => ({
  offset: String(offset),
  recordKey: recordKey !== undefined ? recordKey : attack ? `${attack.application_id}/${attack.environment}/${attack.user.key}` : null,
  ...(attack ? { attack } : {}),
  ...(poison ? { poison } : {}),
});

describe('processBatch', () => {
  it('scores in offset order, collects alerts, dirty users and dead letters', () => {
    const records = [
      rec(0, a('alice', 6)),
      rec(1, undefined, { reason: 'no-magic-byte', message: 'x' }),
      rec(2, a('alice', 6, 'dup')),
      rec(3, a('alice', 6, 'dup')),
      rec(4, a('', 3)),
      rec(5, { ...a('bob', 1), occurred_at: Number.NaN }),
      rec(6, a('bob', 2)),
    ];
    expect(batchKeys(records).sort()).toEqual(['shop/production/alice', 'shop/production/bob']);
    const states = new Map<string, UserState>();
    const key = 'shop/production/alice';
    const r = processBatch(records, states, scoring, { partition: partitionFor(key, 6), partitions: 6, nowMs: NOW });
    expect(r.alerts).toHaveLength(1);
    expect(r.alerts[0]!.increase_24h).toBe(12);
    expect(r.counts).toMatchObject({ scored: 3, duplicate: 1, late: 0, points: 14, newUsers: 2 });
    expect(r.deadLetters.map((d) => [d.offset, d.reason])).toEqual([
      ['1', 'no-magic-byte'],
      ['4', 'missing-user'],
      ['5', 'invalid-value'],
    ]);
    expect([...r.dirty.keys()].sort()).toEqual(['shop/production/alice', 'shop/production/bob']);
    // The same users again, now loaded: none is new.
    const again = processBatch([rec(7, a('alice', 1)), rec(8, a('bob', 1))], states, scoring, { partition: partitionFor(key, 6), partitions: 6, nowMs: NOW });
    expect(again.counts.newUsers).toBe(0);
    // Stream time: the newest event time of the batch's valid records (the NaN one is not valid).
    expect(r.streamTime).toBe(T);
    expect(processBatch([rec(9, a('alice', 1, 'x', T + 5)), rec(10, a('alice', 1, 'y', T - 5))], states, scoring, { partition: partitionFor(key, 6), partitions: 6, nowMs: NOW }).streamTime).toBe(T + 5);
    expect(processBatch([rec(11, undefined, { reason: 'no-magic-byte', message: 'x' })], states, scoring, { partition: 0, partitions: 6, nowMs: NOW }).streamTime).toBe(-Infinity);
  });

  it('never lets two different (application, environment, user) triples share a window or an alert', () => {
    // Issue 13: "a/b" + "c" and "a" + "b/c" (same user) joined to one key, and so did "env" + "x/y" and
    // "env/x" + "y": 6 + 6 points fired an alert neither user earned, listing the other's events.
    const ev = (app: string, env: string, user: string, id: string): Attack => ({ ...a(user, 6, id), application_id: app, environment: env });
    const records = [
      rec(0, ev('a/b', 'c', 'u', 'e0')),
      rec(1, ev('a', 'b/c', 'u', 'e1')),
      rec(2, ev('shop', 'env', 'x/y', 'e2')),
      rec(3, ev('shop', 'env/x', 'y', 'e3')),
    ];
    const states = new Map<string, UserState>();
    const keys = batchKeys(records);
    expect(keys).toEqual(['shop/env/x/y']);
    const r = processBatch(records, states, scoring, { partition: partitionFor('shop/env/x/y', 6), partitions: 6, nowMs: NOW });
    expect(r.alerts).toEqual([]);
    expect(r.deadLetters.map((d) => [d.offset, d.reason])).toEqual([
      ['0', 'invalid-identity'],
      ['1', 'invalid-identity'],
      ['3', 'invalid-identity'],
    ]);
    expect(r.deadLetters[0]!.message).toMatch(/application_id "a\/b"/);
    expect([...states.keys()]).toEqual(['shop/env/x/y']);
    expect(states.get('shop/env/x/y')!.sum).toBe(6);
  });

  it('dead-letters a record without a key, or whose key is not its value\'s, instead of splitting a user\'s state', () => {
    // Issue 13: such a record was scored on the partition its key chose, away from its user's state.
    const key = 'shop/production/dave';
    const p = partitionFor(key, 6);
    const records = [
      rec(0, a('dave', 6, 'e0'), undefined, null),
      rec(1, a('dave', 6, 'e1'), undefined, 'shop/production/erin'),
      rec(2, a('dave', 6, 'e2'), undefined, 'shop/production/dave '),
      rec(3, a('dave', 6, 'e3'), undefined, ''),
      rec(4, a('dave', 6, 'e4')),
    ];
    const states = new Map<string, UserState>();
    expect(batchKeys(records)).toEqual([key]);
    const r = processBatch(records, states, scoring, { partition: p, partitions: 6, nowMs: NOW });
    expect(r.deadLetters.map((d) => [d.offset, d.reason])).toEqual([
      ['0', 'missing-key'],
      ['1', 'key-mismatch'],
      ['2', 'key-mismatch'],
      ['3', 'key-mismatch'],
    ]);
    expect(r.deadLetters[1]!.message).toBe('the record key "shop/production/erin" is not the value\'s "shop/production/dave"');
    expect(r.counts).toMatchObject({ scored: 1, wrongPartition: 0 });
    expect(r.alerts).toEqual([]); // 6 points: the mismatched records did not count
    expect(states.get(key)!.sum).toBe(6);
    // Without batchKeys first (the checks run in processBatch too).
    const r2 = processBatch([rec(5, a('dave', 6, 'e5'), undefined, null)], states, scoring, { partition: p, partitions: 6, nowMs: NOW });
    expect(r2.deadLetters.map((d) => d.reason)).toEqual(['missing-key']);
  });

  it('remembers when a user\'s events last arrived (the clock), refreshed by duplicates only once an hour', () => {
    const key = 'shop/production/frank';
    const ctx = (nowMs: number) => ({ partition: partitionFor(key, 6), partitions: 6, nowMs });
    const states = new Map<string, UserState>();
    // An event a month old (a backfill): its arrival is what keeps the user from being idle.
    const old = T - 30 * 24 * 3_600_000;
    processBatch([rec(0, a('frank', 1, 'f1', old))], states, scoring, ctx(NOW));
    expect(states.get(key)).toMatchObject({ last: old, activeAt: NOW });
    // A duplicate a minute later changes nothing (no state write per repeated record)...
    const dup = processBatch([rec(1, a('frank', 1, 'f1', old))], states, scoring, ctx(NOW + 60_000));
    expect(dup.counts.duplicate).toBe(1);
    expect(dup.dirty.size).toBe(0);
    // ...but two hours later it refreshes the active time (one write).
    const later = processBatch([rec(2, a('frank', 1, 'f1', old))], states, scoring, ctx(NOW + 2 * 3_600_000));
    expect(later.dirty.size).toBe(1);
    expect(states.get(key)!.activeAt).toBe(NOW + 2 * 3_600_000);
    // A live event (at the clock) needs nothing beyond T.
    processBatch([rec(3, a('frank', 1, 'f2', NOW + 3 * 3_600_000))], states, scoring, ctx(NOW + 3 * 3_600_000));
    expect(states.get(key)).toMatchObject({ last: NOW + 3 * 3_600_000, activeAt: null });
  });

  it('counts records on the wrong partition for their key', () => {
    const key = 'shop/production/carol';
    const right = partitionFor(key, 6);
    const r = processBatch([rec(0, a('carol', 1))], new Map(), scoring, { partition: (right + 1) % 6, partitions: 6, nowMs: NOW });
    expect(r.counts.wrongPartition).toBe(1);
    const ok = processBatch([rec(0, a('carol', 1))], new Map(), scoring, { partition: right, partitions: 6, nowMs: NOW });
    expect(ok.counts.wrongPartition).toBe(0);
  });
});
