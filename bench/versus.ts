import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { changelogTopic, scorerGroupId, type Config } from '../src/config/schema.ts';
import type { RiskAlert } from '../src/contracts.ts';
import { createKafka } from '../src/kafka/client.ts';
import { registerSchema, registerSchemas, readSchemaFile } from '../src/kafka/schemas.ts';
import { AvroSerde, readerType, subjectFor } from '../src/kafka/serde.ts';
import { applyTopology } from '../src/kafka/topology.ts';
import { resolveAsset } from '../src/paths.ts';
import { benchConfig, cpuSeconds, localBrokerPid, machine, peakRssMiB, removeBenchData, sleep } from './lib.ts';
import { buildReference, referenceChangelog, referenceReady, startReference, type Reference } from './peers/kstreams.ts';
import { endOffsetsTotal, latency, metric, produceAll, spawnScorer, stop, waitReady, withScorerBuild } from './scorer.ts';
import { countCommits, transactionLogEnds } from './transactions.ts';

// Side by side with Kafka Streams (issue 17): Risk Hub's scorer (its normal configuration, as built for
// the image) and the Kafka Streams reference (../shared/peers/kstreams-ref, its tuned best exactly-once
// settings) over one pre-produced topic on the same broker, each as a whole process, runs interleaved
// (Risk Hub, Kafka Streams, Risk Hub, …). Phases, each BENCH_ROUNDS times per processor:
//   throughput  a fresh application over the N attacks: records/s, CPU µs/event of the process (all
//               threads, /proc) and of the broker, the same for the second half, peak RSS; then the alert
//               sets of every run are decoded and compared (they must be identical, or the bench fails)
//   restore     the last throughput run's application with its state directory deleted: spawn → ready
//   rate        the same application restarted, caught up, then a fixed load (BENCH_LATENCY_RATE,
//               default 10,000 events/s) with probes: attack → alert p50/p99, CPU per event of the
//               processor and the broker, transactions committed (counted on the broker)
// Kafka Streams runs with commitMs=1000 for throughput and 100 for the rate phase (the peers README).
// Environment: BENCH_EVENTS, BENCH_USERS, BENCH_PARTITIONS, BENCH_ROUNDS, BENCH_LATENCY_RATE,
// BENCH_LATENCY_SECONDS, BENCH_WARMUP_SECONDS, BENCH_VERSUS_PHASES (a comma-separated subset of
// throughput,restore,rate; all by default: `throughput` alone with BENCH_EVENTS=10000000 is the issue's
// long run), BENCH_KSTREAMS_* (peers/kstreams.ts), BENCH_KEEP.

const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const PARTITIONS = positive('BENCH_PARTITIONS', 6);
const ROUNDS = positive('BENCH_ROUNDS', 2);
const RATE = positive('BENCH_LATENCY_RATE', 10_000);
const SECONDS = positive('BENCH_LATENCY_SECONDS', 20);
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
const KS_COMMIT_THROUGHPUT = positive('BENCH_KSTREAMS_COMMIT_MS', 1000);
const KS_COMMIT_LATENCY = positive('BENCH_KSTREAMS_LATENCY_COMMIT_MS', 100);
const PHASES = new Set((process.env.BENCH_VERSUS_PHASES ?? 'throughput,restore,rate').split(',').map((p) => p.trim()));
for (const p of PHASES) if (!['throughput', 'restore', 'rate'].includes(p)) throw new Error(`BENCH_VERSUS_PHASES: unknown phase ${p} (throughput, restore, rate)`);
if (!PHASES.has('throughput')) throw new Error('BENCH_VERSUS_PHASES must include throughput: the other phases run on its applications');
/** Longest wait for a processor to get through the pre-produced topic or catch up (ms). */
const PHASE_TIMEOUT_MS = Math.max(600_000, N * 2);

