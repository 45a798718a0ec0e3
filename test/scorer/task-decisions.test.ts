import { afterEach, describe, expect, it } from 'vitest';
import type { KafkaMessage } from 'kafkajs';
import { DecisionsSchema } from '../../src/config/decisions.ts';
import type { Decision, DecisionRequest } from '../../src/contracts.ts';
import { coPartitionedAssignment } from '../../src/scorer/assigner.ts';
import { requestRecord } from '../../src/decisions/index.ts';
import { DLQ_HEADERS } from '../../src/kafka/names.ts';
import { decodeState, encodeState, peekTimes } from '../../src/state/codec.ts';
import { emptyUserState } from '../../src/scoring/index.ts';
import { T0 } from '../scoring/fixtures.ts';
import { activeTask, batchOf, cleanDirs, messages, NAMES } from './task-fakes.ts';

// Decisions in the partition task without a broker: published in the alert's transaction, from
// people's requests with the requests topic's offset, tombstoned when they end.

afterEach(cleanDirs);

const HOUR = 3_600_000;
const NOW = T0 + HOUR; // activeTask's clock
const decisions = DecisionsSchema.parse({ rules: [{ tier: 1, action: 'block', durations: ['1h', '24h'] }] });
const HIGH = { severity: 'HIGH' as const };

function decisionsOf(tx: { topic: string; messages: Array<{ key?: string | Buffer | null; value: Buffer | string | null }> }[]): Decision[] {
  return tx.filter((t) => t.topic === NAMES.decisions).flatMap((t) => t.messages.map((m) => JSON.parse(String(m.value)) as Decision));
}

let reqOffset = 1000;
function requestMessages(...reqs: Array<Partial<DecisionRequest> | Buffer>): KafkaMessage[] {
  return reqs.map((r) => {
    if (Buffer.isBuffer(r)) return { key: Buffer.from('app/production/alice'), value: r, offset: String(reqOffset++), timestamp: '0', attributes: 0, headers: {} } as KafkaMessage;
    const full: DecisionRequest = {
      v: 1,
      request_id: `req-${reqOffset}-aaaa`,
      op: 'add',
      application_id: 'app',
      environment: 'production',
      user_key: 'alice',
      action: 'BLOCK',
      duration_ms: 2 * HOUR,
      reason: 'ticket 7',
      made_by: 'sam',
      requested_at: NOW,
      ...r,
    };
    const rec = requestRecord(full);
    return { key: Buffer.from(rec.key), value: rec.value, offset: String(reqOffset++), timestamp: '0', attributes: 0, headers: {} } as KafkaMessage;
  });
}

