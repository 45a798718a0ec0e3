// Per-user scoring state: a plain JSON-serializable object (stored with JSON.stringify in LevelDB and
// the changelog), and the small in-place operations on it. Every structure is bounded by the policy,
// whatever the attack rate; see `entryCap`, `contributionCap` and `maxRememberedEvents`.

import type { Contribution, Severity } from '../contracts.ts';
import { MAX_ATTACK_TYPE_BYTES, MAX_EVENT_ID_BYTES } from '../identity.ts';
import type { Policy } from './policy.ts';

/**
 * A contribution candidate as a tuple: how tests, the legacy JSON format and `contributionsOf` show one.
 * The state itself keeps candidates in parallel arrays (see UserState.cn). `seq` is the arrival order
 * among the user's scored events (tie-break: later arrival ranks first); `dom` counts the window events
 * that rank above this one and leave the window no earlier (see addContribution).
 */
export type StoredContribution = [event_id: string, attack_type: string, severity: Severity, points: number, occurred_at: number, seq: number, dom: number];
/** Numbers per candidate in `UserState.cn`, and their places. */
const CN = 4;
const POINTS = 0;
const AT = 1;
const SEQ = 2;
const DOM = 3;
/**
 * An event id kept as bytes of `UserState.cbytes` is the number offset · ID_REF_SCALE + byte length: a
 * small integer (a state is at most MAX_STATE_BYTES, an id at most MAX_EVENT_ID_BYTES).
 */
export const ID_REF_SCALE = 1024;
/** The byte length of a reference to a UUID kept as its 16 bytes (src/state/codec.ts, format 5). */
export const ID_REF_UUID = ID_REF_SCALE - 1;
/** Two lower-case hex digits for each byte value. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/**
 * A user's scoring state: numbers, strings and arrays, and once it has been decoded or encoded
 * (src/state/codec.ts) the value its candidates' event ids refer to (`cbytes`); a state never encoded
 * is plain data (`JSON.parse(JSON.stringify(s))` behaves exactly like it). Treat it as opaque outside
 * src/scoring and src/state; `scoreEvent` mutates it in place, and `encodeState` re-points `cid`.
 */
export interface UserState {
  v: 1;
  /** T: the newest (possibly clamped) event time scored for the user (ms since epoch); null before any. */
  last: number | null;
  /**
   * When the user last counted as active, if later than `last`: the processing clock when the user's
   * last event arrived (ms since epoch); null when that was not after `last` (and in states written
   * before it existed). Idleness is measured from the later of the two (`activeSince`, `isIdle`), so a
   * user whose own events are older than the partition's (a backfill) is not forgotten while they keep
   * arriving. Set by the scorer's processor (`markActive`), never by `scoreEvent`.
   */
  activeAt: number | null;
  /** Lifetime points of all scored events. */
  score: number;
  /** Scored events so far (also the next arrival sequence number). */
  scored: number;
  /** Highest tier alerted since the user was last armed (0 = armed). */
  alerted: number;
  /** Points in the window (T − windowMs, T], i.e. the sum of `ep`. */
  sum: number;
  /** Point-bearing events in the window, i.e. the sum of `ec`. */
  count: number;
  /**
   * Window entries in ascending time: `et` time (ms), `ep` points, `ec` events merged into the entry.
   * Exact per timestamp; coarsened per bucket only beyond `entryCap` (see `coarsen`).
   */
  et: number[];
  ep: number[];
  ec: number[];
  /** Keys (`eventIdKey`) of the ids of the last `maxRememberedEvents` scored events: a ring buffer, oldest at `idPos` once full. */
  ids: IdKey[];
  idPos: number;
  /**
   * Contribution candidates in the window, best first (points desc, then newest, then latest arrival),
   * as parallel arrays rather than an object per candidate: a state is decoded whenever a batch misses
   * the cache, and per-candidate objects and strings were most of what the scorer allocated and kept.
   * `cn`: four numbers each (points, occurred_at, seq, dom); `ctype`, `csev`: attack type and severity;
   * `cid`: the event id, a string, or (for candidates the state had when it was last decoded or
   * encoded) a reference into `cbytes` (`ID_REF_SCALE`), turned into a string only for an alert.
   */
  cn: number[];
  cid: Array<string | number>;
  ctype: string[];
  csev: Severity[];
  /** The encoded state (src/state/codec.ts) the numeric `cid` refer to; null when none does. */
  cbytes: Buffer | null;
  /**
   * Counter-measures (src/decisions): enforced decisions made for the user so far (the escalation
   * step); absent = 0. Set by the scorer's processor, never by `scoreEvent`.
   */
  offenses?: number;
  /** The user's decision record not yet tombstoned (a LIFT included); absent or null = none. */
  dec?: ActiveDecision | null;
}

