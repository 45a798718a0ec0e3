import { describe, expect, it } from 'vitest';
import { chunkTopicMessages } from '../../src/kafka/chunk.ts';

describe('chunkTopicMessages', () => {
  it('keeps every message once, in order, each request under the byte budget', () => {
    const msg = (i: number) => ({ key: `k${i}`, value: Buffer.alloc(100 + (i % 7) * 50) });
    const input = [
      { topic: 'changelog', messages: Array.from({ length: 500 }, (_, i) => msg(i)) },
      { topic: 'alerts', messages: Array.from({ length: 30 }, (_, i) => msg(i)) },
    ];
    const chunks = chunkTopicMessages(input, 10_000);
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) {
      const bytes = c.flatMap((t) => t.messages).reduce((n, m) => n + (m.key?.length ?? 0) + (m.value?.length ?? 0) + 64, 0);
      expect(bytes).toBeLessThanOrEqual(10_000);
      expect(new Set(c.map((t) => t.topic)).size).toBe(c.length);
    }
    for (const t of ['changelog', 'alerts']) {
      const flat = chunks.flatMap((c) => c.filter((x) => x.topic === t).flatMap((x) => x.messages));
      expect(flat).toEqual(input.find((x) => x.topic === t)!.messages);
    }
  });

  it('sends one oversized message alone rather than dropping it', () => {
    const chunks = chunkTopicMessages([{ topic: 't', messages: [{ key: 'a', value: Buffer.alloc(50) }, { key: 'b', value: Buffer.alloc(5000) }] }], 1000);
    expect(chunks.map((c) => c[0]!.messages.map((m) => m.key))).toEqual([['a'], ['b']]);
  });
});
