import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { waitForBrokerForever } from '../../src/kafka/wait.ts';
import { startNotifier, type NotifierHandle } from '../../src/notify/service.ts';
import { LogCollector, produceAlerts, uniqueAlert } from '../notify/kafka-harness.ts';
import { startHttpReceiver } from '../notify/receivers.ts';
import { startGate } from './frozen-proxy.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { freePort as closedPort } from '../ports.ts';

// Issue 13 item 6: a missing Kafka at start is an outage, not a crash. A notifier started while Kafka
// is down waits for it for as long as it takes: /healthz answers 200 (live: no restart), /readyz 503
// with the reason, one log line per interval (not per attempt); SIGTERM during the wait ends it
// cleanly (exit 0); once the broker answers it starts and delivers by itself.

const ROOT = new URL('../..', import.meta.url).pathname;
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const logs = new LogCollector('notifier-kafka-down');
const children: ChildProcess[] = [];
const handles: NotifierHandle[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const h of handles) await h.stop();
  await logs.close();
});

async function get(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('a notifier started while Kafka is down', () => {
  it('(CLI) is live but not ready, logs the wait once per interval, and exits 0 on SIGTERM', async () => {
    const brokerPort = await closedPort();
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RISK_HUB_') && k !== 'KAFKA_BROKERS'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'notifier', '--channel', 'webhook', '--port', '0'], {
      cwd: ROOT,
      env: {
        ...clean,
        KAFKA_BROKERS: `127.0.0.1:${brokerPort}`,
        RISK_HUB_HTTP__HOST: '127.0.0.1',
        RISK_HUB_NOTIFY__WEBHOOK__ENABLED: 'true',
        RISK_HUB_NOTIFY__WEBHOOK__TARGETS__HOOK__URL: 'https://hooks.example.com/risk',
        RISK_HUB_NOTIFY__WEBHOOK__TARGETS__HOOK__SECRETS: secret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const lines: Array<Record<string, unknown>> = [];
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          /* not JSON */
        }
      }
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));

    const port = await eventually(() => lines.find((l) => l.msg === 'http listening')?.port as number | undefined, 60_000, 'the HTTP port');
    expect((await get(port, '/healthz')).status).toBe(200);
    // Several attempts later: still live, not ready, with the reason; one log line (the interval is 30 s).
    const ready = await eventually(async () => {
      const r = await get(port, '/readyz');
      const w = (r.body.detail as { waiting?: { attempts: number } } | undefined)?.waiting;
      return w && w.attempts >= 4 ? r : undefined;
    }, 60_000, 'four failed attempts');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, detail: { waiting: { for: 'Kafka', reason: expect.any(String) } } });
    expect((await get(port, '/healthz')).status).toBe(200);
    expect(lines.filter((l) => /^waiting for Kafka/.test(String(l.msg)))).toHaveLength(1);
    expect(lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    expect(child.exitCode).toBeNull();

    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
  }, 120_000);

  it('(in process) starts, becomes ready and delivers by itself once the broker answers', async () => {
    const base = testConfig();
    const real = base.kafka.brokers[0]!.split(':');
    const gate = await startGate({ host: real[0]!, port: Number(real[1]) });
    const rx = await startHttpReceiver();
    try {
      const config = testConfig({
        notify: { egress: { allow: ['127.0.0.1'] }, webhook: { enabled: true, targets: { hook: { url: `${rx.url}/hook`, secretsEnv: 'WH' } } } },
      });
      await prepareTopics(config);
      // Bootstrap through the gate (closed: every connection reset); the broker's metadata then names its real address.
      const gated = loadConfig({ env: {}, overrides: { ...structuredClone(config), kafka: { ...structuredClone(config.kafka), brokers: [`127.0.0.1:${gate.port}`] } } }) as Config;
      const starting = startNotifier(gated, { channels: ['webhook'], log: logs.logger('gated'), env: { WH: secret }, http: true });
      let handle: NotifierHandle | undefined;
      void starting.then((h) => handles.push((handle = h)));
      await eventually(() => (gate.refused >= 3 ? true : undefined), 60_000, 'three refused attempts');
      expect(handle).toBeUndefined();
      gate.open();
      const n = await starting;
      await eventually(() => (n.isReady() ? true : undefined), 60_000, 'ready after the broker came');
      expect((await get(n.http!.port, '/readyz')).status).toBe(200);
      const a = uniqueAlert();
      await produceAlerts(config, [a]);
      await eventually(() => (rx.requests.some((r) => r.headers['webhook-id'] === a.alert_id) ? true : undefined), 30_000, 'the delivery');
      expect(logs.lines('gated').filter((l) => /^waiting for Kafka/.test(String(l.msg)))).toHaveLength(1);
    } finally {
      await rx.close();
      await gate.close();
    }
  }, 120_000);

  it('waitForBrokerForever reports every failed attempt with a growing delay and stops on abort', async () => {
    const port = await closedPort();
    const config = loadConfig({ env: {}, overrides: { kafka: { brokers: [`127.0.0.1:${port}`], connectionTimeoutMs: 500 } } });
    const abort = new AbortController();
    const seen: Array<{ attempt: number; delayMs: number }> = [];
    const waiting = waitForBrokerForever(config, {
      signal: abort.signal,
      onRetry: (_err, attempt, delayMs) => {
        seen.push({ attempt, delayMs });
        if (attempt === 3) abort.abort(new Error('test over'));
      },
    });
    await expect(waiting).rejects.toThrow('test over');
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(seen[2]!.delayMs).toBeGreaterThan(seen[0]!.delayMs);
  }, 60_000);
});