/** A user's decision as the state keeps it (src/decisions/decide.ts): enough to expire, lift and not weaken it. */
export interface ActiveDecision {
  id: string;
  action: 'MONITOR' | 'CHALLENGE' | 'BLOCK' | 'LIFT';
  source: 'POLICY' | 'MANUAL';
  /** ms since epoch. */
  until: number;
}

/**
 * Most bytes a user's encoded state may take (src/state/codec.ts), whatever the input: it is one
 * changelog record, and must stay well below the broker's message.max.bytes (1 MiB by default) and the
 * scorer's produce requests (512 KiB). The scoring configuration is refused when `stateBytesBound`
 * exceeds it (src/config/scoring.ts).
 */
export const MAX_STATE_BYTES = 256 * 1024;

/**
 * The most bytes the state codec can write for one user under `policy`, for events within the limits
 * of src/identity.ts (the scorer refuses longer event ids and truncates longer attack types before
 * scoring). Each part at its worst: the header and counts (96), decision memory (49), window entries (`entryCap` × 26: a
 * time, a points number, a merged count), remembered ids (`maxRememberedEvents` × 43: a short id is
 * kept as its ≤ 14 UTF-16 units, ≤ 42 bytes of UTF-8, longer ones as 9-byte hashes), contribution
 * candidates (`contributionCap` × 354: a 256-byte event id, a 64-byte attack type, severity, points,
 * time, sequence and rank). 104 KiB with the defaults; `test/state/codec.test.ts` fills a state to it.
 */
export function stateBytesBound(policy: Pick<Policy, 'windowMs' | 'bucketMs' | 'maxContributions' | 'maxRememberedEvents'>): number {
  const contribution = 2 + MAX_EVENT_ID_BYTES + 2 + 2 + MAX_ATTACK_TYPE_BYTES + 1 + 9 + 9 + 8 + 1;
  return 96 + DECISION_MEMORY_BYTES + entryCap(policy) * 26 + policy.maxRememberedEvents * 43 + contributionCap(policy) * contribution;
}

/** Most bytes of a state's decision memory (codec: offenses, action, source, until, a 32-char id). */
const DECISION_MEMORY_BYTES = 5 + 1 + 1 + 9 + 1 + 32;

/**
 * Approximate memory of a decoded state, for the scorer's hot-user cache budget: V8 heap (objects,
 * arrays, strings) plus the encoded value its candidates' ids refer to (`cbytes`, outside the heap). A
 * fit of measured heap per decoded state (docs/benchmarks.md, "Contribution candidates without an
 * object each"): ~1.8 KB for a user with one event, ~2.6 KB with ten, within ~7 % up to thirty.
 */
export function approxHeapBytes(s: UserState): number {
  let bytes = 1700 + 12 * s.et.length + 12 * s.ids.length + 20 * s.ctype.length + (s.cbytes?.length ?? 0);
  const cid = s.cid;
  for (let i = 0; i < cid.length; i++) {
    const id = cid[i]!;
    if (typeof id === 'string') bytes += 24 + id.length;
  }
  return bytes;
}

/** A fresh state for a user never seen. */
export function emptyUserState(): UserState {
  return { v: 1, last: null, activeAt: null, score: 0, scored: 0, alerted: 0, sum: 0, count: 0, et: [], ep: [], ec: [], ids: [], idPos: 0, cn: [], cid: [], ctype: [], csev: [], cbytes: null };
}

