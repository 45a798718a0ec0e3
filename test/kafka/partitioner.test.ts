import { describe, expect, it } from 'vitest';
import { murmur2, partitionFor } from '../../src/kafka/partitioner.ts';

describe('murmur2', () => {
  // Vectors from Apache Kafka's UtilsTest.testMurmur2 (Java).
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  it.each(vectors)('matches the Java client for %s', (s, expected) => {
    expect(murmur2(Buffer.from(s))).toBe(expected);
  });

  it('maps a key to a partition in range, stably', () => {
    for (let i = 0; i < 1000; i++) {
      const p = partitionFor(`shop/production/user-${i}`, 6);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(6);
      expect(partitionFor(`shop/production/user-${i}`, 6)).toBe(p);
    }
  });

  it('gives a string key the partition of its UTF-8 bytes, whatever its length and characters', () => {
    const keys = ['21', 'shop/production/ü-ser', 'a/b/😀', 'x'.repeat(1364), 'é'.repeat(1365), 'y'.repeat(5000), ...vectors.map(([s]) => s)];
    for (const k of keys) {
      expect(partitionFor(k, 12)).toBe((murmur2(Buffer.from(k, 'utf8')) & 0x7fffffff) % 12);
      expect(partitionFor(k, 12)).toBe(partitionFor(Buffer.from(k, 'utf8'), 12));
    }
  });
});
