import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { groupIdFor, laneGroupId } from '../../src/notify/consumer.ts';
import { startNotifier, type NotifierHandle } from '../../src/notify/service.ts';
import { ledgerFor, LogCollector, produceAlerts, uniqueAlert } from '../notify/kafka-harness.ts';
import { startHttpReceiver, type HttpReceiver } from '../notify/receivers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// Issue 13 item 9: one hanging webhook target must not delay the others. Before, a channel's targets
// shared one consumer group and an alert completed only when its slowest target did: beside a hanging
// target, a healthy one received a user's 4 alerts at 0.1, 70, 137 and 206 s. Each target is now its
// own delivery lane (consumer group `<app>-notifier-<channel>-<target>`): the healthy target gets all
// four alerts, in order, while the hanging one still holds the first; released, the hanging target
// then gets all four in order too, each target exactly once.

const logs = new LogCollector('notify-lanes');
const secret = randomBytes(32).toString('base64');
let slow: HttpReceiver;
let fast: HttpReceiver;
let notifier: NotifierHandle | undefined;
let config: Config;

beforeAll(async () => {
  slow = await startHttpReceiver({ script: [{ hang: true }] });
  fast = await startHttpReceiver();
  config = testConfig({
    notify: {
      // The hanging target would hold its alert for 30 s per attempt, up to 60 s: far longer than the test.
      retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 100, budgetMs: 60_000 },
      egress: { allow: ['127.0.0.1'] },
      webhook: { enabled: true, timeoutMs: 30_000, targets: { slow: { url: slow.url, secretsEnv: 'WH' }, fast: { url: fast.url, secretsEnv: 'WH' } } },
    },
  });
  await prepareTopics(config);
  notifier = await startNotifier(config, { channels: ['webhook'], log: logs.logger('notifier'), env: { WH: `whsec_${secret}` }, http: false });
  await eventually(() => (notifier!.isReady() ? true : undefined), 60_000, 'both lanes joined');
}, 120_000);

afterAll(async () => {
  await notifier?.stop();
  await slow?.close();
  await fast?.close();
  await logs.close();
});

const ids = (rx: HttpReceiver) => rx.requests.map((r) => String(r.headers['webhook-id']));

describe('webhook targets are independent delivery lanes', () => {
  it('a healthy target gets each of a user\'s alerts while another target of the channel hangs on the first', async () => {
    const user = { key: `lane-user-${randomBytes(3).toString('hex')}`, identifiers: {} };
    const alerts = [1, 2, 3, 4].map((tier) => uniqueAlert({ user, tier }));
    for (const a of alerts) {
      await produceAlerts(config, [a]);
      await eventually(() => (ids(fast).includes(a.alert_id) ? true : undefined), 20_000, `fast target got ${a.alert_id}`);
    }
    // All four reached the healthy target, in the user's order, once each...
    expect(ids(fast)).toEqual(alerts.map((a) => a.alert_id));
    // ...while the hanging target still holds the first one, and has not been offered the others.
    expect(ids(slow)).toEqual([alerts[0]!.alert_id]);
    const slowFinal = (await ledgerFor(config, alerts[0]!.alert_id)).filter((r) => r.target_id === 'slow' && r.status !== 'retrying');
    expect(slowFinal).toEqual([]);

    // The hanging target recovers: it gets the rest, in order, and nothing is sent twice anywhere.
    slow.script({ status: 200 });
    slow.release();
    await eventually(() => (alerts.every((a) => ids(slow).includes(a.alert_id)) ? true : undefined), 30_000, 'slow target caught up');
    expect(ids(slow)).toEqual(alerts.map((a) => a.alert_id));
    expect(ids(fast)).toEqual(alerts.map((a) => a.alert_id));
    for (const a of alerts) {
      const final = await eventually(async () => {
        const rs = (await ledgerFor(config, a.alert_id)).filter((r) => r.status !== 'retrying');
        return rs.length >= 2 ? rs : undefined;
      }, 20_000, `ledger of ${a.alert_id}`);
      expect(final.map((r) => [r.target_id, r.status]).sort()).toEqual([
        ['fast', 'delivered'],
        ['slow', 'delivered'],
      ]);
    }
  }, 120_000);

  it('each target has its own consumer group, committed past every alert', async () => {
    const admin = createKafka(config).admin();
    await admin.connect();
    try {
      const ends = await admin.fetchTopicOffsets(config.topics.alerts);
      for (const target of ['slow', 'fast']) {
        const groupId = laneGroupId(config, 'webhook', target);
        expect(groupId).toBe(`${config.applicationId}-notifier-webhook-${target}`);
        await eventually(async () => {
          const committed = (await admin.fetchOffsets({ groupId, topics: [config.topics.alerts] }))[0]?.partitions ?? [];
          return ends.every((e) => BigInt(committed.find((c) => c.partition === e.partition)?.offset ?? '-1') >= BigInt(e.high) || e.high === e.low) ? true : undefined;
        }, 20_000, `${groupId} committed`);
      }
    } finally {
      await admin.disconnect();
    }
  });

  it('upgrading from one group per channel: a new lane starts where the former channel group stood', async () => {
    const rx = await startHttpReceiver();
    const c = testConfig({ notify: { egress: { allow: ['127.0.0.1'] }, webhook: { enabled: true, targets: { hook: { url: rx.url, secretsEnv: 'WH' } } } } });
    await prepareTopics(c);
    const admin = createKafka(c).admin();
    await admin.connect();
    let n: NotifierHandle | undefined;
    try {
      // Handled by the former group before the upgrade: its committed offsets are past it.
      const old = uniqueAlert();
      await produceAlerts(c, [old]);
      const ends = await admin.fetchTopicOffsets(c.topics.alerts);
      await admin.setOffsets({ groupId: groupIdFor(c, 'webhook'), topic: c.topics.alerts, partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })) });
      n = await startNotifier(c, { channels: ['webhook'], log: logs.logger('upgrade'), env: { WH: `whsec_${secret}` }, http: false });
      await eventually(() => (n!.isReady() ? true : undefined), 60_000, 'lane joined');
      const fresh = uniqueAlert();
      await produceAlerts(c, [fresh]);
      await eventually(() => (ids(rx).includes(fresh.alert_id) ? true : undefined), 20_000, 'the new alert');
      expect(ids(rx)).toEqual([fresh.alert_id]);
      expect(logs.lines('upgrade').some((l) => /starts at the offsets of the former channel group/.test(String(l.msg)))).toBe(true);
    } finally {
      await n?.stop();
      await admin.disconnect();
      await rx.close();
    }
  }, 120_000);
});
