import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { Agent } from '@risk-hub/agent';
import { testAgent } from './agent-helpers.ts';
import { startExampleApp, type ExampleApp } from '../../examples/express-app/server.ts';
import { BrokerProxy, brokerAddress, readAttacks, type ReadRecord } from '../agent/kafka-helpers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// The broker goes away (for this agent only: every broker connection of its kafkajs client runs through
// a loopback TCP proxy that the test closes and reopens; the shared broker keeps running for everyone
// else). The application must keep answering at normal latency, the agent's queue must stay bounded,
// dropping the oldest, and events produced after the broker is back must be delivered.

const MAX_QUEUE = 20;
const BATCH = 5;

let config: Config;
let proxy: BrokerProxy;
let agent: Agent;
let app: ExampleApp;
let reader: { records: ReadRecord[]; stop: () => Promise<void> };

beforeAll(async () => {
  config = testConfig();
  await prepareTopics(config);
  proxy = new BrokerProxy(brokerAddress(config));
  await proxy.open(); // pick a port, then start with the broker "down"
  await proxy.close();
  agent = testAgent(config, {
    application: 'demo-shop',
    socketFactory: proxy.socketFactory,
    maxQueue: MAX_QUEUE,
    batchSize: BATCH,
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 5000,
    maxEventsPerUserPerMinute: 10_000,
    wafBudgetMicros: 1_000_000,
  });
  app = await startExampleApp({ agent });
  reader = await readAttacks(config);
});

afterAll(async () => {
  await app?.close();
  await agent?.close({ timeoutMs: 3000 });
  await proxy?.close();
  await reader?.stop();
});

async function timedGet(path: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${app.url}${path}`, { headers: { 'user-agent': 'Mozilla/5.0 it' } });
  await res.arrayBuffer();
  expect(res.status).toBeLessThan(500);
  return performance.now() - t0;
}

function p90(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length * 0.9)] ?? 0;
}

const attack = (marker: string): string => `/search?q=${encodeURIComponent(`${marker}' OR '1'='1`)}`;

describe('agent while the broker is unreachable', { timeout: 180_000 }, () => {
  it('keeps the app fast and the queue bounded; after the broker returns, new events are delivered', async () => {
    // Baseline latency with the broker unreachable but no attacks yet.
    const baseline: number[] = [];
    for (let i = 0; i < 30; i++) baseline.push(await timedGet('/search?q=socks'));

    // 60 attacks while the broker is down.
    const during: number[] = [];
    for (let i = 0; i < 60; i++) {
      during.push(await timedGet(attack(`down-${i}`)));
      during.push(await timedGet('/search?q=socks'));
    }
    await eventually(() => (agent.stats().detections >= 60 ? true : undefined), 30_000, 'detections');
    const s = agent.stats();
    expect(s.kafkaReachable).not.toBe(true); // null while the first attempt is still retrying, false after it failed
    expect(s.queued).toBeLessThanOrEqual(MAX_QUEUE);
    expect(s.inFlight).toBeLessThanOrEqual(BATCH);
    expect(s.sent).toBe(0);
    expect(s.droppedQueueFull).toBe(60 - s.queued - s.inFlight);
    // normal latency: the p90 under outage stays within a small margin of the baseline
    expect(p90(during)).toBeLessThan(Math.max(3 * p90(baseline), p90(baseline) + 50));
    expect(reader.records.filter((r) => r.value.request?.path?.includes('down-'))).toEqual([]);

    // The broker returns: what was kept (the newest) is delivered, then new events too.
    const kept = s.queued + s.inFlight;
    await proxy.open();
    await eventually(() => (agent.stats().sent >= kept ? true : undefined), 60_000, 'queued events delivered');
    for (let i = 0; i < 3; i++) await timedGet(attack(`back-${i}`));
    const back = await eventually(() => {
      const got = reader.records.filter((r) => r.value.request?.path?.includes('back-'));
      return got.length >= 3 ? got : undefined;
    }, 60_000, 'events produced after the broker returned');
    expect(back).toHaveLength(3);
    const downDelivered = reader.records.filter((r) => r.value.request?.path?.includes('down-'));
    expect(downDelivered).toHaveLength(kept);
    // drop-oldest: the last attack sent while down is among the delivered ones
    expect(downDelivered.some((r) => r.value.request!.path!.includes('down-59'))).toBe(true);
    expect(new Set(reader.records.map((r) => r.value.event_id)).size).toBe(reader.records.length);
    expect(agent.stats().kafkaReachable).toBe(true);
  });

  it('survives the broker going away mid-run and coming back (connected producer)', async () => {
    const before = reader.records.length;
    await timedGet(attack('steady'));
    await eventually(() => (reader.records.length > before ? true : undefined), 30_000, 'steady event');
    const droppedBefore = agent.stats().droppedQueueFull;
    await proxy.close();
    const during: number[] = [];
    for (let i = 0; i < 30; i++) during.push(await timedGet(attack(`gone-${i}`)));
    await eventually(() => (agent.stats().detections >= 64 + 30 ? true : undefined), 30_000, 'detections');
    await new Promise((r) => setTimeout(r, 1500));
    const s1 = agent.stats();
    expect(s1.queued).toBeLessThanOrEqual(MAX_QUEUE);
    expect(s1.inFlight).toBeLessThanOrEqual(BATCH);
    // nothing got through while the proxy was closed, and the overflow was dropped
    expect(reader.records.filter((r) => r.value.request?.path?.includes('gone-'))).toEqual([]);
    expect(s1.droppedQueueFull - droppedBefore).toBe(30 - s1.queued - s1.inFlight);
    expect(p90(during)).toBeLessThan(250);
    await proxy.open();
    await timedGet(attack('again'));
    await eventually(() => (reader.records.some((r) => r.value.request?.path?.includes('again')) ? true : undefined), 90_000, 'event after second return');
    const s = agent.stats();
    expect(s.queued + s.inFlight).toBe(0);
    // everything held is delivered, minus what the 'again' event pushed out if it arrived before the queue drained
    expect(reader.records.filter((r) => r.value.request?.path?.includes('gone-')).length).toBe(s1.queued + s1.inFlight - (s.droppedQueueFull - s1.droppedQueueFull));
    expect(new Set(reader.records.map((r) => r.value.event_id)).size).toBe(reader.records.length);
  });
});
