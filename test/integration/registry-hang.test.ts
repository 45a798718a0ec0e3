import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { loadConfig } from '../../src/config/load.ts';
import { RegistryUnavailableError } from '../../src/errors.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { AvroSerde, readerType, subjectFor } from '../../src/kafka/serde.ts';
import { registerSchema, readSchemaFile } from '../../src/kafka/schemas.ts';
import { resolveAsset } from '../../src/paths.ts';
import { laneGroupId } from '../../src/notify/consumer.ts';
import { startNotifier, type NotifierHandle } from '../../src/notify/service.ts';
import { LogCollector, produceAlerts, uniqueAlert } from '../notify/kafka-harness.ts';
import { startHttpReceiver, type HttpReceiver } from '../notify/receivers.ts';
import { startFrozenProxy, type FrozenProxy } from './frozen-proxy.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// Issue 13 item 4: a schema registry that hangs (SIGSTOP: connections accepted, nothing answered)
// must not take a process down with it. Every registry call is bounded by schemaRegistry.timeoutMs and
// gives a retriable RegistryUnavailableError; the notifier logs the outage once, keeps its consumer in
// its group (heart-beating) for longer than the session timeout, and delivers the alert by itself once
// the registry answers again. The hang is a TCP proxy in front of the real registry that stops
// forwarding (test/integration/frozen-proxy.ts).

const logs = new LogCollector('registry-hang');
const secret = randomBytes(32).toString('base64');
let rx: HttpReceiver;
let proxy: FrozenProxy;
let notifier: NotifierHandle | undefined;
let config: Config;
let viaProxy: Config;
const SESSION_MS = 6000;

beforeAll(async () => {
  rx = await startHttpReceiver();
  config = testConfig({
    notify: {
      retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 100, budgetMs: 3000 },
      egress: { allow: ['127.0.0.1'] },
      consumer: { sessionTimeoutMs: SESSION_MS },
      webhook: { enabled: true, timeoutMs: 2000, targets: { hook: { url: `${rx.url}/hook`, secretsEnv: 'WH' } } },
    },
  });
  await prepareTopics(config);
  const real = new URL(config.schemaRegistry.url);
  proxy = await startFrozenProxy({ host: real.hostname, port: Number(real.port) });
  viaProxy = loadConfig({ env: {}, overrides: { ...structuredClone(config), schemaRegistry: { url: proxy.urlFor(config.schemaRegistry.url), timeoutMs: 1000 } } }) as Config;
}, 120_000);

afterAll(async () => {
  await notifier?.stop();
  await proxy?.close();
  await rx?.close();
  await logs.close();
});

describe('a hung schema registry (frozen TCP proxy in front of the real one)', () => {
  it('a decode call fails within schemaRegistry.timeoutMs with a retriable RegistryUnavailableError, and works once thawed', async () => {
    const serde = new AvroSerde(config);
    const frame = await serde.encode(subjectFor(config.topics.alerts), uniqueAlert());
    proxy.freeze();
    try {
      const err = await new AvroSerde(viaProxy, { log: logs.logger('decode') }).decode(frame, readerType('risk-alert.avsc')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryUnavailableError);
      expect(err).toMatchObject({ retriable: true, code: 'RH_REGISTRY_UNAVAILABLE' });
      expect((err as Error).message).toMatch(/did not answer schema id \d+ within 1000 ms/);
      // `schemas register` (plain HTTP) is bounded the same way.
      const schema = readSchemaFile(resolveAsset('schemas/risk-alert.avsc'));
      await expect(registerSchema(viaProxy, subjectFor(config.topics.alerts), schema)).rejects.toBeInstanceOf(RegistryUnavailableError);
    } finally {
      proxy.thaw();
    }
    const ok = await new AvroSerde(viaProxy, { log: logs.logger('decode') }).decode(frame, readerType('risk-alert.avsc'));
    expect(ok.schemaId).toBe(frame.readInt32BE(1));
  }, 60_000);

  it('the notifier logs the outage once, stays in its group past the session timeout, and delivers by itself after the thaw', async () => {
    notifier = await startNotifier(viaProxy, { channels: ['webhook'], log: logs.logger('notifier'), env: { WH: `whsec_${secret}` }, http: false });
    await eventually(() => (notifier!.isReady() ? true : undefined), 60_000, 'notifier joined');
    const kafka = createKafka(config, { clientId: 'registry-hang-test' });
    const admin = kafka.admin();
    await admin.connect();
    const groupId = laneGroupId(config, 'webhook', 'hook');
    const members = async () => (await admin.describeGroups([groupId])).groups[0];
    const before = await members();
    expect(before?.state).toBe('Stable');

    // Frozen before the first alert: its writer schema (by id) is not cached yet, so decoding needs the registry.
    proxy.freeze();
    const a = uniqueAlert();
    await produceAlerts(config, [a]);
    const outageLines = () => logs.lines('notifier').filter((l) => /schema registry unavailable/.test(String(l.msg)));
    await eventually(() => (outageLines().length > 0 ? true : undefined), 30_000, 'the outage log line');
    // Several timeouts later, and longer than the session timeout: still one line, still the same member.
    const accepted = proxy.accepted;
    await eventually(() => (proxy.accepted >= accepted + 3 ? true : undefined), 30_000, 'three more registry attempts');
    await new Promise((r) => setTimeout(r, SESSION_MS + 2000));
    expect(outageLines()).toHaveLength(1);
    expect(outageLines()[0]).toMatchObject({ level: 50 });
    const during = await members();
    expect(during?.state).toBe('Stable');
    expect(during?.members.map((m) => m.memberId)).toEqual(before?.members.map((m) => m.memberId));
    expect(rx.requests.filter((r) => r.headers['webhook-id'] === a.alert_id)).toHaveLength(0);
    // No ERROR line per record or per retry from kafkajs either.
    expect(logs.lines('notifier').filter((l) => l.level === 50 && !/schema registry unavailable/.test(String(l.msg)))).toEqual([]);

    proxy.thaw();
    await eventually(() => (rx.requests.some((r) => r.headers['webhook-id'] === a.alert_id) ? true : undefined), 30_000, 'delivery after the thaw');
    expect(rx.requests.filter((r) => r.headers['webhook-id'] === a.alert_id)).toHaveLength(1);
    await eventually(() => (logs.lines('notifier').some((l) => /schema registry answers again/.test(String(l.msg))) ? true : undefined), 10_000, 'the recovery log line');
    const after = await members();
    expect(after?.members.map((m) => m.memberId)).toEqual(before?.members.map((m) => m.memberId));
    await admin.disconnect();
  }, 120_000);
});
