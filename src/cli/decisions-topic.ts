import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import avro from 'avsc';
import type { Config } from '../config/schema.ts';
import type { Decision, DecisionRequest } from '../contracts.ts';
import { holds } from '../decisions/index.ts';
import { requestRecord } from '../decisions/request.ts';
import { ConnectionError, PoisonRecordError, RiskHubError } from '../errors.ts';
import { createKafka } from '../kafka/client.ts';
import { partitionFor } from '../kafka/partitioner.ts';
import { AvroSerde } from '../kafka/serde.ts';
import { createLogger, type Logger } from '../log.ts';
import { resolveAsset } from '../paths.ts';

// The CLI's side of the decisions topics: reading the compacted decisions topic to its end (the
// latest record per user key is that user's decision), producing a person's request, and waiting for
// the scorer's answer to it. Reads use a throwaway consumer group that never commits and is deleted
// afterwards (kafkajs has no group-less consumer). read_committed: the scorer writes decisions in
// transactions, so the last offsets below the end can be markers no fetch returns (see
// src/state/restore.ts): a partition whose fetches come back empty for a while is done.

/** One reader type for the process: an avsc resolver only works with the Type instance that made it. */
let reader: avro.Type | undefined;
export function decisionReader(): avro.Type {
  return (reader ??= avro.Type.forSchema(JSON.parse(readFileSync(resolveAsset('schemas/decision.avsc'), 'utf8')) as avro.Schema));
}

/** A user key's latest record on the decisions topic: the decision, or null for a tombstone. */
export type LatestDecisions = Map<string, Decision | null>;

/** Whether `d` is in force at `nowMs` (the scorer's `holds`: not a LIFT, not expired; simulated ones included). */
export function isActive(d: Decision | null | undefined, nowMs: number): d is Decision {
  return !!d && holds({ id: d.decision_id, action: d.action, source: d.source, until: d.until }, nowMs);
}

export interface DecisionsClient {
  kafka: Kafka;
  admin: Admin;
  serde: AvroSerde;
  log: Logger;
  close(): Promise<void>;
}

/** A Kafka client, admin and registry client for one command; `close` ends them. */
export async function connectDecisions(config: Config): Promise<DecisionsClient> {
  // A command's output is its lines: the client's retried errors stay quiet unless debugging (the command's own error names the problem).
  const level = config.log.level === 'debug' || config.log.level === 'trace' ? config.log.level : 'error';
  const log = createLogger({ name: 'risk-hub-decisions', level, redactUsers: config.log.redactUsers });
  const kafka = createKafka(config, { clientId: `${config.kafka.clientId}-cli`, logger: log.child({ component: 'kafkajs' }), retries: 2 });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw new ConnectionError(`cannot reach Kafka at ${config.kafka.brokers.join(',')}: ${(err as Error).message} (is it running? risk-hub local status)`, { cause: err });
  }
  const serde = new AvroSerde(config, { log });
  return { kafka, admin, serde, log, close: () => admin.disconnect().catch(() => undefined) };
}

export interface ReadOptions {
  /** Only keys starting with this (e.g. "shop/" or "shop/production/"): others are not decoded. */
  keyPrefix?: string;
  /** Only this key (reads its partition only). */
  key?: string;
  /** Gives up after this long (ms). */
  timeoutMs?: number;
}

/** The end offsets of `topic`; a missing topic is named with the fix. */
async function offsetsOf(c: DecisionsClient, topic: string): Promise<Array<{ partition: number; low: string; high: string }>> {
  try {
    return await c.admin.fetchTopicOffsets(topic);
  } catch (err) {
    const m = (err as Error).message;
    if (/does not host this topic|unknown topic/i.test(m)) throw new RiskHubError('RH_TOPIC_MISSING', `topic ${topic} does not exist: run risk-hub topics apply (and risk-hub schemas register)`, { cause: err });
    throw new ConnectionError(`cannot read the offsets of ${topic}: ${m}`, { cause: err });
  }
}

/** A throwaway group id: never committed, deleted after use. */
function throwawayGroup(config: Config, what: string): string {
  return `${config.applicationId}-cli-${what}-${randomUUID()}`;
}

/**
 * The latest record per key on the decisions topic, from its start to the end offsets of now. Records
 * that do not decode are skipped (counted in `undecodable`): they never name anyone's decision.
 */
