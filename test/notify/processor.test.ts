import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NotifySchema, retryPolicy } from '../../src/config/notify.ts';
import { createLogger } from '../../src/log.ts';
import { registry } from '../../src/metrics/index.ts';
import { WebhookSender } from '../../src/notify/channels/webhook.ts';
import { DeliveryCache } from '../../src/notify/delivery-cache.ts';
import { createSafeAgent } from '../../src/notify/egress.ts';
import { ChannelProcessor, type DeadLetter, type DeliveryRecord } from '../../src/notify/processor.ts';
import { resolveTargets, Scrubber } from '../../src/notify/secrets.ts';
import { sampleAlert, sampleDecision, startHttpReceiver, type HttpReceiver } from './receivers.ts';

const secret = 'whsec_' + randomBytes(32).toString('base64');
let rx: HttpReceiver;
let logs: string;
let ledger: DeliveryRecord[];
let dlq: DeadLetter[];
let order: string[];

beforeAll(async () => {
  rx = await startHttpReceiver();
});
afterAll(async () => {
  await rx.close();
});
beforeEach(() => {
  rx.script({ status: 200 });
  rx.requests.length = 0;
  logs = '';
  ledger = [];
  dlq = [];
  order = [];
});

function processor(opts: { retry?: Record<string, number>; index?: DeliveryCache } = {}) {
  const notify = NotifySchema.parse({
    retry: { maxAttempts: 4, initialDelayMs: 10, maxDelayMs: 20, budgetMs: 3000, ...(opts.retry ?? {}) },
    webhook: { enabled: true, timeoutMs: 500, targets: { siem: { url: rx.url + `?token=${'t0k3n'}`, secrets: secret }, other: { url: rx.url, secrets: secret, route: { minTier: 5 } } } },
  });
  const targets = resolveTargets(notify, {});
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => ((logs += c.toString()), cb()) }) });
  return new ChannelProcessor({
    channel: 'webhook',
    notify,
    targets,
    sender: new WebhookSender({ dispatcher: createSafeAgent({ allow: ['127.0.0.1'] }) }),
    retry: retryPolicy(notify, 'webhook'),
    ledger: { write: async (r) => void (ledger.push(r), order.push(`ledger:${r.status}`)) },
    deadLetters: { write: async (d) => void (dlq.push(d), order.push('dlq')) },
    index: opts.index ?? new DeliveryCache(),
    scrubber: new Scrubber(targets.secrets),
    log,
    notifierId: 'test',
  });
}

