// Issue 13 item 5: backfills are scored by the per-user semantics. Broker-free: each partition is a
// store of encoded states (as LevelDB and the changelog hold them) and a stream time; batches go
// through processBatch, and between batches the idle-user scan runs exactly as the scorer's
// punctuation does (peekLast of each stored value, isIdle against min(clock, stream time)), on every
// partition after every batch, with partitions reopened at random (stream time lost). Before the
// fix a user whose own events were older than the partition's was forgotten at every punctuation while
// its events kept arriving, and alerted every tier again.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Attack, RiskAlert } from '../../src/contracts.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { batchKeys, processBatch, type InputRecord } from '../../src/scorer/processor.ts';
import { isIdle, resolvePolicy, type UserState } from '../../src/scoring/index.ts';
import { decodeState, encodeState, peekLast } from '../../src/state/codec.ts';
import { referenceAlerts } from '../scoring/reference.ts';

const config = loadConfig({ env: {} });
const scoring = config.scoring;
const TTL = config.scorer.idleUserTtlMs; // 7 days
const PARTITIONS = 3;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const D0 = Date.UTC(2026, 11, 1);
/** The processing clock (ms): after every event, so nothing is clamped; a second passes per batch. */
let clock = 0;
const START_CLOCK = D0 + 2 * DAY;

class Partition {
  readonly store = new Map<string, Buffer>();
  streamTime = -Infinity;
  offset = 0;
  forgotten = 0;
  constructor(readonly p: number) {}

  batch(attacks: Attack[], out: RiskAlert[]): void {
    clock += 1000;
    const records: InputRecord[] = attacks.map((a) => ({ offset: String(this.offset++), recordKey: `${a.application_id}/${a.environment}/${a.user.key}`, attack: a }));
    const states = new Map<string, UserState>();
    for (const k of batchKeys(records)) {
      const v = this.store.get(k);
      if (v) states.set(k, decodeState(v)!);
    }
    const r = processBatch(records, states, scoring, { partition: this.p, partitions: PARTITIONS, nowMs: clock });
    expect(r.deadLetters).toEqual([]);
    r.dirty.forEach((s, k) => this.store.set(k, encodeState(s)));
    if (r.streamTime > this.streamTime) this.streamTime = r.streamTime;
    out.push(...r.alerts);
  }

  /** The scorer's punctuation: forget users idle for the TTL by the partition's stream time, capped by the clock. */
  punctuate(): void {
    const horizon = Math.min(clock, this.streamTime);
    if (!Number.isFinite(horizon)) return;
    for (const [k, v] of [...this.store]) {
      if (isIdle(peekLast(v)!, horizon, TTL)) {
        this.store.delete(k);
        this.forgotten++;
      }
    }
  }
}

let seq = 0;
function ev(user: string, at: number, severity: Attack['severity'] = 'HIGH'): Attack {
  return {
    event_id: `e-${seq++}`,
    occurred_at: at,
    application_id: 'shop',
    environment: 'production',
    user: { key: user, identifiers: {} },
    attack_type: 'sql_injection',
    severity,
    points: null,
    blocked: false,
    request: null,
    agent: { name: 't', version: '0', language: 'node' },
  };
}

/** Users named `${prefix}-i` spread over every partition (at least `perPartition` on each). */
function usersOnEveryPartition(prefix: string, perPartition: number): string[] {
  const by = new Map<number, string[]>();
  for (let i = 0; [...by.values()].filter((u) => u.length >= perPartition).length < PARTITIONS; i++) {
    const u = `${prefix}-${i}`;
    const p = partitionFor(`shop/production/${u}`, PARTITIONS);
    const list = by.get(p) ?? [];
    if (list.length < perPartition) list.push(u);
    by.set(p, list);
  }
  return [...by.values()].flat();
}

/**
 * Runs `arrivals` (in arrival order) through the partitions, `batchSizes` records per batch (cycled),
 * punctuating after each batch. After the batches numbered in `reopenAfter` that partition is reopened:
 * its store is kept (restored) but its stream time starts again from nothing, as on a new owner.
 */
function run(arrivals: Attack[], batchSizes: number[], reopenAfter: Set<number> = new Set()) {
  clock = START_CLOCK;
  const parts = Array.from({ length: PARTITIONS }, (_, p) => new Partition(p));
  const pending = new Map<number, Attack[]>();
  const alerts: RiskAlert[] = [];
  let b = 0;
  const flush = (p: number) => {
    const batch = pending.get(p) ?? [];
    if (!batch.length) return;
    pending.set(p, []);
    parts[p]!.batch(batch, alerts);
    for (const part of parts) part.punctuate(); // timers fire on every partition
    if (reopenAfter.has(b)) parts[p]!.streamTime = -Infinity;
  };
  for (const a of arrivals) {
    const p = partitionFor(`shop/production/${a.user.key}`, PARTITIONS);
    const batch = pending.get(p) ?? [];
    batch.push(a);
    pending.set(p, batch);
    if (batch.length >= batchSizes[b % batchSizes.length]!) {
      b++;
      flush(p);
    }
  }
  for (let p = 0; p < PARTITIONS; p++) flush(p);
  return { parts, alerts };
}

