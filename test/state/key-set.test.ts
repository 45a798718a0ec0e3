import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KEY_SET_MAX_KEY_BYTES, KeySet, keyHash } from '../../src/state/key-set.ts';

// The restore's set of keys written from newer chunks: exact, whatever the keys (a false "seen" would
// drop a user's newest state, a false "not seen" would overwrite it with an older one).

describe('KeySet', () => {
  it('agrees with a Set of the same keys, across growth of its table and buffer', () => {
    const keyArb = fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), keyArb), { maxLength: 3000 }), (ops) => {
        const set = new KeySet();
        const model = new Set<string>();
        for (const [add, key] of ops) {
          const hex = key.toString('hex');
          if (add) expect(set.add(key)).toBe(!model.has(hex));
          else expect(set.has(key)).toBe(model.has(hex));
          if (add) model.add(hex);
        }
        expect(set.size).toBe(model.size);
        for (const hex of model) expect(set.has(Buffer.from(hex, 'hex'))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('holds 200,000 keys that differ in one byte, and none of their neighbours', () => {
    const set = new KeySet();
    const key = Buffer.from('app\u0000prod\u0000user-0000000');
    const put = (i: number): Buffer => {
      key.write(String(i).padStart(7, '0'), key.length - 7, 'latin1');
      return key;
    };
    let refused = 0;
    for (let i = 0; i < 400_000; i += 2) if (!set.add(put(i))) refused++;
    expect(refused).toBe(0);
    expect(set.size).toBe(200_000);
    // Counted, not one expect per key (400,000 of them cost seconds).
    const wrong: number[] = [];
    for (let i = 0; i < 400_000; i++) if (set.has(put(i)) !== (i % 2 === 0)) wrong.push(i);
    expect(wrong).toEqual([]);
    expect(set.add(put(0))).toBe(false);
  });

  it('tells apart keys whose hashes collide (the bytes decide, not the hash)', () => {
    // A 32-bit hash: among 400,000 random keys ~18 pairs collide (birthday bound); find one. The keys
    // come from a fixed LCG, so the test is the same every run, and all have one length, so only the
    // bytes can tell a colliding pair apart.
    const byHash = new Map<number, string>();
    let pair: [string, string] | undefined;
    let x = 12345;
    for (let i = 0; i < 400_000 && !pair; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const k = `user-${x.toString(16).padStart(8, '0')}-${((x ^ 0x5bd1e995) >>> 0).toString(16).padStart(8, '0')}`;
      const h = keyHash(Buffer.from(k));
      const other = byHash.get(h);
      if (other !== undefined) pair = [other, k];
      else byHash.set(h, k);
    }
    expect(pair).toBeDefined();
    const [a, b] = pair!;
    const set = new KeySet();
    set.add(Buffer.from(a));
    expect(set.has(Buffer.from(b))).toBe(false);
    expect(set.add(Buffer.from(b))).toBe(true);
    expect(set.has(Buffer.from(a)) && set.has(Buffer.from(b))).toBe(true);
    expect(set.size).toBe(2);
  });

  it('reads only the first `length` bytes of a scratch buffer', () => {
    const set = new KeySet();
    const scratch = Buffer.from('alice-and-garbage');
    expect(set.add(scratch, 5)).toBe(true);
    expect(set.has(Buffer.from('alice'))).toBe(true);
    expect(set.has(scratch)).toBe(false);
    scratch.write('bobXX');
    expect(set.has(scratch, 5)).toBe(false);
    expect(set.has(Buffer.from('alice'))).toBe(true);
  });

  it('adds a string as its UTF-8 bytes, short or longer than the scratch buffer', () => {
    const set = new KeySet();
    const long = `app\u0000prod\u0000${'é'.repeat(3000)}`;
    expect(set.addString('app\u0000prod\u0000zoë')).toBe(true);
    expect(set.addString(long)).toBe(true);
    expect(set.has(Buffer.from('app\u0000prod\u0000zoë', 'utf8'))).toBe(true);
    expect(set.has(Buffer.from(long, 'utf8'))).toBe(true);
    expect(set.addString('app\u0000prod\u0000zoë')).toBe(false);
  });

  it('forgets everything on clear, and refuses a key longer than its length field', () => {
    const set = new KeySet();
    set.add(Buffer.from('k'));
    set.clear();
    expect(set.size).toBe(0);
    expect(set.has(Buffer.from('k'))).toBe(false);
    expect(() => set.add(Buffer.alloc(KEY_SET_MAX_KEY_BYTES + 1))).toThrow(RangeError);
    expect(set.add(Buffer.alloc(KEY_SET_MAX_KEY_BYTES))).toBe(true);
  });
});
