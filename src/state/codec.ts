import { SEVERITIES, type Severity } from '../contracts.ts';
import type { IdKey, StoredContribution, UserState } from '../scoring/index.ts';
import type { ActiveDecision } from '../scoring/state.ts';
import { MAX_ATTACK_TYPE_BYTES, MAX_EVENT_ID_BYTES, truncateUtf8 } from '../identity.ts';
import { activeSince, emptyUserState, ID_REF_SCALE, ID_REF_UUID, pushCandidate, setContributions, upgradeIdKey } from '../scoring/index.ts';

// The changelog / LevelDB value of a user's state: a compact binary layout, written for every user a
// batch changes (one per event on a stream of many users), so it is on the scorer's hot path and its
// size is what the changelog topic, the producer, the broker and LevelDB carry. JSON.stringify took
// ~10 µs for a state with ten events (~1.1 KB); format 2 ~4.5 µs (~960 bytes); format 3 ~540 bytes;
// format 5 ~440 bytes with UUID event ids.
//
// Format 5 is format 4 below with one difference: a contribution's event id is `eid` instead of `str`,
// uv 0 then the 16 bytes of a UUID in its canonical form (36 characters, lower-case hex and four
// dashes: what crypto.randomUUID() and the agents draw), else uv (byte length + 1) then UTF-8 bytes.
//
// Format 4 (numbers little-endian; `uv` = unsigned LEB128 varint; `str` = uv byte length + UTF-8 bytes;
// `num` = uv 2·v for an integer 0 ≤ v < 2^52, else uv 1 then f64 v; `time` = num of the distance back
// from `last` (entries: from the previous entry) when the state is in delta mode, else f64):
//   u8 4 | u8 flags (1: has last, 2: delta mode, 4: activeAt as num (activeAt − last) follows, 8:
//   activeAt as f64 follows, 16: decision memory follows) | f64 last | [activeAt] | [decision memory]
//   | num score | num sum | uv scored | uv alerted
//   uv count | uv idPos
//   uv n | n × (time et, num ep, uv ec)
//   uv n | n × id
//   uv n | n × (str event_id, type, severity, num points, time occurred_at, uv seq, uv dom)
// where decision memory (src/decisions: only users ever decided on carry it, so every other state
// is byte-identical to one written before it existed) is uv offenses | u8 action index in
// DECISION_ACTIONS, 0xff = no decision | [u8 source (0 POLICY, 1 MANUAL) | num until | str id],
// `id` (an `eventIdKey`) is uv 0 then the f64 of a numeric key, or uv (byte length + 1) then the
// UTF-8 bytes of a string key; `type` is uv k: 0 = a str follows (the state's next new attack type), k > 0 = the k-th new one,
// and `severity` is u8 index in SEVERITIES, or 0xff then str. Delta mode: `last` and every time are
// integers in [0, 2^52], so every distance is exact (event times in ms are ~2^41).
// Still read: format 4, format 3 (format 4 without activeAt: u8 3 | u8 flags (1, 2) | f64 last | num score | …,
// activeAt null), format 2 (u8 2 | u8 hasLast | f64 last | f64 score | f64 sum | uv scored | uv alerted |
// uv count | uv idPos | uv n × (f64 et, f64 ep, uv ec) | uv n × str id | uv n × (str event_id,
// str attack_type, str severity, f64 points, f64 occurred_at, uv seq, uv dom)) and JSON (first byte `{`),
// their hashed id keys ('#…' strings) upgraded to numbers (`upgradeIdKey`).
//
// A decoded state keeps its candidates' event ids as references into the value it was decoded from
// (UserState.cbytes), and `encodeState` re-points them at the value it returns: ids are copied as bytes
// from one version of the state to the next and become strings only when an alert carries them.

