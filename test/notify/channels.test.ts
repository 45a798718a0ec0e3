import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotifySchema } from '../../src/config/notify.ts';
import { DeliveryError } from '../../src/errors.ts';
import { EmailSender } from '../../src/notify/channels/email.ts';
import { SlackSender } from '../../src/notify/channels/slack.ts';
import { WebhookSender } from '../../src/notify/channels/webhook.ts';
import { createSafeAgent } from '../../src/notify/egress.ts';
import { renderers } from '../../src/notify/render/index.ts';
import type { SendContext, SlackTarget, WebhookTarget, EmailTarget } from '../../src/notify/types.ts';
import { sampleAlert, startHttpReceiver, startSmtpReceiver, type HttpReceiver, type SmtpReceiver } from './receivers.ts';

const notify = NotifySchema.parse({});
const render = renderers(notify);
const alert = sampleAlert();
const route = { applications: ['*'], environments: ['*'], minTier: 1 };
const agent = () => createSafeAgent({ allow: ['127.0.0.1'], headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
const ctx = (timeoutMs = 2000): SendContext => ({ notification: { kind: 'alert', alert }, attempt: 1, timeoutMs, signal: AbortSignal.timeout(timeoutMs) });
const fail = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as DeliveryError);

let rx: HttpReceiver;
beforeAll(async () => {
  rx = await startHttpReceiver();
});
afterAll(async () => {
  await rx.close();
});
afterEach(() => {
  rx.requests.length = 0;
  rx.script({ status: 200, body: 'ok' });
});

describe('WebhookSender against a real HTTP server', () => {
  const secret = 'whsec_' + randomBytes(32).toString('base64');
  const target = (): WebhookTarget => ({ channel: 'webhook', id: 'siem', url: rx.url, secrets: [secret], headers: { 'x-tenant': 't1' }, route });

  it('POSTs the signed JSON; the receiver verifies it', async () => {
    const s = new WebhookSender({ dispatcher: agent() });
    await expect(s.send(target(), ctx())).resolves.toEqual({ status: 'http_200' });
    const [req] = rx.requests;
    expect(req?.method).toBe('POST');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers['x-tenant']).toBe('t1');
    expect(req?.headers['webhook-id']).toBe(alert.alert_id);
    const verified = new Webhook(secret).verify(req!.body, req!.headers as Record<string, string>);
    expect(verified).toMatchObject({ type: 'risk_alert.triggered', data: { alert_id: alert.alert_id, increase_24h: 37 } });
    await s.close();
  });

  it.each([
    [{ status: 500 }, 'http_500', true, undefined],
    [{ status: 429, headers: { 'retry-after': '2' } }, 'http_429', true, 2000],
    [{ status: 400 }, 'http_400', false, undefined],
    [{ status: 410 }, 'http_410', false, undefined],
    [{ status: 302, headers: { location: 'http://169.254.169.254/' } }, 'http_302', false, undefined],
  ])('answer %j → %s (retriable %s)', async (behavior, status, retriable, retryAfterMs) => {
    rx.script(behavior);
    const s = new WebhookSender({ dispatcher: agent() });
    const e = await fail(s.send(target(), ctx()));
    expect(e).toBeInstanceOf(DeliveryError);
    expect(e).toMatchObject({ status, retriable });
    expect(e.retryAfterMs).toBe(retryAfterMs);
    expect(rx.requests).toHaveLength(1); // the redirect was not followed
    await s.close();
  });

  it('a receiver that never answers is cut by the attempt timeout; a reset is transient', async () => {
    rx.script({ hang: true });
    const s = new WebhookSender({ dispatcher: agent() });
    const t0 = Date.now();
    const e = await fail(s.send(target(), ctx(300)));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e).toMatchObject({ retriable: true });
    rx.script({ reset: true });
    expect(await fail(s.send(target(), ctx()))).toMatchObject({ retriable: true, status: 'connection_error' });
    await s.close();
  });

  it('refuses a loopback receiver that is not allow-listed, sending nothing', async () => {
    const s = new WebhookSender({ dispatcher: createSafeAgent({ allow: [] }) });
    expect(await fail(s.send(target(), ctx()))).toMatchObject({ status: 'egress_refused', retriable: false });
    expect(rx.requests).toHaveLength(0);
    await s.close();
  });
});

