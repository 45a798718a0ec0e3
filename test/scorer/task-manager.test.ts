import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import * as m from '../../src/metrics/index.ts';
import { TaskManager, type TaskManagerDeps } from '../../src/scorer/task-manager.ts';
import { PartitionStore } from '../../src/state/store.ts';
import { cleanDirs, FakeCodec, FakeProducer, messages, NAMES, tempDir } from './task-fakes.ts';

// The task manager without a broker: a store LevelDB cannot open is moved aside and rebuilt while the
// other partitions go on; a locked one halts only its partition (paused, metric, backoff); one that can
// be neither opened nor moved aside is fatal. The changelog is empty here, so restore reads nothing.

afterEach(cleanDirs);

async function value(g: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await g.get()).values[0]?.value ?? 0;
}

function managerFor(stateDir: string, over: Partial<TaskManagerDeps> = {}, scorer: Record<string, unknown> = {}) {
  let now = 1_000_000;
  const events = { paused: [] as number[], resumed: [] as number[], fatal: [] as unknown[] };
  // a producer per partition (the fakes below); test/scorer/shared-transactions.test.ts has the process scope
  const config = ConfigSchema.parse({ scorer: { stateDir, storeFlushIntervalMs: 0, commitIntervalMs: 0, transactionScope: 'partition', ...scorer } });
  const admin = {
    fetchTopicOffsets: async () => [0, 1, 2].map((partition) => ({ partition, low: '0', high: '0', offset: '0' })),
    fetchOffsets: async () => [],
  } as unknown as Admin;
  const manager = new TaskManager({
    config,
    kafka: {} as Kafka,
    admin,
    log: createLogger({ level: 'silent' }),
    names: NAMES,
    partitions: 3,
    codec: new FakeCodec(),
    producerFor: () => new FakeProducer(),
    pause: (p) => void events.paused.push(p),
    resume: (p) => void events.resumed.push(p),
    onFatal: (err) => void events.fatal.push(err),
    now: () => now,
    ...over,
  });
  return { manager, events, advance: (ms: number) => (now += ms), now: () => now };
}

async function garbledStore(stateDir: string, p: number): Promise<string> {
  const store = await PartitionStore.open(stateDir, NAMES.changelog, p);
  await store.write([{ key: 'u', value: Buffer.from('x') }], 1n);
  await store.close();
  const dir = PartitionStore.dirFor(stateDir, NAMES.changelog, p);
  writeFileSync(join(dir, 'CURRENT'), 'garbage\u0000\u0000');
  return dir;
}

const running = () => true;
const hb = async () => undefined;

