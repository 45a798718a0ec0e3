import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { userKey, type Decision } from '../../src/contracts.ts';
import { dlqTopic } from '../../src/notify/dead-letter.ts';
import type { DeliveryRecord } from '../../src/notify/processor.ts';
import { redeliver } from '../../src/notify/redeliver.ts';
import { startNotifier, type NotifierHandle } from '../../src/notify/service.ts';
import { ledgerFor, LogCollector, produceAlerts, produceDecisions, readTopic, uniqueAlert } from '../notify/kafka-harness.ts';
import { sampleDecision, startHttpReceiver, type HttpReceiver } from '../notify/receivers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// Issue 15 item 5 on the real broker and registry: the notifier's lanes also read the decisions topic;
// a person's decision (source MANUAL) is delivered like an alert — once, signed, on the ledger under its
// decision id, dead-lettered and redelivered — while automatic (POLICY) records and tombstones are passed
// over (their alert carried them). An alert that caused a decision says so in Slack and in the webhook.

const logs = new LogCollector('notify-decisions');
const slackToken = randomBytes(12).toString('hex');
const whSecret = randomBytes(32).toString('base64');

let slack: HttpReceiver;
let hook: HttpReceiver;
let config: Config;
let env: NodeJS.ProcessEnv;
let notifier: NotifierHandle | undefined;

const hookFor = (id: string) => hook.requests.filter((r) => r.headers['webhook-id'] === id);
// The context line names the message's own id in backticks (a lift's facts name the lifted id without).
const slackFor = (id: string) => slack.requests.filter((r) => r.body.includes(`\`${id}\``));
const newId = () => randomBytes(16).toString('hex');

/** A person's decision about `user`, made now (the notifier skips records older than maxAlertAgeMs by their Kafka timestamp, not by made_at). */
function manual(user: string, over: Partial<Decision> = {}): Decision {
  const now = Date.now();
  return sampleDecision({ decision_id: newId(), user: { key: user, identifiers: {} }, made_at: now, until: now + 24 * 3600_000, ...over });
}

async function ledgerUntil(id: string, channel: string): Promise<DeliveryRecord[]> {
  return eventually(async () => {
    const rs = (await ledgerFor(config, id)).filter((r) => r.channel === channel);
    return rs.some((r) => r.status !== 'retrying') ? rs : undefined;
  }, 20_000, `ledger records of ${channel} for ${id}`);
}

beforeAll(async () => {
  slack = await startHttpReceiver();
  hook = await startHttpReceiver();
  env = { SLACK_URL: `${slack.url}/services/T000/B000/${slackToken}`, HOOK_SECRET: `whsec_${whSecret}` };
  config = testConfig({
    notify: {
      retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200, budgetMs: 3000 },
      egress: { allow: ['127.0.0.1'] },
      slack: { enabled: true, timeoutMs: 1000, targets: { secops: { urlEnv: 'SLACK_URL' } } },
      // minTier 3: alerts of tier 2 do not reach it; a person's decision does (whatever minTier).
      webhook: { enabled: true, timeoutMs: 1000, targets: { siem: { url: hook.url, secretsEnv: 'HOOK_SECRET', route: { minTier: 3 } } } },
    },
  });
  await prepareTopics(config);
  notifier = await startNotifier(config, { channels: 'all', log: logs.logger('notifier'), env, http: false });
  await eventually(() => (notifier?.isReady() ? true : undefined), 60_000, 'notifier groups joined');
});

afterAll(async () => {
  await notifier?.stop();
  await Promise.all([slack?.close(), hook?.close()]);
  await logs.close();
});