describe('SlackSender (@slack/webhook) against a real HTTP server', () => {
  const target = (): SlackTarget => ({ channel: 'slack', id: 'secops', url: rx.url, route });

  it('posts Block Kit with the text fallback', async () => {
    const s = new SlackSender({ dispatcher: agent(), render: render.slack });
    await expect(s.send(target(), ctx())).resolves.toEqual({ status: 'http_200' });
    const body = JSON.parse(rx.requests[0]!.body) as { text: string; blocks: Array<{ type: string }> };
    expect(body.text).toContain('alice@example.com');
    expect(body.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
    await s.close();
  });

  it('429 carries Retry-After; 404 no_service is permanent; 503 transient; redirect permanent', async () => {
    const s = new SlackSender({ dispatcher: agent(), render: render.slack });
    rx.script({ status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' });
    expect(await fail(s.send(target(), ctx()))).toMatchObject({ status: 'http_429', retriable: true, retryAfterMs: 1000 });
    rx.script({ status: 404, body: 'no_service' });
    const e = await fail(s.send(target(), ctx()));
    expect(e).toMatchObject({ status: 'http_404', retriable: false });
    expect(e.message).toContain('no_service');
    rx.script({ status: 503 });
    expect(await fail(s.send(target(), ctx()))).toMatchObject({ status: 'http_503', retriable: true });
    rx.script({ status: 301, headers: { location: 'http://10.0.0.1/' } });
    expect(await fail(s.send(target(), ctx()))).toMatchObject({ status: 'http_301', retriable: false });
    rx.script({ hang: true });
    expect(await fail(s.send(target(), ctx(300)))).toMatchObject({ retriable: true });
    await s.close();
  });
});

describe('EmailSender (nodemailer) against a real smtp-server', () => {
  let smtp: SmtpReceiver;
  const password = 'smtp-' + randomBytes(6).toString('hex');
  const emailCfg = (port: number, pw = password) =>
    NotifySchema.parse({ email: { enabled: true, timeoutMs: 3000, from: 'Risk Hub <rh@example.com>', smtp: { host: '127.0.0.1', port, username: 'rh', password: pw, rejectUnauthorized: false, connectionTimeoutMs: 2000, greetingTimeoutMs: 2000 } } }).email;
  const target: EmailTarget = { channel: 'email', id: 'secops', to: ['soc@example.com'], cc: ['lead@example.com'], route };
  beforeAll(async () => {
    smtp = await startSmtpReceiver({ user: 'rh', password });
  });
  afterAll(async () => {
    await smtp.close();
  });

  it('verifies, upgrades to STARTTLS, logs in and sends text + HTML with Message-ID from alert_id', async () => {
    const s = new EmailSender({ config: emailCfg(smtp.port), password, render: render.email });
    await s.verify();
    await expect(s.send(target, ctx(3000))).resolves.toMatchObject({ status: 'smtp_250' });
    const [m] = await smtp.waitFor(1);
    expect(m?.secure).toBe(true);
    expect(m?.user).toBe('rh');
    expect(m?.to).toEqual(['soc@example.com', 'lead@example.com']);
    expect(m?.parsed.messageId).toBe(`<${alert.alert_id}@risk-hub>`);
    expect(m?.parsed.subject).toBe('[Risk Hub] tier 2: alice@example.com +37 points in shop/production');
    expect(m?.parsed.text).toContain('+37 points (threshold 10)');
    expect(m?.parsed.html).toContain('+37 points (threshold 10)');
    expect(m?.parsed.headers.get('x-risk-hub-alert-id')).toBe(alert.alert_id);
    await s.close();
  });

  it('451 is transient, 550 permanent', async () => {
    const s = new EmailSender({ config: emailCfg(smtp.port), password, render: render.email });
    smtp.script(451);
    expect(await fail(s.send(target, ctx(3000)))).toMatchObject({ status: 'smtp_451', retriable: true });
    smtp.script(550);
    expect(await fail(s.send(target, ctx(3000)))).toMatchObject({ status: 'smtp_550', retriable: false });
    smtp.script(250);
    await s.close();
  });

  it('verify fails with a clear message (wrong password, no server) and never shows the password', async () => {
    const wrong = 'wrong-' + randomBytes(6).toString('hex');
    const bad = new EmailSender({ config: emailCfg(smtp.port, wrong), password: wrong, render: render.email, scrub: (x) => x.split(wrong).join('[redacted]') });
    const e = (await bad.verify().catch((x: unknown) => x)) as Error;
    expect(e.message).toMatch(/SMTP server 127\.0\.0\.1:\d+ is not usable .*login as rh was refused/);
    expect(e.message).not.toContain(wrong);
    await bad.close();
    const down = new EmailSender({ config: emailCfg(1), password, render: render.email });
    await expect(down.verify()).rejects.toThrow(/SMTP server 127\.0\.0\.1:1 is not usable .*check notify\.email\.smtp\.host and port/);
    await down.close();
  });
});
