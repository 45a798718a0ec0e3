import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { Config } from '../../src/config/schema.ts';
import type { Attack, RiskAlert, Severity } from '../../src/contracts.ts';
import { userKey } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { AvroSerde, readerType, subjectFor } from '../../src/kafka/serde.ts';
import { createLogger } from '../../src/log.ts';
import { startScorer, type ScorerHandle } from '../../src/scorer/scorer.ts';
import { eventually } from './helpers.ts';

export const HOUR = 3_600_000;

export function mkAttack(p: { app?: string; env?: string; user: string; at: number; points?: number | null; severity?: Severity; type?: string; id?: string }): Attack {
  return {
    event_id: p.id ?? randomUUID(),
    occurred_at: p.at,
    application_id: p.app ?? 'shop',
    environment: p.env ?? 'production',
    user: { key: p.user, identifiers: {} },
    attack_type: p.type ?? 'sql_injection',
    severity: p.severity ?? 'HIGH',
    points: p.points === undefined ? null : p.points,
    blocked: false,
    request: null,
    agent: { name: 'test', version: '0', language: 'node' },
  };
}

export class AttackProducer {
  private producer: Producer;
  private serde: AvroSerde;
  constructor(
    private config: Config,
    kafka: Kafka = createKafka(config),
  ) {
    this.producer = kafka.producer({ idempotent: true });
    this.serde = new AvroSerde(config);
  }
  async connect() {
    await this.producer.connect();
    return this;
  }
  async send(attacks: Attack[]) {
    const messages = await Promise.all(
      attacks.map(async (a) => ({ key: userKey(a.application_id, a.environment, a.user.key), value: await this.serde.encode(subjectFor(this.config.topics.attacks), a) })),
    );
    for (let i = 0; i < messages.length; i += 1000) await this.producer.send({ topic: this.config.topics.attacks, messages: messages.slice(i, i + 1000) });
  }
  async sendRaw(messages: Array<{ key: string | null; value: Buffer | null; partition?: number }>) {
    await this.producer.send({ topic: this.config.topics.attacks, messages });
  }
  async disconnect() {
    await this.producer.disconnect();
  }
}

/** Reads a topic from the beginning, read_committed, collecting decoded values. */
export class TopicReader<T> {
  readonly records: Array<{ key: string | null; partition: number; offset: string; value: T; headers: Record<string, string> }> = [];
  private consumer;
  constructor(
    private config: Config,
    private topic: string,
    private decode: 'alert' | 'decision' | 'raw' = 'alert',
  ) {
    this.consumer = createKafka(config).consumer({ groupId: `reader-${randomUUID()}`, readUncommitted: false, maxWaitTimeInMs: 100 });
  }
  async start() {
    const serde = new AvroSerde(this.config);
    const reader = readerType(this.decode === 'decision' ? 'decision.avsc' : 'risk-alert.avsc');
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, v?.toString() ?? '']));
        // A tombstone (a decision that ended) reads as null.
        const value = (this.decode === 'raw' || message.value === null ? message.value : (await serde.decode<T>(message.value, reader)).value) as T;
        this.records.push({ key: message.key?.toString() ?? null, partition, offset: message.offset, value, headers });
      },
    });
    return this;
  }
  async waitFor(n: number, timeoutMs = 60_000) {
    await eventually(() => (this.records.length >= n ? true : undefined), timeoutMs, `${n} records on ${this.topic} (have ${this.records.length})`);
    return this.records;
  }
  /** Waits until no new record arrived for `quietMs`. */
  async settle(quietMs = 2000, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    let n = -1;
    while (Date.now() < deadline) {
      if (this.records.length === n) return this.records;
      n = this.records.length;
      await new Promise((r) => setTimeout(r, quietMs));
    }
    return this.records;
  }
  async stop() {
    await this.consumer.disconnect();
  }
}

export async function startTestScorer(config: Config): Promise<ScorerHandle> {
  const scorer = await startScorer(config, { log: createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'scorer' }) });
  await eventually(() => (scorer.isReady() ? true : undefined), 60_000, 'scorer ready');
  return scorer;
}

export type { RiskAlert };

/** A deterministic stream: `n` events over `users` users (two applications, two environments), with
 *  out-of-order times, duplicates (agent retries) and late events, spread over ~3 days so users cross
 *  tiers, fall back and re-arm. */
export function generateStream(n: number, users: number, seed = 1): Attack[] {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s ^= s >>> 13;
    return (s >>> 0) / 4294967296;
  };
  const sev = ['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
  const base = Date.UTC(2026, 10, 1);
  const span = 3 * 24 * HOUR;
  const out: Attack[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0 && rnd() < 0.02) {
      out.push({ ...out[Math.floor(rnd() * out.length)]! }); // a retry: same event id
      continue;
    }
    const u = Math.floor(rnd() * users);
    const progress = (i / n) * span;
    const jitter = (rnd() - 0.7) * 6 * HOUR; // mostly in order, some late, a few beyond the window
    out.push(
      mkAttack({
        app: u % 5 === 0 ? 'billing' : 'shop',
        env: u % 7 === 0 ? 'staging' : 'production',
        user: `u${u}`,
        at: Math.round(base + progress + (rnd() < 0.01 ? -30 * HOUR : jitter)),
        severity: sev[Math.floor(rnd() * sev.length)]!,
        points: rnd() < 0.1 ? Math.floor(rnd() * 5) : null,
        type: rnd() < 0.5 ? 'sql_injection' : 'xss',
      }),
    );
  }
  return out;
}
