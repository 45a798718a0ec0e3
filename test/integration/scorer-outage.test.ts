import { afterAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { userKey } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { readSchemaFile, registerSchema, schemaBindings } from '../../src/kafka/schemas.ts';
import { AvroSerde, subjectFor } from '../../src/kafka/serde.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { BrokerProxy } from '../agent/kafka-helpers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { mkAttack, startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

// A registry outage is transient: records the scorer cannot decode yet (their schema id is new to
// it and the registry does not answer) pause the partition and are retried, never dead-lettered.

describe('scorer during a schema registry outage', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('pauses and retries, then scores the records once the registry is back; nothing dead-lettered', async () => {
    const config = testConfig();
    await prepareTopics(config);
    const registry = new URL(config.schemaRegistry.url);
    const proxy = new BrokerProxy({ host: registry.hostname, port: Number(registry.port) });
    await proxy.open();
    cleanup.push(() => proxy.close());
    const scorerConfig = { ...config, schemaRegistry: { ...config.schemaRegistry, url: `http://127.0.0.1:${proxy.port}${registry.pathname}` } } as Config;
    const scorer: ScorerHandle = await startTestScorer(scorerConfig);
    cleanup.push(() => scorer.stop());
    const alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    cleanup.push(() => alerts.stop());
    const dlq = await new TopicReader<Buffer>(config, config.topics.attacksDlq, 'raw').start();
    cleanup.push(() => dlq.stop());

    // A compatible v2 of Attack the scorer has never seen: decoding it needs the registry.
    const v2 = JSON.parse(readSchemaFile(schemaBindings(config)[0]!.file)) as { fields: unknown[] };
    v2.fields.push({ name: 'tenant', type: 'string', default: 'none' });
    await registerSchema(config, subjectFor(config.topics.attacks), JSON.stringify(v2));
    const serde = new AvroSerde(config);
    await proxy.close(); // the registry is now unreachable for the scorer only

    const producer = createKafka(config).producer({ idempotent: true });
    await producer.connect();
    cleanup.push(() => producer.disconnect());
    const attacks = [4, 4, 4].map((points, i) => ({ ...mkAttack({ user: 'outage', at: Date.now() - 60_000 + i, points }), tenant: 't1' }));
    await producer.send({
      topic: config.topics.attacks,
      messages: await Promise.all(attacks.map(async (a) => ({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subjectFor(config.topics.attacks), a) }))),
    });
    await new Promise((r) => setTimeout(r, 6_000));
    expect(alerts.records).toEqual([]);
    expect(dlq.records).toEqual([]);

    await proxy.open(); // same port: the registry is back
    const got = await eventually(() => (alerts.records.length ? alerts.records : undefined), 90_000, 'the alert after the outage');
    expect(got[0]!.value.user.key).toBe('outage');
    expect(got[0]!.value.increase_24h).toBe(12);
    await alerts.settle(1500);
    expect(alerts.records).toHaveLength(1);
    expect(dlq.records).toEqual([]);
  });
});
