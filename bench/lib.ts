import { readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createKafka } from '../src/kafka/client.ts';
import { loadConfig, deepMerge } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import { stackStatus, stackUp } from '../src/local/stack.ts';
import { randomBytes } from 'node:crypto';

// Shared by the benchmarks: a cluster (the local stack unless KAFKA_BROKERS / SCHEMA_REGISTRY_URL),
// a fresh configuration with unique names, and small statistics helpers.

export async function benchConfig(overrides: Record<string, unknown> = {}): Promise<Config> {
  let brokers = process.env.KAFKA_BROKERS;
  let registry = process.env.SCHEMA_REGISTRY_URL;
  if (!brokers || !registry) {
    const info = await stackUp({ progress: (m) => console.error(`[local stack] ${m}`) });
    brokers = info.brokers.join(',');
    registry = info.registryUrl;
  }
  const id = randomBytes(3).toString('hex');
  return loadConfig({
    env: {},
    overrides: deepMerge(
      {
        applicationId: `bench-${id}`,
        kafka: { brokers: brokers.split(',') },
        schemaRegistry: { url: registry },
        topics: { attacks: `bench-attacks-${id}`, alerts: `bench-alerts-${id}`, deliveries: `bench-deliveries-${id}`, attacksDlq: `bench-attacks-${id}.dlq`, decisions: `bench-decisions-${id}`, decisionRequests: `bench-decision-requests-${id}` },
        scorer: { stateDir: `/tmp/risk-hub-bench/${id}/state` },
        http: { host: '127.0.0.1', port: 0 },
        log: { level: 'warn' },
      },
      overrides,
    ),
  }) as Config;
}

/**
 * Deletes what a benchmark run left behind: its topics and consumer groups on the cluster (every name
 * holding the run's id) and its state directories. A scorer run writes ~1 GB of topics and as much
 * LevelDB: runs that kept them filled a disk. BENCH_KEEP=1 keeps everything, to inspect it; the bench's
 * config and scorer log (/tmp/risk-hub-bench/bench-<id>/) are always kept.
 */
export async function removeBenchData(config: Config): Promise<void> {
  if (process.env.BENCH_KEEP === '1') return;
  const id = config.applicationId.replace(/^bench-/, '');
  rmSync(dirname(config.scorer.stateDir), { recursive: true, force: true }); // /tmp/risk-hub-bench/<id>: state, state-1…
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.includes(id));
    if (topics.length) await admin.deleteTopics({ topics, timeout: 60_000 });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.includes(id));
    if (groups.length) await admin.deleteGroups(groups).catch(() => undefined); // best effort: a group still closing stays
  } finally {
    await admin.disconnect();
  }
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}

/** Peak resident set (VmHWM) of a process, in MiB, from /proc. */
export function peakRssMiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    // After the command: state is field 3, utime 14 and stime 15 (1-based), in clock ticks (100 Hz on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * The local broker's pid when the benchmark runs on the local stack (undefined with KAFKA_BROKERS): its
 * CPU time per event shows what the broker's share of the work costs on the same cores.
 */
export async function localBrokerPid(): Promise<number | undefined> {
  if (process.env.KAFKA_BROKERS) return undefined;
  return (await stackStatus()).state?.kafkaPid;
}

export function machine(): string {
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'unknown CPU';
  const n = (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) ?? []).length;
  return `${n} cores (${cpus}), Node ${process.version}`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
