import { rmSync } from 'node:fs';
import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/kafka/client.ts';
import { createLogger } from '../../src/log.ts';
import { restore } from '../../src/state/restore.ts';
import { PartitionStore } from '../../src/state/store.ts';
import { eventually, testConfig, uniqueSuffix } from './helpers.ts';

// The restore against the real broker: a changelog of committed and aborted transactions, several
// versions of each key and tombstones, read back in chunks much smaller than the partition (newest
// first), must leave each store exactly as replaying every committed record in order would, with the
// checkpoint at the end; from a checkpoint, only the records after it are read.

const config = testConfig();
const log = createLogger({ level: 'silent' });
const dir = `/tmp/risk-hub-test/restore-${uniqueSuffix()}`;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const stores: PartitionStore[] = [];

type Rec = { key: string; value: string | null };

/** One transaction of `records` to `partition`, committed or aborted. */
async function transaction(topic: string, partition: number, records: Rec[], commit: boolean): Promise<void> {
  const tx = await producer.transaction();
  await tx.send({ topic, messages: records.map((r) => ({ key: r.key, value: r.value, partition })) });
  await (commit ? tx.commit() : tx.abort());
}

/** Replays committed records in order: the state a restore must reach. */
function replay(into: Map<string, string>, records: Rec[]): void {
  for (const r of records) {
    if (r.value === null) into.delete(r.key);
    else into.set(r.key, r.value);
  }
}

/**
 * The end offset of `partition` once it is `expected` (every record and transaction marker written: the
 * commit returns before the coordinator has written the markers, and the offset read is the last stable one).
 */
async function endOffset(topic: string, partition: number, expected: number): Promise<bigint> {
  return eventually(async () => {
    const high = (await admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition)!.high;
    return Number(high) === expected ? BigInt(high) : undefined;
  }, 10_000, `${topic}-${partition} at ${expected}`);
}

async function contents(store: PartitionStore): Promise<Map<string, string>> {
  const rows = await store.scan(undefined, 100_000);
  return new Map(rows.map(([k, v]) => [k, v.toString('utf8')]));
}

async function openStore(name: string, p: number): Promise<PartitionStore> {
  const s = await PartitionStore.open(dir, name, p);
  stores.push(s);
  return s;
}

beforeAll(async () => {
  kafka = createKafka(config, { clientId: 'restore-it' });
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ transactionalId: `restore-it-${uniqueSuffix()}`, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
});

afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  await producer?.disconnect();
  await admin?.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

describe('restore (real broker)', () => {
  it('writes the newest committed version of every key, read newest chunk first, and the checkpoint at the end', async () => {
    const topic = `restore-changelog-${uniqueSuffix()}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    const model = [new Map<string, string>(), new Map<string, string>()];
    const committedRecords = [0, 0];
    // 40 transactions per partition over 60 keys: every key several versions, some tombstoned and
    // written again, every fifth transaction aborted (newer values that must never be restored).
    for (let t = 0; t < 40; t++) {
      for (const p of [0, 1]) {
        const records: Rec[] = Array.from({ length: 25 }, (_, i) => {
          const key = `app/env/user-${(t * 7 + i * 3 + p) % 60}`;
          return { key, value: (t + i) % 11 === 0 ? null : `${key}@t${t}#${i}-${'x'.repeat((t * i) % 50)}` };
        });
        const commit = t % 5 !== 3;
        await transaction(topic, p, records, commit);
        if (commit) {
          replay(model[p]!, records);
          committedRecords[p]! += records.length;
        }
      }
    }
    // Partition 2 holds records too, and is not restored here (another instance's).
    await transaction(topic, 2, [{ key: 'app/env/other', value: 'not mine' }], true);
    // 40 transactions of 25 records and a marker each.
    const ends = [await endOffset(topic, 0, 40 * 26), await endOffset(topic, 1, 40 * 26)];
    const end = (p: number) => ends[p]!;

    const s0 = await openStore(topic, 0);
    const s1 = await openStore(topic, 1);
    // A store holding a key the changelog never mentions keeps it (a restore only writes what it reads).
    await s1.write([{ key: 'app/env/kept', value: Buffer.from('kept') }], undefined);
    const progress: Array<[number, bigint, number]> = [];
    const applied = await restore({
      kafka,
      topic,
      groupPrefix: config.applicationId,
      targets: new Map([
        [0, { store: s0, from: 0n, end: end(0) }],
        [1, { store: s1, from: 0n, end: end(1) }],
      ]),
      log,
      // ~1 KiB chunks per partition: dozens of chunks, most of them a few fetches' worth of overlap.
      bufferBytes: 4096,
      fetchWaitMs: 50,
      onProgress: (p, remaining, n) => progress.push([p, remaining, n]),
    });

    expect(await contents(s0)).toEqual(model[0]);
    expect(await contents(s1)).toEqual(new Map([...model[1]!, ['app/env/kept', 'kept']]));
    expect(await s0.checkpoint()).toBe(end(0));
    expect(await s1.checkpoint()).toBe(end(1));
    // Every committed record read once: none from aborted transactions, none twice across chunks.
    expect(Object.fromEntries(applied)).toEqual({ 0: committedRecords[0], 1: committedRecords[1] });
    for (const p of [0, 1]) {
      const mine = progress.filter(([q]) => q === p);
      expect(mine.length).toBeGreaterThan(5); // read in chunks, not at once
      expect(mine.at(-1)![1]).toBe(0n);
      expect(mine.reduce((n, [, , r]) => n + r, 0)).toBe(committedRecords[p]);
      // Remaining offsets only go down.
      for (let i = 1; i < mine.length; i++) expect(mine[i]![1]).toBeLessThanOrEqual(mine[i - 1]![1]);
    }
  });

  it('from a checkpoint reads only the records after it, and applies them over the store', async () => {
    const topic = `restore-changelog-${uniqueSuffix()}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const before: Rec[] = [];
    for (let t = 0; t < 10; t++) {
      const records = Array.from({ length: 10 }, (_, i) => ({ key: `k${(t + i) % 15}`, value: `old-${t}-${i}` }));
      await transaction(topic, 0, records, true);
      before.push(...records);
    }
    const middle = await endOffset(topic, 0, 10 * 11);
    const after: Rec[] = [
      { key: 'k1', value: 'new-1' },
      { key: 'k2', value: null },
      { key: 'k20', value: 'new-20' },
      { key: 'k1', value: 'newer-1' },
    ];
    await transaction(topic, 0, after, true);
    await transaction(topic, 0, [{ key: 'k3', value: 'aborted' }], false);
    const end = await endOffset(topic, 0, 10 * 11 + 5 + 2);

    // The store as a restore up to `middle` left it.
    const store = await openStore(topic, 0);
    const model = new Map<string, string>();
    replay(model, before);
    await store.write([...model].map(([key, value]) => ({ key, value: Buffer.from(value) })), middle);
    const applied = await restore({ kafka, topic, groupPrefix: config.applicationId, targets: new Map([[0, { store, from: middle, end }]]), log, bufferBytes: 4096, fetchWaitMs: 50 });

    replay(model, after);
    expect(await contents(store)).toEqual(model);
    expect(model.get('k1')).toBe('newer-1');
    expect(model.has('k2')).toBe(false);
    expect(await store.checkpoint()).toBe(end);
    expect(applied.get(0)).toBe(after.length);
  });
});