const FORMAT = 5;
const FORMAT_4 = 4;
const FORMAT_3 = 3;
const FORMAT_2 = 2;
const JSON_OPEN = 0x7b;
const HAS_LAST = 1;
const DELTA = 2;
const ACTIVE_DELTA = 4;
const ACTIVE_F64 = 8;
const HAS_DECISION = 16;
const NO_DECISION = 0xff;
const DECISION_ACTIONS = ['MONITOR', 'CHALLENGE', 'BLOCK', 'LIFT'] as const;
/** Integers below this are written as varints by `num` (2·v stays a safe integer). */
const NUM_INT_LIMIT = 2 ** 52;
const SEVERITY_LITERAL = 0xff;
/**
 * Bytes a string's write also makes room for after it: the most `encodeState` writes after a string
 * before its next `ensure` (after a contribution's event id: the type's varint, a severity byte, two
 * nums and two varints, 1 + 1 + 9 + 9 + 8 + 8 = 36).
 */
const STR_TAIL = 48;

/** The scratch's starting size; `encodeState` makes room for its header (at most 69 bytes) first. */
const SCRATCH_BYTES = 64 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
let view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);

/** For tests: starts the scratch buffer again at `bytes` (≥ 64), so that its growth is exercised at any size. */
export function resetScratch(bytes = SCRATCH_BYTES): void {
  scratch = Buffer.allocUnsafe(Math.max(64, bytes));
  view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
}

/** Delta mode: `last` and every entry and contribution time are integers in [0, 2^52]. */
function deltaMode(s: UserState): boolean {
  // Indexed loops with the test inline: a call per element boxed each double read from the arrays.
  const last = s.last;
  if (last === null || !(last >= 0 && last <= NUM_INT_LIMIT && Math.floor(last) === last)) return false;
  const et = s.et;
  for (let i = 0; i < et.length; i++) {
    const t = et[i]!;
    if (!(t >= 0 && t <= NUM_INT_LIMIT && Math.floor(t) === t)) return false;
  }
  const cn = s.cn;
  for (let i = 1; i < cn.length; i += CN) {
    const t = cn[i]!;
    if (!(t >= 0 && t <= NUM_INT_LIMIT && Math.floor(t) === t)) return false;
  }
  return true;
}

/** Numbers per candidate in UserState.cn (points, occurred_at, seq, dom). */
const CN = 4;
/** Where `encodeState` wrote each candidate's id (ID_REF_SCALE references into its output), reused. */
const written: number[] = [];

export function encodeState(s: UserState): Buffer {
  const delta = deltaMode(s);
  const last = s.last ?? 0;
  const w = new Writer();
  w.ensure(100); // the header: 69 bytes, and decision memory without its id (16; the id's `str` makes its own room)
  const active = s.activeAt;
  // In delta mode an integer activeAt after `last` is a small distance forward (a few bytes).
  const activeDelta = active !== null && delta && active > last && active - last < NUM_INT_LIMIT && Math.floor(active) === active;
  const dec = s.dec ?? null;
  const hasDecision = dec !== null || (s.offenses ?? 0) > 0;
  w.u8(FORMAT);
  w.u8((s.last === null ? 0 : HAS_LAST) | (delta ? DELTA : 0) | (active === null ? 0 : activeDelta ? ACTIVE_DELTA : ACTIVE_F64) | (hasDecision ? HAS_DECISION : 0));
  w.f64(last);
  if (active !== null) {
    if (activeDelta) w.num(active - last);
    else w.f64(active);
  }
  if (hasDecision) {
    w.uv(s.offenses ?? 0);
    if (dec === null) w.u8(NO_DECISION);
    else {
      w.u8(DECISION_ACTIONS.indexOf(dec.action));
      w.u8(dec.source === 'MANUAL' ? 1 : 0);
      w.num(dec.until);
      w.str(dec.id);
    }
  }
  w.num(s.score);
  w.num(s.sum);
  w.uv(s.scored);
  w.uv(s.alerted);
  w.uv(s.count);
  w.uv(s.idPos);
  const n = s.et.length;
  w.ensure(9 + n * 26);
  w.uv(n);
  let prev = last;
  for (let i = 0; i < n; i++) {
    const t = s.et[i]!;
    if (delta) {
      // Entries ascend, so the first is written back from `last` and each next one forward from the one before.
      w.num(i === 0 ? last - t : t - prev);
      prev = t;
    } else w.f64(t);
    w.num(s.ep[i]!);
    w.uv(s.ec[i]!);
  }
  const ids = s.ids;
  w.ensure(9);
  w.uv(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (typeof id === 'number') {
      w.ensure(9);
      w.uv(0);
      w.f64(id);
    } else w.str(id, 1);
  }
  const nc = s.ctype.length;
  w.ensure(9);
  w.uv(nc);
  const types: string[] = [];
  const cn = s.cn;
  const cid = s.cid;
  written.length = nc;
  for (let i = 0; i < nc; i++) {
    const id = cid[i]!;
    // The id (and room for the rest of the candidate: STR_TAIL), as bytes from the value the state
    // was decoded from or last encoded into, else from its string.
    written[i] = typeof id === 'string' ? w.eidRef(id) : w.bytesRef(s.cbytes!, id);
    const type = s.ctype[i]!;
    const k = types.indexOf(type);
    if (k < 0) {
      w.uv(0);
      w.str(type);
      types.push(type);
    } else w.uv(k + 1);
    const severity = s.csev[i]!;
    const sev = SEVERITIES.indexOf(severity);
    if (sev < 0) {
      w.u8(SEVERITY_LITERAL);
      w.str(severity);
    } else w.u8(sev);
    const b = i * CN;
    w.num(cn[b]!);
    if (delta) w.num(last - cn[b + 1]!);
    else w.f64(cn[b + 1]!);
    w.uv(cn[b + 2]!);
    w.uv(cn[b + 3]!);
  }
  const out = Buffer.allocUnsafe(w.off);
  scratch.copy(out, 0, 0, w.off);
  // The ids now live in `out` too: the state refers to them there (strings let go; ids too long to
  // refer to, which only a state written before src/identity.ts's limits holds, stay strings).
  s.cbytes = nc > 0 ? out : null;
  for (let i = 0; i < nc; i++) if (written[i]! >= 0) cid[i] = written[i]!;
  return out;
}

