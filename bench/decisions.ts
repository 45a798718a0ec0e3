import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { createAgent } from '@risk-hub/agent';
import type { Attack } from '../src/contracts.ts';
import { userKey } from '../src/contracts.ts';
import { createKafka } from '../src/kafka/client.ts';
import { registerSchemas } from '../src/kafka/schemas.ts';
import { AvroSerde, subjectFor } from '../src/kafka/serde.ts';
import { applyTopology } from '../src/kafka/topology.ts';
import { benchConfig, machine, percentile, removeBenchData, sleep } from './lib.ts';

// Alert committed → the agent enforcing it (issue 15 "Speed"), on the local stack: the scorer as its own
// process with a policy blocking at tier 1, a Node.js agent following the decisions topic, and users
// made to cross the tier one after another (BENCH_USERS, default 200, one every BENCH_GAP_MS = 50 ms).
// For each user: the alert record's timestamp (set when the scorer sent it, inside the transaction: the
// commit comes after, so the figure errs high) to the first moment agent.decisionFor(user) says BLOCK
// (checked every millisecond). Also attack sent → enforced, the whole loop an application sees.

const USERS = Number(process.env.BENCH_USERS ?? 200);
const GAP_MS = Number(process.env.BENCH_GAP_MS ?? 50);
const APP = 'bench-shop';
const ENV = 'production';

const config = await benchConfig({ decisions: { rules: [{ tier: 1, action: 'block', durations: ['15m'] }] }, scorer: { storeFlushIntervalMs: 5000 } });
await applyTopology(config);
await registerSchemas(config);
const dir = join(dirname(config.scorer.stateDir), 'run');
mkdirSync(dir, { recursive: true });
const file = join(dir, 'scorer.yaml');
writeFileSync(file, stringify({ ...JSON.parse(JSON.stringify(config)), http: { host: '127.0.0.1', port: 0 } }));
const scorer = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', file, 'scorer'], { stdio: 'ignore', env: { ...process.env, RISK_HUB_CONFIG: '' } });

const agent = createAgent({ application: APP, environment: ENV, brokers: config.kafka.brokers, schemaRegistry: config.schemaRegistry.url, topic: config.topics.attacks, decisions: { topic: config.topics.decisions }, detect: false, logger: null });
const kafka = createKafka(config);
const producer = kafka.producer({ idempotent: true });
await producer.connect();
const serde = new AvroSerde(config);
// The alerts' timestamps, by user key (read_committed: only committed alerts).
const alertAt = new Map<string, number>();
const alerts = kafka.consumer({ groupId: `${config.applicationId}-bench-alerts`, readUncommitted: false, maxWaitTimeInMs: 50 });
await alerts.connect();
await alerts.subscribe({ topic: config.topics.alerts, fromBeginning: true });
await alerts.run({ eachMessage: async ({ message }) => void alertAt.set(message.key!.toString(), Number(message.timestamp)) });

const attack = (user: string, i: number): Attack => ({
  event_id: `${user}-${i}`,
  occurred_at: Date.now(),
  application_id: APP,
  environment: ENV,
  user: { key: user, identifiers: {} },
  attack_type: 'sql_injection',
  severity: 'HIGH',
  points: null,
  blocked: false,
  request: null,
  agent: { name: 'bench', version: '0', language: 'node' },
});
async function send(user: string): Promise<number> {
  const messages = await Promise.all([0, 1].map(async (i) => ({ key: userKey(APP, ENV, user), value: await serde.encode(subjectFor(config.topics.attacks), attack(user, i)) })));
  const at = Date.now();
  await producer.send({ topic: config.topics.attacks, acks: -1, messages });
  return at;
}

// Warm up: one user through the whole loop (the scorer's partitions assigned, the agent caught up).
const warm = 'warm-up';
await send(warm);
for (let i = 0; i < 60_000 && agent.decisionFor(warm) === null; i += 10) await sleep(10);
if (agent.decisionFor(warm) === null) throw new Error('the warm-up user was never enforced: is the scorer running?');

const sentAt = new Map<string, number>();
const enforcedAt = new Map<string, number>();
const pending = new Set<string>();
const poll = setInterval(() => {
  const now = Date.now();
  for (const u of pending) {
    if (agent.decisionFor(u)?.action === 'BLOCK') {
      enforcedAt.set(u, now);
      pending.delete(u);
    }
  }
}, 1);
for (let i = 0; i < USERS; i++) {
  const u = `user-${i}`;
  pending.add(u);
  sentAt.set(u, await send(u));
  await sleep(GAP_MS);
}
for (let i = 0; i < 600 && pending.size; i++) await sleep(100);
clearInterval(poll);
for (let i = 0; i < 100 && [...enforcedAt.keys()].some((u) => !alertAt.has(userKey(APP, ENV, u))); i++) await sleep(100);

const alertToEnforced: number[] = [];
const attackToEnforced: number[] = [];
for (const [u, t] of enforcedAt) {
  const a = alertAt.get(userKey(APP, ENV, u));
  if (a !== undefined) alertToEnforced.push(t - a);
  attackToEnforced.push(t - sentAt.get(u)!);
}
const fmt = (v: number[]) => `p50 ${percentile(v, 50)} ms · p99 ${percentile(v, 99)} ms · max ${Math.max(...v)} ms`;
console.log(`decisions: ${machine()}; ${USERS} users, one every ${GAP_MS} ms; enforced ${enforcedAt.size}/${USERS}`);
console.log(`| alert committed → agent enforcing | ${fmt(alertToEnforced)} |`);
console.log(`| attack sent → agent enforcing | ${fmt(attackToEnforced)} |`);

await alerts.disconnect();
await producer.disconnect();
await agent.close({ timeoutMs: 5000 });
scorer.kill('SIGTERM');
await new Promise((r) => scorer.once('exit', r));
await removeBenchData(config);
if (enforcedAt.size < USERS) process.exit(1);
