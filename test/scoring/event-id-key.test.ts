import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventIdKey } from '../../src/scoring/state.ts';

describe('eventIdKey', () => {
  it('keeps short ids and hashes long ones compactly', () => {
    expect(eventIdKey('evt-1')).toBe('evt-1');
    const k = eventIdKey(randomUUID());
    expect(k).toMatch(/^#[0-9a-z]{8,14}$/);
  });

  it('gives 200,000 random and 200,000 near-identical ids 400,000 distinct keys, stably', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 200_000; i++) keys.add(eventIdKey(randomUUID()));
    for (let i = 0; i < 200_000; i++) keys.add(eventIdKey(`e${i}-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e`));
    expect(keys.size).toBe(400_000);
    expect(eventIdKey('e1-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e')).toBe(eventIdKey('e1-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e'));
  });

  it('keeps giving the keys earlier versions stored in states and changelogs', () => {
    expect(eventIdKey('0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e')).toBe('#1vp6ohd00s1601');
    expect(eventIdKey('e1-0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e')).toBe('#14j1j9y0suntrg');
    expect(eventIdKey('fifteen-chars-x')).toBe('#1f5o51b0z9gqca');
    expect(eventIdKey('événement-ünïcode-😀-id')).toBe('#1lng9t71b3vmxz');
    // The first version's formatting, on 100,000 ids (~2% of them need h2 padded to 7 digits).
    const formatted = /^#([0-9a-z]+)([0-9a-z]{7})$/;
    for (let i = 0; i < 100_000; i++) {
      const k = eventIdKey(randomUUID());
      const [, a, b] = formatted.exec(k)!;
      const h1 = parseInt(a!, 36);
      const h2 = parseInt(b!, 36);
      expect(k).toBe(`#${h1.toString(36)}${h2.toString(36).padStart(7, '0')}`);
    }
  });
});