describe('ChannelProcessor', () => {
  it('500, 500, 200: delivered once, three attempts recorded', async () => {
    rx.script({ status: 500 }, { status: 500 }, { status: 200 });
    const out = await processor().handle(sampleAlert());
    expect(out.targets).toEqual([{ targetId: 'siem', outcome: 'delivered', attempts: 3, status: 'http_200' }]);
    expect(rx.requests).toHaveLength(3);
    expect(new Set(rx.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([sampleAlert().alert_id]));
    expect(ledger.map((r) => [r.attempt, r.status, r.result])).toEqual([
      [1, 'retrying', 'http_500'],
      [2, 'retrying', 'http_500'],
      [3, 'delivered', 'http_200'],
    ]);
    expect(dlq).toEqual([]);
  });

  it('400: dead-lettered at once; DLQ written before the ledger says so', async () => {
    rx.script({ status: 400, body: 'bad payload' });
    const out = await processor().handle(sampleAlert());
    expect(out.targets[0]).toMatchObject({ outcome: 'dead_lettered', attempts: 1 });
    expect(rx.requests).toHaveLength(1);
    expect(dlq).toMatchObject([{ targetId: 'siem', reason: 'permanent', status: 'http_400', attempts: 1 }]);
    expect(order).toEqual(['dlq', 'ledger:dead_lettered']);
  });

  it('a receiver that never answers: bounded by timeout and budget, then dead-lettered as exhausted', async () => {
    rx.script({ hang: true });
    const t0 = Date.now();
    const out = await processor({ retry: { budgetMs: 1200, maxAttempts: 10 } }).handle(sampleAlert());
    const took = Date.now() - t0;
    expect(out.targets[0]).toMatchObject({ outcome: 'dead_lettered' });
    expect(took).toBeLessThan(1200 + 500);
    expect(dlq[0]?.reason).toBe('exhausted');
    expect(ledger.every((r) => r.result === 'timeout')).toBe(true);
  });

  it('skips an alert the ledger already knows as delivered (restart), counts it as duplicate', async () => {
    const index = new DeliveryCache();
    index.set('webhook', 'siem', sampleAlert().alert_id, 'delivered');
    const out = await processor({ index }).handle(sampleAlert());
    expect(out.targets).toEqual([{ targetId: 'siem', outcome: 'duplicate', attempts: 0 }]);
    expect(rx.requests).toHaveLength(0);
    expect(await registry.getSingleMetricAsString('risk_hub_notifications_total')).toMatch(/channel="webhook",outcome="duplicate"} [1-9]/);
  });

  it('a redelivery ignores an earlier dead letter but not an earlier delivery', async () => {
    const index = new DeliveryCache();
    index.set('webhook', 'siem', sampleAlert().alert_id, 'dead_lettered');
    const p = processor({ index });
    expect((await p.handle(sampleAlert())).targets[0]?.outcome).toBe('duplicate');
    expect((await p.handle(sampleAlert(), { source: 'redeliver', onlyTarget: 'siem' })).targets[0]).toMatchObject({ outcome: 'delivered' });
    expect(ledger.at(-1)).toMatchObject({ source: 'redeliver', status: 'delivered' });
    expect((await p.handle(sampleAlert(), { source: 'redeliver', onlyTarget: 'siem' })).targets[0]?.outcome).toBe('duplicate');
  });

  it('secrets appear neither in the ledger, the dead letter nor the logs', async () => {
    rx.script({ status: 500, body: `echo t0k3n ${secret}` }, { status: 403, body: `forbidden ${secret.slice(6)}` });
    await processor().handle(sampleAlert());
    const everything = JSON.stringify(ledger) + JSON.stringify(dlq.map((d) => ({ ...d, alert: undefined }))) + logs;
    expect(ledger.length).toBeGreaterThan(0);
    expect(everything).toContain('[redacted]');
    expect(everything).not.toContain(secret.slice(6));
  });
});

describe('ChannelProcessor delivery lanes (one per target, issue 13 item 9)', () => {
  const notRouted = async () => (await registry.getSingleMetric('risk_hub_notifications_total')!.get()).values.find((v) => v.labels.channel === 'webhook' && v.labels.outcome === 'not_routed')?.value ?? 0;

  it('a lane routes as usual and delivers to its own target only', async () => {
    const p = processor();
    // Tier 5 reaches both targets: each lane sends once, to its own target.
    const a = sampleAlert({ tier: 5 });
    expect((await p.handle(a, { lane: { target: 'siem', primary: true } })).targets.map((t) => t.targetId)).toEqual(['siem']);
    expect((await p.handle(a, { lane: { target: 'other', primary: false } })).targets.map((t) => t.targetId)).toEqual(['other']);
    expect(rx.requests).toHaveLength(2);
    expect(ledger.map((r) => r.target_id)).toEqual(['siem', 'other']);
  });

  it('an alert routed to another target only is passed over by this lane, silently; routed nowhere is counted once, by the primary lane', async () => {
    const p = processor();
    const low = sampleAlert({ tier: 1 }); // "other" needs tier 5
    const before = await notRouted();
    expect(await p.handle(low, { lane: { target: 'other', primary: false } })).toEqual({ routed: 0, targets: [] });
    expect(await notRouted()).toBe(before);
    expect(rx.requests).toHaveLength(0);
    expect(ledger).toEqual([]);

    const nowhere = { ...sampleAlert({ tier: 1 }), application_id: 'x' };
    const p2 = new ChannelProcessor({ ...(p as unknown as { d: ConstructorParameters<typeof ChannelProcessor>[0] }).d, notify: NotifySchema.parse({ webhook: { enabled: true, targets: {} }, applications: { x: { minTier: 9 } } }) });
    await p2.handle(nowhere, { lane: { target: 'siem', primary: false } });
    expect(await notRouted()).toBe(before);
    await p2.handle(nowhere, { lane: { target: 'siem', primary: true } });
    expect(await notRouted()).toBe(before + 1);
  });
});

