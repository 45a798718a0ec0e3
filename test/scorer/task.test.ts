import { afterEach, describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '../../src/kafka/names.ts';
import { scorerStateUndecodable } from '../../src/metrics/index.ts';
import { classifyFailure, RecordTooLargeError } from '../../src/scorer/failures.ts';
import { DEAD_LETTER_MAX_BYTES, messageBytes } from '../../src/scorer/records.ts';
import { emptyUserState, scoreEvent } from '../../src/scoring/index.ts';
import { decodeState, encodeState } from '../../src/state/codec.ts';
import { PartitionStore } from '../../src/state/store.ts';
import { attack, legacyJson, NOW, plain, policyWith, T0 } from '../scoring/fixtures.ts';
import { activeTask, batchOf, cleanDirs, FakeProducer, messages, NAMES, tempDir } from './task-fakes.ts';

// The partition task without a broker, as Kafka Streams' StreamTaskTest does: each row of the failure
// tables of docs/architecture.md (Exactly-once, Failure behaviour) against a producer port that
// records and fails any step, a JSON codec, and a real LevelDB store in a temp dir.

afterEach(cleanDirs);

const HIGH = { severity: 'HIGH' as const };

describe('PartitionTask.process: the numbered commit', () => {
  it('sends changelog, alerts and dead letters, then the input offset, in one transaction; the store follows the commit', async () => {
    const { task, producer, store } = await activeTask();
    const msgs = messages(HIGH, Buffer.from('garbage'), HIGH);
    await task.process(batchOf(msgs));
    expect(producer.calls).toEqual(['fence', 'begin', 'send', 'sendOffsets', 'commit']);
    expect(producer.offsets).toEqual([{ groupId: NAMES.groupId, topic: NAMES.input, partition: 0, nextOffset: BigInt(msgs[2]!.offset) + 1n }]);
    const [changelog] = producer.messages(NAMES.changelog);
    expect(changelog).toMatchObject({ key: 'app/production/alice', partition: 0 });
    expect(producer.messages(NAMES.alerts)).toHaveLength(1); // 12 points > 10
    const [dead] = producer.messages(NAMES.deadLetters);
    expect(dead!.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'no-magic-byte', [DLQ_HEADERS.originalOffset]: msgs[1]!.offset });
    // flushed after the commit (interval 0): the state and the changelog end as the checkpoint
    expect(await store.checkpoint()).toBe(1n);
    expect(decodeState((await store.get('app/production/alice'))!)).toMatchObject({});
  });

  it('a failure before the commit aborts, leaves the store untouched, and a retry scores the batch once (no double count)', async () => {
    for (const step of ['send', 'sendOffsets', 'commit'] as const) {
      const { task, producer, store } = await activeTask();
      await task.process(batchOf(messages(HIGH))); // 6 points committed
      producer.failNext = { step, err: new Error(`${step} failed`) };
      const retried = batchOf(messages(HIGH)); // would make 12: one alert
      await expect(task.process(retried)).rejects.toThrow(`${step} failed`);
      expect(producer.calls.at(-1)).toBe('abort');
      expect(await store.checkpoint()).toBe(1n); // only the first batch
      await task.process(retried);
      expect(producer.messages(NAMES.alerts)).toHaveLength(1);
      const alert = JSON.parse(producer.messages(NAMES.alerts)[0]!.value!.toString());
      expect(alert.increase_24h).toBe(12); // not 18: the aborted attempt's in-place scoring was dropped
    }
  });

  it('a store write failing after the commit drops the task; the batch counts as done', async () => {
    const store = await PartitionStore.open(tempDir(), NAMES.changelog, 0);
    const { task, producer, dropped } = await activeTask({ store });
    store.write = async () => {
      throw new Error('disk full');
    };
    await task.process(batchOf(messages(HIGH)));
    expect(producer.calls).toContain('commit');
    expect(task.phase).toBe('closed');
    expect(dropped).toHaveLength(1);
  });

  it('a zombie: fenced at commit, the batch fails and nothing is staged (the task is reopened by the loop)', async () => {
    const { task, producer, store } = await activeTask();
    const fenced = Object.assign(new Error('There is a newer producer with the same transactionalId'), { name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH', retriable: false });
    producer.failNext = { step: 'commit', err: fenced };
    const err = await task.process(batchOf(messages(HIGH))).catch((e: unknown) => e);
    expect(classifyFailure(err)).toBe('task');
    expect(await store.checkpoint()).toBeUndefined();
  });

  it('a registry outage while decoding is an outage: nothing is sent, nothing dead-lettered', async () => {
    const { task, producer, codec } = await activeTask();
    codec.outage = true;
    const err = await task.process(batchOf(messages(HIGH))).catch((e: unknown) => e);
    expect(classifyFailure(err)).toBe('outage');
    expect(producer.calls).toEqual(['fence']);
  });

  it('a ~1 MB garbage value is dead-lettered under the size limit, and the innocent user beside it still alerts', async () => {
    const { task, producer } = await activeTask();
    await task.process(batchOf(messages(HIGH, Buffer.alloc(1_000_000, 0x41), HIGH)));
    const [dead] = producer.messages(NAMES.deadLetters);
    expect(messageBytes(dead!)).toBeLessThanOrEqual(DEAD_LETTER_MAX_BYTES);
    expect(dead!.headers).toMatchObject({ [DLQ_HEADERS.truncated]: 'true', [DLQ_HEADERS.originalValueBytes]: '1000000' });
    expect(producer.messages(NAMES.alerts)).toHaveLength(1);
  });

  it('a record too large for the broker fails before anything is sent, as a deterministic failure', async () => {
    const { task, producer, codec } = await activeTask();
    codec.hugeAlertFor = 'bob';
    const err = await task.process(batchOf(messages({ ...HIGH, user: { key: 'bob', identifiers: {} }, points: 20 }))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordTooLargeError);
    expect(classifyFailure(err)).toBe('deterministic');
    expect(producer.calls).toEqual(['fence']);
  });

  it('deadLetter: the records alone, with the reason, and the input offset; nothing scored', async () => {
    const { task, producer } = await activeTask();
    const msgs = messages(HIGH);
    await task.deadLetter(batchOf(msgs), 'record-too-large', 'too large');
    expect(producer.messages(NAMES.changelog)).toHaveLength(0);
    expect(producer.messages(NAMES.deadLetters)[0]!.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'record-too-large' });
    expect(producer.offsets.at(-1)!.nextOffset).toBe(BigInt(msgs[0]!.offset) + 1n);
  });

  it('refuses to process unless active', async () => {
    const { task } = await activeTask();
    await task.close({ flush: true });
    await expect(task.process(batchOf(messages(HIGH)))).rejects.toThrow(/closed/);
  });
});

describe('PartitionTask.punctuate', () => {
  it('tombstones users idle longer than the TTL by stream time, in one transaction with the committed input offset unchanged', async () => {
    // The clock moves too: a user is idle when their events are a TTL behind stream time AND nothing
    // arrived for them for a TTL (see the backfill rule).
    let now = T0 + 3_600_000;
    const { task, producer, store } = await activeTask({ idleUserTtlMs: 3_600_000, now: () => now });
    await task.process(batchOf(messages({ ...HIGH, occurred_at: T0 })));
    now = T0 + 3 * 3_600_000;
    await task.process(batchOf(messages({ ...HIGH, user: { key: 'bob', identifiers: {} }, occurred_at: now })));
    expect(await task.punctuate()).toBe(1);
    const tx = producer.committed.at(-1)!;
    expect(tx).toEqual([{ topic: NAMES.changelog, messages: [{ key: 'app/production/alice', value: null, partition: 0 }] }]);
    // the two batches', then the punctuation's: the same offset again (no input was read; it carries the group's fencing)
    expect(producer.offsets).toHaveLength(3);
    expect(producer.offsets[2]).toEqual(producer.offsets[1]);
    expect(await store.get('app/production/alice')).toBeUndefined();
    expect(await store.get('app/production/bob')).toBeInstanceOf(Buffer);
  });
});

describe('PartitionTask restore start', () => {
  it('restores from the checkpoint, or rebuilds from the changelog start when the checkpoint lies outside it', async () => {
    const { task, store } = await activeTask();
    await store.write([{ key: 'u', value: Buffer.from('x') }], 50n);
    expect(await task.restoreStart(10n, 60n)).toEqual({ from: 50n, rebuilt: false });
    expect(await task.restoreStart(0n, 20n)).toEqual({ from: 0n, rebuilt: true });
    expect(await store.get('u')).toBeUndefined();
  });
});

describe('PartitionTask.load', () => {
  it('reads binary and JSON states from the store, and counts (and skips) bytes that are not a state', async () => {
    const store = await PartitionStore.open(tempDir(), 'cl', 0);
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, severity: 'HIGH' }), policyWith(), NOW);
    await store.write(
      [
        { key: 'a/p/binary', value: encodeState(s) },
        { key: 'a/p/json', value: legacyJson(s) },
        { key: 'a/p/corrupt', value: Buffer.from([2, 1, 0, 0]) },
      ],
      10n,
    );
    const { task } = await activeTask({ store, producer: new FakeProducer() });
    const before = (await scorerStateUndecodable.get()).values[0]?.value ?? 0;
    const loaded = await task.load(['a/p/binary', 'a/p/json', 'a/p/corrupt', 'a/p/new']);
    expect(plain(loaded.get('a/p/binary')!)).toEqual(plain(s));
    expect(plain(loaded.get('a/p/json')!)).toEqual(plain(s));
    expect(loaded.has('a/p/corrupt')).toBe(false);
    expect(loaded.has('a/p/new')).toBe(false);
    expect(((await scorerStateUndecodable.get()).values[0]?.value ?? 0) - before).toBe(1);
  });

  it('serves committed changes before they reach the store, and writes them once with the latest checkpoint', async () => {
    let now = T0;
    const { task, store } = await activeTask({ storeFlushIntervalMs: 5000, now: () => now });
    await task.process(batchOf(messages(HIGH)));
    await task.process(batchOf(messages(HIGH)));
    expect(await store.checkpoint()).toBeUndefined(); // not due yet
    expect((await task.load(['app/production/alice'])).get('app/production/alice')).toBeDefined();
    now += 5000;
    expect(task.flushDue).toBe(true);
    await task.exclusive(() => task.flushOrDrop());
    expect(await store.checkpoint()).toBe(3n); // the second transaction's changelog end
    expect(task.flushDue).toBe(false);
  });
});
