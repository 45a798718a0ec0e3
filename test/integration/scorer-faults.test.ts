import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { Decision } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { scorerCommittedTotal, scorerLag } from '../../src/kafka/offsets.ts';
import { resolvePolicy } from '../../src/scoring/index.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { referenceAlerts } from '../scoring/reference.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { AttackProducer, generateStream, startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

const NOW = Date.UTC(2026, 10, 25);
const SCORING = { maxFutureSkewMs: 365 * 24 * 3_600_000 };
/** A policy deciding on most alerts, so the kill -9 test checks decisions are published exactly once too. */
const DECISIONS = {
  rules: [
    { tier: 1, action: 'monitor', durations: ['1h'] },
    { tier: 2, action: 'block', durations: ['15m', '1h', '24h'] },
  ],
};

function expected(config: Config, events: ReturnType<typeof generateStream>): RiskAlert[] {
  return sortAlerts(referenceAlerts(events, (app) => resolvePolicy(config.scoring, app), NOW));
}
function withoutDecision(a: RiskAlert): RiskAlert {
  const { decision: _decision, ...rest } = a;
  return rest;
}
function sortAlerts(a: RiskAlert[]): RiskAlert[] {
  return [...a].sort((x, y) => (x.alert_id < y.alert_id ? -1 : x.alert_id > y.alert_id ? 1 : 0));
}

function spawnScorer(configFile: string, logFile: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'scorer', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RISK_HUB_CONFIG: '' },
  });
  child.stdout!.on('data', (d: Buffer) => writeFileSync(logFile, d, { flag: 'a' }));
  child.stderr!.on('data', (d: Buffer) => writeFileSync(logFile, d, { flag: 'a' }));
  return child;
}

const running: Array<ChildProcess | ScorerHandle> = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    if ('kill' in r) r.kill('SIGKILL');
    else await r.stop().catch(() => undefined);
  }
});

describe('scorer under faults (real broker)', () => {
  it('restores the same scores from the changelog after the state directory is deleted; an intact store reads only the tail', async () => {
    const config = testConfig({ scoring: SCORING });
    await prepareTopics(config);
    const events = generateStream(5_000, 200, 11);
    const producer = await new AttackProducer(config).connect();
    await producer.send(events);
    await producer.disconnect();

    const users = ['u1', 'u2', 'u3', 'u10', 'u14', 'u35'].map((u) => ({ u, app: u === 'u10' || u === 'u35' ? 'billing' : 'shop', env: u === 'u14' || u === 'u35' ? 'staging' : 'production' }));
    const query = async (s: ScorerHandle) =>
      Promise.all(users.map(async ({ u, app, env }) => (await (await fetch(`${s.url}/v1/users/${app}/${env}/${u}/risk`)).json()) as Record<string, unknown>));
    const restored = async (s: ScorerHandle) => Number(/risk_hub_scorer_restore_records_total (\d+)/.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? 'NaN');

    let s = await startTestScorer(config);
    running.push(s);
    await eventually(async () => ((await scorerLag(config)) === 0 ? true : undefined), 120_000, 'processed');
    const before = await query(s);
    expect(before.some((b) => (b.increase_24h as number) > 0)).toBe(true);
    const restoredBase = await restored(s);
    await s.stop();

    rmSync(config.scorer.stateDir, { recursive: true, force: true });
    const { startScorer } = await import('../../src/scorer/scorer.ts');
    const { createLogger } = await import('../../src/log.ts');
    s = await startScorer(config, { log: createLogger({ level: 'warn' }) });
    running.push(s);
    // Readiness stays false until the rebuild ends; when it turns true the scores are all back.
    const seen: boolean[] = [];
    await eventually(async () => {
      const ok = (await fetch(`${s.url}/readyz`)).status === 200;
      seen.push(ok);
      return ok ? true : undefined;
    }, 120_000, 'ready after rebuild');
    expect(seen[0]).toBe(false);
    expect(await query(s)).toEqual(before);
    const rebuilt = (await restored(s)) - restoredBase;
    expect(rebuilt).toBeGreaterThan(0);
    // Each changelog record counted once: never more than the changelog's offsets (records + markers).
    const admin = createKafka(config).admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(`${config.applicationId}-user-risk-changelog`);
    await admin.disconnect();
    expect(rebuilt).toBeLessThanOrEqual(offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0));
    await s.stop();

    s = await startTestScorer(config);
    running.push(s);
    expect((await restored(s)) - restoredBase - rebuilt).toBe(0); // intact store, no tail: nothing replayed
    expect(await query(s)).toEqual(before);
  });
});