/**
 * Only the time from which the user counts as idle, without decoding the rest: `activeSince` of the
 * state, the later of T (its newest event time) and `activeAt` (the partition's stream time at its last
 * event). Null before any event; undefined when `b` is not a state. The idle-user scan reads this.
 */
export function peekLast(b: Buffer): number | null | undefined {
  return peekTimes(b)?.since;
}

/**
 * `peekLast`, and when the user's decision record ends (ms; null when there is none to tombstone),
 * without decoding the rest: the idle-user scan reads both.
 */
export function peekTimes(b: Buffer): { since: number | null; decisionUntil: number | null } | undefined {
  // Formats 2 to 5 all start u8 format | u8 (bit 0: has last) | f64 last; formats 4 and 5 then activeAt.
  if (b.length >= 10 && (b[0] === FORMAT_3 || b[0] === FORMAT_2)) return { since: b[1]! & HAS_LAST ? b.readDoubleLE(2) : null, decisionUntil: null };
  if (b.length >= 10 && (b[0] === FORMAT || b[0] === FORMAT_4)) {
    try {
      const r = new Reader(b);
      const h = readHeader(r);
      return h === undefined ? undefined : { since: activeSince(h.last, h.activeAt), decisionUntil: h.dec?.until ?? null };
    } catch {
      return undefined;
    }
  }
  const s = b[0] === JSON_OPEN ? decodeState(b) : undefined;
  return s === undefined ? undefined : { since: activeSince(s.last, s.activeAt), decisionUntil: null };
}

