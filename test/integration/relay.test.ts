import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '@risk-hub/agent';
import type { Config } from '../../src/config/schema.ts';
import type { Attack, Decision } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { AvroSerde } from '../../src/kafka/serde.ts';
import { createLogger } from '../../src/log.ts';
import { startRelay, type RelayHandle } from '../../src/relay/server.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { readAttacks, type ReadRecord } from '../agent/kafka-helpers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

// The relay in-process against the real broker and registry, beside the Node agent fed the same
// traffic through a real Express app (each on its own topics, each with its own scorer): the attacks
// records (key, partition, type, severity, user, request) and the scorer's alerts are equal. Then the
// decisions topic shows in GET /v1/decisions, and bad tokens and oversized bodies are refused.

const APP = 'shop';
const ENV = 'production';
const TOKEN = 'relay-it-token-0123456789';
const UA = 'it-agent/1.0';
const USER = 'u-1001';
const SQLI = "' OR 1=1--";

let relayConfig: Config;
let nodeConfig: Config;
let relay: RelayHandle;
let base: string;
let nodeAgent: Agent;
let nodeApp: Server;
let nodeUrl: string;
let relayAttacks: { records: ReadRecord[]; stop: () => Promise<void> };
let nodeAttacks: { records: ReadRecord[]; stop: () => Promise<void> };
const scorers: ScorerHandle[] = [];
const readers: Array<TopicReader<RiskAlert>> = [];

/** The Node agent's reference app: identifies `x-user`, reports failed logins and a custom event. */
async function startNodeApp(agent: Agent): Promise<Server> {
  const app = express();
  app.use(express.json());
  app.use(agent.expressMiddleware());
  app.use((req, _res, next) => {
    const user = req.header('x-user');
    if (user) agent.identify(req, user);
    next();
  });
  app.post('/login', (req, res) => {
    agent.trackAuth(false, (req.body as { username: string }).username, req);
    res.status(401).json({ error: 'bad credentials' });
  });
  app.post('/fraud', (req, res) => {
    agent.report({ type: 'payment_fraud', severity: 'HIGH', user: req.header('x-user')!, points: null });
    res.json({ ok: true });
  });
  app.use((_req, res) => void res.json({ ok: true }));
  return new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
}

beforeAll(async () => {
  relayConfig = testConfig({ relay: { port: 0, applications: { [APP]: { tokenEnv: 'RELAY_IT_TOKEN', environments: [ENV] } } } });
  nodeConfig = testConfig();
  await prepareTopics(relayConfig);
  await prepareTopics(nodeConfig);
  relay = await startRelay({ config: relayConfig, log: createLogger({ level: 'warn', name: 'relay' }), env: { RELAY_IT_TOKEN: TOKEN } });
  base = `http://127.0.0.1:${relay.port}`;
  nodeAgent = createAgent({
    application: APP,
    environment: ENV,
    brokers: nodeConfig.kafka.brokers,
    schemaRegistry: nodeConfig.schemaRegistry.url,
    topic: nodeConfig.topics.attacks,
    decisions: { enabled: false },
    lingerMs: 20,
    logger: null,
  });
  nodeApp = await startNodeApp(nodeAgent);
  nodeUrl = `http://127.0.0.1:${(nodeApp.address() as AddressInfo).port}`;
  relayAttacks = await readAttacks(relayConfig);
  nodeAttacks = await readAttacks(nodeConfig);
  for (const c of [relayConfig, nodeConfig]) {
    scorers.push(await startTestScorer(c));
    const r = new TopicReader<RiskAlert>(c, c.topics.alerts, 'alert');
    readers.push(await r.start());
  }
});

afterAll(async () => {
  await relay?.close(5000);
  nodeApp?.close();
  await nodeAgent?.close({ timeoutMs: 5000 });
  await relayAttacks?.stop();
  await nodeAttacks?.stop();
  for (const r of readers) await r.stop();
  for (const s of scorers) await s.stop();
});

async function postEvents(events: unknown[], token = TOKEN, application = APP): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agent: { name: 'risk-hub-it', version: '0', language: 'test' }, application_id: application, environment: ENV, events }),
  });
  return { status: res.status, body: await res.json() };
}

/** What a record says, without what differs by construction (event id, time). */
function comparable(r: ReadRecord): unknown {
  const { event_id: _id, occurred_at: _at, ...rest } = r.value as Attack;
  return { key: r.key, partition: r.partition, ...rest };
}
const order = (a: unknown, b: unknown): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

