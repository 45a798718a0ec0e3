import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import type { Config } from '../config/schema.ts';
import { ConnectionError, PoisonRecordError } from '../errors.ts';
import { retryWhileUnavailable, subjectFor, type AvroSerde } from '../kafka/serde.ts';
import { deliveryReader } from './readers.ts';
import type { Logger } from '../log.ts';
import type { DeliveryCache } from './delivery-cache.ts';
import { notificationLedgerRecords, notificationLedgerWrites } from '../metrics/index.ts';
import { GroupCommit } from './group-commit.ts';
import type { DeliveryRecord, LedgerWriter } from './processor.ts';

/** Ledger records per produce request at most (a record is ~200 bytes: well under a request's size limit). */
const MAX_RECORDS_PER_WRITE = 500;

interface LedgerMessage {
  key: string;
  value: Buffer;
  timestamp: string;
}

// The delivery ledger, `risk-alert-deliveries`: one Avro record per attempt (schemas/delivery.avsc).
//
// Writing: acks=all from an idempotent producer, awaited before the input offset is committed. The
// writes of concurrent deliveries share produce requests (GroupCommit): each still resolves only once
// its own record is acknowledged.
// Reading back (LedgerTail): on start, every notifier process follows the ledger from
// `now - ledger.lookbackMs` in a private, never-committing consumer group, and keeps the terminal
// states (delivered, dead_lettered) in a bounded DeliveryCache. Before a channel consumer handles its
// first batch of a new group generation (start, restart, rebalance), it waits until the tail has read
// the ledger up to the end offsets of that moment: everything any instance recorded before it lost
// the partition is then known, and an alert delivered before a crash is not delivered again.

export function ledgerKey(r: Pick<DeliveryRecord, 'channel' | 'target_id' | 'alert_id'>): string {
  return `${r.channel}/${r.target_id}/${r.alert_id}`;
}

export class KafkaLedger implements LedgerWriter {
  private readonly subject: string;
  private readonly group: GroupCommit<LedgerMessage>;
  constructor(
    producer: Producer,
    private readonly serde: AvroSerde,
    topic: string,
  ) {
    this.subject = subjectFor(topic);
    this.group = new GroupCommit(async (messages) => {
      notificationLedgerWrites.inc();
      await producer.send({ topic, acks: -1, messages });
      notificationLedgerRecords.inc(messages.length);
    }, MAX_RECORDS_PER_WRITE);
  }

  /** Produce requests made so far (each carries one or more records). */
  get writes(): number {
    return this.group.flushes;
  }

  async write(r: DeliveryRecord): Promise<void> {
    const value = await this.serde.encode(this.subject, r);
    await this.group.add({ key: ledgerKey(r), value, timestamp: String(r.attempted_at) });
  }
}

export class LedgerTail {
  private consumer: Consumer | undefined;
  private readonly groupId: string;
  private readonly topic: string;
  private readonly start = new Map<number, bigint>();
  private readonly position = new Map<number, bigint>();
  private joined = false;
  private waiters: Array<() => void> = [];
  private readonly reader = deliveryReader();
  private readonly abort = new AbortController();
  records = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly serde: AvroSerde,
    private readonly config: Config,
    private readonly cache: DeliveryCache,
    private readonly log: Logger,
  ) {
    this.topic = config.topics.deliveries;
    this.groupId = `${config.applicationId}-notifier-ledger-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  async startReading(): Promise<void> {
    const since = Date.now() - this.config.notify.ledger.lookbackMs;
    const offsets = await this.admin.fetchTopicOffsetsByTimestamp(this.topic, since);
    for (const { partition, offset } of offsets) {
      this.start.set(partition, BigInt(offset));
      this.position.set(partition, BigInt(offset));
    }
    const consumer = this.kafka.consumer({ groupId: this.groupId, readUncommitted: false, maxWaitTimeInMs: 100, sessionTimeout: 30_000, heartbeatInterval: 3000 });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // Seek only once the partitions are ours (kafkajs drops a seek on an unassigned partition).
      for (const p of e.payload.memberAssignment[this.topic] ?? []) {
        const offset = this.start.get(p);
        if (offset !== undefined) consumer.seek({ topic: this.topic, partition: p, offset: offset.toString() });
      }
      this.joined = true;
      this.wake();
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat }) => {
        const p = batch.partition;
        const from = this.start.get(p) ?? 0n;
        for (const m of batch.messages) {
          if (BigInt(m.offset) < from) continue;
          try {
            // A registry outage is waited out (heart-beating), not skipped: a skipped record could be a delivery.
            const { value } = await retryWhileUnavailable(() => this.serde.decode<DeliveryRecord>(m.value, this.reader), { heartbeat, signal: this.abort.signal });
            this.records++;
            this.cache.set(value.channel, value.target_id, value.alert_id, value.status);
          } catch (err) {
            if (err instanceof PoisonRecordError) this.log.warn({ offset: m.offset, partition: p, reason: err.reason }, 'undecodable ledger record skipped');
            else throw err;
          }
        }
        const next = BigInt(batch.lastOffset()) + 1n;
        if (next > (this.position.get(p) ?? 0n)) this.position.set(p, next);
        this.wake();
      },
    });
  }

  private wake(): void {
    this.waiters.splice(0).forEach((w) => w());
  }

  /** Resolves once the tail has read everything on the ledger as of now; bounded by `timeoutMs`. */
  async catchUp(timeoutMs = this.config.notify.ledger.catchUpTimeoutMs): Promise<void> {
    const t0 = Date.now();
    const ends = await this.admin.fetchTopicOffsets(this.topic);
    const target = new Map(ends.map((e) => [e.partition, BigInt(e.high)]));
    const behind = () => [...target].filter(([p, high]) => (this.position.get(p) ?? 0n) < high);
    const deadline = t0 + timeoutMs;
    while (!this.joined || behind().length > 0) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new ConnectionError(
          `the delivery ledger ${this.topic} could not be read back within ${timeoutMs} ms (partitions behind: ${behind().map(([p]) => p).join(',') || 'not joined'}); refusing to deliver without knowing what was already delivered`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.log.debug({ ms: Date.now() - t0, records: this.records, cached: this.cache.size }, 'delivery ledger caught up');
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.consumer?.disconnect().catch(() => undefined);
    // The group never committed anything; remove it so it does not linger in listings.
    await this.admin.deleteGroups([this.groupId]).catch(() => undefined);
  }
}