function positive(name: string, dflt: number): number {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a whole number of at least 1, not ${process.env[name]}`);
  return v;
}

type Side = 'rh' | 'ks';
const NAMES: Record<Side, string> = { rh: 'Risk Hub', ks: 'Kafka Streams' };

/** One application of one processor: its own group, changelog, alerts topic and state directory. */
interface App {
  side: Side;
  round: number;
  appId: string;
  group: string;
  alerts: string;
  changelog: string;
  stateDir: string;
  /** Risk Hub: the config file its process reads. */
  configFile?: string;
}

/** A running processor, whichever it is. */
interface Proc {
  child: ChildProcess;
  /** Milliseconds from spawn to ready. */
  readyMs: number;
  /** Transactions the processor says it committed so far (Risk Hub: its commit histogram; Kafka Streams: commit-total). */
  selfCommits(): Promise<number>;
  restored(): Promise<number>;
  /**
   * Kafka Streams only: when it read its first record (its clock), and its CPU and the broker's sampled
   * every 50 ms since spawn. Its offsets are committed once a second in the throughput phase, so the
   * offsets committed at "RUNNING" miss up to a second of work already done: its window starts at its
   * first record instead, with the CPU counters interpolated there.
   */
  first?(): number | undefined;
  samples?: { t: number; cpu: number; broker: number }[];
}

interface Throughput {
  rate: number;
  cpuUs: number;
  brokerUs: number;
  cpuUs2: number;
  brokerUs2: number;
  rssMiB: number;
}

interface AtRate {
  rate: number;
  cpuUs: number;
  brokerUs: number;
  transactions: number;
  selfCommits: number;
  events: number;
  p50: number;
  p99: number;
  probes: number;
  rssMiB: number;
}

interface Restore {
  seconds: number;
  changelogOffsets: number;
  restored: number;
  rssMiB: number;
}

export async function run(): Promise<void> {
  const refDir = buildReference();
  await withScorerBuild(async () => {
    const config = await benchConfig({ scoring: { maxFutureSkewMs: 3_600_000 } });
    try {
      await measure(config, refDir);
    } finally {
      await removeBenchData(config);
    }
  });
}

async function measure(base: Config, refDir: string): Promise<void> {
  const id = base.applicationId.replace(/^bench-/, '');
  const dir = join('/tmp/risk-hub-bench', base.applicationId);
  mkdirSync(dir, { recursive: true });
  // The input with BENCH_PARTITIONS partitions: the topology's co-partitioned topics follow it.
  await createTopic(base, base.topics.attacks);
  await applyTopology(base);
  const schemaIds = new Map((await registerSchemas(base)).map((r) => [r.subject, r.id]));
  const attackSchemaId = schemaIds.get(subjectFor(base.topics.attacks))!;
  const broker = await localBrokerPid();
  if (!broker) console.error('KAFKA_BROKERS is set: no broker CPU figures (the broker is not a local process)');

  const apps: Record<Side, App[]> = { rh: [], ks: [] };
  for (let r = 1; r <= ROUNDS; r++) {
    for (const side of ['rh', 'ks'] as const) {
      const appId = `${base.applicationId}-${side}${r}`;
      const app: App = { side, round: r, appId, group: appId, alerts: `bench-alerts-${id}-${side}${r}`, changelog: referenceChangelog(appId), stateDir: join(dirnameOf(base), `${side}${r}`) };
      if (side === 'rh') {
        const config = { ...base, applicationId: appId, topics: { ...base.topics, alerts: app.alerts }, scorer: { ...base.scorer, stateDir: app.stateDir } } as Config;
        await applyTopology(config);
        await registerSchemas(config);
        app.group = scorerGroupId(config);
        app.changelog = changelogTopic(config);
        app.configFile = join(dir, `scorer-${side}${r}.yaml`);
        writeFileSync(app.configFile, stringify(JSON.parse(JSON.stringify(config))));
      } else {
        await createTopic(base, app.alerts);
        // The project's alert schema, as Risk Hub writes it (with its optional `decision`, always null here).
        schemaIds.set(subjectFor(app.alerts), await registerSchema(base, subjectFor(app.alerts), readSchemaFile(resolveAsset('schemas/risk-alert.avsc'))));
      }
      apps[side].push(app);
    }
  }

  const start = async (app: App, commitMs: number): Promise<Proc> => {
    if (app.side === 'rh') {
      const port = await freePort();
      const child = spawnScorer(app.configFile!, port);
      const readyMs = await waitReady(port, PHASE_TIMEOUT_MS, child).catch(async (e) => {
        await stop(child);
        throw e;
      });
      return {
        child,
        readyMs,
        selfCommits: () => metric(port, 'risk_hub_scorer_commit_duration_seconds_count'),
        restored: () => metric(port, 'risk_hub_scorer_restore_records_total'),
      };
    }
    const ref: Reference = startReference(
      refDir,
      {
        bootstrap: base.kafka.brokers.join(','),
        input: base.topics.attacks,
        alerts: app.alerts,
        appId: app.appId,
        stateDir: app.stateDir,
        attackSchema: resolveAsset('schemas/attack.avsc'),
        alertSchema: resolveAsset('schemas/risk-alert.avsc'),
        attackSchemaId,
        alertSchemaId: schemaIds.get(subjectFor(app.alerts))!,
        partitions: PARTITIONS,
        maxFutureSkewMs: base.scoring.maxFutureSkewMs,
        commitMs,
      },
      join(dir, `kstreams-${app.side}${app.round}.log`),
    );
    const samples: { t: number; cpu: number; broker: number }[] = [];
    const sampler = setInterval(() => samples.push({ t: Date.now(), cpu: cpuSeconds(ref.child.pid!), broker: broker ? cpuSeconds(broker) : NaN }), 50);
    ref.child.once('exit', () => clearInterval(sampler));
    const readyMs = await referenceReady(ref, PHASE_TIMEOUT_MS).catch(async (e) => {
      await stop(ref.child);
      throw e;
    });
    return { child: ref.child, readyMs, selfCommits: async () => ref.commits(), restored: async () => ref.restored(), first: ref.first, samples };
  };

  console.error(`producing ${N} attacks (${PARTITIONS} partitions)…`);
  await produceAll(base);
  const loads: string[] = [readLoad()];

  // Throughput, interleaved.
  const throughput: Record<Side, Throughput[]> = { rh: [], ks: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of ['rh', 'ks'] as const) {
      const app = apps[side][r]!;
      console.error(`throughput ${r + 1}/${ROUNDS}: ${NAMES[side]}… (load ${readLoad()})`);
      const proc = await start(app, KS_COMMIT_THROUGHPUT);
      try {
        throughput[side].push(await overTopic(base, app, proc, broker));
      } finally {
        await stop(proc.child);
      }
      console.error(`  ${JSON.stringify(throughput[side].at(-1))}`);
    }
  }
  loads.push(readLoad());

  console.error('comparing the alert sets…');
  const alertSets = await compareAlerts(base, [...apps.rh, ...apps.ks]);

  // Restore, then the fixed rate, interleaved, on the last round's applications (state large, as the
  // issue measures). Restore first: every application has then committed exactly the N attacks, so both
  // changelogs hold the same input (the fixed rate adds to the topic) and a restored process that turns
  // ready has nothing left to score before it is stopped.
  const atRate: Record<Side, AtRate[]> = { rh: [], ks: [] };
  const restore: Record<Side, Restore[]> = { rh: [], ks: [] };
  for (let r = 0; r < (PHASES.has('restore') ? ROUNDS : 0); r++) {
    for (const side of ['rh', 'ks'] as const) {
      const app = apps[side].at(-1)!;
      console.error(`restore ${r + 1}/${ROUNDS}: ${NAMES[side]}… (load ${readLoad()})`);
      rmSync(app.stateDir, { recursive: true, force: true });
      const changelogOffsets = await endOffsetsTotal(base, app.changelog);
      const proc = await start(app, KS_COMMIT_LATENCY);
      try {
        restore[side].push({ seconds: proc.readyMs / 1000, changelogOffsets, restored: await proc.restored(), rssMiB: peakRssMiB(proc.child.pid!) });
      } finally {
        await stop(proc.child);
      }
      console.error(`  ${JSON.stringify(restore[side].at(-1))}`);
    }
  }
  for (let r = 0; r < (PHASES.has('rate') ? ROUNDS : 0); r++) {
    for (const side of ['rh', 'ks'] as const) {
      const app = apps[side].at(-1)!;
      console.error(`${RATE} events/s ${r + 1}/${ROUNDS}: ${NAMES[side]}… (load ${readLoad()})`);
      const proc = await start(app, KS_COMMIT_LATENCY);
      try {
        await caughtUp(base, app.group);
        atRate[side].push(await fixedRate(base, app, proc, broker));
      } finally {
        await stop(proc.child);
      }
      console.error(`  ${JSON.stringify(atRate[side].at(-1))}`);
    }
  }
  loads.push(readLoad());

  printTable({ throughput, atRate, restore, alertSets, loads });
}

/**
 * Creates a topic of BENCH_PARTITIONS partitions and waits (bounded) until each has a leader. Not
 * kafkajs' waitForLeaders: a loaded broker answers UNKNOWN_TOPIC_OR_PARTITION for a moment after the
 * creation, which that wait does not retry.
 */
async function createTopic(config: Config, topic: string): Promise<void> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: config.topology.replicationFactor }], waitForLeaders: false });
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await admin
        .fetchTopicMetadata({ topics: [topic] })
        .then((m) => m.topics[0]?.partitions.length === PARTITIONS && m.topics[0].partitions.every((p) => p.leader >= 0))
        .catch(() => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`${topic}: no leader for every partition within 60 s`);
      await sleep(200);
    }
  } finally {
    await admin.disconnect();
  }
}

function dirnameOf(config: Config): string {
  return config.scorer.stateDir.replace(/\/state$/, '');
}

/** A free TCP port for a scorer's HTTP server (another engineer's bench may hold the scorer bench's fixed one). */
async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

function readLoad(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

/** Committed offsets of a group on the input, summed. */
async function committed(config: Config, group: string): Promise<number> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const [t] = await admin.fetchOffsets({ groupId: group, topics: [config.topics.attacks] });
    return (t?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}

/** Waits (bounded) until the group has committed everything on the input. */
async function caughtUp(config: Config, group: string): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  for (;;) {
    const end = await endOffsetsTotal(config, config.topics.attacks);
    if ((await committed(config, group)) >= end) return;
    if (Date.now() > deadline) throw new Error(`${group} did not catch up with ${config.topics.attacks} within ${PHASE_TIMEOUT_MS / 1000} s`);
    await sleep(200);
  }
}

/**
 * From ready to every pre-produced attack committed (offsets, polled every 100 ms: an exactly-once
 * processor is done with a record when its transaction commits, so Kafka Streams' 1 s commits count).
 */
async function overTopic(config: Config, app: App, proc: Proc, broker: number | undefined): Promise<Throughput> {
  const pid = proc.child.pid!;
  const snap = async () => ({ t: Date.now(), n: await committed(config, app.group), cpu: cpuSeconds(pid), broker: broker ? cpuSeconds(broker) : NaN });
  let s0 = await snap();
  const first = proc.first?.();
  if (first !== undefined && proc.samples?.length) {
    // The last sample at or before the first record (samples are 50 ms apart: ≤ 50 ms of CPU early).
    const at = proc.samples.filter((x) => x.t <= first).at(-1) ?? proc.samples[0]!;
    s0 = { t: first, n: 0, cpu: at.cpu, broker: at.broker };
  }
  let half: typeof s0 | undefined;
  let s = s0;
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  while (s.n < N) {
    if (Date.now() > deadline) throw new Error(`${NAMES[app.side]} did not get through ${N} attacks within ${PHASE_TIMEOUT_MS / 1000} s`);
    await sleep(100);
    s = await snap();
    if (!half && s.n >= N / 2) half = s;
  }
  half ??= s0;
  const per = (a: number, b: number, n: number) => ((a - b) / n) * 1e6;
  return {
    rate: ((s.n - s0.n) / (s.t - s0.t)) * 1000,
    cpuUs: per(s.cpu, s0.cpu, s.n - s0.n),
    brokerUs: per(s.broker, s0.broker, s.n - s0.n),
    cpuUs2: per(s.cpu, half.cpu, s.n - half.n),
    brokerUs2: per(s.broker, half.broker, s.n - half.n),
    rssMiB: peakRssMiB(pid),
  };
}

async function fixedRate(config: Config, app: App, proc: Proc, broker: number | undefined): Promise<AtRate> {
  const pid = proc.child.pid!;
  let w0 = { cpu: 0, broker: 0, self: 0, log: new Map<number, bigint>() };
  let w1 = { ...w0 };
  const snap = async () => ({ cpu: cpuSeconds(pid), broker: broker ? cpuSeconds(broker) : NaN, self: await proc.selfCommits(), log: await transactionLogEnds(config) });
  const lat = await latency(config, RATE, {
    alerts: app.alerts,
    warmupSeconds: WARMUP,
    seconds: SECONDS,
    window: {
      start: async () => void (w0 = await snap()),
      // The window's last events are still being scored: let them commit before closing it.
      end: async () => {
        await caughtUp(config, app.group);
        w1 = await snap();
      },
    },
  });
  const prefix = `${app.appId}-`;
  const transactions = (await countCommits(config, [prefix], w0.log, w1.log)).get(prefix)!;
  return {
    rate: lat.rate,
    cpuUs: ((w1.cpu - w0.cpu) / lat.sent) * 1e6,
    brokerUs: ((w1.broker - w0.broker) / lat.sent) * 1e6,
    transactions,
    selfCommits: w1.self - w0.self,
    events: lat.sent,
    p50: lat.p50,
    p99: lat.p99,
    probes: lat.n,
    rssMiB: peakRssMiB(pid),
  };
}

/**
 * Reads every run's alerts topic (read_committed) and compares the decoded alerts with the first run's,
 * by alert_id, ignoring Risk Hub's optional `decision` (null here: the bench's config has no decision
 * rules). Throws on any difference or duplicate: a faster processor with other alerts proves nothing.
 */
async function compareAlerts(config: Config, apps: App[]): Promise<string> {
  const serde = new AvroSerde(config);
  const reader = readerType('risk-alert.avsc');
  const sets: Map<string, string>[] = [];
  for (const app of apps) {
    const set = new Map<string, string>();
    let duplicates = 0;
    for (const value of await readAll(config, app.alerts)) {
      const alert = (await serde.decode<RiskAlert & { decision?: unknown }>(value, reader)).value;
      delete alert.decision;
      if (set.has(alert.alert_id)) duplicates++;
      set.set(alert.alert_id, JSON.stringify(alert));
    }
    if (duplicates) throw new Error(`${NAMES[app.side]} run ${app.round}: ${duplicates} duplicate alerts on ${app.alerts}`);
    sets.push(set);
  }
  const [first, ...others] = sets;
  if (!first!.size) throw new Error(`${NAMES[apps[0]!.side]} run 1 wrote no alerts on ${apps[0]!.alerts}: nothing to compare`);
  others.forEach((set, i) => {
    const app = apps[i + 1]!;
    const missing = [...first!.keys()].filter((k) => !set.has(k));
    const extra = [...set.keys()].filter((k) => !first!.has(k));
    const changed = [...set.keys()].filter((k) => first!.has(k) && first!.get(k) !== set.get(k));
    if (missing.length || extra.length || changed.length) {
      const sample = changed[0] ? `\n  ${apps[0]!.side}: ${first!.get(changed[0])}\n  ${app.side}: ${set.get(changed[0])}` : '';
      throw new Error(`alert sets differ: ${NAMES[app.side]} run ${app.round} vs ${NAMES[apps[0]!.side]} run 1: ${missing.length} missing, ${extra.length} extra, ${changed.length} different${sample}`);
    }
  });
  return `identical: ${first!.size} alerts in each of ${sets.length} runs`;
}

/** Every committed record value of a topic, up to its end offsets when called (bounded). */
async function readAll(config: Config, topic: string): Promise<Buffer[]> {
  const kafka = createKafka(config);
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  await admin.disconnect();
  // Each committed transaction ends a partition it wrote with a marker: the last record is at high - 2.
  const pending = new Set([...ends].filter(([, h]) => h > 0n).map(([p]) => p));
  const out: Buffer[] = [];
  const consumer = kafka.consumer({ groupId: `${config.applicationId}-compare-${topic}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let last = Date.now();
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) if (m.value) out.push(m.value);
        if (batch.messages.length) last = Date.now();
        if (BigInt(batch.lastOffset()) >= ends.get(batch.partition)! - 2n) pending.delete(batch.partition);
      },
    });
    const deadline = Date.now() + 300_000;
    // A partition whose last transaction aborted ends in more than one marker: 10 s without a record ends the wait.
    while (pending.size && Date.now() < deadline && Date.now() - last < 10_000) await sleep(100);
    if (pending.size && Date.now() >= deadline) throw new Error(`${topic}: not read to its end within 300 s`);
    return out;
  } finally {
    await consumer.disconnect();
  }
}

