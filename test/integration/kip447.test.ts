import kafkajs from 'kafkajs';
import type { Admin, Consumer, ConsumerGroupJoinEvent, Kafka, Producer, RetryOptions } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, uniqueSuffix } from './helpers.ts';

// KIP-447 in the patched kafkajs (patches/kafkajs+2.2.4.patch, patches/README.md), against the real
// broker: `transaction.sendOffsets({ ..., consumerGroupMetadata })` sends TxnOffsetCommit v3 and the
// group coordinator fences a stale member; `admin.fetchOffsets({ requireStable: true })` sends
// OffsetFetch v7 and waits out offsets an open transaction holds (UNSTABLE_OFFSET_COMMIT, retried);
// GROUP_JOIN carries the generation id. The request versions are read from kafkajs's REQUEST events.
// Every client gets its retry settings here (kafkajs takes other defaults when NODE_ENV=test).

const { KafkaJSProtocolError, logLevel } = kafkajs;

/** A retry budget whose first wait alone (1 s) is far longer than a request to the local broker. */
const SLOW_RETRY: RetryOptions = { initialRetryTime: 1_000, retries: 5, maxRetryTime: 5_000 };
/** The admin's budget for requireStable: ~5 s of retries (100 ms, ×1.5, at most 1 s each). */
const STABLE_RETRY: RetryOptions = { initialRetryTime: 100, multiplier: 1.5, factor: 0.1, retries: 10, maxRetryTime: 1_000 };

const INPUT_RECORDS = 300;

let kafka: Kafka;
let admin: Admin;
let plain: Producer;
const adminRequests: Array<{ apiName: string; apiVersion: number }> = [];
const cleanup: Array<() => Promise<void>> = [];

interface Member {
  consumer: Consumer;
  joins: ConsumerGroupJoinEvent['payload'][];
}

type Case = { input: string; output: string; groupId: string; txnId: string };

function names(label: string): Case {
  const id = uniqueSuffix();
  return { input: `kip447-${label}-in-${id}`, output: `kip447-${label}-out-${id}`, groupId: `kip447-${label}-${id}`, txnId: `kip447-${label}-tx-${id}` };
}

/**
 * Creates the topics, one partition each, and writes INPUT_RECORDS records to the first (the input):
 * every offset a test commits is then inside its log. (A kafkajs member whose committed offset is past
 * the log end resets to the earliest and commits -2, even with autoCommit off.)
 */
async function createTopics(input: string, ...others: string[]): Promise<void> {
  await admin.createTopics({ topics: [input, ...others].map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1 })), waitForLeaders: true });
  await plain.send({ topic: input, messages: Array.from({ length: INPUT_RECORDS }, (_, i) => ({ key: 'k', value: `in-${i}` })) });
}

/** A consumer in `groupId`, subscribed to `topic`, committing nothing itself; resolves on its first GROUP_JOIN. */
async function joinGroup(groupId: string, topic: string): Promise<Member> {
  const consumer = kafka.consumer({ groupId, heartbeatInterval: 300, sessionTimeout: 10_000, maxWaitTimeInMs: 500, retry: { retries: 5 } });
  const joins: Member['joins'] = [];
  consumer.on(consumer.events.GROUP_JOIN, (e) => joins.push(e.payload));
  cleanup.push(() => consumer.disconnect());
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ autoCommit: false, eachMessage: async () => {} });
  await eventually(() => (joins.length > 0 ? true : undefined), 30_000, `${groupId}: GROUP_JOIN`);
  return { consumer, joins };
}

/** A transactional producer; `requests` collects the versions of the requests it sends. */
async function txProducer(transactionalId: string, retry: RetryOptions = SLOW_RETRY): Promise<{ producer: Producer; requests: Array<{ apiName: string; apiVersion: number }> }> {
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, retry });
  const requests: Array<{ apiName: string; apiVersion: number }> = [];
  producer.on(producer.events.REQUEST, (e) => requests.push({ apiName: e.payload.apiName, apiVersion: e.payload.apiVersion }));
  cleanup.push(() => producer.disconnect());
  await producer.connect();
  return { producer, requests };
}

function offsetsOf(topic: string, offset: string) {
  return [{ topic, partitions: [{ partition: 0, offset }] }];
}

