// Reads the compacted decisions topic into the agent's DecisionStore (decisions.ts), rebuilt from the
// beginning on every start.
//
// - A kafkajs consumer in a group of its own (`<clientId>-decisions-<random>`: every agent instance
//   needs EVERY partition, and kafkajs has no manual assignment), reading from the beginning, never
//   committing offsets (nothing to resume: the topic is compacted, a start re-reads it whole).
// - Values in the Confluent wire format: the writer schema by id from the registry (cached), resolved
//   to the reader schema carried in the package (decision-schema.ts); while the registry cannot be
//   reached the carried schema is used as the writer too.
// - A record that does not decode is counted and logged (at most once a minute) and means NO decision
//   for its key (fail open). The issue asks for such records to be dead-lettered; the agent writes to
//   no topic but `attacks`, so it counts them (stats().decisions.undecodable) and warns instead.
// - Kafka unreachable: the store keeps what it has (each entry until its `until`); the consumer retries
//   in the background and never throws into the application.

import { randomBytes } from 'node:crypto';
import avro from 'avsc';
import kafkajs from 'kafkajs';
import type { Consumer, ISocketFactory, SASLOptions } from 'kafkajs';
import { DECISION_SCHEMA } from './decision-schema.ts';
import type { DecisionRecord, DecisionStore } from './decisions.ts';
import type { Logger } from './options.ts';
import type { RegistryOptions } from './transport.ts';

const { Kafka, logLevel } = kafkajs;

/** How often (ms) undecodable records are reported in the log, and expired entries swept. */
export const DECISIONS_WARN_INTERVAL_MS = 60_000;
/** Wait (ms) before a new attempt after the consumer could not start or stopped for good. */
const RESTART_DELAY_MS = 5_000;

export interface DecisionFeedOptions {
  brokers: string[];
  topic: string;
  registry: RegistryOptions;
  clientId: string;
  ssl?: boolean | Record<string, unknown>;
  sasl?: SASLOptions;
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  socketFactory?: ISocketFactory;
  logger: Logger | null;
}

export interface DecisionFeedStats {
  /** Records read from the topic (all applications). */
  records: number;
  /** Records whose value did not decode (no decision for their key). */
  undecodable: number;
  /** Whether the consumer is running (joined its group). */
  consuming: boolean;
  /** Epoch ms of the last record read; null before the first. */
  lastRecordAt: number | null;
}

