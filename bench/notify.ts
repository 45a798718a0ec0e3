import { randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Config } from '../src/config/schema.ts';
import type { RiskAlert } from '../src/contracts.ts';
import { userKey } from '../src/contracts.ts';
import { createKafka } from '../src/kafka/client.ts';
import { registerSchemas } from '../src/kafka/schemas.ts';
import { AvroSerde, subjectFor } from '../src/kafka/serde.ts';
import { applyTopology } from '../src/kafka/topology.ts';
import { createLogger } from '../src/log.ts';
import { registry } from '../src/metrics/index.ts';
import { laneGroupId } from '../src/notify/consumer.ts';
import { startNotifier } from '../src/notify/service.ts';
import { sampleAlert, startHttpReceiver } from '../test/notify/receivers.ts';
import { benchConfig, machine, removeBenchData } from './lib.ts';

// Notifier benchmark (docs/benchmarks.md, "Notifiers"):
//  1. throughput: deliveries per second to a webhook receiver answering in 10 ms (its own process),
//     backlog of N alerts (users) over 6 partitions, the defaults and the knobs that matter
//     (notify.consumer.maxInFlight, commitIntervalMs); with the ledger records per produce request,
//     offset commits per delivery, CPU per delivery, and a check that no alert was received twice;
//  2. isolation: alerts arrive at a steady rate while the Slack receiver is down (503): Slack's lag
//     grows, the webhook channel's stays near zero; then Slack comes back and catches up.
// Run: node --import tsx bench/notify.ts  (local stack, or KAFKA_BROKERS / SCHEMA_REGISTRY_URL)

const N = Number(process.env.BENCH_ALERTS ?? 5000);
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

interface ReceiverStats {
  requests: number;
  distinct: number;
  connections: number;
}

/** The 10 ms receiver as a child process (bench/webhook-receiver.ts). */
async function startChildReceiver(latencyMs: number): Promise<{ url: string; stats(): Promise<ReceiverStats>; close(): void }> {
  const child = fork(fileURLToPath(new URL('./webhook-receiver.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, LATENCY_MS: String(latencyMs) } });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`webhook receiver exited (${code})`)));
  });
  return {
    url,
    stats: () =>
      new Promise<ReceiverStats>((resolve) => {
        child.once('message', (m) => resolve(m as ReceiverStats));
        child.send('stats');
      }),
    close: () => child.kill(),
  };
}

const sum = (name: string) => (registry.getSingleMetric(name) as { get(): Promise<{ values: Array<{ value: number }> }> } | undefined)?.get().then((m) => m.values.reduce((a, v) => a + v.value, 0)) ?? Promise.resolve(NaN);

export interface ThroughputFigures {
  perSecond: number;
  startS: number;
  /** Ledger records per produce request, offset commits per delivery (NaN where the code has no such metric). */
  recordsPerLedgerWrite: number;
  commitsPerDelivery: number;
  connections: number;
  /** Webhook ids received more than once (must be 0). */
  doubles: number;
  cpuMsPerDelivery: number;
}

/**
 * Deliveries/s of a backlog of N alerts on 6 partitions to one webhook target whose receiver (its own
 * process) answers in 10 ms, from the first delivery to the last; `consumer` overrides notify.consumer.
 */
export async function throughputWith(consumer: Record<string, number>): Promise<ThroughputFigures> {
  const rx = await startChildReceiver(10);
  const config = await benchConfig({
    notify: { egress: { allow: ['127.0.0.1'] }, consumer, webhook: { enabled: true, targets: { siem: { url: rx.url, secretsEnv: 'BENCH_WH' } } } },
  });
  await prepare(config);
  await produce(config, alerts(N));
  const log = createLogger({ level: 'error', name: 'bench' });
  const before = { writes: await sum('risk_hub_notification_ledger_writes_total'), records: await sum('risk_hub_notification_ledger_records_total'), commits: await sum('risk_hub_notification_offset_commits_total') };
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  const n = await startNotifier(config, { channels: ['webhook'], log, env: { BENCH_WH: secret }, http: false });
  const started = Date.now();
  let first = 0;
  let s = await rx.stats();
  while (s.requests < N) {
    if (!first && s.requests) first = Date.now();
    if (Date.now() - started > 600_000) throw new Error(`only ${s.requests}/${N} delivered in 10 minutes`);
    await sleep(20);
    s = await rx.stats();
  }
  const done = Date.now();
  const cpu = process.cpuUsage(cpu0);
  await sleep(1500); // the last offsets committed (interval) before the lane stops
  await n.stop();
  const after = { writes: await sum('risk_hub_notification_ledger_writes_total'), records: await sum('risk_hub_notification_ledger_records_total'), commits: await sum('risk_hub_notification_offset_commits_total') };
  s = await rx.stats();
  rx.close();
  await removeBenchData(config);
  const secs = (done - (first || started)) / 1000;
  return {
    perSecond: N / secs,
    startS: (first - t0) / 1000,
    recordsPerLedgerWrite: (after.records - before.records) / (after.writes - before.writes),
    commitsPerDelivery: (after.commits - before.commits) / N,
    connections: s.connections,
    doubles: s.requests - s.distinct,
    cpuMsPerDelivery: (cpu.user + cpu.system) / 1000 / N,
  };
}

/**
 * The variants measured (notify.consumer overrides), by label; BENCH_NOTIFY_VARIANTS (JSON: label →
 * overrides) replaces them, e.g. '{"defaults":{}}' to run only the defaults (how the A/B against an
 * older checkout is run: its configuration knows none of the newer keys).
 */
const VARIANTS: Record<string, Record<string, number>> = process.env.BENCH_NOTIFY_VARIANTS
  ? (JSON.parse(process.env.BENCH_NOTIFY_VARIANTS) as Record<string, Record<string, number>>)
  : {
      'defaults (maxInFlight 64 per lane, commits every 1 s and per batch)': {},
      'maxInFlight 8': { maxInFlight: 8 },
      'maxInFlight 1, commitIntervalMs 0 (one delivery at a time per lane, a commit per alert: the former defaults)': { maxInFlight: 1, commitIntervalMs: 0 },
    };

export async function throughput(): Promise<Record<string, string | number>> {
  const out: Record<string, string | number> = { 'alerts (backlog, 6 partitions; receiver: own process, 10 ms)': N };
  for (const [label, overrides] of Object.entries(VARIANTS)) {
    const f = await throughputWith(overrides);
    out[`webhook deliveries/s — ${label}`] = f.perSecond.toFixed(0);
    out[`ledger records per produce request / offset commits per delivery — ${label}`] = `${f.recordsPerLedgerWrite.toFixed(1)} / ${f.commitsPerDelivery.toFixed(3)}`;
    out[`notifier CPU ms per delivery (start to last delivery) / receiver connections / doubles — ${label}`] = `${f.cpuMsPerDelivery.toFixed(2)} / ${f.connections} / ${f.doubles}`;
    out[`start to first delivery (s) — ${label}`] = f.startS.toFixed(1);
  }
  return out;
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
  // BENCH_NOTIFY_PARTS=throughput (or isolation) runs one half.
  const parts = (process.env.BENCH_NOTIFY_PARTS ?? 'throughput,isolation').split(',');
  return { ...(parts.includes('throughput') ? await throughput() : {}), ...(parts.includes('isolation') ? await isolation() : {}) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(`# notifier benchmark — ${new Date().toISOString()} — ${machine()}`);
  const figures = await run();
  console.log('\n| figure | value |\n|---|---|');
  for (const [k, v] of Object.entries(figures)) console.log(`| ${k} | ${v} |`);
  process.exit(0);
}