describe('TaskManager: stores that cannot be opened', () => {
  it('a garbled CURRENT: the store is moved aside to <dir>.broken-<ms> and rebuilt; every partition becomes active', async () => {
    const stateDir = tempDir();
    const dir = await garbledStore(stateDir, 1);
    const { manager, events, now } = managerFor(stateDir);
    const rebuilt = await value(m.scorerStoresRebuilt);
    await manager.onAssignment([0, 1, 2]);
    expect(manager.isReady()).toBe(true);
    expect([0, 1, 2].map((p) => manager.task(p)?.phase)).toEqual(['active', 'active', 'active']);
    expect(existsSync(`${dir}.broken-${now()}`)).toBe(true);
    expect(await manager.task(1)!.store.checkpoint()).toBeUndefined(); // a new store, restored from the changelog
    expect((await value(m.scorerStoresRebuilt)) - rebuilt).toBe(1);
    expect(events.fatal).toEqual([]);
    await manager.closeAll();
  });

  it('a store that can be neither opened nor moved aside is fatal (the process exits non-zero)', async () => {
    const stateDir = tempDir();
    const dir = await garbledStore(stateDir, 0);
    const { manager, events, now } = managerFor(stateDir);
    mkdirSync(join(`${dir}.broken-${now()}`, 'occupied'), { recursive: true }); // the rename target exists and is not empty
    await manager.onAssignment([0, 1]);
    expect(events.fatal).toHaveLength(1);
    expect(manager.task(1)?.phase).toBe('active'); // the other partition is not held up
    await manager.closeAll();
  });

  it('a locked store halts only its partition: paused, counted, not ready, retried with backoff, resumed once it opens', async () => {
    const stateDir = tempDir();
    const holder = await PartitionStore.open(stateDir, NAMES.changelog, 2); // holds the LevelDB lock
    const { manager, events, advance } = managerFor(stateDir);
    await manager.onAssignment([0, 1, 2]);
    expect(manager.task(0)?.phase).toBe('active');
    expect(manager.task(2)).toBeUndefined();
    expect(manager.isReady()).toBe(false);
    expect(await value(m.scorerReady)).toBe(0);
    expect(await value(m.scorerHaltedPartitions)).toBe(1);
    // its batch does not wait: the partition is paused and the batch handed back
    expect(await manager.taskFor(2, hb, running)).toBeUndefined();
    expect(events.paused).toEqual([2]);
    expect(readdirSync(stateDir).some((f) => f.includes('.broken-'))).toBe(false); // a lock is not corruption
    await holder.close();
    advance(60_000);
    expect((await manager.taskFor(2, hb, running))?.phase).toBe('active');
    expect(events.resumed).toEqual([2]);
    expect(manager.isReady()).toBe(true);
    expect(await value(m.scorerHaltedPartitions)).toBe(0);
    await manager.closeAll();
  });

  it('a restore that fails (the broker unreachable) backs off instead of reopening in a loop, then recovers', async () => {
    const stateDir = tempDir();
    let down = true;
    const admin = {
      fetchTopicOffsets: async () => {
        if (down) throw new Error('Connection error: ECONNREFUSED');
        return [0, 1].map((partition) => ({ partition, low: '0', high: '0', offset: '0' }));
      },
      fetchOffsets: async () => [],
    } as unknown as Admin;
    const { manager, events, advance } = managerFor(stateDir, { admin });
    await manager.onAssignment([0, 1]);
    expect(manager.task(0)).toBeUndefined();
    expect(await value(m.scorerHaltedPartitions)).toBe(2);
    expect(await manager.taskFor(0, hb, running)).toBeUndefined(); // paused during the backoff, not reopened
    expect(events.paused).toEqual([0]);
    down = false;
    advance(1000);
    expect((await manager.taskFor(0, hb, running))?.phase).toBe('active');
    expect(events.resumed).toEqual([0]);
    await manager.closeAll();
  });

  it('revoked partitions lose their series; a dropped task makes the instance not ready and counts as halted until reopened', async () => {
    const stateDir = tempDir();
    const { manager } = managerFor(stateDir);
    m.consumerLag.reset(); // series the other tests' managers left
    await manager.onAssignment([0, 1]);
    m.consumerLag.set({ consumergroup: NAMES.groupId, topic: NAMES.input, partition: '1' }, 5);
    await manager.updateLag(); // sets (and tracks) the owned partitions' series
    await manager.onAssignment([0]);
    const series = (await m.consumerLag.get()).values.filter((v) => v.labels.consumergroup === NAMES.groupId);
    expect(series.map((v) => v.labels.partition)).toEqual(['0']);
    const t = manager.task(0)!;
    t.store.write = async () => {
      throw new Error('disk full');
    };
    await t.exclusive(() => t.process({ messages: messages({ severity: 'HIGH' }), lastOffset: '0' })); // committed, then the store write fails
    expect(t.phase).toBe('closed');
    expect(manager.isReady()).toBe(false);
    expect(await value(m.scorerReady)).toBe(0);
    expect(await value(m.scorerHaltedPartitions)).toBe(1);
    expect((manager.readiness().detail as { halted: Record<string, string> }).halted[0]).toMatch(/dropped/);
    expect((await manager.taskFor(0, hb, running))?.phase).toBe('active'); // reopened (fence + restore) by its next batch
    expect(await value(m.scorerHaltedPartitions)).toBe(0);
    expect(manager.isReady()).toBe(true);
    await manager.closeAll();
  });
});

