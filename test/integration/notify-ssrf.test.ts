import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { RiskAlert } from '../../src/contracts.ts';
import { dlqTopic } from '../../src/notify/dead-letter.ts';
import type { DeliveryRecord } from '../../src/notify/processor.ts';
import { startNotifier, type NotifierHandle } from '../../src/notify/service.ts';
import { ledgerFor, LogCollector, produceAlerts, readTopic, uniqueAlert } from '../notify/kafka-harness.ts';
import { startHttpReceiver, type HttpReceiver } from '../notify/receivers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// Webhook targets that point at private, metadata and loopback addresses are refused by the notifier
// before any connection is opened. Every TCP connection this process opens is observed (net.connect,
// which undici and kafkajs use): none may go anywhere but loopback.

const require = createRequire(import.meta.url);
const net = require('node:net') as typeof import('node:net') & { connect: (...a: unknown[]) => unknown };
const realConnect = net.connect;
const destinations: string[] = [];

const logs = new LogCollector('notify-ssrf');
const secret = randomBytes(32).toString('base64');
let rx: HttpReceiver;
const running: NotifierHandle[] = [];

async function notifierWith(targets: Record<string, string>, allow: string[]): Promise<Config> {
  const config = testConfig({
    notify: {
      retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 100, budgetMs: 3000 },
      egress: { allow },
      webhook: { enabled: true, timeoutMs: 2000, targets: Object.fromEntries(Object.entries(targets).map(([id, url]) => [id, { url, secretsEnv: 'WH' }])) },
    },
  });
  await prepareTopics(config);
  const n = await startNotifier(config, { channels: ['webhook'], log: logs.logger(config.applicationId), env: { WH: `whsec_${secret}` }, http: false });
  running.push(n);
  await eventually(() => (n.isReady() ? true : undefined), 60_000, 'notifier joined');
  return config;
}

async function outcomes(config: Config, a: RiskAlert, n: number): Promise<DeliveryRecord[]> {
  return eventually(async () => {
    const rs = (await ledgerFor(config, a.alert_id)).filter((r) => r.status !== 'retrying');
    return rs.length >= n ? rs : undefined;
  }, 30_000, `${n} final ledger records`);
}

beforeAll(async () => {
  rx = await startHttpReceiver();
  net.connect = function (this: unknown, ...args: unknown[]) {
    const o = args[0] as { host?: string } | number;
    destinations.push(typeof o === 'object' && o ? String(o.host ?? 'localhost') : String(args[1] ?? 'localhost'));
    return (realConnect as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof net.connect;
});
afterAll(async () => {
  net.connect = realConnect;
  for (const n of running) await n.stop();
  await rx.close();
  await logs.close();
});

describe('webhook egress guard (real notifier, real broker)', () => {
  it('refuses private, metadata and loopback targets at once, sending no packet beyond loopback', async () => {
    const port = rx.port;
    const config = await notifierWith(
      {
        private10: 'http://10.0.0.1/hook',
        metadata: 'http://169.254.169.254/latest/meta-data/',
        metadataV6: 'http://[fd00:ec2::254]/',
        alibaba: 'http://100.100.100.200/',
        loopbackIp: `http://127.0.0.1:${port}/hook`,
        loopbackName: `http://localhost:${port}/hook`,
      },
      [],
    );
    const a = uniqueAlert();
    await produceAlerts(config, [a]);
    const rs = await outcomes(config, a, 6);
    expect(rs.map((r) => [r.target_id, r.status, r.result, r.attempt]).sort()).toEqual(
      ['alibaba', 'loopbackIp', 'loopbackName', 'metadata', 'metadataV6', 'private10'].map((t) => [t, 'dead_lettered', 'egress_refused', 1]),
    );
    expect(rs.every((r) => r.latency_ms < 500)).toBe(true);
    expect(rs.find((r) => r.target_id === 'metadata')?.error).toMatch(/metadata/);
    expect(rs.find((r) => r.target_id === 'loopbackName')?.error).toMatch(/localhost \(resolves to (127\.0\.0\.1|::1)\): loopback address/);
    expect(rx.requests).toHaveLength(0);
    const nonLoopback = destinations.filter((d) => !/^(127\.|::1$|localhost$|::ffff:127\.)/.test(d));
    expect(nonLoopback).toEqual([]);
    expect(destinations.length).toBeGreaterThan(0); // the spy does see connections (kafkajs)
    const dl = (await readTopic<RiskAlert>(config, dlqTopic(config, 'webhook'), 'alert')).filter((r) => r.value?.alert_id === a.alert_id);
    expect(dl.map((r) => r.headers['x-risk-hub-status'])).toEqual(Array(6).fill('egress_refused'));
  });

  it('a host name resolving to loopback is delivered once the allow-list names it', async () => {
    // dual-stack receiver: localhost may resolve to ::1 or 127.0.0.1
    const dual = await startHttpReceiver({ host: '::' });
    try {
      const config = await notifierWith({ local: `http://localhost:${dual.port}/hook` }, ['localhost']);
      const a = uniqueAlert();
      await produceAlerts(config, [a]);
      const rs = await outcomes(config, a, 1);
      expect(rs.map((r) => [r.status, r.result])).toEqual([['delivered', 'http_200']]);
      expect(dual.requests.filter((r) => r.headers['webhook-id'] === a.alert_id)).toHaveLength(1);
      expect(dual.requests[0]?.headers.host).toBe(`localhost:${dual.port}`);
    } finally {
      await dual.close();
    }
  });
});