/** GET <registry>/schemas/ids/<id> → the writer schema. */
async function fetchSchemaById(registry: RegistryOptions, id: number): Promise<avro.Type> {
  const base = registry.url.replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  if (registry.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${registry.username}:${registry.password ?? ''}`).toString('base64')}`;
  }
  const res = await fetch(`${base}/schemas/ids/${id}`, { headers, signal: AbortSignal.timeout(registry.timeoutMs ?? 5000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`schema registry answered ${res.status} for schema id ${id}: ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { schema?: unknown };
  if (typeof body.schema !== 'string') throw new Error(`schema registry answer for schema id ${id} has no schema`);
  return avro.Type.forSchema(JSON.parse(body.schema) as avro.Schema);
}

/** Decodes Decision values: Confluent wire format, writer schema by id, read as the carried schema. */
export class DecisionDecoder {
  readonly reader = avro.Type.forSchema(DECISION_SCHEMA as unknown as avro.Schema);
  /** schema id → resolver from its writer schema (undefined entry: not fetched yet; null: not a Decision schema). */
  private readonly resolvers = new Map<number, avro.Resolver | null>();

  constructor(private readonly registry: RegistryOptions | null) {}

  /** Fetches the writer schemas of ids not seen yet. A registry failure is not cached: retried with the next batch. */
  async prepare(ids: Iterable<number>): Promise<void> {
    for (const id of ids) {
      if (this.resolvers.has(id) || this.registry === null) continue;
      try {
        const writer = await fetchSchemaById(this.registry, id);
        let resolver: avro.Resolver | null = null;
        try {
          resolver = this.reader.createResolver(writer);
        } catch {
          resolver = null; // not readable as a Decision: its records are undecodable
        }
        this.resolvers.set(id, resolver);
      } catch {
        // registry unreachable: decode() uses the carried schema as the writer's for now
      }
    }
  }

  /** The decoded record, or undefined when the bytes are not a Decision. */
  decode(value: Buffer): DecisionRecord | undefined {
    if (value.length < 5 || value[0] !== 0) return undefined;
    const id = value.readInt32BE(1);
    const resolver = this.resolvers.get(id);
    if (resolver === null) return undefined;
    try {
      // fromBuffer throws on truncated bytes and on trailing bytes
      return this.reader.fromBuffer(value.subarray(5), resolver) as DecisionRecord;
    } catch {
      return undefined;
    }
  }
}

export class DecisionFeed {
  private readonly decoder: DecisionDecoder;
  private consumer: Consumer | undefined;
  private closed = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly sweepTimer: NodeJS.Timeout;
  private undecodableSinceWarn = 0;
  private lastWarnAt = -Infinity;
  private startFailureLogged = false;
  readonly counts: DecisionFeedStats = { records: 0, undecodable: 0, consuming: false, lastRecordAt: null };

  constructor(
    private readonly opts: DecisionFeedOptions,
    private readonly store: DecisionStore,
  ) {
    this.decoder = new DecisionDecoder(opts.registry);
    this.sweepTimer = setInterval(() => {
      try {
        store.sweep();
        this.warnUndecodable();
      } catch {
        // never throws into the application
      }
    }, DECISIONS_WARN_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  /** Starts reading in the background. Never rejects. */
  start(): void {
    void this.run();
  }

  /** Applies one record (the consumer's path; exported for tests of the decoding rules). */
  handle(key: Buffer | string | null, value: Buffer | null): void {
    this.counts.records++;
    this.counts.lastRecordAt = Date.now();
    const k = typeof key === 'string' ? key : key?.toString('utf8');
    if (k === undefined) {
      this.undecodable();
      return;
    }
    if (this.store.userOf(k) === undefined) {
      this.store.counts.ignored++; // another application's: not even decoded
      return;
    }
    if (value === null) {
      this.store.apply(k, null);
      return;
    }
    const decoded = this.decoder.decode(value);
    if (decoded === undefined) this.undecodable();
    this.store.apply(k, decoded ?? null); // undecodable: no decision for the key (fail open)
  }

  /** The schema ids of a batch, fetched before its records are decoded. */
  prepare(values: Array<Buffer | null>): Promise<void> {
    const ids = new Set<number>();
    for (const v of values) if (v !== null && v.length >= 5 && v[0] === 0) ids.add(v.readInt32BE(1));
    return this.decoder.prepare(ids);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const consumer = this.consumer;
    this.consumer = undefined;
    this.counts.consuming = false;
    await consumer?.disconnect().catch(() => undefined);
  }

  private undecodable(): void {
    this.counts.undecodable++;
    this.undecodableSinceWarn++;
    this.warnUndecodable();
  }

  /** At most one warning per interval, with the count since the last one (the sweep timer reports the rest). */
  private warnUndecodable(): void {
    const now = Date.now();
    if (this.undecodableSinceWarn === 0 || now - this.lastWarnAt < DECISIONS_WARN_INTERVAL_MS) return;
    this.lastWarnAt = now;
    this.opts.logger?.warn(
      { topic: this.opts.topic, undecodable: this.undecodableSinceWarn, total: this.counts.undecodable },
      'decision records that do not decode were skipped: no decision for their users (fail open)',
    );
    this.undecodableSinceWarn = 0;
  }

  private async run(): Promise<void> {
    if (this.closed) return;
    const o = this.opts;
    const kafka = new Kafka({
      clientId: o.clientId,
      brokers: o.brokers,
      ssl: o.ssl as never,
      sasl: o.sasl,
      connectionTimeout: o.connectionTimeoutMs ?? 3000,
      requestTimeout: o.requestTimeoutMs ?? 10_000,
      logLevel: logLevel.NOTHING, // the agent reports its own state; kafkajs's logs would land in the application's console
      retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 8 },
      ...(o.socketFactory ? { socketFactory: o.socketFactory } : {}),
    });
    const consumer = kafka.consumer({
      groupId: `${o.clientId}-decisions-${randomBytes(6).toString('hex')}`,
      allowAutoTopicCreation: false,
      // a record reaches the agent as soon as it is written (the fetch returns on the first byte)
      maxWaitTimeInMs: 500,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (e: { payload: { restart?: boolean; error?: Error } }) => {
      this.counts.consuming = false;
      if (e.payload.restart === false) this.restartLater(consumer, e.payload.error);
    });
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.counts.consuming = true;
      if (this.startFailureLogged) o.logger?.info?.({ topic: o.topic }, 'reading decisions again');
      this.startFailureLogged = false;
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [o.topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false, // nothing to resume: every start re-reads the compacted topic
        eachBatch: async ({ batch, isRunning, isStale }) => {
          await this.prepare(batch.messages.map((m) => m.value));
          for (const m of batch.messages) {
            if (!isRunning() || isStale()) break;
            try {
              this.handle(m.key, m.value);
            } catch {
              this.undecodable();
            }
          }
        },
      });
    } catch (err) {
      this.restartLater(consumer, err);
    }
  }

  /** Logs once per outage, then tries again with a new consumer after RESTART_DELAY_MS. The store keeps its entries. */
  private restartLater(consumer: Consumer, err: unknown): void {
    if (this.closed || this.consumer !== consumer) return;
    this.consumer = undefined;
    this.counts.consuming = false;
    if (!this.startFailureLogged) {
      this.startFailureLogged = true;
      this.opts.logger?.warn(
        { topic: this.opts.topic, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) },
        'cannot read decisions; enforcing the ones already known until they expire, retrying',
      );
    }
    void consumer.disconnect().catch(() => undefined);
    this.restartTimer = setTimeout(() => void this.run(), RESTART_DELAY_MS);
    this.restartTimer.unref();
  }
}
