import type { Decision, RiskAlert, ScoredAttack } from '../contracts.ts';
import { userKey } from '../contracts.ts';
import type { ScoringConfig } from '../config/scoring.ts';
import type { DecisionsConfig } from '../config/decisions.ts';
import { decideForAlert, decideForRequest, parseRequest, remember, resolveDecisionPolicy, type ParsedRequest } from '../decisions/index.ts';
import { partitionFor } from '../kafka/partitioner.ts';
import { boundIdentifiers, eventIdProblem, identityProblem, INVALID_EVENT_ID, INVALID_IDENTITY, MAX_ATTACK_TYPE_BYTES, truncateUtf8 } from '../identity.ts';
import { activeSince, emptyUserState, markActive, resolvePolicy, scoreEvent, type UserState } from '../scoring/index.ts';

// The processor step of one input batch, without I/O: decoded records in, state changes, alerts and
// dead letters out. The scorer around it loads states, runs this, and commits the result in one
// Kafka transaction before writing LevelDB.

export interface InputRecord {
  offset: string;
  /**
   * The record's Kafka key as a UTF-8 string; null when it has none. It must equal the user key of the
   * value (`keyOf`): the key chose the partition, hence where the user's state lives.
   */
  recordKey: string | null;
  attack?: ScoredAttack;
  /** The user key, set by `batchKeys` (computed once per record) for records that will be scored. */
  key?: string;
  /** Why the record will not be scored, set by `batchKeys` (undefined: not checked yet, or valid). */
  refused?: Refusal;
  /** Set when the record is poison; it goes to the dead-letter topic. */
  poison?: { reason: string; message: string; schemaId?: number | undefined };
}

/** A decoded record's reason to be dead-lettered instead of scored. */
export interface Refusal {
  reason: string;
  message: string;
}

/** Dead-letter reason of a record without a key: nothing says it was produced on its user's partition. */
export const MISSING_KEY = 'missing-key';
/** Dead-letter reason of a record whose key is not its value's `application_id/environment/user.key`. */
export const KEY_MISMATCH = 'key-mismatch';

export interface ProcessCounts {
  scored: number;
  duplicate: number;
  late: number;
  clamped: number;
  points: number;
  wrongPartition: number;
  /** Records scored with their attack type or identifiers truncated to the bounds of src/identity.ts. */
  truncated: number;
  /** States created for users not loaded (not in the store): the store's user count grows by this. */
  newUsers: number;
}

export interface BatchResult {
  /** Users whose state changed, by key (a duplicate or late event changes only when the user was last active). */
  dirty: Map<string, UserState>;
  alerts: RiskAlert[];
  /** Decisions to publish with the alerts (each alert that made one carries it too). */
  decisions: Decision[];
  deadLetters: Array<{ offset: string; reason: string; message: string; schemaId?: number | undefined }>;
  counts: ProcessCounts;
  /** The newest event time among the batch's valid records (ms; -Infinity when none): stream time. */
  streamTime: number;
}

/** How stale a user's active time may get before a duplicate or late event refreshes it (ms): 1 hour. */
const ACTIVE_REFRESH_MS = 3_600_000;

/** Keys of the users a batch touches (load their state before `processBatch`). */
export function batchKeys(records: InputRecord[]): string[] {
  const keys = new Set<string>();
  for (const r of records) {
    if (!r.attack || r.poison) continue;
    r.refused = refusal(r.recordKey, r.attack);
    // Accepted means the record key equals the value's user key: reuse it rather than build it again.
    if (r.refused === undefined) keys.add((r.key = r.recordKey!));
  }
  return [...keys];
}

export function keyOf(a: ScoredAttack): string {
  return userKey(a.application_id, a.environment, a.user.key);
}

function validUser(a: ScoredAttack): boolean {
  return typeof a.user?.key === 'string' && a.user.key.trim() !== '' && a.application_id.trim() !== '';
}

/**
 * Why a decoded record must not be scored, checked in this order: no user; an identity outside the
 * rules of src/identity.ts (its key could name another user); no record key, or a key other than the
 * value's (it was partitioned for another user, so scoring it here would split that user's state); an
 * empty or oversized event id (src/identity.ts: it is kept in the user's state); a time or points that
 * are not finite numbers. Undefined when it may be scored.
 */
function refusal(recordKey: string | null, a: ScoredAttack): Refusal | undefined {
  if (!validUser(a)) return { reason: 'missing-user', message: 'the attack has no user key or no application id' };
  const identity = identityProblem(a.application_id, a.environment, a.user.key);
  if (identity !== undefined) return { reason: INVALID_IDENTITY, message: identity };
  if (recordKey === null) return { reason: MISSING_KEY, message: `the record has no key; expected ${clip(keyOf(a))}` };
  if (recordKey !== keyOf(a)) return { reason: KEY_MISMATCH, message: `the record key ${clip(recordKey)} is not the value's ${clip(keyOf(a))}` };
  const eventId = eventIdProblem(a.event_id);
  if (eventId !== undefined) return { reason: INVALID_EVENT_ID, message: eventId };
  if (!Number.isFinite(a.occurred_at) || (a.points !== null && !Number.isFinite(a.points))) {
    return { reason: 'invalid-value', message: `occurred_at ${a.occurred_at} or points ${a.points} is not a finite number` };
  }
  return undefined;
}

