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
});
