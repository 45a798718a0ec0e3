import type { Kafka, Producer, Transaction } from 'kafkajs';
import { chunkTopicMessages, type OutMessage } from '../kafka/chunk.ts';

// The narrow producer port a partition task commits through, and its kafkajs adapter. The port is all
// the exactly-once protocol needs: fence, begin, send, sendOffsets, commit, abort. A unit test hands
// the task a fake port and checks the protocol (what is sent, in what order, what an abort leaves)
// without a broker.

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

export interface TransactionalProducer {
  /**
   * Connects and initialises the transactional id, which aborts any transaction the previous owner of
   * the id left open and fences that owner: its next send or commit fails.
   */
  fence(): Promise<void>;
  begin(): Promise<void>;
  send(topicMessages: TopicMessages[]): Promise<SentRange[]>;
  /** Adds the consumer group's next offset of an input partition to the open transaction. */
  sendOffsets(groupId: string, topic: string, partition: number, nextOffset: bigint): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  disconnect(): Promise<void>;
}

/** Bytes of keys and values per produce request (below the broker's default message.max.bytes of 1 MiB). */
const MAX_REQUEST_BYTES = 512 * 1024;

/** Messages of `topic` for `partition` in one request (a loop, not a closure per message: the hot path). */
function countFor(chunk: TopicMessages[], topic: string, partition: number): number {
  let n = 0;
  for (const tm of chunk) {
    if (tm.topic !== topic) continue;
    for (let i = 0; i < tm.messages.length; i++) if (tm.messages[i]!.partition === partition) n++;
  }
  return n;
}

/** The port on a kafkajs transactional producer (idempotent, one request in flight, as kafkajs requires). */
export function kafkaTransactionalProducer(kafka: Kafka, transactionalId: string): TransactionalProducer {
  const producer: Producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000 });
  let tx: Transaction | undefined;
  const open = (): Transaction => {
    if (!tx) throw new Error('no open transaction');
    return tx;
  };
  return {
    async fence() {
      await producer.connect();
      // kafkajs initialises the transactional id with its first transaction; aborting it is a no-op.
      await (await producer.transaction()).abort();
    },
    async begin() {
      tx = await producer.transaction();
    },
    async send(topicMessages) {
      const out: SentRange[] = [];
      // One produce request must stay below the broker's message.max.bytes: large transactions are
      // sent as several requests inside the same transaction.
      for (const chunk of chunkTopicMessages(topicMessages, MAX_REQUEST_BYTES)) {
        const meta = await open().sendBatch({ topicMessages: chunk, acks: -1 });
        for (const r of meta) {
          if (r.baseOffset === undefined) continue;
          out.push({ topic: r.topicName, partition: r.partition, baseOffset: BigInt(r.baseOffset), count: countFor(chunk, r.topicName, r.partition) });
        }
      }
      return out;
    },
    async sendOffsets(groupId, topic, partition, nextOffset) {
      await open().sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition, offset: nextOffset.toString() }] }] });
    },
    async commit() {
      const t = open();
      tx = undefined;
      await t.commit();
    },
    async abort() {
      const t = tx;
      tx = undefined;
      if (t) await t.abort();
    },
    async disconnect() {
      await producer.disconnect();
    },
  };
}
