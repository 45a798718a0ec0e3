import type { UserState } from '../scoring/index.ts';
import { isUserState } from '../scoring/index.ts';

// The changelog / LevelDB value of a user's state: a compact binary layout, written for every user a
// batch changes (one per event on a stream of many users), so it is on the scorer's hot path.
// JSON.stringify took ~10 µs for a state with ten events (~1.1 KB) and this ~4.5 µs (~960 bytes).
//
// Layout (format byte 2; numbers little-endian; `uv` = unsigned LEB128 varint; strings = uv byte length +
// UTF-8 bytes):
//   u8 2 | u8 hasLast | f64 last | f64 score | f64 sum | uv scored | uv alerted | uv count | uv idPos
//   uv n | n × (f64 et, f64 ep, uv ec)
//   uv n | n × string id
//   uv n | n × (string event_id, string attack_type, string severity, f64 points, f64 occurred_at, uv seq, uv dom)
// Values written by earlier versions (JSON, first byte `{`) are still read.

const FORMAT = 2;
const JSON_OPEN = 0x7b;

let scratch = Buffer.allocUnsafe(64 * 1024);
let view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);

export function encodeState(s: UserState): Buffer {
  const need = upperBound(s);
  if (need > scratch.length) {
    scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
    view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
  }
  const w = new Writer();
  w.u8(FORMAT);
  w.u8(s.last === null ? 0 : 1);
  w.f64(s.last ?? 0);
  w.f64(s.score);
  w.f64(s.sum);
  w.uv(s.scored);
  w.uv(s.alerted);
  w.uv(s.count);
  w.uv(s.idPos);
  const n = s.et.length;
  w.uv(n);
  for (let i = 0; i < n; i++) {
    w.f64(s.et[i]!);
    w.f64(s.ep[i]!);
    w.uv(s.ec[i]!);
  }
  w.uv(s.ids.length);
  for (const id of s.ids) w.str(id);
  w.uv(s.top.length);
  for (const c of s.top) {
    w.str(c[0]);
    w.str(c[1]);
    w.str(c[2]);
    w.f64(c[3]);
    w.f64(c[4]);
    w.uv(c[5]);
    w.uv(c[6]);
  }
  const out = Buffer.allocUnsafe(w.off);
  scratch.copy(out, 0, 0, w.off);
  return out;
}

/**
 * Only the user's newest event time T of a stored state (null before any event; undefined when `b` is
 * not a state): what the idle-user scan needs, without decoding the rest.
 */
export function peekLast(b: Buffer): number | null | undefined {
  if (b.length >= 10 && b[0] === FORMAT) return b[1] ? b.readDoubleLE(2) : null;
  const s = b[0] === JSON_OPEN ? decodeState(b) : undefined;
  return s === undefined ? undefined : s.last;
}

/** The state in a stored value, or undefined when the value is not one (it is then ignored, as before). */
export function decodeState(b: Buffer): UserState | undefined {
  if (b.length === 0) return undefined;
  if (b[0] === JSON_OPEN) {
    try {
      const parsed: unknown = JSON.parse(b.toString('utf8'));
      return isUserState(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  if (b[0] !== FORMAT) return undefined;
  try {
    const r = new Reader(b);
    r.u8();
    const hasLast = r.u8();
    const last = r.f64();
    const score = r.f64();
    const sum = r.f64();
    const scored = r.uv();
    const alerted = r.uv();
    const count = r.uv();
    const idPos = r.uv();
    // Keys in emptyUserState's order, so decoded and fresh states share one object shape.
    const s: UserState = { v: 1, last: hasLast ? last : null, score, scored, alerted, sum, count, et: [], ep: [], ec: [], ids: [], idPos, top: [] };
    const n = r.count();
    for (let i = 0; i < n; i++) {
      s.et.push(r.f64());
      s.ep.push(r.f64());
      s.ec.push(r.uv());
    }
    const ni = r.count();
    for (let i = 0; i < ni; i++) s.ids.push(r.str());
    const nt = r.count();
    for (let i = 0; i < nt; i++) s.top.push([r.str(), r.str(), r.str() as UserState['top'][number][2], r.f64(), r.f64(), r.uv(), r.uv()]);
    return r.off === b.length ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes the encoding of `s` can take at most (strings counted at 3 bytes per UTF-16 unit, varints at 8). */
function upperBound(s: UserState): number {
  let n = 2 + 3 * 8 + 4 * 8 + 3 * 8 + s.et.length * 24;
  for (const id of s.ids) n += 8 + 3 * id.length;
  for (const c of s.top) n += 3 * 8 + 3 * (c[0].length + c[1].length + c[2].length) + 16 + 16;
  return n;
}

class Writer {
  off = 0;

  u8(v: number): void {
    scratch[this.off++] = v;
  }

  f64(v: number): void {
    view.setFloat64(this.off, v, true);
    this.off += 8;
  }

  /** Unsigned varint of a non-negative safe integer (the state's counters and sequence numbers). */
  uv(v: number): void {
    if (!(v >= 0 && Number.isSafeInteger(v))) throw new Error(`state codec: ${v} is not a non-negative safe integer`);
    while (v >= 0x80) {
      scratch[this.off++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    scratch[this.off++] = v;
  }

  str(v: string): void {
    // ASCII (event ids, attack types, severities) is copied byte by byte in JS, which for these short
    // strings is cheaper than a native write; anything else goes through Buffer#write.
    const len = v.length;
    if (len < 0x80) {
      const buf = scratch;
      const start = this.off + 1;
      let i = 0;
      for (; i < len; i++) {
        const c = v.charCodeAt(i);
        if (c > 0x7f) break;
        buf[start + i] = c;
      }
      if (i === len) {
        buf[this.off] = len;
        this.off = start + len;
        return;
      }
    }
    const bytes = Buffer.byteLength(v, 'utf8');
    this.uv(bytes);
    this.off += scratch.write(v, this.off, bytes, 'utf8');
  }
}

class Reader {
  off = 0;
  private readonly view: DataView;

  constructor(private readonly b: Buffer) {
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

  /** A length that must fit in what is left of the value (each element takes at least one byte). */
  count(): number {
    const n = this.uv();
    if (n > this.b.length - this.off) throw new RangeError('count beyond the value');
    return n;
  }

  str(): string {
    const len = this.uv();
    if (this.off + len > this.b.length) throw new RangeError('truncated');
    const v = this.b.toString('utf8', this.off, this.off + len);
    this.off += len;
    return v;
  }
}
