import type { Kafka, Producer, Transaction } from 'kafkajs';
import { chunkTopicMessages, type OutMessage } from '../kafka/chunk.ts';

// The narrow producer port a partition task commits through, and its kafkajs adapters. The port is all
// the exactly-once protocol needs: fence the previous owner, then transactions that each send records
// and input offsets and commit, or abort and throw. A unit test hands the task a fake port and checks
// the protocol (what is sent, in what order, what an abort leaves) without a broker.
//
// Two adapters (scorer.transactionScope): `partition` gives every input partition its own
// transactional producer (its id fences a zombie owner of that partition); `process` lets the tasks of
// a process share one producer and one transaction at a time (shared-transactions.ts, KIP-447).

export interface TopicMessages {
  topic: string;
  messages: OutMessage[];
}

/** Where a send put records: `count` records of `topic`/`partition` from `baseOffset` on. */
export interface SentRange {
  topic: string;
  partition: number;
  baseOffset: bigint;
  count: number;
}

/** The consumer group's next offset of an input partition, committed with a transaction. */
export interface InputOffset {
  topic: string;
  partition: number;
  next: bigint;
}

export interface TransactionalProducer {
  /**
   * Connects and settles whatever a previous owner of the partition left open (its transaction is
   * aborted or completed, and it can commit nothing more), so the group's offsets and the changelog's
   * end read next are stable.
   */
  fence(): Promise<void>;
  /**
   * One transaction: `records` sent, `offsets` added for the consumer group, committed. Any failure
   * aborts it (what an abort cannot settle, the next `fence` does) and is rethrown. Returns where the
   * records were put.
   */
  transact(records: TopicMessages[], offsets: InputOffset[]): Promise<SentRange[]>;
  disconnect(): Promise<void>;
}

/** Bytes of keys and values per produce request (below the broker's default message.max.bytes of 1 MiB). */
const MAX_REQUEST_BYTES = 512 * 1024;
/** A partition producer's transaction timeout (ms): the broker aborts what a dead owner left open after it. */
const PARTITION_TRANSACTION_TIMEOUT_MS = 60_000;

/** Messages of `topic` for `partition` in one request (a loop, not a closure per message: the hot path). */
function countFor(chunk: TopicMessages[], topic: string, partition: number): number {
  let n = 0;
  for (const tm of chunk) {
    if (tm.topic !== topic) continue;
    for (let i = 0; i < tm.messages.length; i++) if (tm.messages[i]!.partition === partition) n++;
  }
  return n;
}

/** A kafkajs transactional producer (idempotent, one request in flight, as kafkajs requires). */
export function transactionalKafkaProducer(kafka: Kafka, transactionalId: string, transactionTimeout: number): Producer {
  return kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout });
}

/** Connects `producer` and initialises its transactional id, which aborts what the id's previous user left open and fences it. */
export async function initTransactions(producer: Producer): Promise<void> {
  await producer.connect();
  // kafkajs initialises the transactional id with its first transaction; aborting it is a no-op.
  await (await producer.transaction()).abort();
}

/**
 * Sends `records` in `tx` as requests below the broker's message.max.bytes (large transactions are
 * several requests inside the same transaction). Returns where they were put.
 */
export async function sendInTransaction(tx: Transaction, records: TopicMessages[]): Promise<SentRange[]> {
  const out: SentRange[] = [];
  if (!records.length) return out;
  for (const chunk of chunkTopicMessages(records, MAX_REQUEST_BYTES)) {
    const meta = await tx.sendBatch({ topicMessages: chunk, acks: -1 });
    for (const r of meta) {
      if (r.baseOffset === undefined) continue;
      out.push({ topic: r.topicName, partition: r.partition, baseOffset: BigInt(r.baseOffset), count: countFor(chunk, r.topicName, r.partition) });
    }
  }
  return out;
}

/** `offsets` in kafkajs' shape, one entry per topic. */
export function offsetTopics(offsets: InputOffset[]): Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> {
  const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const o of offsets) {
    let list = byTopic.get(o.topic);
    if (!list) byTopic.set(o.topic, (list = []));
    list.push({ partition: o.partition, offset: o.next.toString() });
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}

/**
 * Initialises a partition's transactional id of the `partition` scope once and lets it go: whatever a
 * scorer of that scope left open on it is aborted, and that scorer's producer is fenced.
 */
export async function fencePartitionTransactionalId(kafka: Kafka, transactionalId: string): Promise<void> {
  const producer = transactionalKafkaProducer(kafka, transactionalId, PARTITION_TRANSACTION_TIMEOUT_MS);
  try {
    await initTransactions(producer);
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
}

/** The port on a producer of the partition's own: its transactional id is the partition's (scorer.transactionScope `partition`). */
export function partitionTransactionalProducer(kafka: Kafka, transactionalId: string, groupId: string): TransactionalProducer {
  const producer = transactionalKafkaProducer(kafka, transactionalId, PARTITION_TRANSACTION_TIMEOUT_MS);
  return {
    fence: () => initTransactions(producer),
    async transact(records, offsets) {
      const tx = await producer.transaction();
      try {
        const sent = await sendInTransaction(tx, records);
        if (offsets.length) await tx.sendOffsets({ consumerGroupId: groupId, topics: offsetTopics(offsets) });
        await tx.commit();
        return sent;
      } catch (err) {
        await tx.abort().catch(() => undefined);
        throw err;
      }
    },
    disconnect: () => producer.disconnect(),
  };
}
