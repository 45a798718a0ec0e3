// An exact set of byte strings (changelog keys) kept off the V8 heap: the keys' bytes in one growing
// buffer, and an open-addressing table of their positions in it.
//
// Why not a Set<string>: a restore remembers every user written from a newer chunk, and at 1,000,000
// users a Set of their keys is tens of MiB of strings and hash tables that the garbage collector marks
// on every major collection (docs/benchmarks.md, "Restore backwards"). Here a key costs its bytes, 6
// bytes of header and 8 to 16 bytes of table (4 per slot), outside the heap; a key is looked up from
// the record's own bytes (no string is made for a version that is skipped).
//
// A key record in the buffer: its hash (4 bytes; a probe compares bytes only when hashes are equal),
// its length (2 bytes), its bytes.

/** Slots per key at most, before the table doubles (load factor ½: linear probes stay short). */
const MAX_LOAD = 0.5;
const INITIAL_SLOTS = 1024;
const INITIAL_ARENA_BYTES = 64 * 1024;
/** The longest key (its length is stored in 2 bytes); changelog keys are bounded far below it. */
export const KEY_SET_MAX_KEY_BYTES = 0xffff;
/** UTF-8 of the strings `addString` is given (any UTF-16 unit is at most 3 bytes of UTF-8). */
const scratch = Buffer.allocUnsafe(4096);

export class KeySet {
  /** Key records: hash, length, bytes. */
  private arena = Buffer.allocUnsafe(INITIAL_ARENA_BYTES);
  private used = 0;
  /** Per slot: 0 when empty, else 1 + the position of a key record in the arena. */
  private slots = new Uint32Array(INITIAL_SLOTS);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Whether the first `length` bytes of `key` are in the set. */
  has(key: Buffer, length = key.length): boolean {
    const h = keyHash(key, length);
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = this.slots[i]!;
      if (s === 0) return false;
      if (this.equals(s - 1, h, key, length)) return true;
    }
  }

  /** Adds the first `length` bytes of `key` (copied); returns false when they were there already. */
  add(key: Buffer, length = key.length): boolean {
    if (length > KEY_SET_MAX_KEY_BYTES) throw new RangeError(`key of ${length} bytes: at most ${KEY_SET_MAX_KEY_BYTES}`);
    const h = keyHash(key, length);
    const mask = this.slots.length - 1;
    let i = h & mask;
    for (; ; i = (i + 1) & mask) {
      const s = this.slots[i]!;
      if (s === 0) break;
      if (this.equals(s - 1, h, key, length)) return false;
    }
    this.slots[i] = this.append(h, key, length) + 1;
    if (++this.count > this.slots.length * MAX_LOAD) this.grow();
    return true;
  }

  /**
   * Adds `key` as UTF-8; returns false when it was there already. Through a scratch buffer: a Buffer
   * per key would be garbage at once.
   */
  addString(key: string): boolean {
    if (key.length * 3 > scratch.length) return this.add(Buffer.from(key, 'utf8'));
    return this.add(scratch, scratch.write(key, 0, 'utf8'));
  }

  clear(): void {
    this.arena = Buffer.allocUnsafe(INITIAL_ARENA_BYTES);
    this.used = 0;
    this.slots = new Uint32Array(INITIAL_SLOTS);
    this.count = 0;
  }

  private equals(at: number, h: number, key: Buffer, length: number): boolean {
    const a = this.arena;
    if (a.readInt32LE(at) !== h || a.readUInt16LE(at + 4) !== length) return false;
    return a.compare(key, 0, length, at + 6, at + 6 + length) === 0;
  }

  /** Copies a key record into the arena; returns its position. */
  private append(h: number, key: Buffer, length: number): number {
    const need = this.used + 6 + length;
    if (need > this.arena.length) {
      // Doubling: a key is copied O(1) times on average. The arena's slack is allocated, not touched.
      const next = Buffer.allocUnsafe(Math.max(need, this.arena.length * 2));
      this.arena.copy(next, 0, 0, this.used);
      this.arena = next;
    }
    const at = this.used;
    this.arena.writeInt32LE(h, at);
    this.arena.writeUInt16LE(length, at + 4);
    key.copy(this.arena, at + 6, 0, length);
    this.used = need;
    return at;
  }

  /** Doubles the table; the arena stays (a slot's hash is read from its record). */
  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    const mask = this.slots.length - 1;
    for (let j = 0; j < old.length; j++) {
      const s = old[j]!;
      if (s === 0) continue;
      let i = this.arena.readInt32LE(s - 1) & mask;
      while (this.slots[i] !== 0) i = (i + 1) & mask;
      this.slots[i] = s;
    }
  }
}

/**
 * FNV-1a, then murmur3's finaliser so the low bits (the slot) depend on every byte. Not murmur2: the
 * keys of one partition share murmur2's value modulo the partition count, so its low bit is constant.
 * Exported for the tests (keys whose hashes collide).
 */
export function keyHash(key: Buffer, length = key.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}
