import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { stringify } from 'yaml';
import { changelogTopic, type Config } from '../src/config/schema.ts';
import type { Attack, RiskAlert } from '../src/contracts.ts';
import { userKey, SEVERITIES } from '../src/contracts.ts';
import { createKafka } from '../src/kafka/client.ts';
import { scorerCommittedTotal } from '../src/kafka/offsets.ts';
import { registerSchemas } from '../src/kafka/schemas.ts';
import { AvroSerde, readerType, subjectFor } from '../src/kafka/serde.ts';
import { applyTopology } from '../src/kafka/topology.ts';
import { benchConfig, cpuSeconds, localBrokerPid, machine, peakRssMiB, percentile, removeBenchData, sleep } from './lib.ts';

// Scorer benchmark (issue 3): on the local broker, N pre-produced attacks over U users.
//   raw      a plain kafkajs eachBatch loop over the same topic (records/s)
//   scorer   the exactly-once scorer in its own process (records/s, ratio to raw, peak RSS)
//   restore  the scorer again with its state directory deleted (changelog records/s)
//   latency  attack produced → alert committed (p50/p99) at half the scorer's maximum rate
// BENCH_EVENTS and BENCH_USERS scale it down for a quick look; BENCH_DISTRIBUTION=uniform|skewed picks
// how attacks spread over the users (below); BENCH_THROUGHPUT_ONLY=1 stops after the
// scorer's throughput (no latency or restore phase); BENCH_CPU_PROF=<dir> profiles the scorer process;
// BENCH_SCORER_TSX=1 runs the scorer from src/ under tsx instead of the production build;
// BENCH_LATENCY_RATE=<events/s> sets the latency phase's load (default: half the measured maximum);
// BENCH_KEEP=1 keeps the run's topics and state directories (deleted at the end otherwise);
// BENCH_SCORER_FLAGS="--trace-gc …" passes more Node.js flags to the scorer (its output goes to the log
// beside the bench's config); BENCH_SCORER_INSTANCES=<k> runs the throughput phase with k scorer processes
// in one group (each its own state directory and port), as a deployment scales out: one per core; it
// measures throughput only.

const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const INSTANCES = Number(process.env.BENCH_SCORER_INSTANCES ?? 1);
if (!Number.isInteger(INSTANCES) || INSTANCES < 1) throw new Error(`BENCH_SCORER_INSTANCES must be a whole number of at least 1, not ${process.env.BENCH_SCORER_INSTANCES}`);
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
// uniform: every user equally often, a user's events far apart (the worst case: one changelog record
// per event). skewed: user = ⌊USERS·u³⌋ for a uniform u (the 0.1% most active users send 10% of the
// attacks, as scanners and credential stuffers do), from a seeded generator so runs are comparable.
const DISTRIBUTION = process.env.BENCH_DISTRIBUTION ?? 'uniform';
const LAT_USER_OFFSET = Number(process.env.BENCH_LAT_USER_OFFSET ?? 0);
if (DISTRIBUTION !== 'uniform' && DISTRIBUTION !== 'skewed') throw new Error(`BENCH_DISTRIBUTION must be uniform or skewed, not ${DISTRIBUTION}`);
let seed = 0x9e3779b9;
export function userOf(i: number): number {
  if (DISTRIBUTION === 'uniform') return (i * 7919) % USERS;
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  return Math.floor(USERS * u ** 3);
}

export function attack(i: number, user: number, at: number, points: number | null = null): Attack {
  return {
    event_id: `e${i}-${randomUUID()}`,
    occurred_at: at,
    application_id: 'shop',
    environment: 'production',
    user: { key: `user-${user}`, identifiers: {} },
    attack_type: i % 3 ? 'sql_injection' : 'xss',
    severity: SEVERITIES[i % 5]!,
    points,
    blocked: false,
    request: { ip: '198.51.100.7', method: 'GET', path: '/search', user_agent: 'bench' },
    agent: { name: 'bench', version: '0', language: 'node' },
  };
}