// A scorer of one scope cannot fence a zombie of the other, so the group refuses to mix them.
describe('scorers of two transaction scopes in one group (real broker)', () => {
  it('the group refuses the second scope: that scorer stops with RH_SCOPE_MISMATCH, the running one keeps its partitions', async () => {
    const config = testConfig({ scoring: SCORING, scorer: { transactionScope: 'partition' } });
    await prepareTopics(config);
    const a = await startTestScorer(config);
    running.push(a);
    const configB = { ...config, scorer: { ...config.scorer, transactionScope: 'process', stateDir: `${config.scorer.stateDir}-b` } } as Config;
    const { startScorer } = await import('../../src/scorer/scorer.ts');
    const { createLogger } = await import('../../src/log.ts');
    let fatal: (Error & { code?: string }) | undefined;
    const b = await startScorer(configB, { log: createLogger({ level: 'silent' }), onFatal: (err) => (fatal = err as Error & { code?: string }) });
    running.push(b);
    const refused = await eventually(() => fatal, 60_000, 'the process-scope scorer refused');
    expect(refused.code).toBe('RH_SCOPE_MISMATCH');
    expect(refused.message).toContain('scorer.transactionScope process');
    expect(b.isReady()).toBe(false);
    expect(b.ownedPartitions()).toEqual([]);
    expect(a.ownedPartitions()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(a.isReady()).toBe(true);
  });

  it('a partition-scope scorer outside the group (frozen with a transaction open) is fenced when a process-scope scorer takes its partition: its commit fails, nothing of it is read', async () => {
    const config = testConfig({ scoring: SCORING, scorer: { transactionScope: 'process' } });
    await prepareTopics(config);
    const { scorerTransactionalId } = await import('../../src/kafka/names.ts');
    const kafka = createKafka(config);
    const zombie = kafka.producer({ transactionalId: scorerTransactionalId(config, 0), idempotent: true, maxInFlightRequests: 1 });
    await zombie.connect();
    const tx = await zombie.transaction();
    await tx.send({ topic: config.topics.alerts, messages: [{ key: 'zombie', value: 'not an alert', partition: 0 }] });
    const s = await startTestScorer(config);
    running.push(s);
    await expect(tx.commit()).rejects.toThrow(/fenced|epoch/i);
    await zombie.disconnect();
    const alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    const got = await alerts.settle(2_000);
    await alerts.stop();
    expect(got).toEqual([]);
  });
});

// Every exactly-once fault with each transaction scope: a producer per partition (fenced by its
// transactional id) and one per process (fenced by the consumer group's generation, KIP-447).
describe.each(['partition', 'process'] as const)('scorer under faults, transactionScope %s (real broker)', (scope) => {
  it('kill -9 several times during a 50,000-event stream: committed alerts equal the reference model exactly, each decision published once with its alert', async () => {
    const config = testConfig({ scoring: SCORING, scorer: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, transactionScope: scope }, decisions: DECISIONS });
    await prepareTopics(config);
    const dir = join('/tmp/risk-hub-test', config.applicationId);
    mkdirSync(dir, { recursive: true });
    const configFile = join(dir, 'scorer.yaml');
    writeFileSync(
      configFile,
      stringify({ ...JSON.parse(JSON.stringify(config)), log: { level: 'warn' }, http: { host: '127.0.0.1', port: 0 } }),
    );
    const logFile = join(dir, 'scorer.log');
    const events = generateStream(50_000, 1_000, 7);
    const want = expected(config, events);
    expect(want.length).toBeGreaterThan(100);

    let child = spawnScorer(configFile, logFile);
    running.push(child);
    const producer = await new AttackProducer(config).connect();
    // Produce in chunks while killing and restarting the scorer.
    let produced = 0;
    const producing = (async () => {
      // ~1,250 events/s for ~40 s: slower than the scorer, so kills land while the stream flows.
      for (let i = 0; i < events.length; i += 1_000) {
        await producer.send(events.slice(i, i + 1_000));
        produced = i + 1_000;
        await new Promise((r) => setTimeout(r, 800));
      }
    })();
    let kills = 0;
    const committed: number[] = [];
    for (let k = 0; k < 4; k++) {
      // Kill only once the current process has made progress, so every kill lands mid-processing.
      const base = await scorerCommittedTotal(config);
      await eventually(async () => ((await scorerCommittedTotal(config)) > base ? true : undefined), 180_000, 'progress before kill');
      await new Promise((r) => setTimeout(r, 300 + k * 250));
      committed.push(await scorerCommittedTotal(config));
      child.kill('SIGKILL');
      kills++;
      await new Promise((r) => child.once('exit', r));
      child = spawnScorer(configFile, logFile);
      running.push(child);
    }
    await producing;
    await producer.disconnect();
    expect(produced).toBeGreaterThanOrEqual(events.length);
    expect(kills).toBe(4);
    expect(committed[committed.length - 1]).toBeLessThan(events.length); // the last kill came before the end
    console.log(`committed offsets at each kill: ${committed.join(', ')}`);
    await eventually(async () => ((await scorerLag(config)) === 0 ? true : undefined), 240_000, 'scorer lag 0');

    const alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    await alerts.waitFor(want.length, 60_000);
    const got = await alerts.settle(2_000);
    await alerts.stop();
    const ids = got.map((r) => r.value.alert_id);
    expect(new Set(ids).size).toBe(ids.length); // none duplicated
    // none lost, none different (the decision an alert carries is checked below)
    expect(sortAlerts(got.map((r) => withoutDecision(r.value)))).toEqual(want);

    // Decisions: exactly the ones the committed alerts carry, each once, none from an aborted attempt.
    const carried = got.flatMap((r) => (r.value.decision ? [r.value.decision] : []));
    expect(carried.length).toBeGreaterThan(100);
    const decisions = await new TopicReader<Decision | null>(config, config.topics.decisions, 'decision').start();
    await decisions.waitFor(carried.length, 60_000);
    const published = (await decisions.settle(2_000)).flatMap((r) => (r.value ? [r.value] : []));
    await decisions.stop();
    const publishedIds = published.map((d) => d.decision_id);
    expect(new Set(publishedIds).size).toBe(publishedIds.length);
    const byId = (a: Decision, b: Decision) => (a.decision_id < b.decision_id ? -1 : 1);
    expect([...published].sort(byId)).toEqual([...carried].sort(byId));
  });

  it('a second instance joins mid-stream and leaves: alerts stay exactly the reference, no duplicate alert_id', async () => {
    const config = testConfig({ scoring: SCORING, scorer: { transactionScope: scope } });
    await prepareTopics(config);
    const events = generateStream(20_000, 500, 3);
    const want = expected(config, events);
    const producer = await new AttackProducer(config).connect();
    const a = await startTestScorer(config);
    running.push(a);
    await producer.send(events.slice(0, 7_000));
    const configB = { ...config, scorer: { ...config.scorer, stateDir: `${config.scorer.stateDir}-b` } } as Config;
    const { startScorer } = await import('../../src/scorer/scorer.ts');
    const { createLogger } = await import('../../src/log.ts');
    const b = await startScorer(configB, { log: createLogger({ level: 'warn' }) });
    running.push(b);
    await producer.send(events.slice(7_000, 14_000));
    await eventually(() => (b.ownedPartitions().length > 0 && a.ownedPartitions().length > 0 ? true : undefined), 60_000, 'both own partitions');
    // Ask B about a user on a partition A owns: 421 with A's URL.
    const { partitionFor } = await import('../../src/kafka/partitioner.ts');
    const onA = Array.from({ length: 500 }, (_, i) => `u${i}`).find((u) => a.ownedPartitions().includes(partitionFor(`shop/production/${u}`, 6)))!;
    const r = await fetch(`${b.url}/v1/users/shop/production/${onA}/risk`);
    expect(r.status).toBe(421);
    expect(((await r.json()) as { owner: { url: string } }).owner.url).toBe(a.url);
    await b.stop();
    await producer.send(events.slice(14_000));
    await producer.disconnect();
    await eventually(async () => ((await scorerLag(config)) === 0 ? true : undefined), 120_000, 'processed');
    const alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    await alerts.waitFor(want.length, 60_000);
    const got = await alerts.settle(2_000);
    await alerts.stop();
    const ids = got.map((x) => x.value.alert_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(sortAlerts(got.map((x) => withoutDecision(x.value)))).toEqual(want);
  });

  it('a zombie: a member frozen (SIGSTOP) past its session while the stream flows, its partitions moved to another, then thawed: alerts stay exactly the reference, no duplicate alert_id', async () => {
    // Transactions open for 2 s: A is frozen holding one, and commits it (tries to) the moment it thaws.
    const config = testConfig({ scoring: SCORING, scorer: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, commitIntervalMs: 2_000, transactionScope: scope } });
    await prepareTopics(config);
    const dir = join('/tmp/risk-hub-test', config.applicationId);
    mkdirSync(dir, { recursive: true });
    const configFile = join(dir, 'scorer.yaml');
    writeFileSync(configFile, stringify({ ...JSON.parse(JSON.stringify(config)), log: { level: 'warn' }, http: { host: '127.0.0.1', port: 0 } }));
    const events = generateStream(30_000, 600, 11);
    const want = expected(config, events);
    const producer = await new AttackProducer(config).connect();
    const a = spawnScorer(configFile, join(dir, 'scorer-a.log'));
    running.push(a);
    await producer.send(events.slice(0, 6_000));
    await eventually(async () => ((await scorerCommittedTotal(config)) > 0 ? true : undefined), 120_000, 'A committing');
    const configB = { ...config, scorer: { ...config.scorer, stateDir: `${config.scorer.stateDir}-b` } } as Config;
    const { startScorer } = await import('../../src/scorer/scorer.ts');
    const { createLogger } = await import('../../src/log.ts');
    const b = await startScorer(configB, { log: createLogger({ level: 'warn' }) });
    running.push(b);
    await eventually(() => (b.ownedPartitions().length > 0 && b.ownedPartitions().length < 6 ? true : undefined), 60_000, 'A and B sharing the partitions');
    // Freeze A with work in hand: it keeps its open transactions, its cache and its view of the group.
    await producer.send(events.slice(6_000, 12_000));
    await new Promise((r) => setTimeout(r, 1_000));
    a.kill('SIGSTOP');
    try {
      await eventually(() => (b.ownedPartitions().length === 6 ? true : undefined), 60_000, 'B owning every partition once A is gone');
      await producer.send(events.slice(12_000, 20_000));
      await eventually(async () => ((await scorerLag(config)) === 0 ? true : undefined), 120_000, 'B caught up');
    } finally {
      a.kill('SIGCONT');
    }
    // A thaws with stale transactions, stale caches and a stale generation; it rejoins and gets partitions back.
    await producer.send(events.slice(20_000));
    await producer.disconnect();
    await eventually(() => (b.ownedPartitions().length < 6 ? true : undefined), 60_000, 'A back in the group');
    await eventually(async () => ((await scorerLag(config)) === 0 ? true : undefined), 120_000, 'processed');
    const alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    await alerts.waitFor(want.length, 60_000);
    const got = await alerts.settle(3_000);
    await alerts.stop();
    const ids = got.map((x) => x.value.alert_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(sortAlerts(got.map((x) => withoutDecision(x.value)))).toEqual(want);
  });
});
