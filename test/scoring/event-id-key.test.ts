import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventIdKey, upgradeIdKey } from '../../src/scoring/state.ts';

/** The key versions before numeric keys stored for a long id (state format 2 and JSON), as they computed it: a frozen copy, which must not follow changes to eventIdKey. */
function legacyKey(id: string): string {
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
  return `#${(h1 >>> 0).toString(36)}${(h2 >>> 0).toString(36).padStart(7, '0')}`;
}

describe('eventIdKey', () => {
  it('keeps short ids and hashes long ones to an integer below 2^53', () => {
    expect(eventIdKey('evt-1')).toBe('evt-1');
    expect(eventIdKey('fourteen-chars')).toBe('fourteen-chars');
    for (let i = 0; i < 1_000; i++) {
      const k = eventIdKey(randomUUID());
      expect(Number.isSafeInteger(k) && (k as number) >= 0).toBe(true);
    }
  });

  it('gives 200,000 random and 200,000 near-identical ids 400,000 distinct keys, stably', () => {
    const keys = new Set<unknown>();
    for (let i = 0; i < 200_000; i++) keys.add(eventIdKey(randomUUID()));
    for (let i = 0; i < 200_000; i++) keys.add(eventIdKey(`e${i}-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e`));
    expect(keys.size).toBe(400_000);
    expect(eventIdKey('e1-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e')).toBe(eventIdKey('e1-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e'));
  }, 30_000); // 400,000 UUIDs: ~2 s alone, several times that on a loaded CI machine

  it('keeps giving the keys stored in states and changelogs', () => {
    expect(eventIdKey('0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e')).toBe(8_584_766_909_602_254);
    expect(eventIdKey('e1-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e')).toBe(5_139_346_504_875_896);
    expect(eventIdKey('fifteen-chars-x')).toBe(6_487_118_871_257_823);
    expect(eventIdKey('événement-ünïcode-😀-id')).toBe(7_310_593_043_544_304);
  });
});

describe('upgradeIdKey', () => {
  it("turns the '#…' keys earlier versions stored into the number eventIdKey now gives the same id", () => {
    expect(legacyKey('0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e')).toBe('#1vp6ohd00s1601'); // as pinned before numeric keys
    expect(legacyKey('événement-ünïcode-😀-id')).toBe('#1lng9t71b3vmxz');
    // ~2% of ids have h2 padded to 7 digits, some h1 is short: 100,000 random ids cover both.
    // One expect for the lot (an expect per id took seconds on a loaded machine); the first few misses are shown.
    const misses: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      const id = i % 2 ? randomUUID() : `e${i}-${randomUUID()}-ü`;
      if (upgradeIdKey(legacyKey(id)) !== eventIdKey(id) && misses.length < 5) misses.push(id);
    }
    expect(misses).toEqual([]);
  });

  it('leaves short ids, numbers and strings that are not legacy hash keys as they are', () => {
    for (const k of ['evt-1', '', '#', '#abc', '#ABCDEFGH', '#zzzzzzzzzzzzzzz', '#12345678-x', 42, 2 ** 52]) expect(upgradeIdKey(k)).toBe(k);
    // Base 36 beyond 32 bits is no hash key either.
    expect(upgradeIdKey('#zzzzzzz0000000')).toBe('#zzzzzzz0000000');
  });
});