describe("a person's decisions, from the decisions topic", () => {
  it('a manual block reaches the webhook once, signed, with the decision; its lift follows in order; POLICY records and tombstones are not notified', async () => {
    const user = `mallory-${newId().slice(0, 6)}`;
    const key = userKey('shop', 'production', user);
    const policy = manual(user, { source: 'POLICY', made_by: 'policy', alert_id: 'some-alert', tier: 3, reason: 'tier 3 alert' });
    const block = manual(user, { reason: 'card testing' });
    const lift = manual(user, { action: 'LIFT', offense: 0, lifts: block.decision_id, reason: 'false positive' });
    // One key: one partition, handled in this order by each lane.
    await produceDecisions(config, [policy, { key, value: null }, block, lift]);
    await eventually(() => (hookFor(lift.decision_id).length && slackFor(lift.decision_id).length ? true : undefined), 20_000, 'the lift on both channels');

    // The lift came after the block on the same partition: the block has been handled by then.
    expect(hookFor(block.decision_id)).toHaveLength(1);
    expect(hookFor(lift.decision_id)).toHaveLength(1);
    expect(hookFor(policy.decision_id)).toHaveLength(0);
    expect(slackFor(policy.decision_id)).toHaveLength(0);
    expect(hook.requests.filter((r) => r.body.includes(user)).map((r) => r.headers['webhook-id'])).toEqual([block.decision_id, lift.decision_id]);

    const w = hookFor(block.decision_id)[0]!;
    const verified = new Webhook(`whsec_${whSecret}`).verify(w.body, w.headers as Record<string, string>);
    expect(verified).toEqual({ type: 'risk_decision.made', timestamp: new Date(block.made_at).toISOString(), data: block });
    expect(JSON.parse(hookFor(lift.decision_id)[0]!.body)).toMatchObject({ type: 'risk_decision.lifted', data: { action: 'LIFT', lifts: block.decision_id, made_by: 'bob' } });

    const s = JSON.parse(slackFor(block.decision_id)[0]!.body) as { text: string };
    expect(s.text).toMatch(new RegExp(`^Risk Hub: user ${user} in shop/production: Blocked by bob for 1d, until .* UTC \\(1st offense\\): card testing$`));
    expect((JSON.parse(slackFor(lift.decision_id)[0]!.body) as { text: string }).text).toBe(`Risk Hub: user ${user} in shop/production: Block lifted by bob: false positive`);

    expect(await ledgerUntil(block.decision_id, 'webhook')).toMatchObject([{ alert_id: block.decision_id, target_id: 'siem', status: 'delivered', tier: 0, source: 'live' }]);
    expect(await ledgerFor(config, policy.decision_id)).toEqual([]);
  });

  it('an alert with a decision shows it in the Slack and webhook bodies', async () => {
    const now = Date.now();
    const a = uniqueAlert({ tier: 3, tier_bound: 50 });
    const decision = manual(a.user.key, { source: 'POLICY', made_by: 'policy', alert_id: a.alert_id, tier: 3, made_at: now, until: now + 3600_000, offense: 2, reason: 'tier 3' });
    const withDecision = { ...a, decision };
    await produceAlerts(config, [withDecision]);
    await eventually(() => (hookFor(a.alert_id).length && slackFor(a.alert_id).length ? true : undefined), 20_000, 'the alert on both channels');
    expect(JSON.parse(hookFor(a.alert_id)[0]!.body)).toMatchObject({ type: 'risk_alert.triggered', data: { alert_id: a.alert_id, decision } });
    const s = JSON.parse(slackFor(a.alert_id)[0]!.body) as { text: string; blocks: unknown[] };
    expect(s.text).toMatch(/\. Blocked for 1h, until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(2nd offense\)$/);
    expect(JSON.stringify(s.blocks)).toContain('*Action taken:* Blocked for 1h');

    // Without a decision: data.decision is null (an added field; nothing removed or renamed).
    const plain = uniqueAlert({ tier: 3, tier_bound: 50 });
    await produceAlerts(config, [plain]);
    await eventually(() => (hookFor(plain.alert_id).length ? true : undefined), 20_000, 'the plain alert');
    expect(JSON.parse(hookFor(plain.alert_id)[0]!.body).data).toMatchObject({ alert_id: plain.alert_id, decision: null });
  });

  it('a manual decision the webhook refuses is dead-lettered as a decision, and dlq redeliver sends it again', async () => {
    hook.script({ status: 400, body: 'unknown event type' });
    const d = manual(`eve-${newId().slice(0, 6)}`, { action: 'CHALLENGE', until: Date.now() + 15 * 60_000 });
    await produceDecisions(config, [d]);
    expect((await ledgerUntil(d.decision_id, 'webhook')).map((r) => [r.status, r.result])).toEqual([['dead_lettered', 'http_400']]);
    const dl = (await readTopic(config, dlqTopic(config, 'webhook'), 'alert')).filter((r) => r.headers['x-risk-hub-alert-id'] === d.decision_id);
    expect(dl).toHaveLength(1);
    expect(dl[0]!.headers).toMatchObject({ 'x-risk-hub-notification': 'decision', 'x-risk-hub-original-topic': config.topics.decisions, 'x-risk-hub-status': 'http_400' });

    hook.script({ status: 200 });
    const report = await redeliver(config, { channel: 'webhook', log: logs.logger('redeliver'), env });
    expect(report.entries.find((e) => e.alertId === d.decision_id)).toMatchObject({ outcome: 'delivered', target: 'siem' });
    expect(hookFor(d.decision_id)).toHaveLength(2);
    expect(JSON.parse(hookFor(d.decision_id)[1]!.body)).toMatchObject({ type: 'risk_decision.made', data: { decision_id: d.decision_id, action: 'CHALLENGE' } });
  });

  it('an undecodable record on the decisions topic is dead-lettered once per channel; the next decision is still notified', async () => {
    const { createKafka } = await import('../../src/kafka/client.ts');
    const user = `oscar-${newId().slice(0, 6)}`;
    const producer = createKafka(config).producer();
    await producer.connect();
    await producer.send({ topic: config.topics.decisions, messages: [{ key: userKey('shop', 'production', user), value: Buffer.from('not a decision') }] });
    await producer.disconnect();
    const next = manual(user);
    await produceDecisions(config, [next]);
    await eventually(() => (hookFor(next.decision_id).length && slackFor(next.decision_id).length ? true : undefined), 20_000, 'the decision after the poison record');
    for (const c of ['slack', 'webhook'] as const) {
      const dl = (await readTopic(config, dlqTopic(config, c), 'alert')).filter((r) => r.raw?.toString() === 'not a decision');
      expect(dl.map((r) => [r.headers['x-risk-hub-error'], r.headers['x-risk-hub-original-topic']])).toEqual([['poison:no-magic-byte', config.topics.decisions]]);
    }
  });

  it('a restarted notifier does not notify a decision again (committed offsets and the ledger)', async () => {
    const user = `trent-${newId().slice(0, 6)}`;
    const first = manual(user);
    await produceDecisions(config, [first]);
    await eventually(() => (hookFor(first.decision_id).length && slackFor(first.decision_id).length ? true : undefined), 20_000, 'the first decision');
    await ledgerUntil(first.decision_id, 'slack');
    await notifier?.stop();
    notifier = await startNotifier(config, { channels: 'all', log: logs.logger('notifier-2'), env, http: false });
    await eventually(() => (notifier?.isReady() ? true : undefined), 60_000, 'notifier groups joined again');
    const second = manual(user, { action: 'LIFT', offense: 0, lifts: first.decision_id, reason: 'done' });
    await produceDecisions(config, [second]);
    await eventually(() => (hookFor(second.decision_id).length && slackFor(second.decision_id).length ? true : undefined), 20_000, 'the second decision');
    expect([hookFor(first.decision_id).length, slackFor(first.decision_id).length]).toEqual([1, 1]);
  });
});
