import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { Decision } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { AvroSerde } from '../../src/kafka/serde.ts';
import { createAgent, type Agent, type AgentOptions } from '@risk-hub/agent';
import { DEMO_PASSWORDS, startExampleApp, type ExampleApp } from '../../examples/express-app/server.ts';
import { BrokerProxy, brokerAddress } from '../agent/kafka-helpers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// The agent enforcing decisions (issue 15 item 4) against the real broker and registry: Decision
// records (Avro, the registered schema) produced to a unique compacted decisions topic, and the example
// Express app, with the agent's riskHubEnforce after its identify middleware, answering real HTTP.

const { Partitioners } = kafkajs;
const APP = 'demo-shop';
const ENV = 'staging';
const USERS = { alice: 'u-1001', bob: 'u-1002', carol: 'u-1003' } as const;

let config: Config;
let serde: AvroSerde;
let producer: kafkajs.Producer;
let agent: Agent;
let app: ExampleApp;
const tokens: Record<string, string> = {};
let seq = 0;

function agentOptions(over: Partial<AgentOptions> = {}): AgentOptions {
  return {
    application: APP,
    environment: ENV,
    brokers: config.kafka.brokers,
    schemaRegistry: config.schemaRegistry.url,
    topic: config.topics.attacks,
    decisions: { topic: config.topics.decisions },
    detect: false,
    lingerMs: 20,
    logger: null,
    ...over,
  };
}

function decision(user: string, over: Partial<Decision> = {}): Decision {
  seq++;
  return {
    decision_id: `it-${seq}`,
    application_id: APP,
    environment: ENV,
    user: { key: user, identifiers: {} },
    action: 'BLOCK',
    source: 'MANUAL',
    reason: 'integration test',
    alert_id: null,
    tier: null,
    made_by: 'tester',
    made_at: Date.now(),
    until: Date.now() + 3_600_000,
    offense: 1,
    simulated: false,
    lifts: null,
    ...over,
  };
}

/** Produces records to the decisions topic, keyed like the user (murmur2 partition, as the scorer does). */
async function produce(...records: Array<{ user: string; value: Decision | Buffer | null; app?: string }>): Promise<void> {
  const messages = [];
  for (const r of records) {
    const value = r.value === null || Buffer.isBuffer(r.value) ? r.value : await serde.encode(`${config.topics.decisions}-value`, r.value);
    messages.push({ key: `${r.app ?? APP}/${ENV}/${r.user}`, value });
  }
  await producer.send({ topic: config.topics.decisions, acks: -1, messages });
}