export async function readDecisions(c: DecisionsClient, config: Config, opts: ReadOptions = {}): Promise<{ latest: LatestDecisions; undecodable: number }> {
  const topic = config.topics.decisions;
  const ends = await offsetsOf(c, topic);
  const only = opts.key === undefined ? undefined : partitionFor(opts.key, ends.length);
  /** Next offset to read and end (exclusive) of each partition still to read. */
  const pending = new Map<number, { next: bigint; end: bigint }>();
  for (const e of ends) {
    if (only !== undefined && e.partition !== only) continue;
    if (BigInt(e.high) > BigInt(e.low)) pending.set(e.partition, { next: BigInt(e.low), end: BigInt(e.high) });
  }
  const latest: LatestDecisions = new Map();
  let undecodable = 0;
  if (pending.size === 0) return { latest, undecodable };
  const wanted = (key: string) => (opts.key !== undefined ? key === opts.key : opts.keyPrefix === undefined || key.startsWith(opts.keyPrefix));
  const dec = decisionReader();

  const groupId = throwawayGroup(config, 'decisions-read');
  const consumer = c.kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 100, sessionTimeout: 30_000, retry: { retries: 2 } });
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const complete = (p: number) => {
    pending.delete(p);
    if (pending.size === 0) finish();
  };
  let idle = 0;
  let lastActivity = Date.now();
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    lastActivity = Date.now();
    // Partitions we do not read start at their end (nothing to fetch); the others at their start.
    for (const p of e.payload.memberAssignment[topic] ?? []) {
      const end = ends.find((x) => x.partition === p)!;
      consumer.seek({ topic, partition: p, offset: pending.get(p)?.next.toString() ?? end.high });
    }
  });
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  consumer.on(consumer.events.FETCH, () => {
    // Nothing readable is left below the end offsets: only transaction markers or aborted records.
    if (++idle >= 5 && Date.now() - lastActivity >= 1000) for (const p of [...pending.keys()]) complete(p);
  });
  const timer = setTimeout(
    () => fail(new ConnectionError(`could not read the decisions topic ${topic} to its end within ${opts.timeoutMs ?? 30_000} ms (partitions left: ${[...pending.keys()].join(',')})`)),
    opts.timeoutMs ?? 30_000,
  );
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const e = pending.get(batch.partition);
        if (!e || batch.messages.length === 0) return;
        idle = 0;
        lastActivity = Date.now();
        for (const m of batch.messages) {
          const off = BigInt(m.offset);
          if (off < e.next || off >= e.end) continue;
          e.next = off + 1n;
          const key = m.key?.toString('utf8');
          if (key === undefined || !wanted(key)) continue;
          if (!m.value) {
            latest.set(key, null);
            continue;
          }
          try {
            latest.set(key, (await c.serde.decode<Decision>(m.value, dec)).value);
          } catch (err) {
            if (!(err instanceof PoisonRecordError)) throw err;
            undecodable++;
          }
        }
        if (e.next >= e.end) complete(batch.partition);
      },
    });
    await done;
  } finally {
    clearTimeout(timer);
    await stopConsumer(c, consumer, groupId);
  }
  return { latest, undecodable };
}

async function stopConsumer(c: DecisionsClient, consumer: Consumer, groupId: string): Promise<void> {
  await consumer.disconnect().catch(() => undefined);
  await c.admin.deleteGroups([groupId]).catch(() => undefined);
}

/**
 * Produces `req` to the requests topic (acks=all, idempotent) on the user's murmur2 partition, the
 * partition of their attacks, whose scorer task owns the user. Returns that partition.
 */
export async function sendRequest(c: DecisionsClient, config: Config, req: DecisionRequest): Promise<number> {
  const topic = config.topics.decisionRequests;
  const { key, value } = requestRecord(req);
  const ends = await offsetsOf(c, topic);
  const partition = partitionFor(key, ends.length);
  const producer = c.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages: [{ key, value, partition, timestamp: String(req.requested_at) }] });
  } finally {
    await producer.disconnect().catch(() => undefined);
  }
  return partition;
}

/** Where a wait for the scorer's answer starts: the decisions topic's end offsets before the request is sent. */
export async function decisionsEnd(c: DecisionsClient, config: Config): Promise<Map<number, string>> {
  return new Map((await offsetsOf(c, config.topics.decisions)).map((e) => [e.partition, e.high]));
}

/**
 * The decision record `decisionId` of `key`, written on the decisions topic after `from` (the end
 * offsets taken before the request was sent); undefined when none arrives within `timeoutMs`.
 */
export async function waitForDecision(c: DecisionsClient, config: Config, key: string, decisionId: string, from: Map<number, string>, timeoutMs: number): Promise<Decision | undefined> {
  const topic = config.topics.decisions;
  const partition = partitionFor(key, from.size);
  const dec = decisionReader();
  const groupId = throwawayGroup(config, 'decisions-wait');
  const consumer = c.kafka.consumer({ groupId, readUncommitted: false, allowAutoTopicCreation: false, maxWaitTimeInMs: 100, sessionTimeout: 30_000, retry: { retries: 2 } });
  let found!: (d: Decision | undefined) => void;
  let fail!: (err: unknown) => void;
  const result = new Promise<Decision | undefined>((resolve, reject) => {
    found = resolve;
    fail = reject;
  });
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    for (const p of e.payload.memberAssignment[topic] ?? []) consumer.seek({ topic, partition: p, offset: from.get(p) ?? '0' });
  });
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  const timer = setTimeout(() => found(undefined), timeoutMs);
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.partition !== partition) return;
        const start = BigInt(from.get(partition) ?? '0');
        for (const m of batch.messages) {
          if (BigInt(m.offset) < start || !m.value || m.key?.toString('utf8') !== key) continue;
          try {
            const d = (await c.serde.decode<Decision>(m.value, dec)).value;
            if (d.decision_id === decisionId) found(d);
          } catch (err) {
            if (!(err instanceof PoisonRecordError)) throw err;
          }
        }
      },
    });
    return await result;
  } finally {
    clearTimeout(timer);
    await stopConsumer(c, consumer, groupId);
  }
}
