// The agent's decisions store (issue 15 item 4): the active counter-measures of ITS application and
// environment, kept from the compacted decisions topic (decision-feed.ts reads it; this file is pure:
// no Kafka, no timers, the clock is given).
//
// Semantics (schemas/decision.avsc, the contract the scorer writes):
// - the LATEST record of a key is the user's decision: a record replaces whatever the key had;
// - a tombstone (null value), a LIFT, a record that does not decode, or one whose `until` has passed
//   means NO decision (fail open: what the agent does not know never blocks anyone);
// - a `simulated` record is kept (it is reported) but is never enforced: it reads as MONITOR, its
//   real action in `simulatedAction`;
// - records of other applications or environments are ignored (the topic holds every application).
//
// Lookup is one Map get and one comparison with `until`: no allocation on the request path (the entry
// object handed out is built once, when its record arrives, and frozen; the clock compared with is
// ticked by the agent every DECISION_CLOCK_TICK_MS, so a decision is enforced at most that long after
// its `until`).
//
// Bounded memory: at most `maxDecisions` entries. At the bound, expired entries are swept first; then a
// new key is admitted only if it is an ENFORCED decision (BLOCK or CHALLENGE, not simulated) and an
// unenforced entry (MONITOR or simulated) can make room for it; anything else is refused and counted
// (`droppedAtBound`), with a warning. So BLOCK and CHALLENGE are the last to go: refusing a new
// MONITOR costs a record in the metrics, refusing a BLOCK lets a hostile user in (fail open). A key
// already held is always updated in place (a LIFT or a newer record never needs room).

import { truncateUtf8 } from './identity.ts';

export const DECISION_ACTIONS = ['MONITOR', 'CHALLENGE', 'BLOCK', 'LIFT'] as const;
export type DecisionAction = (typeof DECISION_ACTIONS)[number];

/** What an application is asked to do about a user (agent.decisionFor). Frozen; shared by every lookup. */
export interface ActiveDecision {
  /** BLOCK: refuse; CHALLENGE: ask the user to prove themselves; MONITOR: record only. A simulated decision reads as MONITOR. */
  readonly action: 'BLOCK' | 'CHALLENGE' | 'MONITOR';
  /** Epoch ms from which it no longer holds. */
  readonly until: number;
  readonly reason: string;
  readonly decision_id: string;
  /** Simulation mode: recorded and reported, never enforced (action is then MONITOR). */
  readonly simulated: boolean;
  /** The action a simulated decision would have taken; null when not simulated. */
  readonly simulatedAction: 'BLOCK' | 'CHALLENGE' | 'MONITOR' | null;
}

/** The fields of a Decision record the store reads (the decoded Avro value). */
export interface DecisionRecord {
  decision_id: string;
  application_id: string;
  environment: string;
  user: { key: string };
  action: string;
  reason: string;
  until: number;
  simulated: boolean;
}

/** Most characters of a reason or a decision id kept in memory (a person's comment can be long). */
export const MAX_KEPT_REASON = 256;
export const MAX_KEPT_DECISION_ID = 128;

export interface DecisionStoreOptions {
  application: string;
  environment: string;
  /** Most entries held (default 1,000,000). */
  maxDecisions: number;
  now: () => number;
  /** Called when the bound refuses an entry for the first time since the store last had room. */
  onBound?: (info: { maxDecisions: number; refused: 'BLOCK' | 'CHALLENGE' | 'MONITOR' }) => void;
}

export interface DecisionStoreStats {
  /** Entries held (active, simulated and monitor decisions; expired ones until the next sweep). */
  active: number;
  maxDecisions: number;
  /** Records applied (values and tombstones of this application). */
  applied: number;
  /** New keys refused because the store was full. */
  droppedAtBound: number;
  /** Unenforced entries evicted to make room for a BLOCK or CHALLENGE. */
  evictedAtBound: number;
  /** Records of other applications or environments, skipped. */
  ignored: number;
}

function isEnforced(d: ActiveDecision): boolean {
  return !d.simulated && d.action !== 'MONITOR';
}

export class DecisionStore {
  /** user.key → its decision. */
  private readonly entries = new Map<string, ActiveDecision>();
  /** Keys whose entry is unenforced (MONITOR or simulated): what the bound evicts first. Insertion order = oldest first. */
  private readonly unenforced = new Set<string>();
  /** `application/environment/`: the record-key prefix of this application's users. */
  private readonly prefix: string;
  /** How many held keys start with `anon:` (the agent computes an anonymous key per request only when some do). */
  private anonymous = 0;
  private atBound = false;
  private ticking = false;
  /** ms: the clock of lookups when ticking (see get). */
  private tickedNow = 0;
  /** When makeRoom last swept (ms): at the bound a sweep is O(entries), so at most one per second. */
  private lastBoundSweep = -Infinity;
  /** Bumped by every change of the entries (a set, a delete): the relay's ETag of GET /v1/decisions. */
  private changes = 0;
  readonly counts = { applied: 0, droppedAtBound: 0, evictedAtBound: 0, ignored: 0 };
  /** Reasons seen, shared by the entries that give the same one (policy reasons repeat: `tier 2: +47 points…`). */
  private readonly reasons = new Interner(MAX_INTERNED_REASONS);

