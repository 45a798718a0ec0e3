import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { Decision, DecisionRequest } from '../../src/contracts.ts';
import { requestRecord } from '../../src/decisions/index.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { scorerCommitted } from '../../src/kafka/offsets.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { AttackProducer, HOUR, mkAttack, startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

// Counter-measures on the real broker (issue 15): the scorer publishes an alert's decision with the
// alert, turns people's requests into decisions, and tombstones a decision when it ends.

const MIN = 60_000;

describe('scorer decisions on the real broker', () => {
  let config: Config;
  let scorer: ScorerHandle;
  let attacks: AttackProducer;
  let requests: Producer;
  let alerts: TopicReader<RiskAlert>;
  let decisions: TopicReader<Decision | null>;
  let partitions: number;

  beforeAll(async () => {
    config = testConfig({
      scoring: { maxFutureSkewMs: 10 * 365 * 24 * HOUR },
      scorer: { punctuateIntervalMs: 200 },
      decisions: {
        rules: [
          { tier: 1, action: 'monitor', durations: ['1h'] },
          { tier: 2, action: 'block', durations: ['15m', '1h'] },
        ],
        exempt: { users: ['ops-robot'], patterns: [] },
        applications: { lab: { simulate: true } },
      },
    });
    await prepareTopics(config);
    scorer = await startTestScorer(config);
    attacks = await new AttackProducer(config).connect();
    requests = createKafka(config).producer({ idempotent: true });
    await requests.connect();
    const admin = createKafka(config).admin();
    await admin.connect();
    partitions = (await admin.fetchTopicOffsets(config.topics.attacks)).length;
    await admin.disconnect();
    alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    decisions = await new TopicReader<Decision | null>(config, config.topics.decisions, 'decision').start();
  });
  afterAll(async () => {
    await decisions?.stop();
    await alerts?.stop();
    await requests?.disconnect();
    await attacks?.disconnect();
    await scorer?.stop();
  });

  const T = Date.UTC(2026, 10, 20, 12);
  const forUser = (user: string, app = 'shop') => decisions.records.filter((r) => r.key === `${app}/production/${user}`);

  async function request(over: Partial<DecisionRequest>): Promise<DecisionRequest> {
    const req: DecisionRequest = {
      v: 1,
      request_id: randomUUID(),
      op: 'add',
      application_id: 'shop',
      environment: 'production',
      user_key: 'x',
      action: 'BLOCK',
      duration_ms: HOUR,
      reason: 'support ticket 12',
      made_by: 'sam',
      requested_at: Date.now(),
      ...over,
    };
    const rec = requestRecord(req);
    await requests.send({ topic: config.topics.decisionRequests, acks: -1, messages: [{ ...rec, partition: partitionFor(rec.key, partitions) }] });
    return req;
  }

  it('an alert crossing the policy’s tier is published with its decision; the decision record equals the alert’s', async () => {
    // 6 + 6 = 12 > 10: tier 1 (monitor); 30 more: tier 2 (block, 1st offense: 15 min)
    await attacks.send([mkAttack({ user: 'mallory', at: T }), mkAttack({ user: 'mallory', at: T + 1 })]);
    await eventually(() => (forUser('mallory').length >= 1 ? true : undefined), 30_000, 'the monitor decision');
    await attacks.send([mkAttack({ user: 'mallory', at: T + 2, points: 30 })]);
    await eventually(() => (forUser('mallory').length >= 2 ? true : undefined), 30_000, 'the block decision');
    const [monitor, block] = forUser('mallory').map((r) => r.value!);
    expect(monitor).toMatchObject({ action: 'MONITOR', source: 'POLICY', tier: 1, offense: 0, simulated: false });
    expect(block).toMatchObject({ action: 'BLOCK', source: 'POLICY', tier: 2, offense: 1, made_by: 'policy' });
    expect(block!.until - block!.made_at).toBe(15 * MIN);
    const carried = alerts.records.map((r) => r.value).filter((a) => a.user.key === 'mallory');
    expect(carried.map((a) => a.decision)).toEqual([monitor, block]);
    // same partition as the user's attacks
    expect(forUser('mallory').every((r) => r.partition === partitionFor('shop/production/mallory', partitions))).toBe(true);
  });

  it('an exempt user alerts without a decision; a simulated application marks its decisions', async () => {
    await attacks.send([mkAttack({ user: 'ops-robot', at: T, points: 50 }), mkAttack({ app: 'lab', user: 'eve', at: T, points: 50 })]);
    await eventually(() => (forUser('eve', 'lab').length ? true : undefined), 30_000, 'the simulated decision');
    await eventually(() => (alerts.records.some((r) => r.value.user.key === 'ops-robot') ? true : undefined), 30_000, 'the exempt user’s alert');
    expect(alerts.records.find((r) => r.value.user.key === 'ops-robot')!.value.decision).toBeNull();
    expect(forUser('ops-robot')).toEqual([]);
    expect(forUser('eve', 'lab')[0]!.value).toMatchObject({ action: 'BLOCK', simulated: true });
  });

  it('a person’s request becomes a decision; a remove lifts it; a remove with nothing to lift writes nothing', async () => {
    const add = await request({ user_key: 'trudy', action: 'CHALLENGE', duration_ms: 24 * HOUR });
    await eventually(() => (forUser('trudy').length ? true : undefined), 30_000, 'the manual decision');
    const d = forUser('trudy')[0]!.value!;
    expect(d).toMatchObject({ action: 'CHALLENGE', source: 'MANUAL', made_by: 'sam', reason: 'support ticket 12', made_at: add.requested_at, until: add.requested_at + 24 * HOUR });
    await request({ op: 'remove', user_key: 'trudy', action: undefined, duration_ms: undefined, reason: 'false positive' });
    await eventually(() => (forUser('trudy').length >= 2 ? true : undefined), 30_000, 'the lift');
    expect(forUser('trudy')[1]!.value).toMatchObject({ action: 'LIFT', lifts: d.decision_id, until: d.until, reason: 'false positive' });
    await request({ op: 'remove', user_key: 'trudy', action: undefined, duration_ms: undefined });
    // processed (the group's offset on the requests topic covers it), and nothing written
    const p = partitionFor('shop/production/trudy', partitions);
    const admin = createKafka(config).admin();
    await admin.connect();
    const [end] = (await admin.fetchTopicOffsets(config.topics.decisionRequests)).filter((o) => o.partition === p);
    await eventually(async () => ((await scorerCommitted(admin, config, config.topics.decisionRequests)).get(p) === BigInt(end!.high) ? true : undefined), 30_000, 'the request processed');
    await admin.disconnect();
    await new Promise((r) => setTimeout(r, 500));
    expect(forUser('trudy')).toHaveLength(2);
  });

  it('a decision that ends is tombstoned on the decisions topic', async () => {
    // A request made 59 min 57 s ago for an hour: it ends 3 s from now.
    await request({ user_key: 'oscar', duration_ms: HOUR, requested_at: Date.now() - HOUR + 3000 });
    await eventually(() => (forUser('oscar').length >= 2 ? true : undefined), 30_000, 'the tombstone');
    const [d, tomb] = forUser('oscar');
    expect(d!.value).toMatchObject({ action: 'BLOCK', source: 'MANUAL' });
    expect(tomb!.value).toBeNull();
  });

  it('an invalid request is dead-lettered and decides nothing', async () => {
    const key = 'shop/production/zed';
    await requests.send({ topic: config.topics.decisionRequests, acks: -1, messages: [{ key, value: '{"v":1,"op":"add"}', partition: partitionFor(key, partitions) }] });
    const dlq = await new TopicReader<Buffer>(config, config.topics.attacksDlq, 'raw').start();
    await dlq.waitFor(1, 30_000);
    await dlq.stop();
    expect(dlq.records[0]!.headers).toMatchObject({ 'x-risk-hub-error': 'invalid-request', 'x-risk-hub-original-topic': config.topics.decisionRequests });
    expect(forUser('zed')).toEqual([]);
  });
});
