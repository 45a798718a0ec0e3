import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Config } from '../src/config/schema.ts';
import type { RiskAlert } from '../src/contracts.ts';
import { userKey } from '../src/contracts.ts';
import { createKafka } from '../src/kafka/client.ts';
import { registerSchemas } from '../src/kafka/schemas.ts';
import { AvroSerde, subjectFor } from '../src/kafka/serde.ts';
import { applyTopology } from '../src/kafka/topology.ts';
import { createLogger } from '../src/log.ts';
import { laneGroupId } from '../src/notify/consumer.ts';
import { startNotifier } from '../src/notify/service.ts';
import { sampleAlert, startHttpReceiver } from '../test/notify/receivers.ts';
import { benchConfig, machine, removeBenchData } from './lib.ts';

// Notifier benchmark (docs/benchmarks.md, "Notifiers"):
//  1. throughput: deliveries per second to a local webhook receiver answering in 10 ms, backlog of
//     N alerts over 6 partitions, default consumer settings (4 partitions handled concurrently, each
//     alert: sign → POST → ledger write (acks=all) → offset commit);
//  2. isolation: alerts arrive at a steady rate while the Slack receiver is down (503): Slack's lag
//     grows, the webhook channel's stays near zero; then Slack comes back and catches up.
// Run: node --import tsx bench/notify.ts  (local stack, or KAFKA_BROKERS / SCHEMA_REGISTRY_URL)

const N = Number(process.env.BENCH_ALERTS ?? 2000);
const RATE = Number(process.env.BENCH_RATE ?? 20);
const DOWN_S = Number(process.env.BENCH_DOWN_S ?? 30);
const secret = 'whsec_' + randomBytes(32).toString('base64');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alerts(n: number): RiskAlert[] {
  return Array.from({ length: n }, (_, i) => sampleAlert({ alert_id: `bench-${randomBytes(8).toString('hex')}`, user: { key: `user-${i}`, identifiers: {} }, triggered_at: Date.now() }));
}

async function produce(config: Config, list: RiskAlert[]): Promise<void> {
  const producer = createKafka(config).producer({ idempotent: true });
  const serde = new AvroSerde(config);
  await producer.connect();
  const messages = await Promise.all(list.map(async (a) => ({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subjectFor(config.topics.alerts), a) })));
  for (let i = 0; i < messages.length; i += 500) await producer.send({ topic: config.topics.alerts, acks: -1, messages: messages.slice(i, i + 500) });
  await producer.disconnect();
}

async function lagOf(config: Config, groupId: string): Promise<number> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const ends = await admin.fetchTopicOffsets(config.topics.alerts);
    const committed = await admin.fetchOffsets({ groupId, topics: [config.topics.alerts] });
    let lag = 0n;
    for (const e of ends) {
      const off = BigInt(committed[0]?.partitions.find((x) => x.partition === e.partition)?.offset ?? '-1');
      lag += BigInt(e.high) - (off >= 0n ? off : BigInt(e.low));
    }
    return Number(lag);
  } finally {
    await admin.disconnect();
  }
}

async function prepare(config: Config): Promise<void> {
  await applyTopology(config);
  await registerSchemas(config);
}

export async function throughputWith(consumer: Record<string, number>): Promise<{ perSecond: number; startS: number }> {
  const rx = await startHttpReceiver({ latencyMs: 10 });
  const config = await benchConfig({
    notify: { egress: { allow: ['127.0.0.1'] }, consumer, webhook: { enabled: true, targets: { siem: { url: rx.url, secretsEnv: 'BENCH_WH' } } } },
  });
  await prepare(config);
  await produce(config, alerts(N));
  const log = createLogger({ level: 'warn', name: 'bench' });
  const t0 = Date.now();
  const n = await startNotifier(config, { channels: ['webhook'], log, env: { BENCH_WH: secret }, http: false });
  const started = Date.now();
  let first = 0;
  while (rx.requests.length < N) {
    if (!first && rx.requests.length) first = Date.now();
    if (Date.now() - started > 600_000) throw new Error(`only ${rx.requests.length}/${N} delivered in 10 minutes`);
    await sleep(50);
  }
  const done = Date.now();
  await n.stop();
  await rx.close();
  await removeBenchData(config);
  const secs = (done - (first || started)) / 1000;
  return { perSecond: N / secs, startS: (first - t0) / 1000 };
}

