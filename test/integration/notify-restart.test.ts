import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { Config } from '../../src/config/schema.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { laneGroupId } from '../../src/notify/consumer.ts';
import { startNotifier } from '../../src/notify/service.ts';
import { ledgerFor, LogCollector, produceAlerts, uniqueAlert } from '../notify/kafka-harness.ts';
import { startHttpReceiver, type HttpReceiver } from '../notify/receivers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// Crash and rebalance: the notifier runs as a real child process (the CLI), is stopped for good at the
// point "delivered and recorded on the ledger, input offset not committed" (RH_FAULT), then
// SIGKILLed or abandoned. Whoever handles the partition next must not send the alert again.

const logs = new LogCollector('notify-restart');
const secret = randomBytes(32).toString('base64');
let rx: HttpReceiver;
const children: ChildProcess[] = [];

function makeConfig(extra: Record<string, unknown> = {}): { config: Config; file: string } {
  const config = testConfig({
    notify: {
      retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 100, budgetMs: 3000 },
      consumer: { sessionTimeoutMs: 6000 },
      egress: { allow: ['127.0.0.1'] },
      webhook: { enabled: true, timeoutMs: 1000, targets: { siem: { url: rx.url, secretsEnv: 'WH_SECRETS' } } },
      ...extra,
    },
    log: { level: 'info' },
  });
  const file = join(logs.dir, `${config.applicationId}.yaml`);
  writeFileSync(file, stringify(config));
  return { config, file };
}

function spawnNotifier(file: string, name: string, fault?: string): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, WH_SECRETS: `whsec_${secret}`, LOG_LEVEL: 'info' };
  delete env.RH_FAULT;
  if (fault) env.RH_FAULT = fault;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '-c', file, 'notifier', '--channel', 'webhook'], { cwd: process.cwd(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = logs.file(name);
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  children.push(child);
  return child;
}

const exited = (c: ChildProcess, timeoutMs: number) =>
  new Promise<number | string | null>((resolve, reject) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve(c.exitCode ?? c.signalCode);
    const t = setTimeout(() => reject(new Error(`child ${c.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    c.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve(code ?? signal);
    });
  });

async function committed(config: Config, partition: number): Promise<bigint> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const r = await admin.fetchOffsets({ groupId: laneGroupId(config, 'webhook', 'siem'), topics: [config.topics.alerts] });
    return BigInt(r[0]?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
  } finally {
    await admin.disconnect();
  }
}

/** Waits for a log message of a child, failing at once if the child died. */
async function waitLog(child: ChildProcess, name: string, msg: string, timeoutMs = 60_000): Promise<void> {
  await eventually(
    () => {
      if (logged(name, msg)) return true;
      if (child.exitCode !== null || child.signalCode !== null) throw Object.assign(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before logging "${msg}"`), { fatal: true });
      return undefined;
    },
    timeoutMs,
    `"${msg}" in ${name}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- ${name} log ---\n${logs.lines(name).slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
  });
}

const hits = (id: string) => rx.requests.filter((r) => r.headers['webhook-id'] === id).length;
const logged = (name: string, msg: string) => logs.lines(name).some((l) => String(l.msg ?? '').includes(msg));

beforeAll(async () => {
  rx = await startHttpReceiver();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await rx.close();
  await logs.close();
});

describe('notifier crash and rebalance (child processes, real broker)', () => {
  it('killed after delivering and recording but before committing: not sent again on restart', async () => {
    const { config, file } = makeConfig();
    await prepareTopics(config);
    const first = spawnNotifier(file, 'restart-1', 'notifier.before-commit');
    const a = uniqueAlert();
    const [meta] = await produceAlerts(config, [a]);
    const offset = BigInt(meta!.baseOffset!);
    await waitLog(first, 'restart-1', 'fault point reached');
    expect(hits(a.alert_id)).toBe(1);
    expect((await ledgerFor(config, a.alert_id)).map((r) => r.status)).toEqual(['delivered']);
    expect(await committed(config, meta!.partition)).toBeLessThanOrEqual(offset); // not committed
    first.kill('SIGKILL');
    expect(await exited(first, 10_000)).toBe('SIGKILL');

    const second = spawnNotifier(file, 'restart-2');
    await eventually(async () => ((await committed(config, meta!.partition)) > offset ? true : undefined), 60_000, 'the restarted notifier to commit past the alert');
    const b = uniqueAlert();
    await produceAlerts(config, [b]);
    await eventually(() => (hits(b.alert_id) === 1 ? true : undefined), 30_000, 'the next alert');
    expect(hits(a.alert_id)).toBe(1);
    expect(logged('restart-2', 'already handled on this target')).toBe(true);

    // graceful stop on SIGTERM
    second.kill('SIGTERM');
    expect(await exited(second, 30_000)).toBe(0);
  });

  it('a stuck member loses its partitions to a new one, which does not send the alert again', async () => {
    const { config, file } = makeConfig();
    await prepareTopics(config);
    const stuck = spawnNotifier(file, 'rebalance-stuck', 'notifier.before-commit');
    const a = uniqueAlert();
    const [meta] = await produceAlerts(config, [a]);
    await waitLog(stuck, 'rebalance-stuck', 'fault point reached');
    expect(hits(a.alert_id)).toBe(1);
    // Another member joins the group; the stuck one stops heart-beating and is evicted.
    const other = await startNotifier(config, { channels: ['webhook'], log: logs.logger('rebalance-new', 'info'), env: { WH_SECRETS: `whsec_${secret}` }, http: false });
    try {
      await eventually(async () => ((await committed(config, meta!.partition)) > BigInt(meta!.baseOffset!) ? true : undefined), 90_000, 'the new member to take over and commit');
      const b = uniqueAlert();
      await produceAlerts(config, [b]);
      await eventually(() => (hits(b.alert_id) === 1 ? true : undefined), 30_000, 'the next alert');
      expect(hits(a.alert_id)).toBe(1);
      expect(logged('rebalance-new', 'already handled on this target')).toBe(true);
    } finally {
      await other.stop();
      stuck.kill('SIGKILL');
      await exited(stuck, 10_000);
    }
  });

  it('no secret in the logs of the child processes', async () => {
    await logs.flush();
    expect(logs.scan(['notifier started'])).not.toEqual([]);
    expect(logs.scan([secret])).toEqual([]);
  });
});
