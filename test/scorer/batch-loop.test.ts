import type { Consumer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '../../src/kafka/names.ts';
import { createLogger } from '../../src/log.ts';
import { BatchLoop, type BatchContext, type TaskSource } from '../../src/scorer/batch-loop.ts';
import type { InputOffset, TopicMessages } from '../../src/scorer/producer.ts';
import { messageBytes } from '../../src/scorer/records.ts';
import type { PartitionTask } from '../../src/scorer/task.ts';
import { activeTask, batchOf, cleanDirs, FakeProducer, messages, NAMES } from './task-fakes.ts';

// The batch loop's failure rules without a broker: an outage is retried until it ends and dead-letters
// nothing; a deterministic failure is retried a bounded number of times, then the batch is split until
// the offending record is alone, and only that record is dead-lettered; every other record is scored.

afterEach(cleanDirs);

function fakeManager(task: PartitionTask): TaskSource & { closed: number; stuck: Array<string | undefined> } {
  const m = {
    closed: 0,
    stuck: [] as Array<string | undefined>,
    taskFor: async () => task,
    committedOffset: async () => -1n,
    closeTask: async () => {
      m.closed++;
    },
    reportStuck: (_p: number, reason: string | undefined) => void m.stuck.push(reason),
    onAssignment: async () => undefined,
    onRebalancing: () => undefined,
  };
  return m;
}

function loopWith(manager: TaskSource, retryBaseMs?: number): BatchLoop {
  return new BatchLoop({ consumer: {} as Consumer, manager, log: createLogger({ level: 'silent' }), inputTopic: NAMES.input, concurrency: 1, ...(retryBaseMs ? { retryBaseMs } : {}) });
}

function ctx(): BatchContext & { resolved: string[] } {
  const resolved: string[] = [];
  return { partition: 0, heartbeat: async () => undefined, isRunning: () => true, isStale: () => false, resolveOffset: (o) => void resolved.push(o), resolved };
}

const HIGH = { severity: 'HIGH' as const };

describe('BatchLoop', () => {
  it('a record too large for the broker is dead-lettered on its own after bounded retries; the records around it are scored', async () => {
    const { task, producer, codec } = await activeTask();
    codec.hugeAlertFor = 'mallory';
    const msgs = messages(HIGH, HIGH, { ...HIGH, user: { key: 'mallory', identifiers: {} }, points: 20 }, HIGH, { ...HIGH, user: { key: 'bob', identifiers: {} } });
    const c = ctx();
    expect(await loopWith(fakeManager(task)).handleBatch(batchOf(msgs), c)).toBe(true);
    const dead = producer.messages(NAMES.deadLetters);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'record-too-large', [DLQ_HEADERS.originalOffset]: msgs[2]!.offset });
    // alice's 3 HIGH events (18 points) alerted once; bob scored
    expect(producer.messages(NAMES.alerts)).toHaveLength(1);
    const users = new Set(producer.messages(NAMES.changelog).map((m) => m.key));
    expect(users).toEqual(new Set(['app/production/alice', 'app/production/bob']));
    expect(producer.offsets.at(-1)!.nextOffset).toBe(BigInt(msgs[4]!.offset) + 1n);
    expect(c.resolved.at(-1)).toBe(msgs[4]!.offset);
  });

  it('a transaction the broker rejects (MESSAGE_TOO_LARGE) for one record: the task is reopened, the record dead-lettered with the reason, never retried forever', async () => {
    const producer = new RejectingProducer('mallory');
    const { task } = await activeTask({ producer });
    const manager = fakeManager(task);
    const msgs = messages(HIGH, { ...HIGH, user: { key: 'mallory', identifiers: {} } }, HIGH);
    expect(await loopWith(manager).handleBatch(batchOf(msgs), ctx())).toBe(true);
    const dead = producer.messages(NAMES.deadLetters);
    expect(dead.map((d) => d.headers![DLQ_HEADERS.reason])).toEqual(['rejected-message-too-large']);
    expect(dead[0]!.headers![DLQ_HEADERS.originalOffset]).toBe(msgs[1]!.offset);
    expect(producer.messages(NAMES.alerts)).toHaveLength(1); // alice's two HIGH events
    expect(manager.closed).toBeGreaterThan(0);
  });

  it('a dead letter the dead-letter topic rejects too is sent again as a reference (headers and prefixes) and fits', async () => {
    const producer = new RejectingProducer('mallory', 10_000);
    const { task } = await activeTask({ producer });
    const big = { ...HIGH, user: { key: 'mallory', identifiers: { note: 'n'.repeat(50_000) } } };
    const msgs = messages(HIGH, big);
    expect(await loopWith(fakeManager(task), 1).handleBatch(batchOf(msgs), ctx())).toBe(true);
    const dead = producer.messages(NAMES.deadLetters);
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers).toMatchObject({ [DLQ_HEADERS.truncated]: 'true', [DLQ_HEADERS.originalOffset]: msgs[1]!.offset });
    expect(dead[0]!.value!.length).toBeLessThan(10_000);
  });

  it('a registry outage is retried with backoff until it ends: nothing dead-lettered, the batch scored once, the task kept', async () => {
    const { task, producer, codec } = await activeTask();
    codec.outage = true;
    const manager = fakeManager(task);
    let attempts = 0;
    const decode = codec.decode.bind(codec);
    codec.decode = async (m) => {
      if (++attempts === 3) codec.outage = false;
      return decode(m);
    };
    expect(await loopWith(manager).handleBatch(batchOf(messages(HIGH, HIGH)), ctx())).toBe(true);
    expect(attempts).toBe(3);
    expect(producer.messages(NAMES.deadLetters)).toHaveLength(0);
    expect(producer.messages(NAMES.alerts)).toHaveLength(1);
    expect(manager.closed).toBe(0);
  });

  it('a batch failing again and again marks its partition halted (with the reason) until it commits', async () => {
    const { task, producer } = await activeTask();
    const manager = fakeManager(task);
    let failures = 6;
    const transact = producer.transact.bind(producer);
    producer.transact = async (tm, offsets) => {
      if (failures-- > 0) throw new Error('NOT_LEADER_FOR_PARTITION');
      return transact(tm, offsets);
    };
    expect(await loopWith(manager, 1).handleBatch(batchOf(messages(HIGH)), ctx())).toBe(true);
    expect(manager.stuck).toEqual(['task: NOT_LEADER_FOR_PARTITION', undefined]);
    expect(manager.closed).toBe(6);
  });

  it('a commit that in fact succeeded is not scored again after the task was reopened', async () => {
    const { task, producer } = await activeTask();
    const manager = fakeManager(task);
    const msgs = messages(HIGH);
    manager.committedOffset = async () => BigInt(msgs[0]!.offset) + 1n;
    producer.failNext = { step: 'commit', err: new Error('the answer was lost') };
    const c = ctx();
    expect(await loopWith(manager).handleBatch(batchOf(msgs), c)).toBe(true);
    expect(manager.closed).toBe(1);
    expect(producer.committed).toHaveLength(0); // the fake lost it; the group's offset says it was committed
    expect(c.resolved).toEqual([msgs[0]!.offset]);
  });
});