async function committed(groupId: string, topic: string, requireStable: boolean): Promise<string | undefined> {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic], requireStable });
  return t?.partitions.find((p) => p.partition === 0)?.offset;
}

/** The rejection of `p`, and how long it took to come. */
async function rejection(p: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (error) {
    return { error, ms: Date.now() - t0 };
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  kafka = new kafkajs.Kafka({ clientId: 'kip447-test', brokers: inject('brokers').split(','), logLevel: logLevel.NOTHING, retry: SLOW_RETRY });
  admin = kafka.admin({ retry: STABLE_RETRY });
  admin.on(admin.events.REQUEST, (e) => adminRequests.push({ apiName: e.payload.apiName, apiVersion: e.payload.apiVersion }));
  await admin.connect();
  plain = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await plain.connect();
});

afterAll(async () => {
  // Together: a consumer's disconnect waits for its fetch in flight (maxWaitTimeInMs).
  await Promise.allSettled(cleanup.map((close) => close()));
  await plain?.disconnect();
  await admin?.disconnect();
});

describe('KIP-447 in the patched kafkajs (real broker)', () => {
  it('a: GROUP_JOIN gives the generation; sendOffsets with it (TxnOffsetCommit v3) commits the offset with the transaction', async () => {
    const n = names('a');
    await createTopics(n.input, n.output);
    const { joins } = await joinGroup(n.groupId, n.input);
    const join = joins[0]!;
    expect(typeof join.generationId).toBe('number');
    expect(join.generationId).toBeGreaterThanOrEqual(1);
    expect(join.memberId).toMatch(/^kip447-test-/);

    const { producer, requests } = await txProducer(n.txnId);
    const txn = await producer.transaction();
    await txn.send({ topic: n.output, messages: [{ key: 'k', value: 'a' }] });
    await txn.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '42'), consumerGroupMetadata: { generationId: join.generationId, memberId: join.memberId } });
    await txn.commit();

    expect(requests.filter((r) => r.apiName === 'TxnOffsetCommit')).toEqual([{ apiName: 'TxnOffsetCommit', apiVersion: 3 }]);
    // EndTxn answers before the coordinator has written the commit markers: a plain OffsetFetch can still
    // show the previous offset for a moment; require_stable waits for them.
    expect(await committed(n.groupId, n.input, true)).toBe('42');
  });

  it('b: after a rebalance, the old generation is fenced (ILLEGAL_GENERATION, not retried); the aborted transaction leaves no trace', async () => {
    const n = names('b');
    await createTopics(n.input, n.output);
    const first = await joinGroup(n.groupId, n.input);
    const oldGen = first.joins[0]!;

    const { producer, requests } = await txProducer(n.txnId);
    const t1 = await producer.transaction();
    await t1.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '10'), consumerGroupMetadata: { generationId: oldGen.generationId, memberId: oldGen.memberId } });
    await t1.commit();
    expect(await committed(n.groupId, n.input, true)).toBe('10');

    // A second member: the group rebalances into a new generation, which both members report.
    const second = await joinGroup(n.groupId, n.input);
    const newGen = second.joins[0]!;
    expect(newGen.generationId).toBeGreaterThan(oldGen.generationId);
    await eventually(() => (first.joins.some((j) => j.generationId === newGen.generationId) ? true : undefined), 30_000, 'the first member in the new generation');
    expect(first.joins.at(-1)!.memberId).toBe(oldGen.memberId);

    const t2 = await producer.transaction();
    await t2.send({ topic: n.output, messages: [{ key: 'k', value: 'zombie' }] });
    const before = requests.length;
    const { error, ms } = await rejection(t2.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '20'), consumerGroupMetadata: { generationId: oldGen.generationId, memberId: oldGen.memberId } }));
    expect(error).toBeInstanceOf(KafkaJSProtocolError);
    expect(error).toMatchObject({ type: 'ILLEGAL_GENERATION', code: 22, retriable: false });
    // Sent once, answered at once: the first retry alone would have waited SLOW_RETRY.initialRetryTime.
    expect(requests.slice(before).filter((r) => r.apiName === 'TxnOffsetCommit')).toEqual([{ apiName: 'TxnOffsetCommit', apiVersion: 3 }]);
    expect(ms).toBeLessThan(SLOW_RETRY.initialRetryTime!);
    await t2.abort();

    expect(await committed(n.groupId, n.input, true)).toBe('10');

    // A committed record after the aborted one: a read_committed reader that has it has read past the abort.
    await plain.send({ topic: n.output, messages: [{ key: 'k', value: 'after' }] });
    const reader = kafka.consumer({ groupId: `${n.groupId}-reader`, readUncommitted: false, maxWaitTimeInMs: 500 });
    cleanup.push(() => reader.disconnect());
    const seen: string[] = [];
    await reader.connect();
    await reader.subscribe({ topics: [n.output], fromBeginning: true });
    await reader.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
    await eventually(() => (seen.includes('after') ? true : undefined), 30_000, 'the record after the aborted transaction');
    expect(seen).toEqual(['after']);
  });

  it('c: a member id the group does not know is fenced with UNKNOWN_MEMBER_ID (so is an unknown group instance id)', async () => {
    const n = names('c');
    await createTopics(n.input);
    const { joins } = await joinGroup(n.groupId, n.input);
    const join = joins[0]!;
    const { producer, requests } = await txProducer(n.txnId);
    const txn = await producer.transaction();

    const wrongMember = await rejection(txn.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '5'), consumerGroupMetadata: { generationId: join.generationId, memberId: `${join.memberId}-not` } }));
    expect(wrongMember.error).toBeInstanceOf(KafkaJSProtocolError);
    expect(wrongMember.error).toMatchObject({ type: 'UNKNOWN_MEMBER_ID', code: 25 });
    expect(wrongMember.ms).toBeLessThan(SLOW_RETRY.initialRetryTime!);

    // kafkajs members are dynamic (no static membership): Kafka 4.1 answers UNKNOWN_MEMBER_ID to a group
    // instance id it has no static member for (FENCED_INSTANCE_ID needs one registered under another member id).
    const wrongInstance = await rejection(txn.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '5'), consumerGroupMetadata: { generationId: join.generationId, memberId: join.memberId, groupInstanceId: 'no-such-instance' } }));
    expect(wrongInstance.error).toMatchObject({ type: 'UNKNOWN_MEMBER_ID', code: 25 });
    expect(requests.filter((r) => r.apiName === 'TxnOffsetCommit')).toHaveLength(2);
    await txn.abort();
    expect(await committed(n.groupId, n.input, true)).toBe('-1');
  });

  it('d: requireStable (OffsetFetch v7) waits for an open transaction\'s offsets; a plain fetch returns the old offset at once', async () => {
    const n = names('d');
    await createTopics(n.input);
    const { joins } = await joinGroup(n.groupId, n.input);
    const metadata = { generationId: joins[0]!.generationId, memberId: joins[0]!.memberId };
    const { producer } = await txProducer(n.txnId);
    const t1 = await producer.transaction();
    await t1.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '100'), consumerGroupMetadata: metadata });
    await t1.commit();
    expect(await committed(n.groupId, n.input, true)).toBe('100');

    const t2 = await producer.transaction();
    await t2.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '200'), consumerGroupMetadata: metadata });

    // Plain: the last committed offset, at once (OffsetFetch v4).
    let t0 = Date.now();
    adminRequests.length = 0;
    expect(await committed(n.groupId, n.input, false)).toBe('100');
    expect(Date.now() - t0).toBeLessThan(STABLE_RETRY.initialRetryTime!);
    expect(adminRequests.filter((r) => r.apiName === 'OffsetFetch')).toEqual([{ apiName: 'OffsetFetch', apiVersion: 4 }]);

    // Retries exhausted while the transaction is open: the protocol error itself.
    const shortAdmin = kafka.admin({ retry: { initialRetryTime: 100, retries: 2, maxRetryTime: 200 } });
    cleanup.push(() => shortAdmin.disconnect());
    await shortAdmin.connect();
    const exhausted = await rejection(shortAdmin.fetchOffsets({ groupId: n.groupId, topics: [n.input], requireStable: true }));
    expect(exhausted.error).toBeInstanceOf(KafkaJSProtocolError);
    expect(exhausted.error).toMatchObject({ type: 'UNSTABLE_OFFSET_COMMIT', code: 88, retriable: true });

    // Stable: retried until the transaction commits (~1 s from now), then the new offset.
    adminRequests.length = 0;
    t0 = Date.now();
    const commit = new Promise((r) => setTimeout(r, 1_000)).then(() => t2.commit());
    const stable = await committed(n.groupId, n.input, true);
    const returnedAt = Date.now();
    await commit;
    expect(stable).toBe('200');
    expect(returnedAt - t0).toBeGreaterThanOrEqual(900);
    const fetches = adminRequests.filter((r) => r.apiName === 'OffsetFetch');
    expect(fetches.length).toBeGreaterThanOrEqual(2);
    expect(new Set(fetches.map((r) => r.apiVersion))).toEqual(new Set([7]));
  });

  it('e: sendOffsets without consumerGroupMetadata works as before (TxnOffsetCommit v1, no fencing)', async () => {
    const n = names('e');
    await createTopics(n.input, n.output);
    await joinGroup(n.groupId, n.input);
    const { producer, requests } = await txProducer(n.txnId);
    const txn = await producer.transaction();
    await txn.send({ topic: n.output, messages: [{ key: 'k', value: 'e' }] });
    await txn.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, '7') });
    await txn.commit();
    expect(requests.filter((r) => r.apiName === 'TxnOffsetCommit')).toEqual([{ apiName: 'TxnOffsetCommit', apiVersion: 1 }]);
    await eventually(async () => ((await committed(n.groupId, n.input, false)) === '7' ? true : undefined), 10_000, 'offset 7 committed');
  });

  it('f: a transaction begun right after the last one ended (its markers still being written: CONCURRENT_TRANSACTIONS) is retried shortly by kafkajs, not failed', async () => {
    const n = names('f');
    await createTopics(n.input, n.output);
    const { joins } = await joinGroup(n.groupId, n.input);
    const g = { generationId: joins[0]!.generationId, memberId: joins[0]!.memberId };
    const { producer, requests } = await txProducer(n.txnId);
    const ROUNDS = 20;
    for (let i = 0; i < ROUNDS; i++) {
      // offsets only, at once after the previous commit or abort: kafkajs used to fail AddOffsetsToTxn here
      const txn = await producer.transaction();
      await txn.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, String(i + 1)), consumerGroupMetadata: g });
      if (i % 2) await txn.abort();
      else await txn.commit();
      const next = await producer.transaction();
      await next.send({ topic: n.output, messages: [{ key: 'k', value: String(i) }] });
      await next.commit();
    }
    // the broker did answer CONCURRENT_TRANSACTIONS: some AddOffsetsToTxn / AddPartitionsToTxn went twice
    const sent = (api: string) => requests.filter((r) => r.apiName === api).length;
    expect(sent('AddOffsetsToTxn') + sent('AddPartitionsToTxn')).toBeGreaterThan(2 * ROUNDS);
    expect(await committed(n.groupId, n.input, true)).toBe(String(ROUNDS - 1));
  });
  it('g: the transaction and group coordinators are looked up once, not before every transaction\'s requests (FindCoordinator, kafkajs\' GroupCoordinator)', async () => {
    const n = names('g');
    await createTopics(n.input, n.output);
    const { joins } = await joinGroup(n.groupId, n.input);
    const g = { generationId: joins[0]!.generationId, memberId: joins[0]!.memberId };
    const { producer, requests } = await txProducer(n.txnId);
    const before = requests.length;
    const ROUNDS = 10;
    for (let i = 0; i < ROUNDS; i++) {
      const txn = await producer.transaction();
      await txn.send({ topic: n.output, messages: [{ key: 'k', value: String(i) }] });
      await txn.sendOffsets({ consumerGroupId: n.groupId, topics: offsetsOf(n.input, String(i + 1)), consumerGroupMetadata: g });
      await txn.commit();
    }
    const sent = (api: string) => requests.slice(before).filter((r) => r.apiName === api).length;
    // one lookup of each coordinator, the transaction's (InitProducerId, on the first transaction) and the group's (kafkajs sent 4 per transaction)
    expect(sent('GroupCoordinator')).toBe(2);
    expect(sent('EndTxn')).toBe(ROUNDS);
    expect(sent('TxnOffsetCommit')).toBe(ROUNDS);
    expect(await committed(n.groupId, n.input, true)).toBe(String(ROUNDS));
  });
});