const policy = resolvePolicy(scoring, 'shop');
/** Alerts per user, in each user's order (partitions commit independently: only per-user order is defined). */
const perUser = (alerts: RiskAlert[]) => {
  const m: Record<string, RiskAlert[]> = {};
  for (const a of [...alerts].sort((x, y) => (x.user.key < y.user.key ? -1 : x.user.key > y.user.key ? 1 : 0))) (m[a.user.key] ??= []).push(a);
  return m;
};
const byUser = (alerts: RiskAlert[]) => {
  const m = new Map<string, number[]>();
  for (const a of alerts) m.set(a.user.key, [...(m.get(a.user.key) ?? []), a.tier]);
  return m;
};

describe('backfills', () => {
  it('a multi-day backfill after newer events on every partition: exactly one alert per tier for each attacker', () => {
    const live = usersOnEveryPartition('live', 2);
    const attackers = usersOnEveryPartition('attacker', 2);
    const arrivals: Attack[] = [];
    // Newer events on every partition first: stream time reaches D0.
    for (const u of live) arrivals.push(ev(u, D0 - HOUR, 'LOW'), ev(u, D0, 'LOW'));
    // Then a backfill 30 days old, 3 days long: each attacker an event every 20 minutes (HIGH, 6 points:
    // 432 points a day, above every tier all along), interleaved with a trickle of live events.
    const start = D0 - 30 * DAY;
    for (let t = start, i = 0; t < start + 3 * DAY; t += 20 * 60_000, i++) {
      for (const u of attackers) arrivals.push(ev(u, t));
      if (i % 10 === 0) arrivals.push(ev(live[i % live.length]!, D0 + i * 60_000, 'INFO'));
    }
    const { parts, alerts } = run(arrivals, [7, 50, 13]);
    const tiers = byUser(alerts);
    for (const u of attackers) expect(tiers.get(u), u).toEqual([1, 2, 3, 4]);
    expect(alerts.filter((a) => live.includes(a.user.key))).toEqual([]);
    expect(perUser(alerts)).toEqual(perUser(referenceAlerts(arrivals, policy, clock)));
    expect(parts.reduce((n, p) => n + p.forgotten, 0)).toBe(0);
    // Housekeeping still works: a TTL (of the clock and of stream time) after the backfill's last
    // arrival, its users are forgotten; the live users, who just sent an event, are kept.
    clock = D0 + TTL + 4 * DAY;
    const later = live.map((u) => ev(u, D0 + TTL + 3 * DAY, 'INFO'));
    for (const p of parts) {
      p.batch(later.filter((a) => partitionFor(`shop/production/${a.user.key}`, PARTITIONS) === p.p), []);
      p.punctuate();
    }
    for (const p of parts) for (const k of p.store.keys()) expect(k).toMatch(/\/live-/);
  });

  it('any interleaving of users’ streams (backfills among newer events, any batching) gives the per-user reference alerts', () => {
    const attackers = usersOnEveryPartition('bf', 1);
    const live = usersOnEveryPartition('now', 1);
    const userArb = fc.record({
      /** How far back the user's own stream starts (days): 0 = live, up to 40 = an old backfill. */
      back: fc.integer({ min: 0, max: 40 }),
      /** Gaps between the user's events (minutes) and their severities. */
      steps: fc.array(fc.record({ gap: fc.integer({ min: 0, max: 180 }), severity: fc.constantFrom<Attack['severity']>('LOW', 'MEDIUM', 'HIGH', 'CRITICAL') }), { minLength: 1, maxLength: 60 }),
    });
    fc.assert(
      fc.property(
        fc.array(userArb, { minLength: attackers.length, maxLength: attackers.length }),
        fc.array(fc.integer({ min: 0, max: attackers.length + live.length - 1 }), { minLength: 1, maxLength: 400 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat({ max: 60 }), { maxLength: 4 }),
        (streams, order, batchSizes, reopen) => {
          // Each live user's own stream is at D0 and later; each attacker's starts `back` days earlier.
          const queues = [
            ...attackers.map((u, i) => {
              let t = D0 - streams[i]!.back * DAY;
              return streams[i]!.steps.map((s) => ev(u, (t += s.gap * 60_000), s.severity));
            }),
            ...live.map((u, i) => Array.from({ length: 40 }, (_, k) => ev(u, D0 + (i + k) * 30 * 60_000, 'LOW'))),
          ];
          // Newer events on every partition first, then the streams interleaved in `order`.
          const arrivals: Attack[] = live.map((u) => ev(u, D0, 'INFO'));
          for (const q of order) {
            const next = queues[q]!.shift();
            if (next) arrivals.push(next);
          }
          for (const q of queues) arrivals.push(...q);
          const { alerts, parts } = run(arrivals, batchSizes, new Set(reopen));
          expect(perUser(alerts)).toEqual(perUser(referenceAlerts(arrivals, policy, clock)));
          expect(parts.reduce((n, p) => n + p.forgotten, 0)).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