describe('relay → real Kafka, the same records and scores as the Node agent', () => {
  it('an SQL injection, a burst of 10 failed logins and a custom event give the Node agent\'s records, and equal alerts', async () => {
    // the Node agent: real HTTP to its Express app
    const h = { 'user-agent': UA, 'x-user': USER };
    await (await fetch(`${nodeUrl}/search?q=${encodeURIComponent(SQLI)}`, { headers: h })).arrayBuffer();
    for (let i = 0; i < 10; i++) {
      await (await fetch(`${nodeUrl}/login`, { method: 'POST', headers: { 'user-agent': UA, 'content-type': 'application/json' }, body: JSON.stringify({ username: USER }) })).arrayBuffer();
    }
    await (await fetch(`${nodeUrl}/fraud`, { method: 'POST', headers: h })).arrayBuffer();
    // a thin agent: the same traffic as relay events
    const now = Date.now();
    // the request target as it went on the wire (fetch percent-encodes the quote encodeURIComponent leaves)
    const target = new URL(`/search?q=${encodeURIComponent(SQLI)}`, 'http://x');
    const events = [
      { kind: 'request', id: 'it-req-1', at: now, user: { key: USER, identifiers: {} }, request: { method: 'GET', uri: target.pathname + target.search, ip: '127.0.0.1', headers: { 'user-agent': UA }, query: { q: [SQLI] } } },
      ...Array.from({ length: 10 }, (_, i) => ({ kind: 'login', id: `it-login-${i}`, at: now + i, success: false, user: { key: USER, identifiers: {} }, request: { method: 'POST', uri: '/login', ip: '127.0.0.1', headers: { 'user-agent': UA } } })),
      { kind: 'custom', id: 'it-custom-1', at: now + 20, user: { key: USER, identifiers: {} }, type: 'payment_fraud', severity: 'HIGH', points: null },
    ];
    expect(await postEvents(events)).toEqual({ status: 202, body: { accepted: 12, rejected: 0, detections: 1 } });

    // 1 + 10 + 2 (MEDIUM at 5, HIGH at 10) + 1
    const fromRelay = await eventually(() => (relayAttacks.records.length >= 14 ? relayAttacks.records : undefined), 60_000, '14 relay records');
    const fromNode = await eventually(() => (nodeAttacks.records.length >= 14 ? nodeAttacks.records : undefined), 60_000, '14 Node agent records');
    expect(fromRelay.map(comparable).sort(order)).toEqual(fromNode.map(comparable).sort(order));
    const key = `${APP}/${ENV}/${USER}`;
    for (const r of fromRelay) expect([r.key, r.partition]).toEqual([key, partitionFor(key, 6)]);
    expect(fromRelay.map((r) => `${r.value.attack_type}:${r.value.severity}`).sort()).toEqual(
      ['sql_injection:HIGH', 'payment_fraud:HIGH', 'credential_stuffing:MEDIUM', 'credential_stuffing:HIGH', ...Array.from({ length: 10 }, () => 'auth_failure:LOW')].sort(),
    );
    expect(fromRelay.find((r) => r.value.attack_type === 'sql_injection')!.value.event_id).toBe('it-req-1');

    // the scorers see the same user: the same alerts (user, tier, threshold). Not the increase at the
    // crossing: that depends on which event crosses, and the Node agent produces a watched request's
    // detection after its turn's batch, so its order among the logins varies from run to run; the
    // records (equal above) make the scores equal.
    const alertsOf = async (i: number) => (await readers[i]!.settle(3000)).map((a) => a.value).map((a) => ({ user: a.user.key, tier: a.tier, threshold: a.threshold }));
    const relayAlerts = await eventually(async () => ((await alertsOf(0)).length > 0 ? alertsOf(0) : undefined), 60_000, 'a relay alert');
    const nodeAlerts = await eventually(async () => ((await alertsOf(1)).length >= relayAlerts.length ? alertsOf(1) : undefined), 60_000, 'the Node agent alerts');
    expect(relayAlerts.sort(order)).toEqual(nodeAlerts.sort(order));
    expect(relayAlerts.length).toBeGreaterThan(0);
  });

  it('decisions on the decisions topic show in GET /v1/decisions (ETag, 304)', async () => {
    const serde = new AvroSerde(relayConfig);
    const producer = createKafka(relayConfig, { clientId: 'relay-it' }).producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    const auth = { authorization: `Bearer ${TOKEN}` };
    const first = await fetch(`${base}/v1/decisions?environment=${ENV}`, { headers: auth });
    const before = (await first.json()) as { version: string };
    const until = Date.now() + 3_600_000;
    const d: Decision = {
      decision_id: 'it-decision-1', application_id: APP, environment: ENV, user: { key: 'u-2002', identifiers: {} }, action: 'BLOCK', source: 'MANUAL',
      reason: 'relay integration test', alert_id: null, tier: null, made_by: 'tester', made_at: Date.now(), until, offense: 1, simulated: false, lifts: null,
    };
    await producer.send({ topic: relayConfig.topics.decisions, acks: -1, messages: [{ key: `${APP}/${ENV}/u-2002`, value: await serde.encode(`${relayConfig.topics.decisions}-value`, d) }] });
    await producer.disconnect();
    const body = await eventually(async () => {
      const res = await fetch(`${base}/v1/decisions?environment=${ENV}`, { headers: { ...auth, 'if-none-match': `"${before.version}"` } });
      return res.status === 200 ? ((await res.json()) as { version: string; decisions: unknown[] }) : undefined;
    }, 60_000, 'the decision served');
    expect(body.decisions).toEqual([{ user_key: 'u-2002', action: 'BLOCK', until, reason: 'relay integration test', decision_id: 'it-decision-1', simulated: false }]);
    const again = await fetch(`${base}/v1/decisions?environment=${ENV}`, { headers: { ...auth, 'if-none-match': `"${body.version}"` } });
    expect(again.status).toBe(304);
  });

  it('refuses bad tokens (401), another application (403) and oversized bodies (413)', async () => {
    expect((await postEvents([], 'not-the-token')).status).toBe(401);
    expect((await postEvents([], TOKEN, 'another-app')).status).toBe(403);
    const big = await fetch(`${base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: Buffer.alloc(2 * 1024 * 1024, 0x20) });
    expect(big.status).toBe(413);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