export async function produceAll(config: Config): Promise<number> {
  const kafka = createKafka(config);
  const producer = kafka.producer();
  const serde = new AvroSerde(config);
  await producer.connect();
  const subject = subjectFor(config.topics.attacks);
  const t0 = Date.now();
  const start = Date.now() - 12 * 3_600_000;
  const chunk = 5_000;
  for (let i = 0; i < N; i += chunk) {
    const messages = [];
    for (let j = i; j < Math.min(N, i + chunk); j++) {
      const a = attack(j, userOf(j), start + Math.floor((j / N) * 12 * 3_600_000));
      messages.push({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subject, a) });
    }
    await producer.send({ topic: config.topics.attacks, messages, acks: 1 });
  }
  await producer.disconnect();
  return (N / (Date.now() - t0)) * 1000;
}

/**
 * A plain kafkajs eachBatch loop over the topic. With `decode`, it also Avro-decodes every record (what
 * any consumer of `attacks` must do at least): a reference for how much of the scorer's cost is inherent.
 */
export async function rawLoop(config: Config, decode = false, broker?: number): Promise<{ rate: number; cpuUs: number; brokerCpuUs: number }> {
  const serde = new AvroSerde(config);
  const reader = readerType('attack.avsc');
  const consumer = createKafka(config).consumer({ groupId: `${config.applicationId}-raw${decode ? '-decode' : ''}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: config.topics.attacks, fromBeginning: true });
  let n = 0;
  let t0 = 0;
  let cpu0: NodeJS.CpuUsage | undefined;
  let brokerCpu0 = NaN;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (!t0) {
        t0 = Date.now();
        cpu0 = process.cpuUsage();
        brokerCpu0 = broker ? cpuSeconds(broker) : NaN;
      }
      if (decode) for (const m of batch.messages) if (!serde.decodeCached(m.value, reader)) await serde.decode(m.value, reader);
      n += batch.messages.length;
      if (n >= N) done();
    },
  });
  await finished;
  const rate = (n / (Date.now() - t0)) * 1000;
  const cpu = process.cpuUsage(cpu0);
  const brokerCpuUs = broker ? ((cpuSeconds(broker) - brokerCpu0) / n) * 1e6 : NaN;
  await consumer.disconnect();
  return { rate, cpuUs: (cpu.user + cpu.system) / n, brokerCpuUs };
}

/** Sum of a topic's end offsets: records written, plus one transaction marker per partition and transaction. */
export async function endOffsetsTotal(config: Config, topic: string): Promise<number> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

/** The Node.js flags the chart starts the scorer with. */
// The image's flag (Dockerfile ENTRYPOINT), the chart's scorer.v8Flags and scorer.nodeOptions
// (BENCH_IMAGE_FLAGS replaces them), so the figures are the deployed scorer's; the image's
// MALLOC_ARENA_MAX is set on the child below.
const IMAGE_NODE_FLAGS = process.env.BENCH_IMAGE_FLAGS ?? '--max-semi-space-size=16 --single-threaded-gc --heap-growing-percent=100 --max-old-space-size=320';

export function spawnScorer(configFile: string, port: number): ChildProcess {
  const log = openSync(configFile.replace(/\.yaml$/, '.log'), 'a');
  // BENCH_CPU_PROF=<dir>: the scorer process writes a V8 CPU profile there when it exits.
  const flags = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  flags.push(...(process.env.BENCH_SCORER_FLAGS ?? '').split(' ').filter(Boolean));
  // The production build (`npm run build`, as in the image), not tsx: under tsx's loader hooks every
  // require() kafkajs makes per request (it loads protocol versions lazily) is a round trip to the loader thread.
  const main = [...IMAGE_NODE_FLAGS.split(' ').filter(Boolean), ...(process.env.BENCH_SCORER_TSX === '1' ? ['--import', 'tsx', 'src/cli/main.ts'] : ['dist/cli/main.js'])];
  return spawn(process.execPath, [...flags, ...main, 'scorer', '--config', configFile, '--port', String(port)], {
    stdio: ['ignore', log, log],
    env: { MALLOC_ARENA_MAX: '2', ...process.env },
  });
}

/** SIGTERM, then SIGKILL after `graceMs` (a process that does not stop must not hang the bench). */
export async function stop(child: ChildProcess, graceMs = 90_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Throws when the scorer has exited: a phase that waits on it must not wait forever. */
export function assertRunning(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`scorer (pid ${child.pid}) exited (${child.signalCode ?? `code ${child.exitCode}`}): see its log beside the bench's config`);
  }
}

export async function waitReady(port: number, timeoutMs = 600_000, child?: ChildProcess): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (child) assertRunning(child);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) return Date.now() - t0;
    } catch {
      /* not listening yet */
    }
    await sleep(100);
  }
  throw new Error('scorer not ready');
}

