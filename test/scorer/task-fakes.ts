import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaMessage } from 'kafkajs';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { userKey, type Attack } from '../../src/contracts.ts';
import { ConnectionError, PoisonRecordError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import type { InputRecord } from '../../src/scorer/processor.ts';
import type { InputOffset, SentRange, TopicMessages, TransactionalProducer } from '../../src/scorer/producer.ts';
import { PartitionTask, type TaskCodec, type TaskDeps } from '../../src/scorer/task.ts';
import { PartitionStore } from '../../src/state/store.ts';
import { attack, T0 } from '../scoring/fixtures.ts';

// Broker-free doubles for the partition task (as Kafka Streams' StreamTaskTest uses a MockProducer):
// a producer port that records every call and can fail any step, and a codec whose values are JSON.

export type Step = 'fence' | 'begin' | 'send' | 'sendOffsets' | 'commit' | 'abort' | 'disconnect';

export class FakeProducer implements TransactionalProducer {
  readonly calls: Step[] = [];
  /** Records of committed transactions, one entry per transaction. */
  readonly committed: TopicMessages[][] = [];
  readonly offsets: Array<{ groupId: string; topic: string; partition: number; nextOffset: bigint }> = [];
  private readonly ends = new Map<string, bigint>();
  /** The next call of this step throws `failWith` (once). */
  failNext: { step: Step; err: Error } | undefined;

  constructor(private readonly groupId = NAMES.groupId) {}

  private step(s: Step): void {
    this.calls.push(s);
    if (this.failNext?.step === s) {
      const err = this.failNext.err;
      this.failNext = undefined;
      throw err;
    }
  }
  async fence() {
    this.step('fence');
  }
  /** The kafkajs adapter's steps, each of which can fail: begin, send (when there are records), sendOffsets (one per offset), commit; abort after a failure. */
  async transact(records: TopicMessages[], offsets: InputOffset[]): Promise<SentRange[]> {
    try {
      this.step('begin');
      const out: SentRange[] = [];
      if (records.length) {
        this.step('send');
        for (const tm of records) {
          const byPartition = new Map<number, number>();
          for (const msg of tm.messages) byPartition.set(msg.partition ?? 0, (byPartition.get(msg.partition ?? 0) ?? 0) + 1);
          for (const [partition, count] of byPartition) {
            const k = `${tm.topic}/${partition}`;
            const base = this.ends.get(k) ?? 0n;
            this.ends.set(k, base + BigInt(count) + 1n); // + 1: the transaction marker takes an offset
            out.push({ topic: tm.topic, partition, baseOffset: base, count });
          }
        }
      }
      for (let i = 0; i < offsets.length; i++) this.step('sendOffsets');
      this.step('commit');
      this.committed.push(records);
      this.offsets.push(...offsets.map((o) => ({ groupId: this.groupId, topic: o.topic, partition: o.partition, nextOffset: o.next })));
      return out;
    } catch (err) {
      this.calls.push('abort');
      throw err;
    }
  }
  async disconnect() {
    this.step('disconnect');
  }
  /** Messages of `topic` over every committed transaction. */
  messages(topic: string) {
    return this.committed.flatMap((tx) => tx.filter((t) => t.topic === topic).flatMap((t) => t.messages));
  }
}

/** Values are JSON attacks, or anything else (poison); `outage` makes decode throw as an unreachable registry does. */
export class FakeCodec implements TaskCodec {
  outage = false;
  async decode(messages: KafkaMessage[]): Promise<InputRecord[]> {
    if (this.outage) throw new ConnectionError('schema registry at http://registry is unreachable: timed out after 5000 ms');
    return messages.map((msg) => {
      try {
        const a = JSON.parse(msg.value?.toString() ?? '') as Attack;
        if (typeof a !== 'object' || !a?.event_id) throw new PoisonRecordError('no-magic-byte', 'not an attack');
        return { offset: msg.offset, recordKey: msg.key ? msg.key.toString('utf8') : null, attack: a };
      } catch (err) {
        const e = err instanceof PoisonRecordError ? err : new PoisonRecordError('no-magic-byte', 'first byte is not the magic byte');
        return { offset: msg.offset, recordKey: null, poison: { reason: e.reason, message: e.message } };
      }
    });
  }
  /** A user whose alerts encode over the broker's record limit: the processor bounds every input, so only an encoder (a schema grown by evolution, a bug) can still make one. */
  hugeAlertFor: string | undefined;
  async encodeAlert(alert: unknown): Promise<Buffer> {
    if (this.hugeAlertFor !== undefined && (alert as { user?: { key?: string } }).user?.key === this.hugeAlertFor) return Buffer.alloc(1_100_000, 'x');
    return Buffer.from(JSON.stringify(alert));
  }
  async encodeDecision(decision: unknown): Promise<Buffer> {
    return Buffer.from(JSON.stringify(decision));
  }
}

export const NAMES = {
  input: 'attacks',
  changelog: 'app-user-risk-changelog',
  alerts: 'risk-alerts',
  deadLetters: 'attacks.dlq',
  groupId: 'app-scorer',
  decisions: 'risk-decisions',
  requests: 'risk-decision-requests',
};

const dirs: string[] = [];
export function cleanDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'task-'));
  dirs.push(dir);
  return dir;
}

/** An active task of partition 0 (of 1) over a new store in a temp dir. */
export async function activeTask(over: Partial<TaskDeps> = {}, committed?: ReadonlyMap<string, bigint>): Promise<{ task: PartitionTask; producer: FakeProducer; codec: FakeCodec; store: PartitionStore; dropped: unknown[] }> {
  const store = over.store ?? (await PartitionStore.open(tempDir(), NAMES.changelog, 0));
  const producer = (over.producer as FakeProducer | undefined) ?? new FakeProducer();
  const codec = (over.codec as FakeCodec | undefined) ?? new FakeCodec();
  const dropped: unknown[] = [];
  const task = new PartitionTask({
    partition: 0,
    partitions: 1,
    store,
    producer,
    codec,
    names: NAMES,
    scoring: ScoringSchema.parse({}),
    cacheUsers: 100,
    storeFlushIntervalMs: 0,
    idleUserTtlMs: 0,
    log: createLogger({ level: 'silent' }),
    now: () => T0 + 3_600_000,
    onDropped: (_t, err) => dropped.push(err),
    ...over,
  });
  await task.fence();
  task.markActive(committed);
  return { task, producer, codec, store, dropped };
}

let offset = 0;
/** Input messages: attacks as JSON (or raw buffers), at increasing offsets. */
export function messages(...values: Array<Partial<Attack> | Buffer>): KafkaMessage[] {
  return values.map((v) => {
    const a = Buffer.isBuffer(v) ? undefined : attack({ at: T0, severity: 'HIGH', ...v });
    const value = a ? Buffer.from(JSON.stringify(a)) : (v as Buffer);
    // Keyed as agents key them (app/env/user), so the processor's key check passes.
    const key = Buffer.from(a ? userKey(a.application_id, a.environment, a.user.key) : 'k');
    return { key, value, offset: String(offset++), timestamp: '0', attributes: 0, headers: {} } as KafkaMessage;
  });
}

export function batchOf(msgs: KafkaMessage[]) {
  return { messages: msgs, lastOffset: msgs[msgs.length - 1]!.offset };
}
