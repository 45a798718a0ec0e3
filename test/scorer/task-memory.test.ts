import { afterEach, describe, expect, it } from 'vitest';
import { approxHeapBytes, emptyUserState, scoreEvent } from '../../src/scoring/index.ts';
import { attack, policyWith, T0 } from '../scoring/fixtures.ts';
import { activeTask, batchOf, cleanDirs, messages } from './task-fakes.ts';

// Issue 13 item 10: the scorer's memory consumers are bounded by settings, whatever the number of
// users. The hot-user cache by scorer.cacheMaxBytes, the changes waiting for the store by
// scorer.storeFlushMaxBytes (each task asks for its share after every batch).

afterEach(cleanDirs);

const users = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ severity: 'LOW' as const, user: { key: `u${from + i}`, identifiers: {} } }));

describe('PartitionTask memory budgets', () => {
  it('keeps the hot-user cache within its share of scorer.cacheMaxBytes, evicting the least recently used', async () => {
    const budget = { cacheBytes: 20_000, pendingBytes: 1 << 30 };
    const { task } = await activeTask({ cacheUsers: 100_000, budget: () => budget });
    for (let b = 0; b < 10; b++) await task.process(batchOf(messages(...users(20, b * 20))));
    const usage = task.cacheUsage;
    expect(usage.bytes).toBeLessThanOrEqual(20_000);
    expect(usage.users).toBeGreaterThan(5); // still a cache: the most recent users stay
    expect(usage.users).toBeLessThan(200);
    // A rebalance that halves the share applies at the next batch.
    budget.cacheBytes = 8_000;
    await task.process(batchOf(messages(...users(1, 1000))));
    expect(task.cacheUsage.bytes).toBeLessThanOrEqual(8_000);
  });

  it('with no budget (tests, tools) the cache is bounded by cacheUsers only', async () => {
    const { task } = await activeTask({ cacheUsers: 50 });
    await task.process(batchOf(messages(...users(120))));
    expect(task.cacheUsage.users).toBe(50);
  });

  it('writes the store as soon as the pending changes reach their share of scorer.storeFlushMaxBytes, before the interval', async () => {
    const budget = { cacheBytes: 1 << 30, pendingBytes: 2_000 };
    const { task, store } = await activeTask({ storeFlushIntervalMs: 3_600_000, budget: () => budget });
    await task.process(batchOf(messages(...users(3))));
    expect(await store.get('app/production/u0')).toBeUndefined(); // small: waits for the interval
    await task.process(batchOf(messages(...users(30, 3))));
    expect(await store.get('app/production/u0')).toBeInstanceOf(Buffer);
    expect(await store.get('app/production/u32')).toBeInstanceOf(Buffer);
  });
});

describe('approxHeapBytes', () => {
  it('grows with what a state holds, and stays within the caps of a full state', () => {
    const policy = policyWith({});
    const s = emptyUserState();
    const one = approxHeapBytes(s);
    for (let i = 0; i < 2000; i++) scoreEvent(s, attack({ at: T0 + i * 1000, severity: 'LOW' }), policy, T0 + 2000 * 1000);
    expect(approxHeapBytes(s)).toBeGreaterThan(one);
    expect(approxHeapBytes(s)).toBeLessThan(200_000);
  });
});
