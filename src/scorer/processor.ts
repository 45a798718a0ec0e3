import type { RiskAlert, ScoredAttack } from '../contracts.ts';
import { userKey } from '../contracts.ts';
import type { ScoringConfig } from '../config/scoring.ts';
import { partitionFor } from '../kafka/partitioner.ts';
import { identityProblem, INVALID_IDENTITY } from '../identity.ts';
import { emptyUserState, resolvePolicy, scoreEvent, type UserState } from '../scoring/index.ts';

// The processor step of one input batch, without I/O: decoded records in, state changes, alerts and
// dead letters out. The scorer around it loads states, runs this, and commits the result in one
// Kafka transaction before writing LevelDB.

export interface InputRecord {
  offset: string;
  attack?: ScoredAttack;
  /** The user key, set by `batchKeys` (computed once per record) for records whose identity is valid. */
  key?: string;
  /** Set when the record is poison; it goes to the dead-letter topic. */
  poison?: { reason: string; message: string; schemaId?: number | undefined };
}

export interface ProcessCounts {
  scored: number;
  duplicate: number;
  late: number;
  clamped: number;
  points: number;
  wrongPartition: number;
  /** States created for users not loaded (not in the store): the store's user count grows by this. */
  newUsers: number;
}

export interface BatchResult {
  /** Users whose state changed, by key. */
  dirty: Map<string, UserState>;
  alerts: RiskAlert[];
  deadLetters: Array<{ offset: string; reason: string; message: string; schemaId?: number | undefined }>;
  counts: ProcessCounts;
  /** The newest event time among the batch's valid records (ms; -Infinity when none): stream time. */
  streamTime: number;
}

/** Keys of the users a batch touches (load their state before `processBatch`). */
export function batchKeys(records: InputRecord[]): string[] {
  const keys = new Set<string>();
  for (const r of records) if (r.attack && validUser(r.attack) && identityProblem(r.attack.application_id, r.attack.environment, r.attack.user.key) === undefined) keys.add((r.key = keyOf(r.attack)));
  return [...keys];
}

export function keyOf(a: ScoredAttack): string {
  return userKey(a.application_id, a.environment, a.user.key);
}

function validUser(a: ScoredAttack): boolean {
  return typeof a.user?.key === 'string' && a.user.key.trim() !== '' && a.application_id.trim() !== '';
}

/**
 * Scores each record in offset order. `states` holds the loaded state of every key in `batchKeys`
 * (missing = new user) and is mutated in place.
 */
export function processBatch(
  records: InputRecord[],
  states: Map<string, UserState>,
  scoring: ScoringConfig,
  ctx: { partition: number; partitions: number; nowMs: number },
): BatchResult {
  const out: BatchResult = {
    dirty: new Map(),
    alerts: [],
    deadLetters: [],
    counts: { scored: 0, duplicate: 0, late: 0, clamped: 0, points: 0, wrongPartition: 0, newUsers: 0 },
    streamTime: -Infinity,
  };
  for (const r of records) {
    if (r.poison || !r.attack) {
      out.deadLetters.push({ offset: r.offset, reason: r.poison?.reason ?? 'undecodable', message: r.poison?.message ?? 'no value', schemaId: r.poison?.schemaId });
      continue;
    }
    const a = r.attack;
    if (!validUser(a)) {
      out.deadLetters.push({ offset: r.offset, reason: 'missing-user', message: 'the attack has no user key or no application id' });
      continue;
    }
    // The state key `app/env/user` is unambiguous only for identities within the rules (src/identity.ts).
    const identity = r.key === undefined ? identityProblem(a.application_id, a.environment, a.user.key) : undefined;
    if (identity !== undefined) {
      out.deadLetters.push({ offset: r.offset, reason: INVALID_IDENTITY, message: identity });
      continue;
    }
    if (!Number.isFinite(a.occurred_at) || (a.points !== null && !Number.isFinite(a.points))) {
      out.deadLetters.push({ offset: r.offset, reason: 'invalid-value', message: `occurred_at ${a.occurred_at} or points ${a.points} is not a finite number` });
      continue;
    }
    if (a.occurred_at > out.streamTime) out.streamTime = a.occurred_at;
    const key = r.key ?? keyOf(a);
    if (partitionFor(key, ctx.partitions) !== ctx.partition) out.counts.wrongPartition++;
    let state = states.get(key);
    if (!state) {
      state = emptyUserState();
      states.set(key, state);
      out.counts.newUsers++; // its first event is always scored (nothing to duplicate, never late)
    }
    const res = scoreEvent(state, a, resolvePolicy(scoring, a.application_id), ctx.nowMs);
    if (res.clamped) out.counts.clamped++;
    if (res.outcome === 'duplicate') {
      out.counts.duplicate++;
      continue;
    }
    if (res.outcome === 'late') {
      out.counts.late++;
      continue;
    }
    out.counts.scored++;
    out.counts.points += res.points;
    out.dirty.set(key, state);
    if (res.alert) out.alerts.push(res.alert);
  }
  return out;
}