describe('BatchLoop with a transaction open across batches', () => {
  it('a batch failing after an earlier one joined the open transaction: the consumer moves back, the batch is given up, the batches fetched again commit one by one, and the failing record is dead-lettered alone', async () => {
    let stale = false;
    const seeks: Array<{ topic: string; offset: bigint }> = [];
    const { task, producer, codec } = await activeTask({ commitIntervalMs: 60_000, rewind: (topic, offset) => void (seeks.push({ topic, offset }), (stale = true)) });
    codec.hugeAlertFor = 'mallory';
    const manager = fakeManager(task);
    const loop = loopWith(manager, 1);
    const b1 = messages(HIGH, HIGH); // alice: 12 points, one alert, in the open transaction
    const b2 = messages({ ...HIGH, user: { key: 'mallory', identifiers: {} }, points: 20 }, { ...HIGH, user: { key: 'bob', identifiers: {} } });
    const fetch = () => ({ ...ctx(), isStale: () => stale });
    const c1 = fetch();
    expect(await loop.handleBatch(batchOf(b1), c1)).toBe(true);
    expect(producer.calls).not.toContain('commit');
    const c2 = fetch();
    expect(await loop.handleBatch(batchOf(b2), c2)).toBe(false); // given up: the consumer was moved back
    expect(c2.resolved).toEqual([]);
    expect(seeks).toEqual([{ topic: NAMES.input, offset: BigInt(b1[0]!.offset) }]);
    expect(producer.committed).toHaveLength(0);
    // the consumer fetches b1 and b2 again (seek applied: no longer stale)
    stale = false;
    expect(await loop.handleBatch(batchOf(b1), fetch())).toBe(true);
    expect(producer.committed).toHaveLength(1); // committed on its own
    expect(await loop.handleBatch(batchOf(b2), fetch())).toBe(true);
    const dead = producer.messages(NAMES.deadLetters);
    expect(dead.map((d) => d.headers![DLQ_HEADERS.originalOffset])).toEqual([b2[0]!.offset]);
    expect(producer.messages(NAMES.alerts)).toHaveLength(1); // alice's, once
    expect(new Set(producer.messages(NAMES.changelog).map((m) => m.key))).toEqual(new Set(['app/production/alice', 'app/production/bob']));
    expect(producer.offsets.at(-1)!.nextOffset).toBe(BigInt(b2[1]!.offset) + 1n);
  });

  it('a batch fetched before the consumer was moved back is not scored, even when it waited behind the failing commit', async () => {
    const { task, producer } = await activeTask({ commitIntervalMs: 60_000 });
    const loop = loopWith(fakeManager(task));
    let stale = false;
    // the task's turn comes after something moved the consumer back (a failed timer commit)
    void task.exclusive(async () => {
      stale = true;
    });
    const c = { ...ctx(), isStale: () => stale };
    expect(await loop.handleBatch(batchOf(messages(HIGH)), c)).toBe(false);
    expect(producer.calls).toEqual(['fence']);
    expect(c.resolved).toEqual([]);
  });
});