async function login(a: ExampleApp, username: keyof typeof USERS): Promise<string> {
  const res = await fetch(`${a.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: DEMO_PASSWORDS[username] }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** The status of a search request of `who` (a signed-in demo user) or an anonymous visitor. */
async function status(a: ExampleApp, who: keyof typeof USERS | null): Promise<number> {
  const headers: Record<string, string> = who ? { authorization: `Bearer ${tokens[who]}` } : {};
  return (await fetch(`${a.url}/search?q=socks`, { headers })).status;
}

/** Records of this application the agent has applied so far. */
const appliedSoFar = (a: Agent): number => a.stats().decisions?.applied ?? 0;

/** Waits until the agent has applied `target` records of this application (read the count BEFORE producing). */
function applied(a: Agent, target: number): Promise<number> {
  return eventually(() => (appliedSoFar(a) >= target ? target : undefined), 60_000, `${target} decision records applied`);
}

beforeAll(async () => {
  config = testConfig();
  await prepareTopics(config);
  serde = new AvroSerde(config);
  producer = createKafka(config, { clientId: 'agent-decisions-it' }).producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
  await producer.connect();
  agent = createAgent(agentOptions());
  app = await startExampleApp({ agent });
  for (const name of Object.keys(USERS) as Array<keyof typeof USERS>) tokens[name] = await login(app, name);
});

afterAll(async () => {
  await app?.close();
  await agent?.close({ timeoutMs: 5000 });
  await producer?.disconnect();
});

describe('the agent enforces decisions from the real decisions topic', () => {
  it('a BLOCK refuses that user with 403 while other users and anonymous visitors are served; a LIFT lets them in', async () => {
    expect(await status(app, 'alice')).toBe(200);
    await produce({ user: USERS.alice, value: decision(USERS.alice) }, { user: USERS.bob, value: decision(USERS.bob, { application_id: 'other-shop' }), app: 'other-shop' });
    await eventually(async () => ((await status(app, 'alice')) === 403 ? true : undefined), 60_000, 'alice refused');
    const refused = await fetch(`${app.url}/search?q=socks`, { headers: { authorization: `Bearer ${tokens.alice}` } });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: 'forbidden', message: 'Access denied.' });
    expect(await status(app, 'bob')).toBe(200); // another application's decision about the same user key
    expect(await status(app, 'carol')).toBe(200);
    expect(await status(app, null)).toBe(200);

    const blocked = agent.decisionFor(USERS.alice)!;
    await produce({ user: USERS.alice, value: decision(USERS.alice, { action: 'LIFT', lifts: blocked.decision_id }) });
    await eventually(async () => ((await status(app, 'alice')) === 200 ? true : undefined), 60_000, 'alice let in');
    expect(agent.stats().enforced.block).toBeGreaterThanOrEqual(2);
    expect(agent.stats().decisions).toMatchObject({ topic: config.topics.decisions, consuming: true, undecodable: 0 });
  });

  it('an expired decision stops being enforced; a simulated one never refuses; a tombstone removes a block', async () => {
    const base = appliedSoFar(agent);
    await produce({ user: USERS.bob, value: decision(USERS.bob, { until: Date.now() + 4000 }) }, { user: USERS.carol, value: decision(USERS.carol, { simulated: true }) });
    await applied(agent, base + 2);
    expect(agent.decisionFor(USERS.carol)).toMatchObject({ action: 'MONITOR', simulated: true, simulatedAction: 'BLOCK' });
    expect(await status(app, 'carol')).toBe(200);
    // bob: refused while it holds, served once `until` has passed (the loop is bounded by eventually)
    if (agent.decisionFor(USERS.bob) !== null) expect(await status(app, 'bob')).toBe(403);
    await eventually(async () => ((await status(app, 'bob')) === 200 ? true : undefined), 60_000, 'bob served after expiry');
    expect(agent.decisionFor(USERS.bob)).toBeNull();

    await produce({ user: USERS.bob, value: decision(USERS.bob) });
    await eventually(async () => ((await status(app, 'bob')) === 403 ? true : undefined), 60_000, 'bob refused');
    await produce({ user: USERS.bob, value: null });
    await eventually(async () => ((await status(app, 'bob')) === 200 ? true : undefined), 60_000, 'bob served after the tombstone');
    expect(agent.stats().enforced.simulated).toBeGreaterThanOrEqual(1);
  });

  it('a record that does not decode blocks nobody: counted, and no decision for its key', async () => {
    await produce({ user: USERS.carol, value: decision(USERS.carol) });
    await eventually(async () => ((await status(app, 'carol')) === 403 ? true : undefined), 60_000, 'carol refused');
    const before = agent.stats().decisions!.undecodable;
    await produce({ user: USERS.carol, value: Buffer.from('definitely not avro') }, { user: USERS.bob, value: Buffer.from([0, 0, 0, 0, 1, 255, 255]) });
    await eventually(() => (agent.stats().decisions!.undecodable >= before + 2 ? true : undefined), 60_000, '2 undecodable records');
    expect(await status(app, 'carol')).toBe(200);
    expect(await status(app, 'bob')).toBe(200);
  });

  it('a restarted agent rebuilds its decisions from the topic', async () => {
    await produce({ user: USERS.alice, value: decision(USERS.alice) });
    await eventually(async () => ((await status(app, 'alice')) === 403 ? true : undefined), 60_000, 'alice refused');
    await app.close();
    await agent.close({ timeoutMs: 5000 });

    agent = createAgent(agentOptions());
    app = await startExampleApp({ agent });
    for (const name of Object.keys(USERS) as Array<keyof typeof USERS>) tokens[name] = await login(app, name);
    await eventually(async () => ((await status(app, 'alice')) === 403 ? true : undefined), 60_000, 'alice refused after the restart');
    expect(await status(app, 'bob')).toBe(200);
    expect(await status(app, 'carol')).toBe(200); // its latest record is the undecodable one
    expect(agent.decisionFor(USERS.carol)).toBeNull();
  });

  it('cut off from the broker, an agent keeps enforcing the decisions it has', async () => {
    await produce({ user: USERS.alice, value: decision(USERS.alice) });
    const proxy = new BrokerProxy(brokerAddress(config));
    await proxy.open();
    const cut = createAgent(agentOptions({ socketFactory: proxy.socketFactory, connectionTimeoutMs: 1000, requestTimeoutMs: 3000 }));
    const cutApp = await startExampleApp({ agent: cut });
    try {
      const alice = await login(cutApp, 'alice');
      const asAlice = { authorization: `Bearer ${alice}` };
      await eventually(async () => ((await fetch(`${cutApp.url}/search?q=x`, { headers: asAlice })).status === 403 ? true : undefined), 60_000, 'alice refused');
      await proxy.close(); // the broker is gone for this agent only
      await produce({ user: USERS.alice, value: decision(USERS.alice, { action: 'LIFT' }) });
      await eventually(async () => ((await status(app, 'alice')) === 200 ? true : undefined), 60_000, 'the connected agent lets alice in');
      for (let i = 0; i < 5; i++) expect((await fetch(`${cutApp.url}/search?q=x`, { headers: asAlice })).status).toBe(403);
    } finally {
      await cutApp.close();
      await cut.close({ timeoutMs: 2000 });
      await proxy.close();
    }
  });
});