describe('PartitionTask: decisions', () => {
  it('publishes an alert’s decision in the alert’s transaction, carried by the alert too, and remembers it in the state', async () => {
    const { task, producer, store } = await activeTask({ decisions });
    await task.process(batchOf(messages(HIGH, HIGH))); // 12 points: tier 1
    expect(producer.committed).toHaveLength(1);
    const tx = producer.committed[0]!;
    const [decision] = decisionsOf(tx);
    expect(decision).toMatchObject({ action: 'BLOCK', source: 'POLICY', until: NOW + HOUR, offense: 1 });
    const alert = JSON.parse(String(producer.messages(NAMES.alerts)[0]!.value));
    expect(alert.decision).toEqual(decision);
    expect(tx.find((t) => t.topic === NAMES.decisions)!.messages[0]).toMatchObject({ key: 'app/production/alice', partition: 0 });
    const state = decodeState((await store.get('app/production/alice'))!)!;
    expect(state).toMatchObject({ offenses: 1, dec: { id: decision!.decision_id, action: 'BLOCK', source: 'POLICY', until: NOW + HOUR } });
  });

  it('without a policy an alert carries no decision and nothing goes to the decisions topic', async () => {
    const { task, producer } = await activeTask();
    await task.process(batchOf(messages(HIGH, HIGH)));
    expect(producer.messages(NAMES.decisions)).toEqual([]);
    expect(JSON.parse(String(producer.messages(NAMES.alerts)[0]!.value)).decision).toBeUndefined();
  });

  it('turns a request into a decision, committing the requests topic’s offset in the same transaction; an invalid one is dead-lettered', async () => {
    const { task, producer } = await activeTask({ decisions });
    const msgs = requestMessages({}, Buffer.from('{"v":1}'));
    await task.process({ topic: NAMES.requests, ...batchOf(msgs) });
    const [decision] = decisionsOf(producer.committed[0]!);
    expect(decision).toMatchObject({ action: 'BLOCK', source: 'MANUAL', made_by: 'sam', reason: 'ticket 7', until: NOW + 2 * HOUR });
    expect(producer.offsets).toEqual([{ groupId: NAMES.groupId, topic: NAMES.requests, partition: 0, nextOffset: BigInt(msgs[1]!.offset) + 1n }]);
    const [dead] = producer.messages(NAMES.deadLetters);
    expect(dead!.headers).toMatchObject({ [DLQ_HEADERS.reason]: 'invalid-request', [DLQ_HEADERS.originalTopic]: NAMES.requests });
  });

  it('a lift wins over the automatic decision until the user crosses a tier again', async () => {
    const { task, producer } = await activeTask({ decisions });
    await task.process(batchOf(messages(HIGH, HIGH))); // tier 1: block 1h
    const auto = decisionsOf(producer.committed[0]!)[0]!;
    await task.process({ topic: NAMES.requests, ...batchOf(requestMessages({ op: 'remove', action: undefined, duration_ms: undefined })) });
    const lift = decisionsOf(producer.committed[1]!)[0]!;
    expect(lift).toMatchObject({ action: 'LIFT', lifts: auto.decision_id, until: auto.until });
    // more attacks without a new tier: no new decision
    await task.process(batchOf(messages(HIGH)));
    expect(decisionsOf(producer.committed[2]!)).toEqual([]);
    // a remove with nothing left to lift writes nothing
    await task.process({ topic: NAMES.requests, ...batchOf(requestMessages({ op: 'remove', action: undefined, duration_ms: undefined })) });
    expect(decisionsOf(producer.committed[3]!)).toEqual([]);
  });

  it('tombstones a decision when it ends, keeps the user (and their offenses) while it holds, forgets them after', async () => {
    let now = NOW;
    const { task, producer, store } = await activeTask({ decisions, now: () => now, idleUserTtlMs: 30 * 24 * HOUR });
    await task.process(batchOf(messages(HIGH, HIGH)));
    now = NOW + HOUR - 1;
    await task.punctuate();
    expect(producer.committed).toHaveLength(1); // nothing ended yet
    now = NOW + HOUR;
    expect(await task.punctuate()).toBe(1);
    const tx = producer.committed[1]!;
    expect(tx.find((t) => t.topic === NAMES.decisions)!.messages).toEqual([{ key: 'app/production/alice', value: null, partition: 0 }]);
    const state = decodeState((await store.get('app/production/alice'))!)!;
    expect(state.dec).toBeNull();
    expect(state.offenses).toBe(1); // the next block escalates
    expect(await task.punctuate()).toBe(0);
  });

  it('a person’s decision on a user never seen keeps that user until it ends', async () => {
    let now = NOW;
    const { task, producer, store } = await activeTask({ decisions, now: () => now, idleUserTtlMs: 8 * 24 * HOUR });
    await task.process({ topic: NAMES.requests, ...batchOf(requestMessages({ user_key: 'bob' })) });
    now = NOW + HOUR; // idle by every measure, but blocked for 2 h
    expect(await task.punctuate()).toBe(0);
    expect(await store.get('app/production/bob')).toBeDefined();
    now = NOW + 2 * HOUR; // the block ended: tombstoned; the state stays without it (and with its offense)
    expect(await task.punctuate()).toBe(1);
    const last = producer.committed.at(-1)!;
    expect(last.find((t) => t.topic === NAMES.decisions)!.messages).toEqual([{ key: 'app/production/bob', value: null, partition: 0 }]);
    expect(decodeState((await store.get('app/production/bob'))!)).toMatchObject({ dec: null, offenses: 1 });
    // once the partition's stream time has moved a TTL on, the user, who never scored, is forgotten
    now = NOW + 9 * 24 * HOUR;
    await task.process(batchOf(messages({ occurred_at: now, severity: 'LOW', user: { key: 'carol', identifiers: {} } })));
    expect(await task.punctuate()).toBe(1);
    expect(producer.messages(NAMES.changelog).at(-1)).toEqual({ key: 'app/production/bob', value: null, partition: 0 });
  });
});

describe('state codec: decision memory', () => {
  it('round-trips offenses and the decision; a state without them encodes as before', () => {
    const plain = emptyUserState();
    plain.last = T0;
    const before = encodeState(plain);
    expect(decodeState(before)).not.toHaveProperty('dec');
    const s = { ...plain, offenses: 3, dec: { id: 'd'.repeat(32), action: 'LIFT' as const, source: 'MANUAL' as const, until: T0 + HOUR } };
    const b = encodeState(s);
    expect(decodeState(b)).toEqual(s);
    expect(peekTimes(b)).toEqual({ since: T0, decisionUntil: T0 + HOUR });
    expect(peekTimes(before)).toEqual({ since: T0, decisionUntil: null });
    expect(decodeState(encodeState({ ...plain, offenses: 2, dec: null }))).toMatchObject({ offenses: 2, dec: null });
  });
});

describe('coPartitionedAssignment', () => {
  it('gives partition p of every topic to one member, p mod n by sorted member id', () => {
    const topics = new Map([
      ['attacks', [3, 0, 2, 1, 5, 4]],
      ['requests', [0, 1, 2, 3, 4, 5]],
    ]);
    const a = coPartitionedAssignment(['m-b', 'm-c', 'm-a', 'm-d'], topics);
    expect(a.get('m-a')).toEqual({ attacks: [0, 4], requests: [0, 4] });
    expect(a.get('m-b')).toEqual({ attacks: [1, 5], requests: [1, 5] });
    expect(a.get('m-d')).toEqual({ attacks: [3], requests: [3] });
    expect(coPartitionedAssignment([], topics).size).toBe(0);
  });
});
