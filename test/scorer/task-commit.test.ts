import { afterEach, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { TransactionFencedByGroupError } from '../../src/errors.ts';
import { classifyFailure } from '../../src/scorer/failures.ts';
import { decodeState } from '../../src/state/codec.ts';
import { PartitionStore } from '../../src/state/store.ts';
import { T0 } from '../scoring/fixtures.ts';
import { activeTask, batchOf, cleanDirs, messages, NAMES, tempDir } from './task-fakes.ts';

// Transactions by time (scorer.commitIntervalMs) without a broker: a partition task keeps one
// transaction open across batches and commits it when its time is up, when a bound is reached, from its
// timer when no batch comes, or before a punctuation; an abort takes every batch it held and moves the
// consumer back to the first of them; a revocation aborts it; records fetched again are skipped.

afterEach(cleanDirs);

const HIGH = { severity: 'HIGH' as const };
const ALICE = 'app/production/alice';

/** Waits (bounded: at most ~2 s, no timing asserted) until `done` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

function alertsOf(producer: { messages(topic: string): Array<{ value: Buffer | string | null }> }) {
  return producer.messages(NAMES.alerts).map((m) => JSON.parse(String(m.value)) as { increase_24h: number; tier: number });
}

describe('PartitionTask: one transaction across batches', () => {
  it('keeps the transaction open across batches (the second builds on the first) and commits it once due, with the last batch offset', async () => {
    let now = T0 + 3_600_000;
    const { task, producer, store } = await activeTask({ commitIntervalMs: 100, now: () => now });
    const b1 = messages(HIGH);
    await task.process(batchOf(b1));
    expect(producer.calls).toEqual(['fence']); // held, nothing sent (no transaction begun) before the commit
    expect(await store.checkpoint()).toBeUndefined(); // nothing staged before the commit
    expect(task.streamTime).toBe(-Infinity);
    now += 100;
    const b2 = messages(HIGH);
    await task.process(batchOf(b2));
    // one send with everything the two batches made, then the offsets, then the commit
    expect(producer.calls).toEqual(['fence', 'begin', 'send', 'sendOffsets', 'commit']);
    expect(producer.committed).toHaveLength(1);
    expect(producer.offsets).toEqual([{ groupId: NAMES.groupId, topic: NAMES.input, partition: 0, nextOffset: BigInt(b2[0]!.offset) + 1n }]);
    expect(alertsOf(producer).map((a) => a.increase_24h)).toEqual([12]); // the second event saw the first, uncommitted
    // the user's latest state only: one changelog record for the two batches
    const changelog = producer.messages(NAMES.changelog);
    expect(changelog).toHaveLength(1);
    expect(decodeState(changelog[0]!.value as Buffer)!.score).toBe(12);
    expect(await store.checkpoint()).toBe(1n); // the send's changelog end
    expect(task.streamTime).toBe(T0);
  });

  it('loadCommitted (the query route) answers the committed state while the open transaction holds a newer one', async () => {
    const { task } = await activeTask({ commitIntervalMs: 60_000 });
    await task.process(batchOf(messages(HIGH)), { commitNow: true }); // committed: 6 points
    await task.process(batchOf(messages(HIGH))); // open: 12 points, the cached object mutated in place
    expect((await task.load([ALICE])).get(ALICE)!.sum).toBe(12);
    expect((await task.loadCommitted([ALICE])).get(ALICE)!.sum).toBe(6);
    await task.exclusive(() => task.commitOpen());
    expect((await task.loadCommitted([ALICE])).get(ALICE)!.sum).toBe(12);
  });

  it('the commit timer commits an open transaction when no further batch comes', async () => {
    const { task, producer, store } = await activeTask({ commitIntervalMs: 20 });
    const b = messages(HIGH);
    await task.process(batchOf(b));
    expect(producer.calls).not.toContain('commit');
    await until(() => producer.calls.includes('commit'));
    expect(producer.calls).toEqual(['fence', 'begin', 'send', 'sendOffsets', 'commit']);
    expect(producer.offsets.at(-1)!.nextOffset).toBe(BigInt(b[0]!.offset) + 1n);
    await until(() => task.flushDue === false);
    await task.exclusive(async () => undefined);
    expect(await store.checkpoint()).toBe(1n); // staged and flushed after the timer's commit
  });

  it('commits at once when the open transaction reaches commitMaxRecords', async () => {
    const { task, producer } = await activeTask({ commitIntervalMs: 60_000, commitMaxRecords: 3 });
    await task.process(batchOf(messages(HIGH, HIGH)));
    expect(producer.calls).not.toContain('commit');
    await task.process(batchOf(messages(HIGH, HIGH)));
    expect(producer.calls.filter((c) => c === 'commit')).toHaveLength(1);
    expect(producer.calls.filter((c) => c === 'send')).toHaveLength(1);
  });

  it('an abort with an open multi-batch transaction: every batch it held is dropped, the consumer moved back to the first, and the redo scores once', async () => {
    const rewinds: Array<{ topic: string; offset: bigint }> = [];
    const { task, producer, store } = await activeTask({ commitIntervalMs: 60_000, rewind: (topic, offset) => void rewinds.push({ topic, offset }) });
    const b1 = messages(HIGH);
    const b2 = messages(HIGH); // 12 points: an alert inside the open transaction
    const b3 = messages(HIGH);
    await task.process(batchOf(b1));
    await task.process(batchOf(b2));
    producer.failNext = { step: 'send', err: new Error('NOT_LEADER_FOR_PARTITION') };
    await expect(task.process(batchOf(b3), { commitNow: true })).rejects.toThrow('NOT_LEADER'); // the send at the commit
    expect(producer.calls.at(-1)).toBe('abort');
    expect(producer.committed).toHaveLength(0);
    expect(rewinds).toEqual([{ topic: NAMES.input, offset: BigInt(b1[0]!.offset) }]);
    expect(await store.checkpoint()).toBeUndefined();
    // the consumer fetches from b1 again: one alert, at 12 points; the state holds the three events once
    await task.process(batchOf([...b1, ...b2, ...b3]), { commitNow: true });
    expect(alertsOf(producer).map((a) => a.increase_24h)).toEqual([12]);
    expect(decodeState((await store.get(ALICE))!)!.score).toBe(18);
  });

  it('a failure of the batch that began the transaction moves nothing back: its caller retries it', async () => {
    const rewinds: unknown[] = [];
    const { task, producer } = await activeTask({ commitIntervalMs: 60_000, rewind: (topic, offset) => void rewinds.push({ topic, offset }) });
    for (const step of ['send', 'commit'] as const) {
      producer.failNext = { step, err: new Error('NOT_LEADER_FOR_PARTITION') };
      await expect(task.process(batchOf(messages(HIGH)), { commitNow: true })).rejects.toThrow('NOT_LEADER');
      expect(producer.calls.at(-1)).toBe('abort');
    }
    expect(rewinds).toEqual([]);
    expect(producer.committed).toHaveLength(0);
  });

  it('a batch fetched again (the group offsets are reset by a rebalance, or were read before the last commit) is skipped up to the position', async () => {
    const { task, producer } = await activeTask({ commitIntervalMs: 60_000 });
    const b1 = messages(HIGH);
    const b2 = messages(HIGH);
    await task.process(batchOf(b1));
    await task.process(batchOf([...b1, ...b2]), { commitNow: true }); // b1 again: only b2 is new
    expect(alertsOf(producer).map((a) => a.increase_24h)).toEqual([12]);
    const changelog = producer.messages(NAMES.changelog);
    expect(decodeState(changelog.at(-1)!.value as Buffer)!.score).toBe(12);
    // after the commit, what the group committed is skipped too
    await task.process(batchOf(b2), { commitNow: true });
    expect(producer.calls.filter((c) => c === 'send')).toHaveLength(1);
    expect(producer.committed).toHaveLength(1);
  });

  it('a task activated with the group offsets skips records below them (a previous owner committed them)', async () => {
    const b1 = messages(HIGH);
    const b2 = messages(HIGH);
    const { task, producer } = await activeTask({}, new Map([[NAMES.input, BigInt(b2[0]!.offset)]]));
    await task.process(batchOf([...b1, ...b2]));
    expect(alertsOf(producer)).toEqual([]); // b1 skipped: 6 points only
    expect(producer.offsets.at(-1)!.nextOffset).toBe(BigInt(b2[0]!.offset) + 1n);
  });

  it('a failed timer commit aborts, moves the consumer back, tells the task manager, and refuses batches until reopened', async () => {
    const rewinds: Array<{ topic: string; offset: bigint }> = [];
    const failed: unknown[] = [];
    const { task, producer } = await activeTask({ commitIntervalMs: 20, rewind: (topic, offset) => void rewinds.push({ topic, offset }), onFailed: (_t, err) => void failed.push(err) });
    const b = messages(HIGH);
    producer.failNext = { step: 'commit', err: Object.assign(new Error('the answer was lost'), { name: 'KafkaJSRequestTimeoutError' }) };
    await task.process(batchOf(b));
    await until(() => failed.length > 0);
    expect(failed).toHaveLength(1);
    expect(producer.calls.at(-1)).toBe('abort');
    expect(rewinds).toEqual([{ topic: NAMES.input, offset: BigInt(b[0]!.offset) }]);
    const err = await task.process(batchOf(messages(HIGH))).catch((e: unknown) => e);
    expect(classifyFailure(err)).toBe('task'); // the batch loop closes and reopens it (fence, offsets read again)
  });

  it('a timer commit the consumer group refused (a rebalance) aborts and moves the consumer back, but leaves the task usable: nothing is in doubt', async () => {
    const rewinds: Array<{ topic: string; offset: bigint }> = [];
    const failed: unknown[] = [];
    const { task, producer } = await activeTask({ commitIntervalMs: 20, rewind: (topic, offset) => void rewinds.push({ topic, offset }), onFailed: (_t, err) => void failed.push(err) });
    const b = messages(HIGH, HIGH);
    producer.failNext = { step: 'sendOffsets', err: new TransactionFencedByGroupError('refused', { cause: Object.assign(new Error('generation'), { type: 'ILLEGAL_GENERATION' }) }) };
    await task.process(batchOf(b));
    await until(() => rewinds.length > 0);
    expect(producer.committed).toHaveLength(0);
    expect(rewinds).toEqual([{ topic: NAMES.input, offset: BigInt(b[0]!.offset) }]);
    expect(failed).toEqual([]); // not reported: the task is not reopened
    // the same records fetched again are scored again, as if for the first time (the aborted scoring left nothing behind)
    await task.process(batchOf(b), { commitNow: true });
    expect(producer.committed).toHaveLength(1);
    expect(alertsOf(producer).map((a) => a.increase_24h)).toEqual([12]);
  });

  it('alignCommits: transactions begun at different times are due at the same grid point of commitIntervalMs', async () => {
    let now = 1_000_050; // 50 ms into a 100 ms grid cell
    const a = await activeTask({ commitIntervalMs: 100, alignCommits: true, now: () => now });
    await a.task.process(batchOf(messages(HIGH)));
    now = 1_000_099;
    await a.task.process(batchOf(messages(HIGH)));
    expect(a.producer.calls).not.toContain('commit'); // not due before the grid point
    now = 1_000_100; // the grid point: 50 ms after it began, not 100
    await a.task.process(batchOf(messages(HIGH)));
    expect(a.producer.calls.filter((c) => c === 'commit')).toHaveLength(1);
    // without alignment the same transaction is due 100 ms after it began
    now = 1_000_050;
    const b = await activeTask({ commitIntervalMs: 100, now: () => now });
    await b.task.process(batchOf(messages(HIGH)));
    now = 1_000_100;
    await b.task.process(batchOf(messages(HIGH)));
    expect(b.producer.calls).not.toContain('commit');
    now = 1_000_150;
    await b.task.process(batchOf(messages(HIGH)));
    expect(b.producer.calls.filter((c) => c === 'commit')).toHaveLength(1);
  });

  it('closing with an open transaction (a revocation) aborts it and never commits it; the store keeps only what was committed', async () => {
    const dir = tempDir();
    const { task, producer } = await activeTask({ commitIntervalMs: 60_000, storeFlushIntervalMs: 60_000, store: await PartitionStore.open(dir, NAMES.changelog, 0) });
    await task.process(batchOf(messages(HIGH)), { commitNow: true });
    await task.process(batchOf(messages(HIGH)));
    await task.close({ flush: true });
    // the open transaction never reached the producer: nothing to abort there
    expect(producer.calls).toEqual(['fence', 'begin', 'send', 'sendOffsets', 'commit', 'disconnect']);
    expect(producer.committed).toHaveLength(1);
    const store = await PartitionStore.open(dir, NAMES.changelog, 0);
    expect(await store.checkpoint()).toBe(1n); // the committed batch, flushed on close
    expect(decodeState((await store.get(ALICE))!)!.score).toBe(6);
    await store.close();
  });

  it('a punctuation commits the open transaction before its own', async () => {
    const { task, producer } = await activeTask({ commitIntervalMs: 60_000, idleUserTtlMs: 0 });
    await task.process(batchOf(messages(HIGH)));
    await task.exclusive(() => task.punctuate());
    expect(producer.calls).toEqual(['fence', 'begin', 'send', 'sendOffsets', 'commit']);
    expect(producer.messages(NAMES.changelog)).toHaveLength(1);
  });
});

describe('scorer.commitIntervalMs', () => {
  it('defaults to 50 ms, 0 commits every batch, and more than 10 s is refused', () => {
    expect(ConfigSchema.parse({}).scorer.commitIntervalMs).toBe(50);
    expect(ConfigSchema.parse({ scorer: { commitIntervalMs: 0 } }).scorer.commitIntervalMs).toBe(0);
    expect(() => ConfigSchema.parse({ scorer: { commitIntervalMs: 60_000 } })).toThrow();
    expect(() => ConfigSchema.parse({ scorer: { commitMaxRecords: 0 } })).toThrow();
  });

  it('transactionScope: process by default, only with commitIntervalMs within half the shared transaction timeout; partition on request', () => {
    expect(ConfigSchema.parse({}).scorer.transactionScope).toBe('process');
    expect(() => ConfigSchema.parse({ scorer: { commitIntervalMs: 8000 } })).toThrow(/at most 5000 ms with transactionScope process/);
    expect(ConfigSchema.parse({ scorer: { transactionScope: 'partition', commitIntervalMs: 8000 } }).scorer.commitIntervalMs).toBe(8000);
    expect(ConfigSchema.parse({ scorer: { transactionScope: 'process', commitIntervalMs: 5000 } }).scorer.transactionScope).toBe('process');
    expect(() => ConfigSchema.parse({ scorer: { transactionScope: 'process', commitIntervalMs: 5001 } })).toThrow(/at most 5000 ms with transactionScope process/);
    expect(() => ConfigSchema.parse({ scorer: { transactionScope: 'thread' } })).toThrow();
  });
});
