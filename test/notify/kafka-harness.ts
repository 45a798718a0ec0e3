// Helpers for the notifier integration tests (test/integration/notify*.test.ts): produce alerts,
// read the ledger and the dead-letter topics, collect every log line of the run for the secret scan.
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../src/config/schema.ts';
import type { Decision, RiskAlert } from '../../src/contracts.ts';
import { userKey } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { AvroSerde, readerType, subjectFor } from '../../src/kafka/serde.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { DeliveryRecord } from '../../src/notify/processor.ts';
import { sampleAlert } from './receivers.ts';

export function uniqueAlert(over: Partial<RiskAlert> = {}): RiskAlert {
  return sampleAlert({ alert_id: `alert-${randomUUID()}`, triggered_at: Date.now(), ...over });
}

/** Writes alerts to risk-alerts the way the scorer does (Avro, keyed by user), non-transactionally. */
export async function produceAlerts(config: Config, alerts: RiskAlert[]): Promise<Array<{ partition: number; baseOffset?: string }>> {
  const kafka = createKafka(config, { clientId: 'test-alert-producer' });
  const producer = kafka.producer({ idempotent: true });
  const serde = new AvroSerde(config);
  await producer.connect();
  try {
    const messages = await Promise.all(alerts.map(async (a) => ({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subjectFor(config.topics.alerts), a) })));
    return (await producer.send({ topic: config.topics.alerts, acks: -1, messages })).map((m) => ({ partition: m.partition, ...(m.baseOffset !== undefined ? { baseOffset: m.baseOffset } : {}) }));
  } finally {
    await producer.disconnect();
  }
}

/**
 * Writes records to the decisions topic the way the scorer does (Avro Decision, Confluent wire format,
 * keyed by user), in this order; `null` is a tombstone for `key`.
 */
export async function produceDecisions(config: Config, records: Array<Decision | { key: string; value: null }>): Promise<void> {
  const kafka = createKafka(config, { clientId: 'test-decision-producer' });
  const producer = kafka.producer({ idempotent: true });
  const serde = new AvroSerde(config);
  await producer.connect();
  try {
    const messages = [];
    for (const r of records) {
      if ('decision_id' in r) messages.push({ key: userKey(r.application_id, r.environment, r.user.key), value: await serde.encode(subjectFor(config.topics.decisions), r) });
      else messages.push({ key: r.key, value: null });
    }
    await producer.send({ topic: config.topics.decisions, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord<T> {
  partition: number;
  offset: string;
  key: string | null;
  value: T;
  raw: Buffer | null;
  headers: Record<string, string>;
}

/** Everything on `topic` up to its end offsets of now (bounded wait), decoded as `kind`. */
export async function readTopic<T>(config: Config, topic: string, kind: 'delivery' | 'alert', timeoutMs = 20_000): Promise<Array<ReadRecord<T>>> {
  const kafka = createKafka(config, { clientId: 'test-reader' });
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const want = new Map(ends.map((e) => [e.partition, BigInt(e.high)]));
  const pending = new Set([...want].filter(([, h]) => h > 0n).map(([p]) => p));
  const out: Array<ReadRecord<T>> = [];
  if (pending.size === 0) return out;
  const serde = new AvroSerde(config);
  const reader = readerType(kind === 'delivery' ? 'delivery.avsc' : 'risk-alert.avsc');
  const consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      if (BigInt(message.offset) >= (want.get(partition) ?? 0n)) return;
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']));
      let value: T;
      try {
        value = (await serde.decode<T>(message.value, reader)).value;
      } catch {
        value = undefined as T;
      }
      out.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value, raw: message.value, headers });
      if (BigInt(message.offset) + 1n >= (want.get(partition) ?? 0n)) pending.delete(partition);
      if (pending.size === 0) done();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([finished, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`reading ${topic} timed out after ${timeoutMs} ms`)), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

export async function ledgerFor(config: Config, alertId: string): Promise<DeliveryRecord[]> {
  return (await readTopic<DeliveryRecord>(config, config.topics.deliveries, 'delivery')).map((r) => r.value).filter((r) => r?.alert_id === alertId);
}

/** Every log line of a test run goes to files below one directory, scanned for secrets at the end. */
export class LogCollector {
  readonly dir: string;
  private streams: WriteStream[] = [];
  constructor(name: string) {
    this.dir = join('/tmp/risk-hub-test-logs', `${name}-${Date.now()}-${randomBytes(3).toString('hex')}`);
    mkdirSync(this.dir, { recursive: true });
  }
  file(name: string): WriteStream {
    const s = createWriteStream(join(this.dir, `${name}.log`), { flags: 'a' });
    this.streams.push(s);
    return s;
  }
  logger(name: string, level = 'debug'): Logger {
    return createLogger({ level, name, destination: this.file(name) });
  }
  async flush(): Promise<void> {
    await new Promise((r) => setTimeout(r, 100));
  }
  /** The files that mention any of the secrets (with the secret's first characters, for the message). */
  scan(secrets: string[]): string[] {
    const hits: string[] = [];
    for (const f of readdirSync(this.dir)) {
      const text = readFileSync(join(this.dir, f), 'utf8');
      for (const s of secrets) if (text.includes(s)) hits.push(`${f}: ${s.slice(0, 6)}…`);
    }
    return hits;
  }
  totalBytes(): number {
    return readdirSync(this.dir).reduce((n, f) => n + readFileSync(join(this.dir, f)).length, 0);
  }
  /** Lines of one log file (JSON parsed when possible). */
  lines(name: string): Array<Record<string, unknown>> {
    let text = '';
    try {
      text = readFileSync(join(this.dir, `${name}.log`), 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return { msg: l };
        }
      });
  }
  async close(): Promise<void> {
    await Promise.all(this.streams.map((s) => new Promise((r) => s.end(r))));
  }
}