export async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
}

export async function run(): Promise<Record<string, string | number>> {
  return withScorerBuild(measure);
}

/** Runs `fn` with the scorer built as spawnScorer runs it (dist/, unless BENCH_SCORER_TSX=1). */
export async function withScorerBuild<T>(fn: () => Promise<T>): Promise<T> {
  // bin/risk-hub.js prefers dist/ when it exists, so a dist/ built here is removed afterwards: a source
  // checkout must keep running its sources (tests, demo).
  const built = process.env.BENCH_SCORER_TSX !== '1' && !existsSync('dist');
  if (process.env.BENCH_SCORER_TSX !== '1') {
    console.error('building dist/ (npm run build)…');
    const b = spawnSync('npm', ['run', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (b.status !== 0) throw new Error('npm run build failed');
  }
  try {
    return await fn();
  } finally {
    if (built) rmSync('dist', { recursive: true, force: true });
  }
}

async function measure(): Promise<Record<string, string | number>> {
  const config = await benchConfig({ scoring: { maxFutureSkewMs: 3_600_000 } });
  try {
    return await measureWith(config);
  } finally {
    await removeBenchData(config);
  }
}

async function measureWith(config: Config): Promise<Record<string, string | number>> {
  await applyTopology(config);
  await registerSchemas(config);
  const dir = join('/tmp/risk-hub-bench', config.applicationId);
  mkdirSync(dir, { recursive: true });
  const configFile = join(dir, 'scorer.yaml');
  writeFileSync(configFile, stringify(JSON.parse(JSON.stringify(config))));
  console.error(`producing ${N} attacks over ${USERS} users…`);
  const produceRate = await produceAll(config);
  console.error('raw kafkajs loop…');
  const broker = await localBrokerPid();
  const { rate: raw, cpuUs: rawCpuUs, brokerCpuUs: rawBrokerCpuUs } = await rawLoop(config, false, broker);
  console.error('raw kafkajs loop with Avro decoding…');
  const { rate: rawDecode, cpuUs: rawDecodeCpuUs } = await rawLoop(config, true);

  console.error(`exactly-once scorer${INSTANCES > 1 ? ` (${INSTANCES} instances)` : ''}…`);
  const port = 19464;
  // Instance i: its own state directory and port (instance 0 uses the bench's own, for the restore phase).
  const instanceFiles = [configFile];
  for (let i = 1; i < INSTANCES; i++) {
    const file = join(dir, `scorer-${i}.yaml`);
    writeFileSync(file, stringify(JSON.parse(JSON.stringify({ ...config, scorer: { ...config.scorer, stateDir: `${config.scorer.stateDir}-${i}` } }))));
    instanceFiles.push(file);
  }
  const children = instanceFiles.map((file, i) => spawnScorer(file, port + i));
  let child = children[0]!;
  await Promise.all(children.map((c, i) => waitReady(port + i, undefined, c)));
  // The first instances may have scored some events before the last one joined: count from here.
  const committed0 = INSTANCES > 1 ? await scorerCommittedTotal(config) : 0;
  const t0 = Date.now();
  const cpuOf = () => children.reduce((s, c) => s + cpuSeconds(c.pid!), 0);
  const cpu0 = cpuOf();
  const brokerCpu0 = broker ? cpuSeconds(broker) : NaN;
  let rss = 0;
  const peakRss = () => children.reduce((s, c) => s + peakRssMiB(c.pid!), 0);
  while ((await scorerCommittedTotal(config)) < N) {
    children.forEach(assertRunning);
    rss = Math.max(rss, peakRss());
    await sleep(250);
  }
  const scored = N - committed0;
  const scorerRate = (scored / (Date.now() - t0)) * 1000;
  // CPU per event: steadier than records/s on a machine the broker (and anything else) shares.
  const cpuPerEventUs = ((cpuOf() - cpu0) / scored) * 1e6;
  const brokerCpuPerEventUs = broker ? ((cpuSeconds(broker) - brokerCpu0) / scored) * 1e6 : NaN;
  rss = Math.max(rss, peakRss());
  let alerts = 0;
  for (let i = 0; i < INSTANCES; i++) alerts += await metric(port + i, 'risk_hub_scorer_alerts_total\\{tier="1"\\}');
  const changelogPerEvent = (await endOffsetsTotal(config, changelogTopic(config))) / N;
  const throughput = {
    machine: machine(),
    events: N,
    users: USERS,
    distribution: DISTRIBUTION,
    'produce (records/s)': Math.round(produceRate),
    'raw kafkajs loop (records/s)': Math.round(raw),
    'raw loop CPU per event (µs)': Number(rawCpuUs.toFixed(1)),
    'broker CPU per event during the raw loop (µs)': Number(rawBrokerCpuUs.toFixed(1)),
    'raw loop + Avro decoding (records/s)': Math.round(rawDecode),
    'raw loop + Avro decoding, CPU per event (µs)': Number(rawDecodeCpuUs.toFixed(1)),
    'scorer instances': INSTANCES,
    'exactly-once scorer (records/s)': Math.round(scorerRate),
    'scorer / raw': Number((scorerRate / raw).toFixed(2)),
    'scorer CPU per event (µs)': Math.round(cpuPerEventUs),
    'broker CPU per event during the scorer (µs)': Number(brokerCpuPerEventUs.toFixed(1)),
    'changelog offsets per event': Number(changelogPerEvent.toFixed(2)),
    'alerts tier 1': alerts,
    [INSTANCES > 1 ? 'scorer peak RSS, all instances (MiB)' : 'scorer peak RSS (MiB)']: Math.round(rss),
  };
  // With several instances, stopping all but one would move partitions (and rebuild their stores) under
  // the latency and restore phases: those phases run with one instance only.
  if (process.env.BENCH_THROUGHPUT_ONLY === '1' || INSTANCES > 1) {
    await Promise.all(children.map((c) => stop(c)));
    return throughput;
  }

  // Latency at half the maximum rate: background load plus probes (fresh users, 11 points: one alert each).
  console.error('latency at half the maximum rate…');
  // BENCH_LATENCY_RATE (events/s) fixes the load, to compare two versions at the same rate.
  // The scorer's and the broker's CPU and the transactions committed are counted over the phase (the
  // steady load, the probes and the drain after them), per event sent.
  const latCpu0 = cpuSeconds(child.pid!);
  const latBrokerCpu0 = broker ? cpuSeconds(broker) : NaN;
  const latTx0 = await metric(port, 'risk_hub_scorer_commit_duration_seconds_count');
  const latBatches0 = await metric(port, 'risk_hub_scorer_batch_duration_seconds_count');
  const lat = await latency(config, Number(process.env.BENCH_LATENCY_RATE ?? scorerRate / 2));
  assertRunning(child);
  const latTx = (await metric(port, 'risk_hub_scorer_commit_duration_seconds_count')) - latTx0;
  const latBatches = (await metric(port, 'risk_hub_scorer_batch_duration_seconds_count')) - latBatches0;
  if (process.env.BENCH_DUMP_METRICS) writeFileSync(process.env.BENCH_DUMP_METRICS, await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const latCpuUs = ((cpuSeconds(child.pid!) - latCpu0) / lat.sent) * 1e6;
  const latBrokerCpuUs = broker ? ((cpuSeconds(broker) - latBrokerCpu0) / lat.sent) * 1e6 : NaN;

  await stop(child);
  console.error('restore from the changelog…');
  rmSync(config.scorer.stateDir, { recursive: true, force: true });
  child = spawnScorer(configFile, port);
  const restoreMs = await waitReady(port, undefined, child);
  const restored = await metric(port, 'risk_hub_scorer_restore_records_total');
  const restoreRss = peakRssMiB(child.pid!);
  await stop(child);

  return {
    ...throughput,
    'restore (changelog records/s)': Math.round((restored / restoreMs) * 1000),
    'restore records': restored,
    'restore time to ready (s)': Number((restoreMs / 1000).toFixed(1)),
    'restore peak RSS (MiB)': Math.round(restoreRss),
    'latency load (events/s)': Math.round(lat.rate),
    'latency p50 (ms)': lat.p50,
    'latency p99 (ms)': lat.p99,
    'latency probes': lat.n,
    'latency phase: events sent': lat.sent,
    'latency phase: transactions committed': latTx,
    // Fetched batches scored (one per partition per fetch): at a fixed rate, what each batch's fixed cost is spread over.
    'latency phase: batches': latBatches,
    'latency phase: scorer CPU per event (µs)': Number(latCpuUs.toFixed(1)),
    'latency phase: broker CPU per event (µs)': Number(latBrokerCpuUs.toFixed(1)),
  };
}

/** Options of a latency phase; the defaults are the scorer benchmark's own phase. */
export interface LatencyOptions {
  /** The alerts topic the probes' alerts are read from (default: the config's). */
  alerts?: string;
  /** Seconds of load before the measured window (probes sent then are not counted). */
  warmupSeconds?: number;
  /** Seconds of the measured window. */
  seconds?: number;
  /** Called when the measured window opens, and when its load has been sent (before waiting for the last probes). */
  window?: { start(): void | Promise<void>; end(): void | Promise<void> };
}

export async function latency(config: Config, rate: number, opts: LatencyOptions = {}): Promise<{ p50: number; p99: number; n: number; rate: number; sent: number }> {
  const kafka = createKafka(config);
  const producer = kafka.producer({ idempotent: true });
  const serde = new AvroSerde(config);
  const subject = subjectFor(config.topics.attacks);
  await producer.connect();
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const consumer = kafka.consumer({ groupId: `${config.applicationId}-latency`, readUncommitted: false, maxWaitTimeInMs: 20 });
  await consumer.connect();
  await consumer.subscribe({ topic: opts.alerts ?? config.topics.alerts, fromBeginning: false });
  const reader = readerType('risk-alert.avsc');
  await consumer.run({
    eachMessage: async ({ message }) => {
      const a = (await serde.decode<RiskAlert>(message.value, reader)).value;
      const t = sentAt.get(a.trigger_event_id);
      if (t !== undefined) latencies.push(Date.now() - t);
    },
  });
  await sleep(3000); // let the latency consumer join before probing
  const seconds = opts.seconds ?? 20;
  // BENCH_TICK_MS: how often the load is sent (ms); each tick is one produce request, so about one fetched batch per partition.
  const tickMs = Number(process.env.BENCH_TICK_MS ?? 50);
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  let i = N + 1;
  const warmEnd = Date.now() + (opts.warmupSeconds ?? 0) * 1000;
  while (Date.now() < warmEnd) {
    const tick = Date.now();
    const messages = [];
    for (let k = 0; k < perTick; k++, i++) {
      const a = attack(i, userOf(i) + LAT_USER_OFFSET, Date.now());
      messages.push({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subject, a) });
    }
    await producer.send({ topic: config.topics.attacks, messages, acks: -1 });
    const wait = tickMs - (Date.now() - tick);
    if (wait > 0) await sleep(wait);
  }
  await opts.window?.start();
  const tEnd = Date.now() + seconds * 1000;
  let sent = 0;
  const t0 = Date.now();
  while (Date.now() < tEnd) {
    const tick = Date.now();
    const messages = [];
    for (let k = 0; k < perTick - 1; k++, i++) {
      const a = attack(i, userOf(i) + LAT_USER_OFFSET, Date.now());
      messages.push({ key: userKey(a.application_id, a.environment, a.user.key), value: await serde.encode(subject, a) });
    }
    const probe = attack(i++, 0, Date.now(), 11);
    probe.user.key = `probe-${randomUUID()}`;
    messages.push({ key: userKey(probe.application_id, probe.environment, probe.user.key), value: await serde.encode(subject, probe) });
    sentAt.set(probe.event_id, Date.now());
    await producer.send({ topic: config.topics.attacks, messages, acks: -1 });
    sent += messages.length;
    const wait = tickMs - (Date.now() - tick);
    if (wait > 0) await sleep(wait);
  }
  const actualRate = (sent / (Date.now() - t0)) * 1000;
  await opts.window?.end();
  const deadline = Date.now() + 30_000;
  while (latencies.length < sentAt.size && Date.now() < deadline) await sleep(100);
  await consumer.disconnect();
  await producer.disconnect();
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), n: latencies.length, rate: actualRate, sent };
}