/**
 * A producer port whose send fails as the broker does for a record too large, when a batch touches
 * `user`, or when a dead letter is over `dlqLimit` bytes.
 */
class RejectingProducer extends FakeProducer {
  constructor(
    private readonly user: string,
    private readonly dlqLimit = Infinity,
  ) {
    super();
  }
  override async transact(topicMessages: TopicMessages[], offsets: InputOffset[]) {
    const tooLarge = (t: TopicMessages) => t.topic === NAMES.deadLetters && t.messages.some((m) => messageBytes(m) > this.dlqLimit);
    if (topicMessages.some((t) => tooLarge(t) || (t.topic === NAMES.changelog && t.messages.some((m) => String(m.key).endsWith(`/${this.user}`))))) {
      throw Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', retriable: false });
    }
    return super.transact(topicMessages, offsets);
  }
}

describe('BatchLoop and a consumer that stops for good', () => {
  /** A consumer whose connect fails as a refused join does, after which kafkajs emits CRASH. */
  function crashingConsumer(restart: boolean, error: Error): Consumer {
    const handlers = new Map<string, (e: unknown) => void>();
    return {
      events: { GROUP_JOIN: 'consumer.group_join', REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' },
      on: (event: string, f: (e: unknown) => void) => void handlers.set(event, f),
      connect: async () => {},
      subscribe: async () => {},
      run: async () => handlers.get('consumer.crash')?.({ payload: { error, groupId: 'g', restart } }),
    } as unknown as Consumer;
  }

  it('reports a crash kafkajs will not restart from (onStopped), and not one it restarts from', async () => {
    const refused = Object.assign(new Error('The group member\'s supported protocols are incompatible with those of existing members'), { type: 'INCONSISTENT_GROUP_PROTOCOL' });
    const stopped: unknown[] = [];
    const manager = {} as TaskSource;
    const log = createLogger({ level: 'silent' });
    await new BatchLoop({ consumer: crashingConsumer(false, refused), manager, log, inputTopic: NAMES.input, concurrency: 1, onStopped: (e) => stopped.push(e) }).run();
    expect(stopped).toEqual([refused]);
    await new BatchLoop({ consumer: crashingConsumer(true, new Error('broker gone')), manager, log, inputTopic: NAMES.input, concurrency: 1, onStopped: (e) => stopped.push(e) }).run();
    expect(stopped).toHaveLength(1);
  });
});
