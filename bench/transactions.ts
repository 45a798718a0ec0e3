import type { Config } from '../src/config/schema.ts';
import { createKafka } from '../src/kafka/client.ts';
import { sleep } from './lib.ts';

// Transactions committed, counted on the broker: the transaction coordinator writes one record per state
// change of a transaction to __transaction_state (Ongoing, PrepareCommit, CompleteCommit…), keyed by the
// transactional id. One PrepareCommit = one committed transaction, whichever client wrote it (kafkajs or
// the Java client) and however it batches — the same count for Risk Hub and Kafka Streams, needing no
// metric of either. Key: int16 version, int16 length, transactional id. Value: int16 version, int64
// producer id, int16 epoch, int32 timeout, int8 status (2 = PrepareCommit) — tagged fields come last.

const TXN_LOG = '__transaction_state';
const PREPARE_COMMIT = 2;

/** The transaction log's end offset per partition: a window opens and closes with these. */
export async function transactionLogEnds(config: Config): Promise<Map<number, bigint>> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(TXN_LOG)) return new Map(); // no transaction yet on this broker
    return new Map((await admin.fetchTopicOffsets(TXN_LOG)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/**
 * Commits of the transactional ids starting with each prefix, between two sets of end offsets. Reads only
 * that range (a throwaway group holding `config.applicationId`, so the bench's clean-up removes it).
 */
export async function countCommits(config: Config, prefixes: string[], from: Map<number, bigint>, to: Map<number, bigint>, timeoutMs = 120_000): Promise<Map<string, number>> {
  const counts = new Map(prefixes.map((p) => [p, 0]));
  const pending = new Map([...to].filter(([p, end]) => end > (from.get(p) ?? 0n)));
  if (!pending.size) return counts;
  const consumer = createKafka(config).consumer({ groupId: `${config.applicationId}-txlog-${Date.now()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TXN_LOG, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = pending.get(batch.partition);
        const start = from.get(batch.partition) ?? 0n;
        if (end === undefined) return;
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset >= start && offset < end && m.key && m.value && m.value.length > 16 && m.value[16] === PREPARE_COMMIT) {
            const id = m.key.toString('utf8', 4, 4 + m.key.readUInt16BE(2));
            for (const p of prefixes) if (id.startsWith(p)) counts.set(p, counts.get(p)! + 1);
          }
          if (offset >= end - 1n) pending.delete(batch.partition);
        }
      },
    });
    for (const [p, start] of from) if (pending.has(p)) consumer.seek({ topic: TXN_LOG, partition: p, offset: String(start) });
    const deadline = Date.now() + timeoutMs;
    while (pending.size && Date.now() < deadline) await sleep(100);
    if (pending.size) throw new Error(`${TXN_LOG}: partitions ${[...pending.keys()].join(', ')} not read to their end within ${timeoutMs / 1000} s`);
    return counts;
  } finally {
    await consumer.disconnect();
  }
}
