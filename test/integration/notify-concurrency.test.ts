import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Config } from '../../src/config/schema.ts';
import type { RiskAlert } from '../../src/contracts.ts';
import type { DeliveryRecord } from '../../src/notify/processor.ts';
import { startNotifier, type NotifierHandle } from '../../src/notify/service.ts';
import { LogCollector, produceAlerts, readTopic, uniqueAlert } from '../notify/kafka-harness.ts';
import { startHttpReceiver, type HttpReceiver } from '../notify/receivers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// Deliveries of different users concurrently (notify.consumer.maxInFlight) on the real broker: many
// users' alerts in flight at once, while members join, leave gracefully, or are SIGKILLed mid-stream.
// What must hold: every alert reaches the target, one user's alerts in order, nothing the ledger
// recorded as delivered is sent again, and a graceful stop or a rebalance sends nothing twice.

const logs = new LogCollector('notify-concurrency');
const secret = randomBytes(32).toString('base64');
const USERS = 30;
const PER_USER = 16;
const IN_FLIGHT = 16;
let rx: HttpReceiver;
const children: ChildProcess[] = [];

function makeConfig(): { config: Config; file: string } {
  const config = testConfig({
    notify: {
      retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 100, budgetMs: 3000 },
      consumer: { sessionTimeoutMs: 6000, maxInFlight: IN_FLIGHT },
      egress: { allow: ['127.0.0.1'] },
      webhook: { enabled: true, timeoutMs: 2000, targets: { siem: { url: rx.url, secretsEnv: 'WH_SECRETS' } } },
    },
    log: { level: 'info' },
  });
  const file = join(logs.dir, `${config.applicationId}.yaml`);
  writeFileSync(file, stringify(config));
  return { config, file };
}

/** USERS users with PER_USER alerts each, in rounds (one alert per user); `seq`: each alert's place in its user's order. */
function userAlerts(tag: string): { rounds: RiskAlert[][]; alerts: RiskAlert[]; seq: Map<string, { user: string; n: number }> } {
  const rounds: RiskAlert[][] = [];
  const seq = new Map<string, { user: string; n: number }>();
  for (let n = 0; n < PER_USER; n++) {
    const round: RiskAlert[] = [];
    for (let u = 0; u < USERS; u++) {
      const user = `${tag}-user-${u}`;
      const a = uniqueAlert({ user: { key: user, identifiers: {} } });
      round.push(a);
      seq.set(a.alert_id, { user, n });
    }
    rounds.push(round);
  }
  return { rounds, alerts: rounds.flat(), seq };
}

/** Produces the rounds as a stream (one every ROUND_MS), so members join and leave while alerts keep coming. */
const ROUND_MS = 250;
async function stream(config: Config, rounds: RiskAlert[][]): Promise<void> {
  for (const round of rounds) {
    await produceAlerts(config, round);
    await new Promise((r) => setTimeout(r, ROUND_MS));
  }
}

const deliveredLines = (name: string) => logs.lines(name).filter((l) => l.msg === 'alert delivered').length;

const ids = () => rx.requests.map((r) => String(r.headers['webhook-id']));
const countOf = (list: string[]) => list.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());

/** Per user, the order in which the target first saw its alerts is the order they were produced. */
function expectOrderPerUser(received: string[], seq: Map<string, { user: string; n: number }>): void {
  const seen = new Set<string>();
  const last = new Map<string, number>();
  for (const id of received) {
    const s = seq.get(id);
    if (!s || seen.has(id)) continue;
    seen.add(id);
    expect(s.n, `${s.user}: alert #${s.n} after #${last.get(s.user)}`).toBe((last.get(s.user) ?? -1) + 1);
    last.set(s.user, s.n);
  }
}

async function delivered(config: Config): Promise<DeliveryRecord[]> {
  return (await readTopic<DeliveryRecord>(config, config.topics.deliveries, 'delivery', 60_000)).map((r) => r.value).filter((r) => r?.status === 'delivered');
}

beforeAll(async () => {
  rx = await startHttpReceiver({ latencyMs: 50 });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rx.close();
  await logs.close();
});