/** The state in a stored value, or undefined when the value is not one (it is then ignored, as before). */
export function decodeState(b: Buffer): UserState | undefined {
  if (b.length === 0) return undefined;
  if (b[0] === JSON_OPEN) {
    try {
      const s = fromJson(JSON.parse(b.toString('utf8')));
      return s === undefined ? undefined : clipLegacy(s);
    } catch {
      return undefined;
    }
  }
  try {
    const r = new Reader(b);
    const s = b[0] === FORMAT || b[0] === FORMAT_4 || b[0] === FORMAT_3 ? readFormat345(r, b[0]) : b[0] === FORMAT_2 ? readFormat2(r) : undefined;
    return s !== undefined && r.off === b.length ? clipLegacy(s) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Cuts contribution event ids and attack types to the limits of src/identity.ts. Only states written
 * before those limits can hold longer ones (the scorer now refuses or truncates them on arrival);
 * clipped, such a state is back within `stateBytesBound` at its next write instead of growing toward
 * the broker's message limit.
 */
function clipLegacy(s: UserState): UserState {
  for (let i = 0; i < s.ctype.length; i++) {
    const id = s.cid[i]!;
    if (typeof id === 'string') s.cid[i] = truncateUtf8(id, MAX_EVENT_ID_BYTES);
    s.ctype[i] = truncateUtf8(s.ctype[i]!, MAX_ATTACK_TYPE_BYTES);
  }
  return s;
}

/** The JSON form the first versions wrote: the fields of then, contribution candidates as tuples in `top`. */
type JsonState = Pick<UserState, 'v' | 'last' | 'score' | 'scored' | 'alerted' | 'sum' | 'count' | 'et' | 'ep' | 'ec' | 'ids' | 'idPos'> & {
  activeAt?: number | null;
  top: StoredContribution[];
};

const isNum = (x: unknown): x is number => typeof x === 'number';

function isJsonState(x: unknown): x is JsonState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Partial<JsonState>;
  return (
    s.v === 1 &&
    (s.last === null || isNum(s.last)) &&
    (s.activeAt === undefined || s.activeAt === null || isNum(s.activeAt)) &&
    [s.score, s.scored, s.alerted, s.sum, s.count, s.idPos].every(isNum) &&
    Array.isArray(s.et) &&
    Array.isArray(s.ep) &&
    Array.isArray(s.ec) &&
    s.et.length === s.ep.length &&
    s.et.length === s.ec.length &&
    [s.et, s.ep, s.ec].every((a) => a.every(isNum)) &&
    Array.isArray(s.ids) &&
    s.ids.every((k) => typeof k === 'string' || isNum(k)) &&
    Array.isArray(s.top) &&
    s.top.every((c) => Array.isArray(c) && c.length === 7 && typeof c[0] === 'string' && typeof c[1] === 'string' && typeof c[2] === 'string' && c.slice(3).every(isNum))
  );
}

function fromJson(x: unknown): UserState | undefined {
  if (!isJsonState(x)) return undefined;
  const s = emptyUserState();
  s.last = x.last;
  s.activeAt = x.activeAt ?? null; // activeAt did not exist when JSON was written
  s.score = x.score;
  s.scored = x.scored;
  s.alerted = x.alerted;
  s.sum = x.sum;
  s.count = x.count;
  s.et = x.et;
  s.ep = x.ep;
  s.ec = x.ec;
  s.ids = x.ids.map(upgradeIdKey);
  s.idPos = x.idPos;
  setContributions(s, x.top);
  return s;
}

/** The header of formats 3, 4 and 5, up to and including activeAt; undefined when its flags are invalid. */
interface Header {
  delta: boolean;
  last: number | null;
  lastRaw: number;
  activeAt: number | null;
  /** Present (with offenses ≥ 0) only when the state carries decision memory. */
  offenses: number | undefined;
  dec: ActiveDecision | null;
}

function readHeader(r: Reader): Header | undefined {
  const format = r.u8();
  const flags = r.u8();
  const allowed = format === FORMAT || format === FORMAT_4 ? HAS_LAST | DELTA | ACTIVE_DELTA | ACTIVE_F64 | HAS_DECISION : HAS_LAST | DELTA;
  if ((flags & ~allowed) !== 0 || (flags & DELTA && !(flags & HAS_LAST))) return undefined;
  if ((flags & ACTIVE_DELTA && flags & ACTIVE_F64) || (flags & ACTIVE_DELTA && !(flags & DELTA))) return undefined;
  const lastRaw = r.f64();
  const activeAt = flags & ACTIVE_DELTA ? lastRaw + r.num() : flags & ACTIVE_F64 ? r.f64() : null;
  let offenses: number | undefined;
  let dec: ActiveDecision | null = null;
  if (flags & HAS_DECISION) {
    offenses = r.uv();
    const action = r.u8();
    if (action !== NO_DECISION) {
      if (action >= DECISION_ACTIONS.length) return undefined;
      const source = r.u8();
      if (source > 1) return undefined;
      dec = { id: '', action: DECISION_ACTIONS[action]!, source: source === 1 ? 'MANUAL' : 'POLICY', until: r.num() };
      dec.id = r.str();
    }
  }
  return { delta: (flags & DELTA) !== 0, last: flags & HAS_LAST ? lastRaw : null, lastRaw, activeAt, offenses, dec };
}

/** Formats 3, 4 and 5 (`format`): the same layout but for activeAt (4 and 5) and the contributions' ids (5). */
function readFormat345(r: Reader, format: number): UserState | undefined {
  const h = readHeader(r);
  if (h === undefined) return undefined;
  const delta = h.delta;
  const last = h.lastRaw;
  // Keys in emptyUserState's order, so decoded and fresh states share one object shape.
  const s: UserState = { v: 1, last: h.last, activeAt: h.activeAt, score: r.num(), scored: 0, alerted: 0, sum: r.num(), count: 0, et: [], ep: [], ec: [], ids: [], idPos: 0, cn: [], cid: [], ctype: [], csev: [], cbytes: null };
  s.scored = r.uv();
  s.alerted = r.uv();
  s.count = r.uv();
  s.idPos = r.uv();
  const n = r.count();
  let prev = last;
  for (let i = 0; i < n; i++) {
    if (delta) {
      const d = r.num();
      prev = i === 0 ? last - d : prev + d;
      s.et.push(prev);
    } else s.et.push(r.f64());
    s.ep.push(r.num());
    s.ec.push(r.uv());
  }
  const ni = r.count();
  for (let i = 0; i < ni; i++) s.ids.push(r.idKey());
  const nt = r.count();
  const types: string[] = [];
  if (nt > 0) s.cbytes = r.bytes;
  for (let i = 0; i < nt; i++) {
    const id = format === FORMAT ? r.eidRef() : r.strRef();
    const k = r.uv();
    let type: string;
    if (k === 0) types.push((type = r.str()));
    else if (k <= types.length) type = types[k - 1]!;
    else return undefined;
    const sevByte = r.u8();
    let severity: Severity;
    if (sevByte === SEVERITY_LITERAL) severity = r.str() as Severity;
    else if (sevByte < SEVERITIES.length) severity = SEVERITIES[sevByte]!;
    else return undefined;
    const points = r.num();
    const at = delta ? last - r.num() : r.f64();
    pushCandidate(s, id, type, severity, points, at, r.uv(), r.uv());
  }
  if (h.offenses !== undefined) {
    s.offenses = h.offenses;
    s.dec = h.dec;
  }
  return s;
}

function readFormat2(r: Reader): UserState {
  r.u8();
  const hasLast = r.u8();
  const last = r.f64();
  const score = r.f64();
  const sum = r.f64();
  const scored = r.uv();
  const alerted = r.uv();
  const count = r.uv();
  const idPos = r.uv();
  const s: UserState = { v: 1, last: hasLast ? last : null, activeAt: null, score, scored, alerted, sum, count, et: [], ep: [], ec: [], ids: [], idPos, cn: [], cid: [], ctype: [], csev: [], cbytes: null };
  const n = r.count();
  for (let i = 0; i < n; i++) {
    s.et.push(r.f64());
    s.ep.push(r.f64());
    s.ec.push(r.uv());
  }
  const ni = r.count();
  for (let i = 0; i < ni; i++) s.ids.push(upgradeIdKey(r.str()));
  const nt = r.count();
  if (nt > 0) s.cbytes = r.bytes;
  for (let i = 0; i < nt; i++) pushCandidate(s, r.strRef(), r.str(), r.str() as Severity, r.f64(), r.f64(), r.uv(), r.uv());
  return s;
}

/** Writes into the module's scratch buffer, which grows (keeping what is written) when a state needs more. */
class Writer {
  off = 0;

  /**
   * Makes room for `bytes` more bytes. Every write is covered by the last `ensure` before it (strings
   * call their own); the header by the scratch's minimum size.
   */
  ensure(bytes: number): void {
    if (this.off + bytes <= scratch.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.off + bytes, scratch.length * 2));
    scratch.copy(grown, 0, 0, this.off);
    scratch = grown;
    view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
  }

  u8(v: number): void {
    scratch[this.off++] = v;
  }

  f64(v: number): void {
    view.setFloat64(this.off, v, true);
    this.off += 8;
  }

  /** A number: an integer 0 ≤ v < 2^52 as the varint 2·v (1–8 bytes), anything else (fractions, negatives, -0, ±Infinity, NaN) as 1 then its f64. */
  num(v: number): void {
    // Points, counts and time distances within a day are small integers: bit operations for those.
    if ((v & 0x3fffffff) === v && (v !== 0 || 1 / v > 0)) this.uv31(v * 2);
    else if (Number.isInteger(v) && v > 0 && v < NUM_INT_LIMIT) this.uv(v * 2);
    else {
      scratch[this.off++] = 1;
      this.f64(v);
    }
  }

  /** `uv` of an integer 0 ≤ v < 2^31. */
  private uv31(v: number): void {
    const buf = scratch;
    while (v >= 0x80) {
      buf[this.off++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.off++] = v;
  }

  /** Unsigned varint of a non-negative safe integer (the state's counters and sequence numbers). */
  uv(v: number): void {
    if ((v & 0x7fffffff) === v) return this.uv31(v);
    if (!(v >= 0 && Number.isSafeInteger(v))) throw new Error(`state codec: ${v} is not a non-negative safe integer`);
    while (v >= 0x80) {
      scratch[this.off++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    scratch[this.off++] = v;
  }

  /** A string as uv (UTF-8 byte length + `bias`) then its bytes; returns the bytes' length. */
  str(v: string, bias = 0): number {
    // ASCII (event ids, attack types, severities) is copied byte by byte in JS, which for these short
    // strings is cheaper than a native write; anything else goes through Buffer#write.
    const len = v.length;
    this.ensure(9 + 3 * len + STR_TAIL); // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (len + bias < 0x80) {
      const buf = scratch;
      const start = this.off + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = v.charCodeAt(i);
        if (c > 0x7f) break;
        buf[start + i] = c;
      }
      if (i === len) {
        buf[this.off] = len + bias;
        this.off = start + len;
        return len;
      }
    }
    const bytes = Buffer.byteLength(v, 'utf8');
    this.uv(bytes + bias);
    this.off += scratch.write(v, this.off, bytes, 'utf8');
    return bytes;
  }

  /**
   * A contribution's event id as `eid` (a UUID in its canonical form as its 16 bytes, else `str` with
   * its length + 1); returns where it is as an ID_REF_SCALE reference (-1 when too long to refer to).
   */
  eidRef(v: string): number {
    this.ensure(1 + 16 + STR_TAIL);
    const start = this.off + 1;
    if (v.length === 36 && uuidToBytes(v, scratch, start)) {
      scratch[this.off] = 0;
      this.off = start + 16;
      return start * ID_REF_SCALE + ID_REF_UUID;
    }
    const bytes = this.str(v, 1);
    return bytes < ID_REF_UUID ? (this.off - bytes) * ID_REF_SCALE + bytes : -1;
  }

  /**
   * The event id that `ref` (ID_REF_SCALE) locates in `from` (text, or a UUID's 16 bytes) written as
   * `eid`, copied byte for byte; returns where it is now.
   */
  bytesRef(from: Buffer, ref: number): number {
    const off = Math.floor(ref / ID_REF_SCALE);
    const len = ref % ID_REF_SCALE;
    // A UUID: its 16 bytes, also when a value of format 4 held it as text.
    if (len === ID_REF_UUID || (len === 36 && textUuid(from, off, null, 0))) {
      this.ensure(1 + 16 + STR_TAIL);
      const start = this.off + 1;
      if (len === ID_REF_UUID) for (let i = 0; i < 16; i++) scratch[start + i] = from[off + i]!;
      else textUuid(from, off, scratch, start);
      scratch[this.off] = 0;
      this.off = start + 16;
      return start * ID_REF_SCALE + ID_REF_UUID;
    }
    this.ensure(9 + len + STR_TAIL);
    this.uv(len + 1);
    const start = this.off;
    // Short ids byte by byte: cheaper than a native copy at these sizes.
    if (len <= 64) {
      const buf = scratch;
      for (let i = 0; i < len; i++) buf[start + i] = from[off + i]!;
    } else from.copy(scratch, start, off, off + len);
    this.off = start + len;
    return start * ID_REF_SCALE + len;
  }
}

/** A hex digit's value, -1 for anything but 0-9 and a-f (the canonical form is lower-case). */
function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Whether place `i` of a 36-character UUID is one of its four dashes. */
const isDash = (i: number): boolean => i === 8 || i === 13 || i === 18 || i === 23;

/** Writes the 16 bytes of `v` at `to[at]` when `v` is a UUID in its canonical form; false (and bytes of no meaning written) otherwise. */
function uuidToBytes(v: string, to: Buffer, at: number): boolean {
  let o = at;
  for (let i = 0; i < 36; ) {
    if (isDash(i)) {
      if (v.charCodeAt(i) !== 0x2d) return false;
      i++;
      continue;
    }
    const hi = nibble(v.charCodeAt(i));
    const lo = nibble(v.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return false;
    to[o++] = (hi << 4) | lo;
    i += 2;
  }
  return true;
}

/** `uuidToBytes` for the 36 bytes of text at `from[off]` (an id a format-4 value held as text); with `to` null it only checks. */
function textUuid(from: Buffer, off: number, to: Buffer | null, at: number): boolean {
  let o = at;
  for (let i = 0; i < 36; ) {
    if (isDash(i)) {
      if (from[off + i] !== 0x2d) return false;
      i++;
      continue;
    }
    const hi = nibble(from[off + i]!);
    const lo = nibble(from[off + i + 1]!);
    if (hi < 0 || lo < 0) return false;
    if (to) to[o++] = (hi << 4) | lo;
    i += 2;
  }
  return true;
}

class Reader {
  off = 0;
  private readonly view: DataView;
  private readonly b: Buffer;

  constructor(readonly bytes: Buffer) {
    const b = bytes;
    this.b = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  u8(): number {
    if (this.off >= this.b.length) throw new RangeError('truncated');
    return this.b[this.off++]!;
  }

  f64(): number {
    const v = this.view.getFloat64(this.off, true); // throws RangeError past the end
    this.off += 8;
    return v;
  }

  uv(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const byte = this.u8();
      v += (byte & 0x7f) * scale;
      if (byte < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError('varint too long');
    }
  }

  num(): number {
    const x = this.uv();
    if (x === 1) return this.f64();
    if (x % 2 !== 0) throw new RangeError('not a num');
    return x / 2;
  }

  /** A length that must fit in what is left of the value (each element takes at least one byte). */
  count(): number {
    const n = this.uv();
    if (n > this.b.length - this.off) throw new RangeError('count beyond the value');
    return n;
  }

  /** An `eventIdKey`: uv 0 then a numeric key's f64, or uv (length + 1) then a string key. */
  idKey(): IdKey {
    const x = this.uv();
    if (x > 0) return this.utf8(x - 1);
    const k = this.f64();
    if (!(Number.isInteger(k) && k >= 0 && k < 2 ** 53)) throw new RangeError('not an id key');
    return k;
  }

  str(): string {
    return this.utf8(this.uv());
  }

  /**
   * A `str` left in the value: an ID_REF_SCALE reference to its bytes (checked as UTF-8 would be read:
   * invalid sequences are replaced when it is turned into a string); a string, cut to
   * MAX_EVENT_ID_BYTES, when it is longer (only states written before that limit hold one).
   */
  strRef(): string | number {
    return this.textRef(this.uv());
  }

  /** An `eid` (format 5) left in the value, as `strRef` leaves a `str`. */
  eidRef(): string | number {
    const x = this.uv();
    if (x > 0) return this.textRef(x - 1);
    if (this.off + 16 > this.b.length) throw new RangeError('truncated');
    const ref = this.off * ID_REF_SCALE + ID_REF_UUID;
    this.off += 16;
    return ref;
  }

  private textRef(len: number): string | number {
    if (len > MAX_EVENT_ID_BYTES) return truncateUtf8(this.utf8(len), MAX_EVENT_ID_BYTES);
    if (this.off + len > this.b.length) throw new RangeError('truncated');
    const ref = this.off * ID_REF_SCALE + len;
    this.off += len;
    return ref;
  }

  private utf8(len: number): string {
    if (this.off + len > this.b.length) throw new RangeError('truncated');
    const v = this.b.toString('utf8', this.off, this.off + len);
    this.off += len;
    return v;
  }
}