  constructor(private readonly opts: DecisionStoreOptions) {
    this.prefix = `${opts.application}/${opts.environment}/`;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether any held decision is about an anonymous (`anon:<ip>`) user. */
  get hasAnonymous(): boolean {
    return this.anonymous > 0;
  }

  /**
   * The decision in force for a user key (user.key as reported on attacks), or null. No allocation: it
   * compares `until` with the clock last given to tick() when the owner ticks it (Date.now() returns a
   * fresh number each call, and at 1,000,000 entries that allocation cost ~0.7 µs per lookup in GC),
   * else with opts.now().
   */
  get(userKey: string): ActiveDecision | null {
    const d = this.entries.get(userKey);
    if (d === undefined) return null;
    return d.until > (this.ticking ? this.tickedNow : this.opts.now()) ? d : null;
  }

  /** Sets the clock lookups compare with (ms); from the first call on, get() reads it instead of opts.now(). */
  tick(now: number): void {
    this.tickedNow = now;
    this.ticking = true;
  }

  /** The user part of a record key of this application, or undefined for another application's key. */
  userOf(recordKey: string): string | undefined {
    return recordKey.startsWith(this.prefix) ? recordKey.slice(this.prefix.length) : undefined;
  }

  /**
   * Applies one record of the topic: `value` null is a tombstone or an undecodable record (no decision
   * for the key either way). Returns false when the record was not this application's.
   */
  apply(recordKey: string, value: DecisionRecord | null): boolean {
    const user = this.userOf(recordKey);
    if (user === undefined || (value !== null && (value.application_id !== this.opts.application || value.environment !== this.opts.environment || value.user?.key !== user))) {
      this.counts.ignored++;
      return false;
    }
    this.counts.applied++;
    const entry = value === null ? null : toEntry(value, this.reasons);
    if (entry === null || entry.until <= this.opts.now()) {
      this.delete(user);
      return true;
    }
    const isNew = !this.entries.has(user);
    if (isNew && this.entries.size < this.opts.maxDecisions) this.atBound = false; // had room: warn again next time it is full
    else if (isNew && !this.makeRoom(entry)) {
      this.counts.droppedAtBound++;
      if (!this.atBound) {
        this.atBound = true;
        this.opts.onBound?.({ maxDecisions: this.opts.maxDecisions, refused: entry.simulatedAction ?? entry.action });
      }
      return true;
    }
    // the value's own key string: `user` is a slice that would keep the whole record key alive
    this.set(value!.user.key, entry);
    return true;
  }

  /** Removes expired entries (the decision-feed calls it on a timer). Returns how many went. */
  sweep(): number {
    const now = this.opts.now();
    let n = 0;
    for (const [key, d] of this.entries) {
      if (d.until <= now) {
        this.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Changes to the entries so far (each set or delete): equal versions, equal entries. */
  get version(): number {
    return this.changes;
  }

  /** The entries in force now (until > now), in insertion order. A copy: O(entries). */
  list(): Array<{ userKey: string; decision: ActiveDecision }> {
    const now = this.opts.now();
    const out: Array<{ userKey: string; decision: ActiveDecision }> = [];
    for (const [userKey, decision] of this.entries) if (decision.until > now) out.push({ userKey, decision });
    return out;
  }

  stats(): DecisionStoreStats {
    return { active: this.entries.size, maxDecisions: this.opts.maxDecisions, ...this.counts };
  }

  /** Room for a new entry at the bound: expired entries first, then (for an enforced entry only) the oldest unenforced one. */
  private makeRoom(entry: ActiveDecision): boolean {
    const now = this.opts.now();
    if (now - this.lastBoundSweep >= 1000) {
      this.lastBoundSweep = now;
      if (this.sweep() > 0) return true;
    }
    if (!isEnforced(entry)) return false;
    const victim = this.unenforced.values().next();
    if (victim.done) return false;
    this.delete(victim.value);
    this.counts.evictedAtBound++;
    return true;
  }

  private set(user: string, entry: ActiveDecision): void {
    const had = this.entries.has(user);
    this.entries.set(user, entry);
    this.changes++;
    if (!had && user.startsWith('anon:')) this.anonymous++;
    if (isEnforced(entry)) this.unenforced.delete(user);
    else {
      this.unenforced.delete(user); // re-inserted: the newest unenforced goes last
      this.unenforced.add(user);
    }
  }

  private delete(user: string): void {
    if (!this.entries.delete(user)) return;
    this.changes++;
    this.unenforced.delete(user);
    if (user.startsWith('anon:')) this.anonymous--;
  }
}

/** Distinct reasons shared at most (beyond, each entry keeps its own copy). */
const MAX_INTERNED_REASONS = 10_000;

/** One copy of each string among the first `max` distinct ones (memory: 1,000,000 decisions often share a few hundred reasons). */
class Interner {
  private readonly seen = new Map<string, string>();
  constructor(private readonly max: number) {}
  get(s: string): string {
    const known = this.seen.get(s);
    if (known !== undefined) return known;
    if (this.seen.size < this.max) this.seen.set(s, s);
    return s;
  }
}

/** The entry of a decoded record; null for a LIFT, an unknown action, or a value that breaks the schema's shape. */
function toEntry(v: DecisionRecord, reasons: Interner): ActiveDecision | null {
  const action = v.action;
  if (action !== 'BLOCK' && action !== 'CHALLENGE' && action !== 'MONITOR') return null; // LIFT or unknown: none
  if (typeof v.until !== 'number' || !Number.isFinite(v.until) || typeof v.decision_id !== 'string') return null;
  const simulated = v.simulated === true;
  return Object.freeze({
    action: simulated ? 'MONITOR' : action,
    until: v.until,
    reason: reasons.get(truncateUtf8(typeof v.reason === 'string' ? v.reason : '', MAX_KEPT_REASON)),
    decision_id: truncateUtf8(v.decision_id, MAX_KEPT_DECISION_ID),
    simulated,
    simulatedAction: simulated ? action : null,
  });
}
