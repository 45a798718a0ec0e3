import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { AttackProducer, HOUR, mkAttack, startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

const T = Date.UTC(2026, 10, 20, 12, 0, 0);

describe('scorer semantics on the real broker', () => {
  let config: Config;
  let scorer: ScorerHandle;
  let producer: AttackProducer;
  let alerts: TopicReader<RiskAlert>;

  beforeAll(async () => {
    config = testConfig({ scoring: { maxFutureSkewMs: 10 * 365 * 24 * HOUR } });
    await prepareTopics(config);
    scorer = await startTestScorer(config);
    producer = await new AttackProducer(config).connect();
    alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
  });
  afterAll(async () => {
    await alerts?.stop();
    await producer?.disconnect();
    await scorer?.stop();
  });

  const alertsFor = (user: string, app = 'shop', env = 'production') =>
    alerts.records.map((r) => r.value).filter((a) => a.user.key === user && a.application_id === app && a.environment === env);

  it('exactly 10 points in an hour gives no alert; one more point gives exactly one, listing the contributions', async () => {
    const u = 'boundary';
    const ten = [mkAttack({ user: u, at: T, points: 4 }), mkAttack({ user: u, at: T + 20 * 60_000, points: 3 }), mkAttack({ user: u, at: T + 40 * 60_000, points: 3 })];
    await producer.send(ten);
    // Proof the scorer has seen them: the query answers 10.
    await eventually(async () => {
      const r = await fetch(`${scorer.url}/v1/users/shop/production/${u}/risk`);
      const body = (await r.json()) as { increase_24h?: number };
      return body.increase_24h === 10 ? true : undefined;
    }, 30_000, 'increase of 10');
    expect(alertsFor(u)).toEqual([]);
    const one = mkAttack({ user: u, at: T + 59 * 60_000, points: 1 });
    await producer.send([one]);
    await alerts.waitFor(1);
    await alerts.settle(1500);
    const got = alertsFor(u);
    expect(got).toHaveLength(1);
    expect(got[0]!.increase_24h).toBe(11);
    expect(got[0]!.tier).toBe(1);
    expect(got[0]!.trigger_event_id).toBe(one.event_id);
    expect(got[0]!.contributions.map((c) => c.event_id).sort()).toEqual([...ten, one].map((a) => a.event_id).sort());
  });

  it('6 at T and 6 at T+24h+1ms give no alert; 6 at T+23h59m does', async () => {
    await producer.send([mkAttack({ user: 'w1', at: T, points: 6 }), mkAttack({ user: 'w1', at: T + 24 * HOUR + 1, points: 6 })]);
    await producer.send([mkAttack({ user: 'w2', at: T, points: 6 }), mkAttack({ user: 'w2', at: T + 23 * HOUR + 59 * 60_000, points: 6 })]);
    await eventually(() => (alertsFor('w2').length === 1 ? true : undefined), 30_000, 'alert for w2');
    await alerts.settle(1500);
    expect(alertsFor('w1')).toEqual([]);
    expect(alertsFor('w2')[0]!.increase_24h).toBe(12);
  });

  it('tiers and re-arm: no new alert until 25 is crossed; after falling to 10 or less a new crossing alerts again', async () => {
    const u = 'tiers';
    await producer.send([mkAttack({ user: u, at: T, points: 11 })]);
    await eventually(() => (alertsFor(u).length === 1 ? true : undefined), 30_000, 'first tier');
    // 20 more attacks while above the threshold (11 + 14 = 25: not above 25 yet), then one crossing 25.
    const more = Array.from({ length: 20 }, (_, i) => mkAttack({ user: u, at: T + (i + 1) * 60_000, points: i < 14 ? 1 : 0 }));
    await producer.send(more);
    await alerts.settle(2000);
    expect(alertsFor(u).map((a) => a.tier)).toEqual([1]);
    await producer.send([mkAttack({ user: u, at: T + 30 * 60_000, points: 1 })]);
    await eventually(() => (alertsFor(u).length === 2 ? true : undefined), 30_000, 'second tier');
    expect(alertsFor(u)[1]!.tier).toBe(2);
    expect(alertsFor(u)[1]!.increase_24h).toBe(26);
    // A day later the window is empty: the user is re-armed and a new crossing alerts at tier 1 again.
    await producer.send([mkAttack({ user: u, at: T + 48 * HOUR, points: 11 })]);
    await eventually(() => (alertsFor(u).length === 3 ? true : undefined), 30_000, 're-armed alert');
    expect(alertsFor(u)[2]!.tier).toBe(1);
    expect(new Set(alertsFor(u).map((a) => a.alert_id)).size).toBe(3);
  });

  it('never shares a score between two applications or two environments', async () => {
    await producer.send([
      mkAttack({ user: 'same', app: 'a1', env: 'production', at: T, points: 6 }),
      mkAttack({ user: 'same', app: 'a2', env: 'production', at: T, points: 6 }),
      mkAttack({ user: 'same', app: 'a1', env: 'staging', at: T, points: 6 }),
      mkAttack({ user: 'same', app: 'a1', env: 'production', at: T + 1000, points: 6 }),
    ]);
    await eventually(() => (alertsFor('same', 'a1', 'production').length === 1 ? true : undefined), 30_000, 'alert for a1/production');
    await alerts.settle(1500);
    expect(alertsFor('same', 'a2', 'production')).toEqual([]);
    expect(alertsFor('same', 'a1', 'staging')).toEqual([]);
    const r = (await (await fetch(`${scorer.url}/v1/users/a2/production/same/risk`)).json()) as { increase_24h: number };
    expect(r.increase_24h).toBe(6);
  });

  it('dead-letters poison with headers while scoring the valid records around it', async () => {
    const dlq = await new TopicReader<Buffer>(config, config.topics.attacksDlq, 'raw').start();
    try {
      const good = mkAttack({ user: 'around', at: T, points: 11 });
      const valid = await (async () => {
        const { AvroSerde, subjectFor } = await import('../../src/kafka/serde.ts');
        return new AvroSerde(config).encode(subjectFor(config.topics.attacks), good);
      })();
      const noUser = await (async () => {
        const { AvroSerde, subjectFor } = await import('../../src/kafka/serde.ts');
        return new AvroSerde(config).encode(subjectFor(config.topics.attacks), mkAttack({ user: '', at: T, points: 3 }));
      })();
      const key = 'shop/production/around';
      await producer.sendRaw([
        { key, value: Buffer.from('{"not":"avro"}'), partition: 0 },
        { key, value: Buffer.from([0, 0, 0, 0x7f, 0x7f, 1, 2, 3]), partition: 0 },
        { key, value: valid.subarray(0, 9), partition: 0 },
        { key, value: noUser, partition: 0 },
        { key, value: valid },
      ]);
      await dlq.waitFor(4);
      const reasons = dlq.records.map((r) => r.headers['x-risk-hub-error']).sort();
      expect(reasons).toEqual(['missing-user', 'no-magic-byte', 'truncated', 'unknown-schema']);
      for (const r of dlq.records) {
        expect(r.headers['x-risk-hub-original-topic']).toBe(config.topics.attacks);
        expect(r.headers['x-risk-hub-original-partition']).toBe('0');
        expect(r.headers['x-risk-hub-original-offset']).toMatch(/^\d+$/);
        expect(r.headers['x-risk-hub-error-message']!.length).toBeGreaterThan(0);
      }
      expect(dlq.records.find((r) => r.headers['x-risk-hub-error'] === 'unknown-schema')!.headers['x-risk-hub-schema-id']).toBe(String(0x7f7f));
      await eventually(() => (alertsFor('around').length === 1 ? true : undefined), 30_000, 'the valid record scored');
    } finally {
      await dlq.stop();
    }
  });

  it('dead-letters identities outside the rules, records without a key and keys other than the value\'s (issue 13)', async () => {
    const dlq = await new TopicReader<Buffer>(config, config.topics.attacksDlq, 'raw').start();
    try {
      const { AvroSerde, subjectFor } = await import('../../src/kafka/serde.ts');
      const serde = new AvroSerde(config);
      const enc = (a: ReturnType<typeof mkAttack>) => serde.encode(subjectFor(config.topics.attacks), a);
      // "a/b" + "c" and "a" + "b/c" used to share the key a/b/c/twin and one window: 6 + 6 alerted.
      await producer.sendRaw([
        { key: 'a/b/c/twin', value: await enc(mkAttack({ app: 'a/b', env: 'c', user: 'twin', at: T, points: 6 })) },
        { key: 'a/b/c/twin', value: await enc(mkAttack({ app: 'a', env: 'b/c', user: 'twin', at: T, points: 6 })) },
        { key: null, value: await enc(mkAttack({ user: 'keyless', at: T, points: 11 })) },
        { key: 'shop/production/somebody-else', value: await enc(mkAttack({ user: 'mismatched', at: T, points: 11 })) },
        { key: 'shop/production/matched', value: await enc(mkAttack({ user: 'matched', at: T, points: 11 })) },
      ]);
      await eventually(() => (alertsFor('matched').length === 1 ? true : undefined), 30_000, 'the valid record scored');
      const ours = () => dlq.records.map((r) => r.headers['x-risk-hub-error']!).filter((r) => ['invalid-identity', 'key-mismatch', 'missing-key'].includes(r));
      await eventually(() => (ours().length >= 4 ? true : undefined), 30_000, 'four dead letters');
      const reasons = ours().sort();
      expect(reasons).toEqual(['invalid-identity', 'invalid-identity', 'key-mismatch', 'missing-key']);
      await alerts.settle(1000);
      expect(alerts.records.map((r) => r.value).filter((a) => ['twin', 'keyless', 'mismatched', 'somebody-else'].includes(a.user.key))).toEqual([]);
      expect((await fetch(`${scorer.url}/v1/users/a%2Fb/c/twin/risk`)).status).toBe(400);
    } finally {
      await dlq.stop();
    }
  });

  it('answers /metrics, /healthz and /readyz', async () => {
    const metrics = await (await fetch(`${scorer.url}/metrics`)).text();
    expect(metrics).toMatch(/risk_hub_scorer_events_total\{outcome="scored"\} \d+/);
    expect(metrics).toMatch(/risk_hub_scorer_alerts_total\{tier="1"\} \d+/);
    expect(metrics).toMatch(/risk_hub_consumer_lag_records\{consumergroup="[^"]+-scorer",topic="[^"]+",partition="\d+"\} \d+/);
    expect((await fetch(`${scorer.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${scorer.url}/readyz`)).status).toBe(200);
  });
});
