import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Attack } from '../../src/contracts.ts';
import { userKey } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { readSchemaFile, registerSchema, schemaBindings } from '../../src/kafka/schemas.ts';
import { AvroSerde, readerType, subjectFor } from '../../src/kafka/serde.ts';
import { applyTopology, loadTopology } from '../../src/kafka/topology.ts';
import { changelogTopic } from '../../src/config/schema.ts';
import { PoisonRecordError, SchemaError } from '../../src/errors.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

function attack(user: string, i: number): Attack {
  return {
    event_id: randomUUID(),
    occurred_at: Date.now(),
    application_id: 'shop',
    environment: 'production',
    user: { key: user, identifiers: { email: `${user}@example.com` } },
    attack_type: 'sql_injection',
    severity: 'HIGH',
    points: i % 2 ? 7 : null,
    blocked: true,
    request: { ip: '203.0.113.7', method: 'GET', path: '/search', user_agent: 'sqlmap/1.7' },
    agent: { name: 'risk-hub-node', version: '0.1.0', language: 'node' },
  };
}

describe('foundation against the real broker and registry', () => {
  it('applies the topology idempotently, with dry-run and drift reporting', async () => {
    const config = testConfig();
    const names = loadTopology(config).map((t) => t.name);
    const dry = await applyTopology(config, { dryRun: true });
    expect(dry.created.sort()).toEqual([...names].sort());
    const admin = createKafka(config).admin();
    await admin.connect();
    try {
      expect((await admin.listTopics()).filter((t) => names.includes(t))).toEqual([]);
      const first = await applyTopology(config);
      expect(first.created.sort()).toEqual([...names].sort());
      const second = await applyTopology(config);
      expect(second.created).toEqual([]);
      expect(second.drift).toEqual([]);
      expect(second.unchanged.sort()).toEqual([...names].sort());
      const md = await admin.fetchTopicMetadata({ topics: [config.topics.attacks, changelogTopic(config)] });
      const counts = md.topics.map((t) => t.partitions.length);
      expect(counts[0]).toBe(6);
      expect(counts[1]).toBe(counts[0]);
      // Drift: a partition added out of band is reported, never "fixed" by deleting anything.
      await admin.createPartitions({ topicPartitions: [{ topic: config.topics.deliveries, count: 4 }] });
      // CreatePartitions answers before every broker's metadata shows the new partition (KRaft
      // propagates it asynchronously; a slower broker, e.g. in a container, showed 3 for a moment).
      await eventually(async () => ((await admin.fetchTopicMetadata({ topics: [config.topics.deliveries] })).topics[0]!.partitions.length === 4 ? true : undefined), 10_000, 'the 4th partition in the metadata');
      const third = await applyTopology(config);
      expect(third.drift.join('\n')).toMatch(new RegExp(`${config.topics.deliveries}: 4 partitions, declared 3`));
      const after = await admin.fetchTopicMetadata({ topics: [config.topics.deliveries] });
      expect(after.topics[0]!.partitions.length).toBe(4);
    } finally {
      await admin.disconnect();
    }
  });

  it('registers schemas with BACKWARD compatibility and refuses a breaking change, saying what broke', async () => {
    const config = testConfig();
    await prepareTopics(config);
    const base = `${config.schemaRegistry.url}/config/${subjectFor(config.topics.attacks)}`;
    const cfg = (await (await fetch(base)).json()) as { compatibilityLevel: string };
    expect(cfg.compatibilityLevel).toBe('BACKWARD');
    // Registering again is a no-op with the same id.
    const serde = new AvroSerde(config);
    const id = await serde.latestId(subjectFor(config.topics.attacks));
    const text = readSchemaFile(schemaBindings(config)[0]!.file);
    expect(await registerSchema(config, subjectFor(config.topics.attacks), text)).toBe(id);
    const schema = JSON.parse(text) as { fields: unknown[] };
    // A new field without a default breaks BACKWARD compatibility.
    schema.fields.push({ name: 'tenant', type: 'string' });
    const err = await registerSchema(config, subjectFor(config.topics.attacks), JSON.stringify(schema), 'attack-v2.avsc').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaError);
    expect((err as Error).message).toMatch(/attack-v2\.avsc.*not BACKWARD compatible.*tenant/s);
    // With a default it is accepted.
    (schema.fields[schema.fields.length - 1] as Record<string, unknown>).default = 'none';
    expect(await registerSchema(config, subjectFor(config.topics.attacks), JSON.stringify(schema))).toBeGreaterThan(id);
  });

  it('round-trips an Attack keyed to the murmur2 partition, and classifies poison', async () => {
    const config = testConfig();
    await prepareTopics(config);
    const kafka = createKafka(config);
    const producer = kafka.producer({ idempotent: true });
    const serde = new AvroSerde(config);
    await producer.connect();
    const sent = Array.from({ length: 20 }, (_, i) => attack(`user-${i}`, i));
    await producer.send({
      topic: config.topics.attacks,
      messages: await Promise.all(
        sent.map(async (a) => ({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subjectFor(config.topics.attacks), a) })),
      ),
    });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: `${config.applicationId}-read` });
    const got: Array<{ key: string; partition: number; value: Attack }> = [];
    await consumer.connect();
    await consumer.subscribe({ topic: config.topics.attacks, fromBeginning: true });
    const reader = readerType('attack.avsc');
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({ key: message.key!.toString(), partition, value: (await serde.decode<Attack>(message.value, reader)).value });
      },
    });
    await eventually(() => (got.length >= sent.length ? true : undefined), 30_000, 'all attacks consumed');
    await consumer.disconnect();

    for (const a of sent) {
      const g = got.find((x) => x.value.event_id === a.event_id)!;
      expect(g.value).toEqual(a);
      expect(g.key).toBe(`shop/production/${a.user.key}`);
      expect(g.partition).toBe(partitionFor(g.key, 6));
    }

    await expect(serde.decode(Buffer.from('{"json":true}'), reader)).rejects.toMatchObject({ reason: 'no-magic-byte' });
    const unknown = Buffer.from([0, 0x7f, 0, 0, 1, 2]);
    await expect(serde.decode(unknown, reader)).rejects.toMatchObject({ reason: 'unknown-schema' });
    const good = await serde.encode(subjectFor(config.topics.attacks), sent[0]);
    const cut = await serde.decode(good.subarray(0, 12), reader).catch((e: unknown) => e);
    expect(cut).toBeInstanceOf(PoisonRecordError);
    expect((cut as PoisonRecordError).reason).toBe('truncated');

    // Values larger than the encoder's buffer, one after another, each with its own bytes.
    const big = { ...attack('big', 1), user: { key: 'big', identifiers: { note: 'x'.repeat(200_000) } } };
    const bigBytes = await serde.encode(subjectFor(config.topics.attacks), big);
    const small = await serde.encode(subjectFor(config.topics.attacks), sent[1]);
    expect((await serde.decode<Attack>(bigBytes, reader)).value).toEqual(big);
    expect((await serde.decode<Attack>(small, reader)).value).toEqual(sent[1]);
    expect((await serde.decode<Attack>(good, reader)).value).toEqual(sent[0]);
    // A value that does not match the schema is refused, naming the field.
    const wrong = await serde.encode(subjectFor(config.topics.attacks), { ...sent[0], occurred_at: 'yesterday' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(SchemaError);
    expect((wrong as Error).message).toMatch(/at: occurred_at/);
  });

  it('treats an unreachable registry as transient (retriable), never as poison', async () => {
    const config = testConfig();
    await prepareTopics(config);
    const good = await new AvroSerde(config).encode(subjectFor(config.topics.attacks), attack('x', 1));
    const down = new AvroSerde({ schemaRegistry: { ...config.schemaRegistry, url: 'http://127.0.0.1:1/apis/ccompat/v7' } });
    const err = await down.decode(good, readerType('attack.avsc')).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(PoisonRecordError);
    expect(err).toMatchObject({ code: 'RH_REGISTRY_UNAVAILABLE', retriable: true, name: 'RegistryUnavailableError' });
  });

  it('names the file and field of a malformed topology', () => {
    const dir = mkdtempSync(join(tmpdir(), 'topo-'));
    const file = join(dir, 'topics.yaml');
    writeFileSync(file, 'topics:\n  - name: x\n    partitions: zero\n');
    expect(() => loadTopology(testConfig({ topology: { file } }))).toThrow(/topics\.yaml: topics\.0\.partitions: .*number/);
  });
});