/** The median, the mean of the middle two for an even count (lib.ts' median is the lower one: with two rounds, the minimum). */
function median(values: number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(values: number[], digits: number): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');
  const m = median(values);
  if (values.length < 2) return f(m);
  return `${f(m)} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

function printTable(r: { throughput: Record<Side, Throughput[]>; atRate: Record<Side, AtRate[]>; restore: Record<Side, Restore[]>; alertSets: string; loads: string[] }): void {
  const rows: [string, (s: Side) => number[], number][] = [
    ['records/s, one process (Kafka Streams: commit 1 s)', (s) => r.throughput[s].map((x) => x.rate), 0],
    ['CPU µs/event, processor', (s) => r.throughput[s].map((x) => x.cpuUs), 1],
    ['CPU µs/event, broker', (s) => r.throughput[s].map((x) => x.brokerUs), 1],
    ['second half: CPU µs/event, processor', (s) => r.throughput[s].map((x) => x.cpuUs2), 1],
    ['second half: CPU µs/event, broker', (s) => r.throughput[s].map((x) => x.brokerUs2), 1],
    ['peak RSS over the topic (MiB)', (s) => r.throughput[s].map((x) => x.rssMiB), 0],
    [`at ${RATE} events/s (Kafka Streams: commit 100 ms): load sent (events/s)`, (s) => r.atRate[s].map((x) => x.rate), 0],
    ['  CPU µs/event, processor', (s) => r.atRate[s].map((x) => x.cpuUs), 1],
    ['  CPU µs/event, broker', (s) => r.atRate[s].map((x) => x.brokerUs), 1],
    [`  transactions committed per ${(RATE * SECONDS).toLocaleString('en-US')} events (broker's log)`, (s) => r.atRate[s].map((x) => (x.transactions / x.events) * RATE * SECONDS), 0],
    ['  the same, as the processor counts them', (s) => r.atRate[s].map((x) => (x.selfCommits / x.events) * RATE * SECONDS), 0],
    ['  attack → alert p50 (ms)', (s) => r.atRate[s].map((x) => x.p50), 0],
    ['  attack → alert p99 (ms)', (s) => r.atRate[s].map((x) => x.p99), 0],
    ['  probes', (s) => r.atRate[s].map((x) => x.probes), 0],
    ['  peak RSS (MiB)', (s) => r.atRate[s].map((x) => x.rssMiB), 0],
    ['restore: spawn → ready (s)', (s) => r.restore[s].map((x) => x.seconds), 1],
    ['  changelog offsets', (s) => r.restore[s].map((x) => x.changelogOffsets), 0],
    ['  changelog offsets per second to ready', (s) => r.restore[s].map((x) => x.changelogOffsets / x.seconds), 0],
    ['  records restored (as the processor counts them)', (s) => r.restore[s].map((x) => x.restored), 0],
    ['  peak RSS (MiB)', (s) => r.restore[s].map((x) => x.rssMiB), 0],
  ];
  console.log(`\n## Risk Hub vs Kafka Streams (issue 17)\n`);
  console.log(`${N.toLocaleString('en-US')} attacks, ${process.env.BENCH_USERS ?? 100_000} users, ${PARTITIONS} partitions, ${ROUNDS} interleaved rounds; ${machine()}; load ${r.loads.join(' → ')}; alerts ${r.alertSets}. Medians (min–max).\n`);
  console.log('| | Risk Hub | Kafka Streams | Risk Hub / Kafka Streams |\n|---|---|---|---|');
  for (const [label, values, digits] of rows) {
    const rh = values('rh');
    const ks = values('ks');
    if (!rh.length && !ks.length) continue; // a phase left out (BENCH_VERSUS_PHASES)
    const ratio = median(rh) / median(ks);
    console.log(`| ${label} | ${fmt(rh, digits)} | ${fmt(ks, digits)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : '—'} |`);
  }
}
