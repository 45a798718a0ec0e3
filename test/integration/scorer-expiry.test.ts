import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changelogTopic, type Config } from '../../src/config/schema.ts';
import { userKey } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { AttackProducer, mkAttack, startTestScorer, TopicReader } from './scorer-harness.ts';

// Idle users are forgotten (scorer.idleUserTtlMs): tombstoned on the changelog, deleted from the
// store, gone after a restore, and starting afresh at their next event. Idle means no event arrived for
// them for the TTL (processing time) and their newest event time is the TTL behind the partition's
// stream time: a backfill (old events still arriving) is never forgotten. A 2 s window and a 5 s TTL
// stand for 24 h and 7 days.

const MINUTE = 60_000;
const TTL = 5000;

describe('idle users are forgotten, on the real broker', () => {
  let config: Config;
  let scorer: ScorerHandle;
  let producer: AttackProducer;
  let partitions: number;
  const users: string[] = [];

  beforeAll(async () => {
    // Stores written after every batch: the idle scan reads the store, not the changes still pending.
    config = testConfig({ scoring: { windowMs: 2000, bucketMs: 1000 }, scorer: { idleUserTtlMs: TTL, punctuateIntervalMs: 200, storeFlushIntervalMs: 0 } });
    await prepareTopics(config);
    const admin = createKafka(config).admin();
    await admin.connect();
    partitions = (await admin.fetchTopicMetadata({ topics: [config.topics.attacks] })).topics[0]!.partitions.length;
    await admin.disconnect();
    // Four users on one partition, so they share its stream time.
    const p = partitionFor(userKey('shop', 'production', 'idle-0'), partitions);
    for (let i = 0; users.length < 4 && i < 10_000; i++) if (partitionFor(userKey('shop', 'production', `idle-${i}`), partitions) === p) users.push(`idle-${i}`);
    scorer = await startTestScorer(config);
    producer = await new AttackProducer(config).connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await scorer?.stop();
  });

  const risk = async (s: ScorerHandle, user: string) =>
    (await (await fetch(`${s.url}/v1/users/shop/production/${user}/risk`)).json()) as { known: boolean; risk_score: number };
  const expired = async (s: ScorerHandle) => Number(/^risk_hub_scorer_users_expired_total (\S+)$/m.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? NaN);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('keeps a backfill, tombstones users idle longer than the TTL, keeps the others, and restores without them', async () => {
    const [a, b, newer, fresh] = users as [string, string, string, string];
    // a and b: a backfill, 30 minutes old.
    const t0 = Date.now() - 30 * MINUTE;
    await producer.send([mkAttack({ user: a, at: t0, points: 6 }), mkAttack({ user: b, at: t0, points: 4 })]);
    await eventually(async () => ((await risk(scorer, b)).known ? true : undefined), 30_000, 'b scored');
    const arrived = Date.now();
    // Stream time stays at t0: nobody is idle yet.
    await sleep(1000);
    expect(await expired(scorer)).toBe(0);
    // Newer events on the partition move its stream time 30 minutes past a's and b's, but their events
    // just arrived: they are kept (issue 13 item 5: they were forgotten here, mid-backfill).
    await producer.send([mkAttack({ user: newer, at: Date.now(), points: 1 })]);
    await eventually(async () => ((await risk(scorer, newer)).known ? true : undefined), 30_000, 'newer scored');
    const newerAt = Date.now();
    await sleep(1000); // five punctuations
    expect(await expired(scorer)).toBe(0);
    expect((await risk(scorer, a)).known).toBe(true);
    // A TTL later (processing time) and a newer event: a, b and newer are idle by both measures.
    await sleep(Math.max(0, arrived + TTL + 500 - Date.now(), newerAt + TTL + 500 - Date.now()));
    await producer.send([mkAttack({ user: fresh, at: Date.now(), points: 1 })]);
    await eventually(async () => ((await expired(scorer)) >= 3 ? true : undefined), 30_000, 'three users forgotten');
    await sleep(1000); // five more punctuations: each user is forgotten once
    expect(await expired(scorer)).toBe(3);
    expect((await risk(scorer, a)).known).toBe(false);
    expect((await risk(scorer, b)).known).toBe(false);
    expect((await risk(scorer, newer)).known).toBe(false);
    expect(await risk(scorer, fresh)).toMatchObject({ known: true, risk_score: 1 });

    // The changelog holds a committed tombstone for each forgotten user, after their state.
    const changelog = await new TopicReader<Buffer | null>(config, changelogTopic(config), 'raw').start();
    const records = await changelog.waitFor(7);
    await changelog.stop();
    const last = (u: string) => records.filter((r) => r.key === userKey('shop', 'production', u)).at(-1)?.value;
    expect(last(a)).toBeNull();
    expect(last(b)).toBeNull();
    expect(last(fresh)).toBeInstanceOf(Buffer);

    // A forgotten user starts afresh: lifetime score 6 + 6 would be 12.
    await producer.send([mkAttack({ user: a, at: Date.now(), points: 6 })]);
    await eventually(async () => ((await risk(scorer, a)).known ? true : undefined), 30_000, 'a scored again');
    expect((await risk(scorer, a)).risk_score).toBe(6);

    // Rebuilt from the changelog alone: the tombstones keep b forgotten.
    await scorer.stop();
    rmSync(config.scorer.stateDir, { recursive: true, force: true });
    scorer = await startTestScorer(config);
    expect((await risk(scorer, b)).known).toBe(false);
    expect(await risk(scorer, a)).toMatchObject({ known: true, risk_score: 6 });
    expect(await risk(scorer, fresh)).toMatchObject({ known: true, risk_score: 1 });
  });
});