export async function throughput(): Promise<Record<string, string | number>> {
  const each = await throughputWith({});
  const interval = await throughputWith({ commitIntervalMs: 1000 });
  const one = await throughputWith({ partitionsConsumedConcurrently: 1 });
  return {
    'alerts (backlog, 6 partitions)': N,
    'notifier start to first delivery (s)': each.startS.toFixed(1),
    'webhook deliveries/s, 10 ms receiver (defaults: 6 partitions at once, commit per alert)': each.perSecond.toFixed(0),
    'same, commitIntervalMs 1000': interval.perSecond.toFixed(0),
    'same, 1 partition at a time (per-partition ceiling)': one.perSecond.toFixed(0),
  };
}

export async function isolation(): Promise<Record<string, string | number>> {
  const hook = await startHttpReceiver({ latencyMs: 10 });
  const slack = await startHttpReceiver({ script: [{ status: 503 }] });
  const config = await benchConfig({
    notify: {
      egress: { allow: ['127.0.0.1'] },
      retry: { budgetMs: 10_000, initialDelayMs: 500, maxDelayMs: 5000 },
      consumer: { lagIntervalMs: 1000 },
      slack: { enabled: true, targets: { secops: { urlEnv: 'BENCH_SLACK' } } },
      webhook: { enabled: true, targets: { siem: { url: hook.url, secretsEnv: 'BENCH_WH' } } },
    },
  });
  await prepare(config);
  const log = createLogger({ level: 'error', name: 'bench' });
  const n = await startNotifier(config, { channels: ['slack', 'webhook'], log, env: { BENCH_WH: secret, BENCH_SLACK: slack.url }, http: false });
  for (const t = Date.now(); !n.isReady(); await sleep(100)) if (Date.now() - t > 60_000) throw new Error('notifier groups did not join within 60 s');
  const samples: Array<{ t: number; slack: number; webhook: number }> = [];
  const t0 = Date.now();
  for (let s = 0; s < DOWN_S; s++) {
    await produce(config, alerts(RATE));
    await sleep(Math.max(0, t0 + (s + 1) * 1000 - Date.now()));
    samples.push({ t: s + 1, slack: await lagOf(config, laneGroupId(config, 'slack', 'secops')), webhook: await lagOf(config, laneGroupId(config, 'webhook', 'siem')) });
  }
  slack.script({ status: 200 });
  const up = Date.now();
  let caughtUp = NaN;
  while (Date.now() - up < 300_000) {
    if ((await lagOf(config, laneGroupId(config, 'slack', 'secops'))) === 0) {
      caughtUp = (Date.now() - up) / 1000;
      break;
    }
    await sleep(250);
  }
  await n.stop();
  await Promise.all([hook.close(), slack.close()]);
  await removeBenchData(config);
  const maxWebhook = Math.max(...samples.map((x) => x.webhook));
  const last = samples.at(-1)!;
  return {
    'alert rate while Slack is down': `${RATE}/s for ${DOWN_S} s (${RATE * DOWN_S} alerts)`,
    'Slack lag after the outage (alerts)': last.slack,
    'webhook lag, max during the outage (alerts)': maxWebhook,
    'webhook deliveries during the outage': hook.requests.length,
    'Slack catch-up after recovery (s)': Number.isNaN(caughtUp) ? 'not within 300 s' : caughtUp.toFixed(1),
    'lag samples (s: slack/webhook)': samples.filter((x) => x.t % 5 === 0).map((x) => `${x.t}: ${x.slack}/${x.webhook}`).join(', '),
  };
}

export async function run(): Promise<Record<string, string | number>> {
  return { ...(await throughput()), ...(await isolation()) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(`# notifier benchmark — ${new Date().toISOString()} — ${machine()}`);
  const figures = await run();
  console.log('\n| figure | value |\n|---|---|');
  for (const [k, v] of Object.entries(figures)) console.log(`| ${k} | ${v} |`);
  process.exit(0);
}