/**
 * Records that an event of the user arrived at `nowMs` (the processing clock): afterwards the user is
 * idle only once `nowMs` is a TTL behind the idle scan's horizon too. Returns whether the state changed
 * (it must then be written).
 */
export function markActive(state: UserState, nowMs: number): boolean {
  const since = activeSince(state.last, state.activeAt);
  const next = since !== null && since >= nowMs ? since : nowMs;
  const stored = state.last !== null && next <= state.last ? null : next; // T says as much: nothing to keep
  if (stored === state.activeAt) return false;
  state.activeAt = stored;
  return true;
}

/** The time from which a user counts as idle: the later of T and `activeAt` (null: no event yet). */
export function activeSince(last: number | null, activeAt: number | null): number | null {
  return activeAt !== null && (last === null || activeAt > last) ? activeAt : last;
}

/**
 * Whether a user active since `last` (`activeSince` of a state: the later of its T and the clock when
 * its last event arrived) can be forgotten at time `nowMs` (the scorer passes its partition's stream
 * time, capped by the clock): nothing newer than `ttlMs` ago. So a user is forgotten only when no event
 * of theirs arrived for a TTL of processing time AND their newest event time is a TTL behind the
 * partition's. With ttlMs > windowMs + lateGraceMs nothing in their window can still count, and a state
 * that never scored (`last` null) holds nothing.
 */
export function isIdle(last: number | null, nowMs: number, ttlMs: number): boolean {
  return last === null || last <= nowMs - ttlMs;
}

/** Shallow structural check for a decoded state (e.g. read from LevelDB or the changelog). */
export function isUserState(x: unknown): x is UserState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Partial<UserState>;
  return (
    s.v === 1 &&
    (s.last === null || typeof s.last === 'number') &&
    (s.activeAt === undefined || s.activeAt === null || typeof s.activeAt === 'number') &&
    typeof s.score === 'number' &&
    typeof s.scored === 'number' &&
    typeof s.alerted === 'number' &&
    typeof s.sum === 'number' &&
    typeof s.count === 'number' &&
    Array.isArray(s.et) &&
    Array.isArray(s.ep) &&
    Array.isArray(s.ec) &&
    s.et.length === s.ep.length &&
    s.et.length === s.ec.length &&
    Array.isArray(s.ids) &&
    typeof s.idPos === 'number' &&
    Array.isArray(s.cn) &&
    Array.isArray(s.cid) &&
    Array.isArray(s.ctype) &&
    Array.isArray(s.csev) &&
    s.cid.length === s.ctype.length &&
    s.csev.length === s.ctype.length &&
    s.cn.length === CN * s.ctype.length &&
    (s.cbytes === null || s.cbytes instanceof Uint8Array)
  );
}

// ---------------------------------------------------------------------------------------------------
// Window entries

/** Entries needed to hold the whole window at one entry per bucket: (T − W, T] meets at most this many. */
function bucketTarget(policy: Pick<Policy, 'windowMs' | 'bucketMs'>): number {
  return Math.ceil(policy.windowMs / policy.bucketMs) + 1;
}

/**
 * Most window entries a state holds (1441 + 721 = 2162 with 24 h / 1 min). Below it every entry is an
 * exact (timestamp, points) pair; above it `coarsen` runs. The slack between `bucketTarget` and the
 * cap makes coarsening amortized O(1) per event.
 */
export function entryCap(policy: Pick<Policy, 'windowMs' | 'bucketMs'>): number {
  const target = bucketTarget(policy);
  return target + Math.max(64, Math.ceil(target / 2));
}

/** Drops entries and contribution candidates at or before `start` (they left the window). */
export function evict(state: UserState, start: number): void {
  const { et, ep, ec } = state;
  let k = 0;
  while (k < et.length && (et[k] as number) <= start) {
    state.sum -= ep[k] as number;
    state.count -= ec[k] as number;
    k++;
  }
  if (k > 0) {
    et.splice(0, k);
    ep.splice(0, k);
    ec.splice(0, k);
  }
  const cn = state.cn;
  const n = state.ctype.length;
  let w = 0;
  for (let r = 0; r < n; r++) {
    if ((cn[r * CN + AT] as number) <= start) continue;
    if (w !== r) moveCandidate(state, r, w);
    w++;
  }
  if (w < n) truncateCandidates(state, w);
}

