import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { RiskAlert } from '../../src/contracts.ts';
import { dlqTopic } from '../../src/notify/dead-letter.ts';
import type { DeliveryRecord } from '../../src/notify/processor.ts';
import { redeliver } from '../../src/notify/redeliver.ts';
import { startNotifier, type NotifierHandle } from '../../src/notify/service.ts';
import { ledgerFor, LogCollector, produceAlerts, readTopic, uniqueAlert } from '../notify/kafka-harness.ts';
import { startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from '../notify/receivers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// The three channels end to end against the real broker and registry, real HTTP receivers and a
// real SMTP server on 127.0.0.1: one notifier process (in-process), one consumer group per channel.

const logs = new LogCollector('notify');
const slackToken = randomBytes(12).toString('hex');
const smtpPassword = 'smtp-' + randomBytes(9).toString('hex');
const [whOld, whNew] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
const SECRETS = [slackToken, smtpPassword, whOld, whNew];

let slack: HttpReceiver;
let hook: HttpReceiver;
let smtp: SmtpReceiver;
let config: Config;
let env: NodeJS.ProcessEnv;
let notifier: NotifierHandle | undefined;

const slackFor = (a: RiskAlert) => slack.requests.filter((r) => r.body.includes(a.alert_id));
const hookFor = (a: RiskAlert) => hook.requests.filter((r) => r.headers['webhook-id'] === a.alert_id);
const mailFor = (a: RiskAlert) => smtp.messages.filter((m) => m.parsed.messageId === `<${a.alert_id}@risk-hub>`);
const settle = (ms = 1000) => new Promise((r) => setTimeout(r, ms));

async function ledgerUntil(a: RiskAlert, channel: string, done: (rs: DeliveryRecord[]) => boolean, timeoutMs = 20_000): Promise<DeliveryRecord[]> {
  return eventually(async () => {
    const rs = (await ledgerFor(config, a.alert_id)).filter((r) => r.channel === channel);
    return done(rs) ? rs : undefined;
  }, timeoutMs, `ledger records of ${channel} for ${a.alert_id}`);
}
const terminal = (rs: DeliveryRecord[]) => rs.some((r) => r.status !== 'retrying');

beforeAll(async () => {
  slack = await startHttpReceiver();
  hook = await startHttpReceiver();
  smtp = await startSmtpReceiver({ user: 'rh', password: smtpPassword });
  env = {
    SLACK_URL_SECOPS: `${slack.url}/services/T000/B000/${slackToken}`,
    SMTP_PASSWORD: smtpPassword,
    SIEM_SECRETS: `whsec_${whOld}, whsec_${whNew}`,
  };
  config = testConfig({
    notify: {
      retry: { maxAttempts: 5, initialDelayMs: 50, maxDelayMs: 200, budgetMs: 4000 },
      egress: { allow: ['127.0.0.1'] },
      consumer: { partitionsConsumedConcurrently: 6 },
      slack: { enabled: true, timeoutMs: 1000, targets: { secops: { urlEnv: 'SLACK_URL_SECOPS' } } },
      email: {
        enabled: true,
        timeoutMs: 2000,
        from: 'Risk Hub <rh@example.com>',
        smtp: { host: '127.0.0.1', port: smtp.port, username: 'rh', passwordEnv: 'SMTP_PASSWORD', rejectUnauthorized: false, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000 },
        targets: { soc: { to: ['soc@example.com'] } },
      },
      webhook: { enabled: true, timeoutMs: 1000, targets: { siem: { url: hook.url, secretsEnv: 'SIEM_SECRETS' } } },
      applications: { quiet: { minTier: 5 } },
    },
  });
  await prepareTopics(config);
  notifier = await startNotifier(config, { channels: 'all', log: logs.logger('notifier'), env, http: false });
  await eventually(() => (notifier?.isReady() ? true : undefined), 60_000, 'notifier groups joined');
});

afterAll(async () => {
  await notifier?.stop();
  await Promise.all([slack?.close(), hook?.close(), smtp?.close()]);
  await logs.close();
});

describe('notifier against the real broker, HTTP receivers and SMTP server', () => {
  it('one alert → exactly one Slack message, one e-mail and one signed webhook call, with the right content', async () => {
    const a = uniqueAlert({ user: { key: 'bob@example.com', identifiers: { email: 'bob@example.com' } } });
    await produceAlerts(config, [a]);
    await eventually(() => (slackFor(a).length && hookFor(a).length && mailFor(a).length ? true : undefined), 20_000, 'all three channels');
    await settle(1500); // nothing more arrives
    expect(slackFor(a)).toHaveLength(1);
    expect(hookFor(a)).toHaveLength(1);
    expect(mailFor(a)).toHaveLength(1);

    const s = JSON.parse(slackFor(a)[0]!.body) as { text: string; blocks: Array<{ type: string }> };
    expect(s.text).toBe(`Risk Hub: user bob@example.com in shop/production gained 37 points in 24 h (threshold 10, tier 2)`);
    expect(JSON.stringify(s.blocks)).toContain('sql_injection · HIGH · 6 pts');
    expect(slackFor(a)[0]!.path).toBe(`/hook/services/T000/B000/${slackToken}`);

    const m = mailFor(a)[0]!;
    expect(m.secure).toBe(true); // STARTTLS
    expect(m.user).toBe('rh');
    expect(m.parsed.subject).toBe('[Risk Hub] tier 2: bob@example.com +37 points in shop/production');
    expect(m.parsed.text).toContain('credential_stuffing · CRITICAL · 10 pts');
    expect(m.parsed.html).toContain('credential_stuffing · CRITICAL · 10 pts');

    const w = hookFor(a)[0]!;
    const headers = w.headers as Record<string, string>;
    expect(headers['webhook-signature']!.split(' ')).toHaveLength(2); // rotation: both secrets sign
    for (const secret of [whOld, whNew]) {
      expect(new Webhook(`whsec_${secret}`).verify(w.body, headers)).toMatchObject({ type: 'risk_alert.triggered', data: { alert_id: a.alert_id, user: { key: 'bob@example.com' } } });
    }
    expect(() => new Webhook(`whsec_${whNew}`).verify(w.body.replace('"increase_24h":37', '"increase_24h":3'), headers)).toThrow(/No matching signature/);
    const stale = String(Math.floor(Date.now() / 1000) - 600);
    expect(() => new Webhook(`whsec_${whNew}`).verify(w.body, { ...headers, 'webhook-timestamp': stale })).toThrow(/too old/);

    const ledger = await ledgerUntil(a, 'webhook', terminal);
    expect(ledger).toMatchObject([{ target_id: 'siem', attempt: 1, status: 'delivered', result: 'http_200', source: 'live' }]);
    const all = await ledgerFor(config, a.alert_id);
    expect(all.filter((r) => r.status === 'delivered').map((r) => r.channel).sort()).toEqual(['email', 'slack', 'webhook']);
  });

  it('webhook 500, 500, 200 → delivered once, three attempts on the ledger', async () => {
    hook.script({ status: 500 }, { status: 500 }, { status: 200 });
    const a = uniqueAlert();
    await produceAlerts(config, [a]);
    const rs = await ledgerUntil(a, 'webhook', terminal);
    expect(rs.map((r) => [r.attempt, r.status, r.result])).toEqual([
      [1, 'retrying', 'http_500'],
      [2, 'retrying', 'http_500'],
      [3, 'delivered', 'http_200'],
    ]);
    expect(hookFor(a)).toHaveLength(3);
    expect(hook.requests.filter((r) => r.headers['webhook-id'] === a.alert_id && r.body.length > 0)).toHaveLength(3);
    hook.script({ status: 200 });
  });

  it('webhook 400 → dead-lettered at once; redeliver sends it again and records it', async () => {
    hook.script({ status: 400, body: 'unknown event type' });
    const a = uniqueAlert();
    await produceAlerts(config, [a]);
    const rs = await ledgerUntil(a, 'webhook', terminal);
    expect(rs).toMatchObject([{ attempt: 1, status: 'dead_lettered', result: 'http_400', error: expect.stringContaining('unknown event type') }]);
    expect(hookFor(a)).toHaveLength(1);
    const dlq = (await readTopic<RiskAlert>(config, dlqTopic(config, 'webhook'), 'alert')).filter((r) => r.value?.alert_id === a.alert_id);
    expect(dlq).toHaveLength(1);
    expect(dlq[0]!.headers).toMatchObject({
      'x-risk-hub-error': 'permanent',
      'x-risk-hub-status': 'http_400',
      'x-risk-hub-target': 'siem',
      'x-risk-hub-attempts': '1',
      'x-risk-hub-original-topic': config.topics.alerts,
    });

    hook.script({ status: 200 });
    const report = await redeliver(config, { channel: 'webhook', log: logs.logger('redeliver'), env });
    expect(report.entries.find((e) => e.alertId === a.alert_id)).toMatchObject({ outcome: 'delivered', target: 'siem' });
    expect(hookFor(a)).toHaveLength(2);
    expect(new Webhook(`whsec_${whOld}`).verify(hookFor(a)[1]!.body, hookFor(a)[1]!.headers as Record<string, string>)).toBeTruthy();
    const after = await ledgerUntil(a, 'webhook', (x) => x.some((r) => r.source === 'redeliver'));
    expect(after.at(-1)).toMatchObject({ source: 'redeliver', status: 'delivered', result: 'http_200' });
    // the group committed: a second run (through the CLI) finds nothing pending
    const file = join(logs.dir, 'config.yaml');
    writeFileSync(file, stringify(config));
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '-c', file, 'dlq', 'redeliver', '--channel', 'webhook', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    writeFileSync(join(logs.dir, 'dlq-cli.log'), cli.stdout + cli.stderr);
    expect(cli.status, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ pendingAtStart: 0, delivered: 0, topic: dlqTopic(config, 'webhook') });
    expect(hookFor(a)).toHaveLength(2);
  });

  it('Slack 429 with Retry-After is honoured, then delivered', async () => {
    slack.script({ status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' }, { status: 200 });
    const a = uniqueAlert();
    await produceAlerts(config, [a]);
    const rs = await ledgerUntil(a, 'slack', terminal);
    expect(rs.map((r) => [r.attempt, r.status, r.result, r.next_delay_ms])).toEqual([
      [1, 'retrying', 'http_429', 1000],
      [2, 'delivered', 'http_200', null],
    ]);
    const [first, second] = slackFor(a);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    slack.script({ status: 200 });
  });

  it('SMTP 451 is retried, 550 is dead-lettered at once', async () => {
    smtp.script(451, 250);
    const a = uniqueAlert();
    await produceAlerts(config, [a]);
    expect((await ledgerUntil(a, 'email', terminal)).map((r) => [r.attempt, r.status, r.result])).toEqual([
      [1, 'retrying', 'smtp_451'],
      [2, 'delivered', 'smtp_250'],
    ]);
    expect(mailFor(a)).toHaveLength(1);

    smtp.script(550);
    const b = uniqueAlert();
    await produceAlerts(config, [b]);
    expect((await ledgerUntil(b, 'email', terminal)).map((r) => [r.attempt, r.status, r.result])).toEqual([[1, 'dead_lettered', 'smtp_550']]);
    const dlq = (await readTopic<RiskAlert>(config, dlqTopic(config, 'email'), 'alert')).filter((r) => r.value?.alert_id === b.alert_id);
    expect(dlq[0]?.headers['x-risk-hub-status']).toBe('smtp_550');
    smtp.script(250);
  });

  it('a webhook receiver that never answers is bounded by timeout and budget, then dead-lettered, while Slack and e-mail deliver on time', async () => {
    hook.script({ hang: true });
    const a = uniqueAlert();
    const t0 = Date.now();
    await produceAlerts(config, [a]);
    await eventually(() => (slackFor(a).length && mailFor(a).length ? true : undefined), 10_000, 'slack and email');
    const onTime = Date.now() - t0;
    const rs = await ledgerUntil(a, 'webhook', terminal, 30_000);
    const deadAfter = Date.now() - t0;
    expect(onTime).toBeLessThan(3000); // not held up by the webhook channel (budget 4 s)
    expect(rs.at(-1)).toMatchObject({ status: 'dead_lettered', result: 'timeout' });
    expect(rs.every((r) => r.result === 'timeout' && r.latency_ms <= 1000 + 300)).toBe(true);
    expect(deadAfter).toBeLessThan(4000 + 1000 + 5000); // budget + one timeout + ledger polling slack
    const dlq = (await readTopic<RiskAlert>(config, dlqTopic(config, 'webhook'), 'alert')).filter((r) => r.value?.alert_id === a.alert_id);
    expect(dlq[0]?.headers['x-risk-hub-error']).toBe('exhausted');
    hook.script({ status: 200 });
  });

  it('an alert routed nowhere is passed over in order, nothing sent, nothing recorded', async () => {
    const user = { key: 'carol', identifiers: {} };
    const quiet = uniqueAlert({ application_id: 'quiet', user, tier: 2 });
    const next = uniqueAlert({ application_id: 'quiet', user, tier: 5, tier_bound: 100 });
    await produceAlerts(config, [quiet, next]); // same key: same partition, in this order
    await eventually(() => (slackFor(next).length && hookFor(next).length && mailFor(next).length ? true : undefined), 15_000, 'the tier-5 alert');
    expect([slackFor(quiet), hookFor(quiet), mailFor(quiet)].map((x) => x.length)).toEqual([0, 0, 0]);
    expect(await ledgerFor(config, quiet.alert_id)).toEqual([]);
  });

  it('an undecodable record on risk-alerts goes to each channel DLQ and the next alert is still delivered', async () => {
    const { createKafka } = await import('../../src/kafka/client.ts');
    const producer = createKafka(config).producer();
    await producer.connect();
    const key = 'shop/production/dave';
    await producer.send({ topic: config.topics.alerts, messages: [{ key, value: Buffer.from('not avro at all') }] });
    await producer.disconnect();
    const a = uniqueAlert({ user: { key: 'dave', identifiers: {} } });
    await produceAlerts(config, [a]);
    await eventually(() => (slackFor(a).length && hookFor(a).length && mailFor(a).length ? true : undefined), 15_000, 'the alert after the poison record');
    for (const c of ['slack', 'email', 'webhook'] as const) {
      const dl = (await readTopic(config, dlqTopic(config, c), 'alert')).filter((r) => r.raw?.toString() === 'not avro at all');
      expect(dl.map((r) => r.headers['x-risk-hub-error'])).toEqual(['poison:no-magic-byte']);
    }
  });

  it('no secret appears in any log line, ledger entry or dead letter of the run', async () => {
    await logs.flush();
    expect(logs.totalBytes()).toBeGreaterThan(1000);
    expect(logs.scan(['notifier started'])).not.toEqual([]); // the scan does read the logs
    expect(logs.scan(SECRETS)).toEqual([]);
    const ledger = JSON.stringify((await readTopic(config, config.topics.deliveries, 'delivery')).map((r) => r.value));
    const dlqs = JSON.stringify(await Promise.all((['slack', 'email', 'webhook'] as const).map(async (c) => (await readTopic(config, dlqTopic(config, c), 'alert')).map((r) => r.headers))));
    expect(ledger.length).toBeGreaterThan(100);
    for (const s of SECRETS) {
      expect(ledger).not.toContain(s);
      expect(dlqs).not.toContain(s);
    }
  });
});
