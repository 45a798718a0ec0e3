import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { changelogTopic } from '../../src/kafka/names.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { DEAD_LETTER_MAX_BYTES } from '../../src/scorer/records.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { PartitionStore } from '../../src/state/store.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { AttackProducer, HOUR, mkAttack, startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

// Issue 13, items 2 and 3 on the real broker: no single record halts a partition, and a store that
// cannot be opened is rebuilt from the changelog without holding up the other partitions.

const T = Date.UTC(2026, 10, 20, 12, 0, 0);
const SCORING = { maxFutureSkewMs: 10 * 365 * 24 * HOUR };
const GARBAGE_BYTES = 1_048_300;

const running: ScorerHandle[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.stop().catch(() => undefined);
});

describe('scorer hardening (real broker)', () => {
  it('a ~1 MB garbage value on attacks does not halt its partition: dead-lettered under the size limit, truncated and saying so; an innocent user on it still alerts', async () => {
    const config = testConfig({ scoring: SCORING });
    await prepareTopics(config);
    const scorer = await startTestScorer(config);
    running.push(scorer);
    const producer = await new AttackProducer(config).connect();
    const alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    const dlq = await new TopicReader<Buffer>(config, config.topics.attacksDlq, 'raw').start();
    try {
      const key = 'shop/production/innocent';
      const partition = partitionFor(key, 6);
      // Just under the broker's default message.max.bytes (1,048,588 per record batch) on attacks; its
      // dead letter, with the x-risk-hub-* headers added, would be just over it if kept whole.
      await producer.sendRaw([{ key, value: Buffer.alloc(GARBAGE_BYTES, 0x41), partition }]);
      await producer.send([mkAttack({ user: 'innocent', at: T, points: 6 }), mkAttack({ user: 'innocent', at: T + 1000, points: 6 })]);
      await eventually(() => (alerts.records.some((r) => r.value.user.key === 'innocent') ? true : undefined), 60_000, 'the innocent user alerted');
      const [dead] = await dlq.waitFor(1);
      expect(dead!.headers['x-risk-hub-dlq-truncated']).toBe('true');
      expect(dead!.headers['x-risk-hub-original-value-bytes']).toBe(String(GARBAGE_BYTES));
      expect(dead!.headers['x-risk-hub-original-partition']).toBe(String(partition));
      expect(dead!.value.length).toBeLessThan(DEAD_LETTER_MAX_BYTES);
    } finally {
      await dlq.stop();
      await alerts.stop();
      await producer.disconnect();
    }
  });

  it('a store whose LevelDB CURRENT is garbled is moved aside and rebuilt from the changelog; the scores come back and the other partitions go on', async () => {
    const config = testConfig({ scoring: SCORING });
    await prepareTopics(config);
    let scorer = await startTestScorer(config);
    running.push(scorer);
    const producer = await new AttackProducer(config).connect();
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8'];
    await producer.send(users.map((u, i) => mkAttack({ user: u, at: T + i, points: 5 })));
    const risk = async (s: ScorerHandle, u: string) => ((await (await fetch(`${s.url}/v1/users/shop/production/${u}/risk`)).json()) as { increase_24h: number }).increase_24h;
    await eventually(async () => ((await Promise.all(users.map((u) => risk(scorer, u)))).every((n) => n === 5) ? true : undefined), 60_000, 'scored');
    await scorer.stop();
    running.splice(0);

    const victim = partitionFor('shop/production/u1', 6);
    const dir = PartitionStore.dirFor(config.scorer.stateDir, changelogTopic(config), victim);
    writeFileSync(join(dir, 'CURRENT'), 'garbage\u0000\u0000');
    scorer = await startTestScorer(config); // ready: every partition, the broken one included, became active
    running.push(scorer);
    expect(readdirSync(config.scorer.stateDir).some((f) => f.startsWith(`${changelogTopic(config)}-${victim}.broken-`))).toBe(true);
    expect(existsSync(join(dir, 'CURRENT'))).toBe(true);
    expect(await Promise.all(users.map((u) => risk(scorer, u)))).toEqual(users.map(() => 5));
    const metrics = await (await fetch(`${scorer.url}/metrics`)).text();
    expect(metrics).toMatch(/^risk_hub_scorer_stores_rebuilt_total [1-9]/m);
    expect(metrics).toMatch(/^risk_hub_scorer_halted_partitions 0$/m);
    await producer.disconnect();
  });
});
