import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { userKey } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { readSchemaFile, registerSchema, schemaBindings } from '../../src/kafka/schemas.ts';
import { AvroSerde, subjectFor } from '../../src/kafka/serde.ts';
import { createLogger } from '../../src/log.ts';
import { startScorer } from '../../src/scorer/scorer.ts';
import { BrokerProxy } from '../agent/kafka-helpers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { mkAttack, startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';
import { freePort } from '../ports.ts';

// Issue 13, items 6 and 4 on the real broker: a Kafka missing at start is an outage (the scorer is
// live and not ready, and starts by itself once Kafka answers), and a schema registry that hangs
// (accepts connections, never answers) times out, dead-letters nothing, and the scorer resumes by
// itself once it answers again.

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

/** A TCP proxy that can freeze: accepted connections then get no answer (as a SIGSTOPped process). */
class FreezingProxy {
  port = 0;
  frozen = false;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly target: { host: string; port: number }) {}
  async open(): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('error', () => undefined).on('close', () => this.sockets.delete(client));
      if (this.frozen) return; // accepted, never answered
      const upstream = net.connect(this.target);
      this.sockets.add(upstream);
      upstream.on('error', () => client.destroy()).on('close', () => this.sockets.delete(upstream));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  /** Cuts open connections; the next ones hang until `thaw`. */
  freeze(): void {
    this.frozen = true;
    for (const s of this.sockets) s.destroy();
  }
  thaw(): void {
    this.frozen = false;
    for (const s of this.sockets) s.destroy(); // the hung ones; clients reconnect
  }
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

describe('scorer availability (real broker)', () => {
  it('Kafka missing at start: live on /healthz, not ready on /readyz, still waiting past kafka.connectWaitMs; ready by itself once Kafka answers', async () => {
    const base = testConfig();
    await prepareTopics(base);
    const [host, port] = base.kafka.brokers[0]!.split(':') as [string, string];
    const proxy = new BrokerProxy({ host, port: Number(port) });
    await proxy.open(); // to learn a port, then closed: Kafka is "missing" there
    await proxy.close();
    const httpPort = await freePort();
    const config = testConfig({
      applicationId: base.applicationId,
      topics: base.topics,
      scorer: base.scorer,
      kafka: { brokers: [`127.0.0.1:${proxy.port}`], connectWaitMs: 1000, connectionTimeoutMs: 1000 },
      http: { host: '127.0.0.1', port: httpPort },
    });
    const starting = startScorer(config, { log: createLogger({ level: 'silent' }) });
    cleanup.push(async () => (await starting).stop());
    const url = `http://127.0.0.1:${httpPort}`;
    await eventually(async () => ((await fetch(`${url}/healthz`)).status === 200 ? true : undefined), 30_000, '/healthz');
    // Three times kafka.connectWaitMs, after which the scorer used to exit: still live, not ready.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(JSON.stringify(await readyz.json())).toContain('waiting for Kafka');

    await proxy.open(); // Kafka answers
    const scorer = await starting;
    await eventually(() => (scorer.isReady() ? true : undefined), 60_000, 'ready once Kafka answers');
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('a schema registry that hangs: calls time out, nothing is dead-lettered, the scorer stays in its group and resumes by itself', async () => {
    // A session shorter than the freeze: a scorer blocked on the registry without heartbeats is evicted.
    const config = testConfig({ schemaRegistry: { timeoutMs: 1000 }, scorer: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 } });
    await prepareTopics(config);
    const registry = new URL(config.schemaRegistry.url);
    const proxy = new FreezingProxy({ host: registry.hostname, port: Number(registry.port) });
    await proxy.open();
    cleanup.push(() => proxy.close());
    const scorerConfig = { ...config, schemaRegistry: { ...config.schemaRegistry, url: `http://127.0.0.1:${proxy.port}${registry.pathname}` } } as Config;
    const scorer = await startTestScorer(scorerConfig);
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
    proxy.freeze();

    const producer = createKafka(config).producer({ idempotent: true });
    await producer.connect();
    cleanup.push(() => producer.disconnect());
    const attacks = [4, 4, 4].map((points, i) => ({ ...mkAttack({ user: 'frozen', at: Date.now() - 60_000 + i, points }), tenant: 't1' }));
    await producer.send({
      topic: config.topics.attacks,
      messages: await Promise.all(attacks.map(async (a) => ({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subjectFor(config.topics.attacks), a) }))),
    });
    await new Promise((r) => setTimeout(r, 10_000)); // several registry timeouts, longer than the session
    expect(alerts.records).toEqual([]);
    expect(dlq.records).toEqual([]);
    const admin = createKafka(config).admin();
    await admin.connect();
    cleanup.push(() => admin.disconnect());
    const [group] = (await admin.describeGroups([`${config.applicationId}-scorer`])).groups;
    expect(group!.members).toHaveLength(1); // still in its group (heartbeating through the outage)
    expect(group!.state).toBe('Stable');

    proxy.thaw();
    const got = await eventually(() => (alerts.records.length ? alerts.records : undefined), 90_000, 'the alert after the registry answers again');
    expect(got[0]!.value.user.key).toBe('frozen');
    expect(got[0]!.value.increase_24h).toBe(12);
    expect(dlq.records).toEqual([]);
  });
});
