import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeHeader, startMailReceiver, startSlackReceiver, startWebhookReceiver, type Receiver } from '../../src/demo/receivers.ts';
import { signWebhook } from '../../src/notify/signing.ts';

const open: Receiver[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});
const dir = () => mkdtempSync(join(tmpdir(), 'rh-receivers-'));
const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

describe('demo receivers', () => {
  it('Slack stand-in keeps each payload as JSON and answers like Slack', async () => {
    const root = dir();
    const r = await startSlackReceiver(root);
    open.push(r);
    const ok = await fetch(r.url, { method: 'POST', body: JSON.stringify({ text: 'Risk Hub: user eve in shop/production gained 13 points in 24 h (threshold 10, tier 1)', blocks: [] }) });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('ok');
    const bad = await fetch(r.url, { method: 'POST', body: JSON.stringify({ blocks: [] }) });
    expect(bad.status).toBe(400);
    expect(readdirSync(join(root, 'slack'))).toEqual(['0001.json']);
    expect(JSON.parse(readFileSync(join(root, 'slack', '0001.json'), 'utf8')).text).toMatch(/^Risk Hub: user eve/);
    expect(r.stats).toMatchObject({ received: 1, rejected: 1 });
    expect([...r.stats.users]).toEqual(['shop/production/eve']);
  });

  it('webhook receiver stores what verifies, refuses a bad or stale signature, one file per webhook-id', async () => {
    const root = dir();
    const r = await startWebhookReceiver(root, SECRET);
    open.push(r);
    const body = JSON.stringify({ type: 'risk_alert.triggered', data: { application_id: 'shop', environment: 'production', user: { key: 'mallory' } } });
    const post = (b: string, h: Record<string, string>) => fetch(r.url, { method: 'POST', body: b, headers: { 'content-type': 'application/json', ...h } });
    expect((await post(body, { ...signWebhook('a1', body, [SECRET]) })).status).toBe(204);
    expect((await post(body, { ...signWebhook('a1', body, [SECRET]) })).status).toBe(204); // a retry: same file
    expect((await post(body.replace('mallory', 'alice'), { ...signWebhook('a2', body, [SECRET]) })).status).toBe(401);
    const other = `whsec_${Buffer.from('another-secret-of-enough-length!').toString('base64')}`;
    expect((await post(body, { ...signWebhook('a3', body, [other]) })).status).toBe(401);
    expect((await post(body, { ...signWebhook('a4', body, [SECRET], new Date(Date.now() - 10 * 60_000)) })).status).toBe(401);
    expect(readdirSync(join(root, 'webhook'))).toEqual(['0001.json']);
    const stored = JSON.parse(readFileSync(join(root, 'webhook', '0001.json'), 'utf8')) as { verified: boolean; body: string; headers: Record<string, string> };
    expect(stored).toMatchObject({ verified: true, body });
    expect(stored.headers['webhook-id']).toBe('a1');
    expect(r.stats).toMatchObject({ received: 1, rejected: 3 });
  });

  it('mailbox is a real SMTP server keeping .eml files', async () => {
    const root = dir();
    const r = await startMailReceiver(root);
    open.push(r);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: r.port, secure: false, ignoreTLS: true });
    await transport.sendMail({ from: 'risk-hub@localhost', to: 'security@example.com', subject: '[Risk Hub] tier 2: billing/production/trudy +31 points in 24 h — ünïcode', text: 'hello' });
    transport.close();
    expect(readdirSync(join(root, 'mail'))).toEqual(['0001.eml']);
    expect(readFileSync(join(root, 'mail', '0001.eml'), 'utf8')).toMatch(/^Subject: /m);
    expect([...r.stats.users]).toEqual(['billing/production/trudy']);
  });

  it('decodes RFC 2047 header words', () => {
    expect(decodeHeader('=?UTF-8?B?w7xuw69jb2Rl?= and =?UTF-8?Q?caf=C3=A9_au_lait?=')).toBe('ünïcode and café au lait');
  });
});