describe('notifier lanes with many deliveries in flight (real broker)', () => {
  it('a member joining and another leaving gracefully mid-stream: every alert once, each user in order', async () => {
    const { config } = makeConfig();
    await prepareTopics(config);
    const { rounds, alerts, seq } = userAlerts('graceful');
    const start = (name: string) => startNotifier(config, { channels: ['webhook'], log: logs.logger(name, 'info'), env: { WH_SECRETS: `whsec_${secret}` }, http: false });
    const mine = () => ids().filter((id) => seq.has(id));
    const a = await start('graceful-a');
    let b: NotifierHandle | undefined;
    try {
      const produced = stream(config, rounds);
      await eventually(() => (mine().length >= 60 ? true : undefined), 60_000, '60 deliveries by the first member');
      b = await start('graceful-b'); // rebalance: the partitions are split between the two
      await eventually(() => (mine().length >= 200 ? true : undefined), 60_000, '200 deliveries');
      const atStop = mine().length;
      await a.stop(); // graceful: in-flight deliveries finish and are recorded, the rest moves to b
      await produced;
      await eventually(() => (new Set(mine()).size === alerts.length ? true : undefined), 90_000, `all ${alerts.length} alerts delivered`);
      await new Promise((r) => setTimeout(r, 1000)); // a late double would show up here
      const counts = countOf(mine());
      expect([...counts].filter(([, c]) => c > 1)).toEqual([]);
      expectOrderPerUser(mine(), seq);
      // Mid-stream indeed: both members delivered, and b went on after a had left.
      await logs.flush();
      expect(atStop).toBeLessThan(alerts.length);
      expect(deliveredLines('graceful-a')).toBeGreaterThan(0);
      expect(deliveredLines('graceful-b')).toBeGreaterThan(0);
      expect(deliveredLines('graceful-a') + deliveredLines('graceful-b')).toBe(alerts.length);
      const ledger = countOf((await delivered(config)).map((r) => r.alert_id));
      expect(ledger.size).toBe(alerts.length);
      expect([...ledger.values()].every((c) => c === 1)).toBe(true);
    } finally {
      await a.stop();
      await b?.stop();
    }
  });

  it('SIGKILL mid-stream: nothing recorded as delivered is sent again, at most the deliveries in flight are, each user in order', async () => {
    const { config, file } = makeConfig();
    await prepareTopics(config);
    const { rounds, alerts, seq } = userAlerts('kill');
    const mine = () => ids().filter((id) => seq.has(id));
    const spawnNotifier = (name: string) => {
      const env: NodeJS.ProcessEnv = { ...process.env, WH_SECRETS: `whsec_${secret}`, LOG_LEVEL: 'info' };
      delete env.RH_FAULT;
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '-c', file, 'notifier', '--channel', 'webhook'], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
      const out = logs.file(name);
      child.stdout?.pipe(out, { end: false });
      child.stderr?.pipe(out, { end: false });
      children.push(child);
      return child;
    };
    const first = spawnNotifier('kill-1');
    const produced = stream(config, rounds);
    await eventually(() => (mine().length >= 80 ? true : undefined), 90_000, '80 deliveries before the kill');
    first.kill('SIGKILL');
    await new Promise<void>((r) => (first.exitCode !== null || first.signalCode !== null ? r() : first.once('exit', () => r())));
    const beforeKill = new Set(mine());
    expect(beforeKill.size).toBeLessThan(alerts.length); // killed mid-stream
    await produced;
    const recordedByFirst = new Set((await delivered(config)).filter((r) => r.notifier.endsWith(`/${first.pid}`)).map((r) => r.alert_id));
    expect(recordedByFirst.size).toBeGreaterThan(0);

    const second = spawnNotifier('kill-2');
    try {
      await eventually(() => (new Set(mine()).size === alerts.length ? true : undefined), 90_000, `all ${alerts.length} alerts delivered`);
      await new Promise((r) => setTimeout(r, 1000));
      const counts = countOf(mine());
      // Recorded as delivered before the kill: never sent again.
      expect([...recordedByFirst].filter((id) => counts.get(id) !== 1)).toEqual([]);
      // Sent twice: only alerts the receiver had taken but whose ledger record the kill prevented (in flight).
      const doubles = [...counts].filter(([, c]) => c > 1).map(([id]) => id);
      expect(doubles.every((id) => beforeKill.has(id) && !recordedByFirst.has(id))).toBe(true);
      expect(doubles.length).toBeLessThanOrEqual(IN_FLIGHT);
      expect([...counts.values()].every((c) => c <= 2)).toBe(true);
      expectOrderPerUser(mine(), seq);
    } finally {
      second.kill('SIGTERM');
      await new Promise<void>((r) => (second.exitCode !== null || second.signalCode !== null ? r() : second.once('exit', () => r())));
    }
  });
});
