import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Admin, ITopicConfig } from 'kafkajs';
import kafkajs from './kafkajs.ts';
import { ConfigError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { changelogTopic } from '../config/schema.ts';
import { resolveAsset } from '../paths.ts';
import { createKafka } from './client.ts';
import { waitForBroker, withTimeout } from './wait.ts';

const TopicDecl = z
  .strictObject({
    name: z.string().min(1),
    partitions: z.number().int().min(1).max(10_000).optional(),
    coPartitionedWith: z.string().min(1).optional(),
    purpose: z.string().optional(),
    config: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
  })
  .refine((t) => (t.partitions === undefined) !== (t.coPartitionedWith === undefined), {
    message: 'give exactly one of partitions or coPartitionedWith',
  });
const TopologyFile = z.strictObject({ topics: z.array(TopicDecl).min(1) });

export interface TopicSpec {
  name: string;
  partitions: number | { coPartitionedWith: string };
  config: Record<string, string>;
  purpose?: string | undefined;
}

/** Reads topology/topics.yaml, substitutes ${...} names from the configuration, validates. */
export function loadTopology(config: Config): TopicSpec[] {
  const file = resolveAsset(config.topology.file);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = TopologyFile.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${file}: ${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
  const vars: Record<string, string> = {
    applicationId: config.applicationId,
    'topics.attacks': config.topics.attacks,
    'topics.alerts': config.topics.alerts,
    'topics.deliveries': config.topics.deliveries,
    'topics.attacksDlq': config.topics.attacksDlq,
    'topics.decisions': config.topics.decisions,
    'topics.decisionRequests': config.topics.decisionRequests,
    changelog: changelogTopic(config),
  };
  const subst = (s: string, where: string) =>
    s.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      const v = vars[name];
      if (v === undefined) throw new ConfigError(`${file}: ${where}: unknown variable \${${name}} (known: ${Object.keys(vars).join(', ')})`);
      return v;
    });
  const specs = parsed.data.topics.map((t, i) => ({
    name: subst(t.name, `topics.${i}.name`),
    partitions: t.partitions ?? { coPartitionedWith: subst(t.coPartitionedWith!, `topics.${i}.coPartitionedWith`) },
    config: t.config,
    purpose: t.purpose,
  }));
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new ConfigError(`${file}: topic ${s.name} is declared twice`);
    names.add(s.name);
    if (typeof s.partitions === 'object' && !specs.some((o) => o.name === (s.partitions as { coPartitionedWith: string }).coPartitionedWith)) {
      throw new ConfigError(`${file}: ${s.name}: coPartitionedWith names an undeclared topic`);
    }
  }
  return specs;
}

export interface TopologyReport {
  created: string[];
  unchanged: string[];
  /** Differences apply does not fix, because fixing them could move keys or drop data. */
  drift: string[];
  dryRun: boolean;
}

/**
 * Creates missing topics and reports drift (partition counts, configs) without changing existing
 * topics: adding partitions would move keys away from their state, lowering retention deletes data.
 */
export async function applyTopology(config: Config, opts: { dryRun?: boolean; admin?: Admin } = {}): Promise<TopologyReport> {
  const specs = loadTopology(config);
  const ownAdmin = !opts.admin;
  if (ownAdmin) await waitForBroker(config, config.kafka.connectWaitMs);
  const admin = opts.admin ?? createKafka(config, { clientId: 'risk-hub-topology' }).admin();
  if (ownAdmin) await admin.connect();
  try {
    const report: TopologyReport = { created: [], unchanged: [], drift: [], dryRun: Boolean(opts.dryRun) };
    const existing = new Set(await withTimeout(admin.listTopics(), config.kafka.requestTimeoutMs, 'listing topics'));
    const present = specs.filter((s) => existing.has(s.name)).map((s) => s.name);
    const actualPartitions = new Map<string, number>();
    if (present.length) {
      const md = await admin.fetchTopicMetadata({ topics: present });
      for (const t of md.topics) actualPartitions.set(t.name, t.partitions.length);
    }
    const declaredPartitions = (s: TopicSpec): number => {
      if (typeof s.partitions === 'number') return s.partitions;
      const other = s.partitions.coPartitionedWith;
      const actual = actualPartitions.get(other);
      if (actual !== undefined) return actual;
      return declaredPartitions(specs.find((o) => o.name === other)!);
    };
    const toCreate: ITopicConfig[] = [];
    for (const s of specs) {
      const want = declaredPartitions(s);
      if (!existing.has(s.name)) {
        toCreate.push({
          topic: s.name,
          numPartitions: want,
          replicationFactor: config.topology.replicationFactor,
          configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
        });
        report.created.push(s.name);
        continue;
      }
      const have = actualPartitions.get(s.name);
      if (have !== want) {
        report.drift.push(
          `${s.name}: ${have} partitions, declared ${want}${typeof s.partitions === 'object' ? ` (co-partitioned with ${s.partitions.coPartitionedWith})` : ''}; not changed — repartitioning moves keys away from their state`,
        );
      }
    }
    if (present.length) {
      const described = await admin.describeConfigs({
        includeSynonyms: false,
        resources: present.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name, configNames: Object.keys(specs.find((s) => s.name === name)!.config) })),
      });
      for (const r of described.resources) {
        const spec = specs.find((s) => s.name === r.resourceName)!;
        let same = true;
        for (const [k, v] of Object.entries(spec.config)) {
          const actual = r.configEntries.find((e) => e.configName === k)?.configValue;
          if (actual !== v) {
            same = false;
            report.drift.push(`${spec.name}: ${k} is ${actual ?? '(unset)'}, declared ${v}; not changed — alter it deliberately with kafka-configs if intended`);
          }
        }
        if (same && actualPartitions.get(spec.name) === declaredPartitions(spec)) report.unchanged.push(spec.name);
      }
    }
    if (!opts.dryRun && toCreate.length) {
      await admin.createTopics({ topics: toCreate, waitForLeaders: true, timeout: config.kafka.requestTimeoutMs });
    }
    return report;
  } finally {
    if (ownAdmin) await admin.disconnect();
  }
}