/** Adds `points` (> 0) at time `t` to the window, merging an equal timestamp. */
export function addEntry(state: UserState, t: number, points: number, policy: Policy): void {
  const { et, ep, ec } = state;
  const n = et.length;
  if (n === 0 || (et[n - 1] as number) < t) {
    // In-order arrival: the common case, O(1).
    et.push(t);
    ep.push(points);
    ec.push(1);
  } else {
    // Out of order: binary search for the first entry at or after t.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((et[mid] as number) < t) lo = mid + 1;
      else hi = mid;
    }
    if (et[lo] === t) {
      ep[lo] = (ep[lo] as number) + points;
      ec[lo] = (ec[lo] as number) + 1;
    } else {
      et.splice(lo, 0, t);
      ep.splice(lo, 0, points);
      ec.splice(lo, 0, 1);
    }
  }
  state.sum += points;
  state.count += 1;
  if (et.length > entryCap(policy)) coarsen(state, policy);
}

/**
 * Bounds the entries of a flooding user: starting from the oldest, merges the entries of each
 * `bucketMs` bucket into one entry at the bucket's LATEST merged timestamp, until at most
 * `bucketTarget` entries remain (always reachable: all entries lie in the window, which meets at most
 * that many buckets). Conservative: a merged point stays in the window up to bucketMs − 1 ms longer
 * than exact, never shorter, so an alert may come slightly early or a re-arm slightly late, never the
 * reverse. Sums and counts are unchanged by coarsening itself.
 */
function coarsen(state: UserState, policy: Policy): void {
  const { et, ep, ec } = state;
  const n = et.length;
  const target = bucketTarget(policy);
  const b = policy.bucketMs;
  const nt: number[] = [];
  const np: number[] = [];
  const nc: number[] = [];
  let i = 0;
  while (i < n && nt.length + (n - i) > target) {
    const bucket = Math.floor((et[i] as number) / b);
    let t = et[i] as number;
    let p = 0;
    let c = 0;
    while (i < n && Math.floor((et[i] as number) / b) === bucket) {
      t = et[i] as number;
      p += ep[i] as number;
      c += ec[i] as number;
      i++;
    }
    nt.push(t);
    np.push(p);
    nc.push(c);
  }
  for (; i < n; i++) {
    nt.push(et[i] as number);
    np.push(ep[i] as number);
    nc.push(ec[i] as number);
  }
  state.et = nt;
  state.ep = np;
  state.ec = nc;
}

// ---------------------------------------------------------------------------------------------------
// Contributions: the exact "K-skyline" of the window.
//
// An event e can appear in a future top-K only while fewer than K window events both rank above it
// and leave the window no earlier than it (those stay ahead of e until e itself leaves; events only
// leave by age). Keeping exactly the events with fewer than K such "dominators" therefore gives the
// exact top-K at every later time. With P distinct point values in the window it holds at most P × K
// events (K per value); a hard cap bounds it for adversarial point values.

/** Most contribution candidates kept (80 with the default maxContributions of 10). */
export function contributionCap(policy: Pick<Policy, 'maxContributions'>): number {
  return Math.max(64, 8 * policy.maxContributions);
}

/** Candidates in the state. */
export function candidateCount(state: UserState): number {
  return state.ctype.length;
}

/** Whether candidate `i` ranks before (points, at, seq): more points first, then the newer event, then the later arrival. */
function ranksBefore(cn: number[], i: number, points: number, at: number, seq: number): boolean {
  const b = i * CN;
  const p = cn[b + POINTS] as number;
  if (p !== points) return p > points;
  const t = cn[b + AT] as number;
  if (t !== at) return t > at;
  return (cn[b + SEQ] as number) > seq;
}

