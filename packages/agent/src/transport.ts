// How the agent gets events to Kafka. The server's Kafka client code lives in its src/kafka/, but the
// agent is installed inside applications and must stay small and independent of the Risk Hub
// configuration, so it builds its own kafkajs producer here (and only here).
//
// - Key `application_id/environment/user.key`, partitioned by kafkajs's DEFAULT partitioner, which is the
//   Java-compatible murmur2 partitioner: agents in every language put one user on the same partition.
// - Idempotent producer (acks -1, one request in flight): a batch retried after a broker failure is
//   written once, and each event keeps its event_id across retries (the scorer deduplicates on it).
// - Values in the Confluent wire format (magic 0, schema id big-endian int32, Avro binary), with the
//   latest schema id of subject `<topic>-value` looked up once in the registry and cached. The agent
//   never registers schemas: `risk-hub schemas register` does.

import kafkajs from 'kafkajs';
import type { Producer, SASLOptions, ISocketFactory } from 'kafkajs';
import avro from 'avsc';
import { userKey, type Attack } from './contracts.ts';

const { Kafka, Partitioners, CompressionTypes, logLevel } = kafkajs;

/** Where the agent's events go. The Kafka transport is the default; tests and custom sinks may provide their own. */
export interface Transport {
  /** Sends a batch. Resolves with the events that can never be sent (invalid for the schema) — they are dropped. Rejects when the batch should be retried. */
  send(events: Attack[]): Promise<{ rejected: Attack[] }>;
  close(): Promise<void>;
}

export interface RegistryOptions {
  /** Confluent-compatible API base, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (Apicurio). */
  url: string;
  username?: string;
  password?: string;
  /** Per-request timeout in ms (default 5000). */
  timeoutMs?: number;
}

export interface KafkaTransportOptions {
  brokers: string[];
  topic: string;
  /** Registry subject of the value schema (default `<topic>-value`). */
  subject?: string;
  registry: RegistryOptions;
  clientId?: string;
  ssl?: boolean | Record<string, unknown>;
  sasl?: SASLOptions;
  compression?: 'none' | 'gzip';
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** kafkajs socket factory (tests put a proxy in front of the broker with it). */
  socketFactory?: ISocketFactory;
}

export interface SchemaRef {
  id: number;
  type: avro.Type;
}

/** GET <registry>/subjects/<subject>/versions/latest → schema id and parsed Avro type. */
export async function fetchLatestSchema(registry: RegistryOptions, subject: string): Promise<SchemaRef> {
  const base = registry.url.replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  if (registry.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${registry.username}:${registry.password ?? ''}`).toString('base64')}`;
  }
  const res = await fetch(`${base}/subjects/${encodeURIComponent(subject)}/versions/latest`, {
    headers,
    signal: AbortSignal.timeout(registry.timeoutMs ?? 5000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`schema registry answered ${res.status} for subject ${subject}: ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { id?: unknown; schema?: unknown };
  if (typeof body.id !== 'number' || typeof body.schema !== 'string') {
    throw new Error(`schema registry answer for subject ${subject} has no id/schema`);
  }
  return { id: body.id, type: avro.Type.forSchema(JSON.parse(body.schema) as avro.Schema) };
}

/** Confluent wire format: 0x00, schema id (int32 big-endian), Avro binary. */
export function encodeWire(schema: SchemaRef, record: unknown): Buffer {
  const payload = schema.type.toBuffer(record);
  const out = Buffer.allocUnsafe(5 + payload.length);
  out.writeUInt8(0, 0);
  out.writeInt32BE(schema.id, 1);
  payload.copy(out, 5);
  return out;
}

export function attackKey(event: Pick<Attack, 'application_id' | 'environment' | 'user'>): string {
  return userKey(event.application_id, event.environment, event.user.key);
}

export class KafkaTransport implements Transport {
  private readonly producer: Producer;
  private readonly subject: string;
  private schema: SchemaRef | undefined;
  private connected = false;
  private connecting: Promise<void> | undefined;

  constructor(private readonly opts: KafkaTransportOptions) {
    this.subject = opts.subject ?? `${opts.topic}-value`;
    const kafka = new Kafka({
      clientId: opts.clientId ?? 'risk-hub-agent',
      brokers: opts.brokers,
      ssl: opts.ssl as never,
      sasl: opts.sasl,
      connectionTimeout: opts.connectionTimeoutMs ?? 3000,
      requestTimeout: opts.requestTimeoutMs ?? 10_000,
      // The agent reports its own state; kafkajs's logs would land in the application's console.
      logLevel: logLevel.NOTHING,
      // Reconnect quickly after an outage; the agent loop adds its own backoff between failed batches.
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 5 },
      ...(opts.socketFactory ? { socketFactory: opts.socketFactory } : {}),
    });
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      // Idempotence needs unbounded retries in kafkajs; the time between attempts stays short.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2000 },
    });
    this.producer.on(this.producer.events.DISCONNECT, () => {
      this.connected = false;
    });
  }

  async send(events: Attack[]): Promise<{ rejected: Attack[] }> {
    if (!this.schema) this.schema = await fetchLatestSchema(this.opts.registry, this.subject);
    const schema = this.schema;
    const rejected: Attack[] = [];
    const messages: Array<{ key: string; value: Buffer }> = [];
    for (const event of events) {
      if (!schema.type.isValid(event)) {
        rejected.push(event);
        continue;
      }
      messages.push({ key: attackKey(event), value: encodeWire(schema, event) });
    }
    if (messages.length > 0) {
      await this.connect();
      await this.producer.send({
        topic: this.opts.topic,
        acks: -1,
        compression: this.opts.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
        messages,
      });
    }
    return { rejected };
  }

  private async connect(): Promise<void> {
    if (this.connected) return;
    this.connecting ??= this.producer.connect().finally(() => {
      this.connecting = undefined;
    });
    await this.connecting;
    this.connected = true;
  }

  async close(): Promise<void> {
    this.connected = false;
    await this.producer.disconnect();
  }
}