describe('TaskManager: transactions open across batches', () => {
  it('revocation mid-transaction: the lost partition aborts its open transaction (never commits it) before its store closes; the kept one keeps its own and skips what the consumer fetches again', async () => {
    const producers = new Map<number, FakeProducer>();
    const { manager } = managerFor(tempDir(), { producerFor: (p) => producers.set(p, new FakeProducer()).get(p)! }, { commitIntervalMs: 10_000 });
    await manager.onAssignment([0, 1]);
    const b0 = messages({ severity: 'HIGH' });
    const b1 = messages({ severity: 'HIGH' });
    const t0 = manager.task(0)!;
    const t1 = manager.task(1)!;
    await t0.exclusive(() => t0.process({ messages: b0, lastOffset: b0[0]!.offset }));
    await t1.exclusive(() => t1.process({ messages: b1, lastOffset: b1[0]!.offset }));
    await manager.onAssignment([1]); // partition 0 moved to another member
    expect(producers.get(0)!.calls).toEqual(['fence', 'disconnect']); // nothing of it was ever sent
    expect(t0.phase).toBe('closed');
    // kafkajs fetches partition 1 again from the group's (older) committed offset: b1 is skipped
    const b2 = messages({ severity: 'HIGH' });
    await t1.exclusive(() => t1.process({ messages: [...b1, ...b2], lastOffset: b2[0]!.offset }, { commitNow: true }));
    const p1 = producers.get(1)!;
    expect(p1.calls).toEqual(['fence', 'begin', 'send', 'sendOffsets', 'commit']);
    expect(p1.messages(NAMES.alerts)).toHaveLength(1); // 12 points: b1 and b2 once each
    await manager.closeAll();
  });

  it('the generation to commit as is handed on only after the revoked tasks closed; a member that missed a generation (or came back with a new member id) reopens every task', async () => {
    const generations: Array<{ generationId: number; memberId: string }> = [];
    const { manager } = managerFor(tempDir(), { onGeneration: (g) => void generations.push(g) });
    await manager.onAssignment([0, 1], { generationId: 3, memberId: 'm1' });
    const t0 = manager.task(0)!;
    const t1 = manager.task(1)!;
    expect(generations).toEqual([{ generationId: 3, memberId: 'm1' }]);
    // the next generation, partition 0 moved away: closed before generation 4 is handed on
    const seen: string[] = [];
    const ref: { t0?: { phase: string } } = {};
    const handed = managerFor(tempDir(), { onGeneration: () => void seen.push(ref.t0?.phase ?? 'none') });
    await handed.manager.onAssignment([0, 1], { generationId: 3, memberId: 'm1' });
    ref.t0 = handed.manager.task(0)!;
    await handed.manager.onAssignment([1], { generationId: 4, memberId: 'm1' });
    expect(seen).toEqual(['none', 'closed']);
    await handed.manager.closeAll();
    // a consecutive generation keeps the tasks
    await manager.onAssignment([0, 1], { generationId: 4, memberId: 'm1' });
    expect(manager.task(0)).toBe(t0);
    expect(manager.task(1)).toBe(t1);
    // generation 5 passed without this member: every task is closed and opened again (restored)
    await manager.onAssignment([0, 1], { generationId: 6, memberId: 'm1' });
    expect(t0.phase).toBe('closed');
    expect(t1.phase).toBe('closed');
    expect(manager.task(0)).not.toBe(t0);
    expect(manager.task(0)!.phase).toBe('active');
    const t0b = manager.task(0)!;
    // back under a new member id (it was removed from the group): the same
    await manager.onAssignment([0, 1], { generationId: 7, memberId: 'm2' });
    expect(t0b.phase).toBe('closed');
    expect(manager.task(0)!.phase).toBe('active');
    expect(generations.map((g) => g.generationId)).toEqual([3, 4, 6, 7]);
    await manager.closeAll();
  });

  it('a clean stop commits every open transaction before the consumer leaves (commitAll)', async () => {
    const producers = new Map<number, FakeProducer>();
    const { manager } = managerFor(tempDir(), { producerFor: (p) => producers.set(p, new FakeProducer()).get(p)! }, { commitIntervalMs: 10_000 });
    await manager.onAssignment([0]);
    const t = manager.task(0)!;
    const b = messages({ severity: 'HIGH' });
    await t.exclusive(() => t.process({ messages: b, lastOffset: b[0]!.offset }));
    await manager.commitAll();
    expect(producers.get(0)!.offsets).toEqual([{ groupId: NAMES.groupId, topic: NAMES.input, partition: 0, nextOffset: BigInt(b[0]!.offset) + 1n }]);
    await manager.closeAll();
    expect(producers.get(0)!.calls.filter((c) => c === 'abort')).toEqual([]);
  });

  it('a task starts at the offsets the group committed, read after fencing, and a failed timer commit closes it and moves the consumer back', async () => {
    const seeks: Array<{ topic: string; partition: number; offset: bigint }> = [];
    const producers = new Map<number, FakeProducer>();
    const committedAt = 5n;
    const admin = {
      fetchTopicOffsets: async () => [0].map((partition) => ({ partition, low: '0', high: '0', offset: '0' })),
      fetchOffsets: async ({ topics }: { topics: string[] }) => [{ topic: topics[0], partitions: topics[0] === NAMES.input ? [{ partition: 0, offset: String(committedAt) }] : [] }],
    } as unknown as Admin;
    const { manager } = managerFor(tempDir(), { admin, producerFor: (p) => producers.set(p, new FakeProducer()).get(p)!, seek: (topic, partition, offset) => void seeks.push({ topic, partition, offset }) }, { commitIntervalMs: 100 });
    await manager.onAssignment([0]);
    const t = manager.task(0)!;
    const msgs = Array.from({ length: 8 }, (_, i) => ({ ...messages({ severity: 'HIGH' })[0]!, offset: String(i) }));
    const producer = producers.get(0)!;
    producer.failNext = { step: 'commit', err: new Error('the answer was lost') };
    await t.exclusive(() => t.process({ messages: msgs, lastOffset: '7' }));
    for (let i = 0; i < 300 && manager.task(0) === t; i++) await new Promise((r) => setTimeout(r, 10));
    expect(manager.task(0)).toBeUndefined(); // closed: its next batch reopens it (fence, offsets read again)
    expect(t.phase).toBe('closed');
    expect(seeks).toEqual([{ topic: NAMES.input, partition: 0, offset: committedAt }]); // offsets 0-4 were skipped
    await manager.closeAll();
  });
});