describe("ChannelProcessor: a person's decision (issue 15 item 5)", () => {
  const decision = () => sampleDecision();

  it('is routed to every target whatever its minTier, delivered signed with webhook-id = decision_id, recorded under the decision id', async () => {
    const out = await processor().handleNotification({ kind: 'decision', decision: decision() });
    // "other" needs tier 5 for alerts; a person's decision has no tier and reaches it too.
    expect(out.targets.map((t) => [t.targetId, t.outcome])).toEqual([
      ['other', 'delivered'],
      ['siem', 'delivered'],
    ]);
    expect(rx.requests.map((r) => r.headers['webhook-id'])).toEqual([decision().decision_id, decision().decision_id]);
    expect(new Set(rx.requests.map((r) => r.body)).size).toBe(1);
    const body = JSON.parse(rx.requests[0]!.body) as { type: string; data: unknown };
    expect(body).toEqual({ type: 'risk_decision.made', timestamp: new Date(decision().made_at).toISOString(), data: decision() });
    expect(rx.requests[0]!.headers['webhook-signature']).toMatch(/^v1,/);
    // Both targets are delivered concurrently: the ledger order between them is not fixed.
    expect(ledger.map((r) => [r.alert_id, r.target_id, r.status, r.tier, r.application_id]).sort()).toEqual([
      [decision().decision_id, 'other', 'delivered', 0, 'shop'],
      [decision().decision_id, 'siem', 'delivered', 0, 'shop'],
    ]);
  });

  it('a lift is delivered as risk_decision.lifted; in a lane, to its own target only', async () => {
    const lift = sampleDecision({ action: 'LIFT', lifts: 'f'.repeat(32), offense: 0, reason: 'false positive', decision_id: 'e'.repeat(32) });
    const out = await processor().handleNotification({ kind: 'decision', decision: lift }, { lane: { target: 'siem', primary: true } });
    expect(out.targets).toEqual([{ targetId: 'siem', outcome: 'delivered', attempts: 1, status: 'http_200' }]);
    expect(rx.requests).toHaveLength(1);
    expect(JSON.parse(rx.requests[0]!.body)).toMatchObject({ type: 'risk_decision.lifted', data: { action: 'LIFT', made_by: 'bob', reason: 'false positive' } });
  });

  it('retries, then dead-letters the decision itself (DLQ before ledger); a known decision id is skipped', async () => {
    rx.script({ status: 503 }, { status: 400 });
    const p = processor();
    const out = await p.handleNotification({ kind: 'decision', decision: decision() }, { lane: { target: 'siem', primary: true } });
    expect(out.targets[0]).toMatchObject({ outcome: 'dead_lettered', attempts: 2 });
    expect(dlq).toMatchObject([{ targetId: 'siem', reason: 'permanent', status: 'http_400', notification: { kind: 'decision', decision: { decision_id: decision().decision_id } } }]);
    expect(order).toEqual(['ledger:retrying', 'dlq', 'ledger:dead_lettered']);

    const index = new DeliveryCache();
    index.set('webhook', 'siem', decision().decision_id, 'delivered');
    rx.requests.length = 0;
    const again = await processor({ index }).handleNotification({ kind: 'decision', decision: decision() }, { lane: { target: 'siem', primary: true } });
    expect(again.targets).toEqual([{ targetId: 'siem', outcome: 'duplicate', attempts: 0 }]);
    expect(rx.requests).toHaveLength(0);
  });
});