/** Copies candidate `from` to place `to` (to < from): the arrays are compacted in place. */
function moveCandidate(state: UserState, from: number, to: number): void {
  const cn = state.cn;
  const f = from * CN;
  const t = to * CN;
  cn[t] = cn[f] as number;
  cn[t + 1] = cn[f + 1] as number;
  cn[t + 2] = cn[f + 2] as number;
  cn[t + 3] = cn[f + 3] as number;
  state.cid[to] = state.cid[from] as string | number;
  state.ctype[to] = state.ctype[from] as string;
  state.csev[to] = state.csev[from] as Severity;
}

function truncateCandidates(state: UserState, n: number): void {
  state.cn.length = n * CN;
  state.cid.length = n;
  state.ctype.length = n;
  state.csev.length = n;
  if (n === 0) state.cbytes = null;
}

/** Appends a candidate as it is (the codec's decoding: the candidates arrive best first). */
export function pushCandidate(state: UserState, id: string | number, type: string, severity: Severity, points: number, at: number, seq: number, dom: number): void {
  state.cn.push(points, at, seq, dom);
  state.cid.push(id);
  state.ctype.push(type);
  state.csev.push(severity);
}

/**
 * Adds a new window event (points > 0, at its clamped time `at`, arrival `seq`) to the candidates,
 * dropping those it makes irrelevant.
 */
export function addContribution(state: UserState, eventId: string, type: string, severity: Severity, points: number, at: number, seq: number, policy: Policy): void {
  const cn = state.cn;
  const n = state.ctype.length;
  const k = policy.maxContributions;
  // Members ranked before x come first (the list is sorted); count those that also outlive x.
  let pos = 0;
  let dom = 0;
  while (pos < n && ranksBefore(cn, pos, points, at, seq)) {
    if ((cn[pos * CN + AT] as number) >= at) dom++;
    pos++;
  }
  if (dom >= k) return; // never again in a top-K (and then it dominates no member either)
  // Members after x that x outlives gain a dominator; drop those reaching K.
  let w = pos;
  for (let r = pos; r < n; r++) {
    const b = r * CN;
    if (at >= (cn[b + AT] as number)) {
      const d = (cn[b + DOM] as number) + 1;
      cn[b + DOM] = d;
      if (d >= k) continue;
    }
    if (w !== r) moveCandidate(state, r, w);
    w++;
  }
  if (w < n) truncateCandidates(state, w);
  cn.splice(pos * CN, 0, points, at, seq, dom);
  state.cid.splice(pos, 0, eventId);
  state.ctype.splice(pos, 0, type);
  state.csev.splice(pos, 0, severity);
  const cap = contributionCap(policy);
  if (state.ctype.length > cap) truncateCandidates(state, cap); // drop the lowest ranked (exactness lost only here)
}

/** Candidate `i`'s event id (read from `cbytes` when kept there). */
function candidateId(state: UserState, i: number): string {
  const id = state.cid[i] as string | number;
  if (typeof id === 'string') return id;
  const off = Math.floor(id / ID_REF_SCALE);
  const len = id % ID_REF_SCALE;
  const b = state.cbytes as Buffer;
  if (len !== ID_REF_UUID) return b.toString('utf8', off, off + len);
  let uuid = '';
  for (let i = 0; i < 16; i++) uuid += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + HEX[b[off + i]!];
  return uuid;
}

/** Candidate `i` as a tuple (tests, tools and the legacy formats). */
function contributionAt(state: UserState, i: number): StoredContribution {
  const b = i * CN;
  const cn = state.cn;
  return [candidateId(state, i), state.ctype[i] as string, state.csev[i] as Severity, cn[b + POINTS] as number, cn[b + AT] as number, cn[b + SEQ] as number, cn[b + DOM] as number];
}

/** Every candidate as a tuple, best first. */
export function contributionsOf(state: UserState): StoredContribution[] {
  const out: StoredContribution[] = [];
  for (let i = 0; i < state.ctype.length; i++) out.push(contributionAt(state, i));
  return out;
}