/**
 * The attack with its descriptive fields within the bounds of src/identity.ts (attack type and
 * identifiers truncated): the attack itself when they already are, else a copy.
 */
function bounded(a: ScoredAttack): ScoredAttack {
  const type = truncateUtf8(a.attack_type, MAX_ATTACK_TYPE_BYTES);
  const identifiers = boundIdentifiers(a.user.identifiers ?? {});
  if (type === a.attack_type && identifiers === a.user.identifiers) return a;
  return { ...a, attack_type: type, user: { key: a.user.key, identifiers } };
}

/** A key for a message: JSON-quoted and clipped to 200 characters. */
function clip(key: string): string {
  return JSON.stringify(key.length > 200 ? `${key.slice(0, 200)}…` : key);
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
  decisions?: DecisionsConfig,
): BatchResult {
  const out: BatchResult = {
    dirty: new Map(),
    alerts: [],
    decisions: [],
    deadLetters: [],
    counts: emptyCounts(),
    streamTime: -Infinity,
  };
  for (const r of records) {
    if (r.poison || !r.attack) {
      out.deadLetters.push({ offset: r.offset, reason: r.poison?.reason ?? 'undecodable', message: r.poison?.message ?? 'no value', schemaId: r.poison?.schemaId });
      continue;
    }
    const refused = r.key === undefined ? (r.refused ?? refusal(r.recordKey, r.attack)) : undefined;
    if (refused !== undefined) {
      out.deadLetters.push({ offset: r.offset, ...refused });
      continue;
    }
    const a = bounded(r.attack);
    if (a !== r.attack) out.counts.truncated++;
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
    if (res.outcome !== 'scored') {
      if (res.outcome === 'duplicate') out.counts.duplicate++;
      else out.counts.late++;
      // Still an event for the user: refreshed (one state write) only once an hour, so that repeating
      // one duplicate costs no write per record.
      const since = activeSince(state.last, state.activeAt);
      if ((since === null || ctx.nowMs - since > ACTIVE_REFRESH_MS) && markActive(state, ctx.nowMs)) out.dirty.set(key, state);
      continue;
    }
    // The user is receiving events: not idle before the clock is a TTL further, however old their own
    // events are (a backfill) and whatever the partition's stream time (see isIdle).
    markActive(state, ctx.nowMs);
    out.counts.scored++;
    out.counts.points += res.points;
    out.dirty.set(key, state);
    if (res.alert) {
      if (decisions) decide(res.alert, state, decisions, ctx.nowMs, out);
      out.alerts.push(res.alert);
    }
  }
  return out;
}

/** The alert's decision by policy, if any: remembered in the user's state, carried by the alert, published with it. */
function decide(alert: RiskAlert, state: UserState, cfg: DecisionsConfig, nowMs: number, out: BatchResult): void {
  const { decision } = decideForAlert(alert, state, resolveDecisionPolicy(cfg, alert.application_id), nowMs);
  alert.decision = decision;
  if (!decision) return;
  remember(state, decision);
  out.decisions.push(decision);
}

/** A record of the decision-requests topic, undecoded (requests are JSON: src/decisions/request.ts). */
export interface RequestRecord {
  offset: string;
  recordKey: string | null;
  value: Buffer | null;
  /** The parse, set by `requestKeys` (once per record, as `batchKeys` checks attacks once). */
  parsed?: ParsedRequest;
}

/**
 * People's requests in offset order: each valid one becomes a decision (or, for a remove with nothing
 * to lift, nothing), remembered in the user's state; an invalid one is dead-lettered. `states` holds
 * the loaded state of every key in `requestKeys` and is mutated in place.
 */
export function processRequests(records: RequestRecord[], states: Map<string, UserState>, nowMs: number): BatchResult & { ignored: number } {
  const out = { dirty: new Map(), alerts: [], decisions: [], deadLetters: [], counts: emptyCounts(), streamTime: -Infinity, ignored: 0 } as BatchResult & { ignored: number };
  for (const r of records) {
    const parsed = r.parsed ?? parseRequest(r.recordKey, r.value);
    if (!parsed.ok) {
      out.deadLetters.push({ offset: r.offset, reason: parsed.reason, message: parsed.message });
      continue;
    }
    const req = parsed.request;
    const key = userKey(req.application_id, req.environment, req.user_key);
    const known = states.get(key);
    const decision = decideForRequest(req, {}, known ?? {}, nowMs);
    if (!decision) {
      out.ignored++; // a remove with nothing to lift
      continue;
    }
    let state = known;
    if (!state) {
      // A person may act on a user before any attack of theirs: the decision alone keeps the state.
      state = emptyUserState();
      states.set(key, state);
      out.counts.newUsers++;
    }
    remember(state, decision);
    out.dirty.set(key, state);
    out.decisions.push(decision);
  }
  return out;
}

/** Keys of the users a request batch names (valid requests only; the rest are dead-lettered); keeps each parse on its record. */
export function requestKeys(records: RequestRecord[]): string[] {
  const keys = new Set<string>();
  for (const r of records) {
    const parsed = (r.parsed = parseRequest(r.recordKey, r.value));
    if (parsed.ok) keys.add(userKey(parsed.request.application_id, parsed.request.environment, parsed.request.user_key));
  }
  return [...keys];
}

function emptyCounts(): ProcessCounts {
  return { scored: 0, duplicate: 0, late: 0, clamped: 0, points: 0, wrongPartition: 0, truncated: 0, newUsers: 0 };
}
