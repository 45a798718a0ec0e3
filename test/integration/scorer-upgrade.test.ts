import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changelogTopic, type Config } from '../../src/config/schema.ts';
import { userKey } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { AttackProducer, mkAttack, startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

// Upgrading across a state format: a changelog written by an earlier version (format 2, with the
// '#…' duplicate keys of then; format 3, before the user's active time; format 4, its UUID event ids
// as text; all under the key
// `shop/production/upgraded`, which the identity rules of src/identity.ts keep as it was) restores
// into this one without a migration, keeps the user's score, still recognises a retried event as a
// duplicate, and is written back in the current format (5).

const T = 1_764_000_000_000;
const FIRST = '7d3f9a2e-4b1c-4e8a-9f60-2c5d8e1a4b37';
const SECOND = 'c81e728d-9d4c-4f63-8a2b-1e0f5c7d9a46';
/**
 * User 'upgraded' of application 'shop' in production after FIRST (6 points, sql_injection, at T) and
 * SECOND (4 points, xss, at T + 1 s), as the format-2 encoder (683b320) wrote it: 10 points, no alert.
 */
const FORMAT_2_STATE =
  'AgEAgL5+aat5QgAAAAAAACRAAAAAAAAAJEACAAIAAgAAgH5pq3lCAAAAAAAAGEABAIC+fmmreUIAAAAAAAAQQAECDiMxdm9hcnkwcjFqbGxxDiNjYTJobjQwbGN0M244AiQ3ZDNmOWEyZS00YjFjLTRlOGEtOWY2MC0yYzVkOGUxYTRiMzcNc3FsX2luamVjdGlvbgRISUdIAAAAAAAAGEAAAIB+aat5QgAAJGM4MWU3MjhkLTlkNGMtNGY2My04YTJiLTFlMGY1YzdkOWE0NgN4c3MGTUVESVVNAAAAAAAAEEAAgL5+aat5QgEA';
/** The same state as the format-3 encoder (ae12032 and before) wrote it. */
const FORMAT_3_STATE =
  'AwMAgL5+aat5QhQUAgACAALQDwwB0A8IAQIAgNuFOb4Z60IA2Hsm6N8gFkMCJDdkM2Y5YTJlLTRiMWMtNGU4YS05ZjYwLTJjNWQ4ZTFhNGIzNwANc3FsX2luamVjdGlvbgMM0A8AACRjODFlNzI4ZC05ZDRjLTRmNjMtOGEyYi0xZTBmNWM3ZDlhNDYAA3hzcwIIAAEA';

/** The same state as the format-4 encoder (dcbf380 and before) wrote it. */
const FORMAT_4_STATE =
  'BAMAgL5+aat5QhQUAgACAALQDwwB0A8IAQIAgNuFOb4Z60IA2Hsm6N8gFkMCJDdkM2Y5YTJlLTRiMWMtNGU4YS05ZjYwLTJjNWQ4ZTFhNGIzNwANc3FsX2luamVjdGlvbgMM0A8AACRjODFlNzI4ZC05ZDRjLTRmNjMtOGEyYi0xZTBmNWM3ZDlhNDYAA3hzcwIIAAEA';

describe.each([
  [2, FORMAT_2_STATE],
  [3, FORMAT_3_STATE],
  [4, FORMAT_4_STATE],
])('a changelog written in state format %i, on the real broker', (_format, state) => {
  let config: Config;
  let scorer: ScorerHandle;
  let producer: AttackProducer;
  const key = userKey('shop', 'production', 'upgraded');

  beforeAll(async () => {
    // idleUserTtlMs 0: the user's events are a year old, and must not be forgotten mid-test.
    config = testConfig({ scorer: { idleUserTtlMs: 0 } });
    await prepareTopics(config);
    const kafka = createKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    const partitions = (await admin.fetchTopicMetadata({ topics: [config.topics.attacks] })).topics[0]!.partitions.length;
    await admin.disconnect();
    const old = kafka.producer();
    await old.connect();
    await old.send({ topic: changelogTopic(config), messages: [{ key, value: Buffer.from(state, 'base64'), partition: partitionFor(key, partitions) }] });
    await old.disconnect();
    scorer = await startTestScorer(config);
    producer = await new AttackProducer(config).connect();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await scorer?.stop();
  });

  it('restores the user, counts a retried event once, alerts on the next point, and writes format 5', async () => {
    const risk = async () => (await (await fetch(`${scorer.url}/v1/users/shop/production/upgraded/risk`)).json()) as { known: boolean; risk_score: number; increase_24h: number };
    expect(await risk()).toMatchObject({ known: true, risk_score: 10, increase_24h: 10 });

    // Metrics are per process, and both cases run in this one.
    const duplicates = async () => Number(/^risk_hub_scorer_events_total\{outcome="duplicate"\} (\S+)$/m.exec(await (await fetch(`${scorer.url}/metrics`)).text())?.[1] ?? 0);
    const before = await duplicates();
    const alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    const changelog = await new TopicReader<Buffer | null>(config, changelogTopic(config), 'raw').start();
    // The agent retries SECOND (in format 2 its key in the restored ring is a '#…' string), then reports a new point.
    await producer.send([
      mkAttack({ user: 'upgraded', at: T + 1000, points: 4, severity: 'MEDIUM', type: 'xss', id: SECOND }),
      mkAttack({ user: 'upgraded', at: T + 2000, points: 1, id: randomUUID() }),
    ]);
    const [alert] = await alerts.waitFor(1);
    expect(alert!.value).toMatchObject({ increase_24h: 11, risk_score: 11, tier: 1 });
    expect(alert!.value.contributions.map((c) => c.event_id)).toEqual([FIRST, SECOND, expect.any(String)]);
    await eventually(async () => ((await risk()).risk_score === 11 ? true : undefined), 30_000, 'risk_score 11');
    expect(await duplicates()).toBe(before + 1);

    // Written back in format 5: the last changelog value of the user starts with its format byte.
    const records = await changelog.waitFor(2);
    expect(records.filter((r) => r.key === key).at(-1)!.value![0]).toBe(5);
    expect(await alerts.settle(1000)).toHaveLength(1);
    await alerts.stop();
    await changelog.stop();
  });
});