/** Replaces the candidates with `list` (best first, as `contributionsOf` gives them). */
export function setContributions(state: UserState, list: readonly StoredContribution[]): void {
  truncateCandidates(state, 0);
  for (const c of list) pushCandidate(state, c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
}

/** The best `max` candidates as public contributions (fresh objects, internal fields stripped). */
export function topContributions(state: UserState, max: number): Contribution[] {
  const n = Math.min(max, state.ctype.length);
  const out: Contribution[] = new Array(n);
  const cn = state.cn;
  for (let i = 0; i < n; i++) {
    out[i] = { event_id: candidateId(state, i), attack_type: state.ctype[i] as string, severity: state.csev[i] as Severity, points: cn[i * CN + POINTS] as number, occurred_at: cn[i * CN + AT] as number };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Remembered event ids (duplicate detection)

/** What the duplicate ring remembers of an event id: see `eventIdKey`. */
export type IdKey = string | number;

/**
 * What the duplicate ring stores for an event id: short ids (≤ 14 UTF-16 units) as they are, longer ones
 * (UUIDs…) as a 53-bit hash in a Number (an integer below 2^53): the ring is written to the changelog
 * with every change of the user, and a number is 8 bytes there, allocates no string and compares in
 * one step. Two different long ids collide with probability 2^-53, far below a ring's 512 ids.
 */
export function eventIdKey(id: string): IdKey {
  if (id.length <= 14) return id;
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c ^ id.length;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 13;
  }
  h1 ^= h1 >>> 15;
  h1 = Math.imul(h1, 0x2c1b3c6d);
  h1 ^= h1 >>> 12;
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0x297a2d39);
  h2 ^= h2 >>> 15;
  return hashKey(h1 >>> 0, h2 >>> 0);
}

/** The 53 bits kept of the two 32-bit hashes: all of h1, the high 21 bits of h2. */
function hashKey(h1: number, h2: number): number {
  return h1 * 2 ** 21 + (h2 >>> 11);
}

/** Format of the keys versions before numeric keys stored for long ids: '#', h1 in base 36, h2 in 7 base-36 digits. */
const LEGACY_HASH_KEY = /^#([0-9a-z]{1,7})([0-9a-z]{7})$/;

/**
 * A remembered key as this version stores it: keys that earlier versions wrote for long ids ('#' and
 * the two hashes in base 36, in states and changelogs from before numeric keys) become the number
 * `eventIdKey` now gives the same id, so a retry sent across an upgrade is still recognised. (A short
 * id of that exact shape, '#' and 8–14 base-36 digits, is read as a hash too; it then misses as a
 * duplicate only if retried across that one upgrade.)
 */
export function upgradeIdKey(k: IdKey): IdKey {
  if (typeof k === 'number' || k.length < 9 || k.charCodeAt(0) !== 0x23) return k;
  const m = LEGACY_HASH_KEY.exec(k);
  if (!m) return k;
  const h1 = parseInt(m[1]!, 36);
  const h2 = parseInt(m[2]!, 36);
  return h1 <= 0xffffffff && h2 <= 0xffffffff ? hashKey(h1, h2) : k;
}

/** Whether `id` (an `eventIdKey`) is remembered; normalizes the ring if maxRememberedEvents shrank since it was written. */
export function isRemembered(state: UserState, id: IdKey, max: number): boolean {
  if (state.ids.length > max) {
    const ordered = state.ids.slice(state.idPos).concat(state.ids.slice(0, state.idPos));
    state.ids = ordered.slice(ordered.length - max);
    state.idPos = 0;
  }
  // A linear scan, whatever the ring's length: most states are used once after decoding, and a Set
  // built for each cost far more than the scan (docs/benchmarks.md, "The long run").
  return state.ids.includes(id);
}

/** Remembers a scored event id, forgetting the oldest once `max` are remembered. */
export function remember(state: UserState, id: IdKey, max: number): void {
  let ids = state.ids;
  if (ids.length < max) {
    if (state.idPos !== 0) {
      // max grew since the ring filled up: lay it out oldest first again before growing it.
      ids = state.ids = ids.slice(state.idPos).concat(ids.slice(0, state.idPos));
      state.idPos = 0;
    }
    ids.push(id);
  } else {
    const pos = state.idPos % ids.length;
    ids[pos] = id;
    state.idPos = (pos + 1) % ids.length;
  }
}
