import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/notify/signing.ts';

const secret = () => 'whsec_' + randomBytes(32).toString('base64');

describe('Standard Webhooks signing', () => {
  const body = JSON.stringify({ type: 'risk_alert.triggered', data: { alert_id: 'a1' } });

  it('verifies with the secret, fails for a tampered body, another secret or an old timestamp', () => {
    const s = secret();
    const h = signWebhook('a1', body, [s]);
    expect(h['webhook-id']).toBe('a1');
    expect(h['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(s).verify(body, { ...h })).toEqual(JSON.parse(body));
    expect(() => new Webhook(s).verify(body.replace('a1', 'a2'), { ...h })).toThrow(/No matching signature/);
    expect(() => new Webhook(secret()).verify(body, { ...h })).toThrow(/No matching signature/);
    const old = signWebhook('a1', body, [s], new Date(Date.now() - 6 * 60_000));
    expect(() => new Webhook(s).verify(body, { ...old })).toThrow(/too old/);
    // the id is signed too: replaying the body under another id fails
    expect(() => new Webhook(s).verify(body, { ...h, 'webhook-id': 'other' })).toThrow();
  });

  it('gives the bytes of the standardwebhooks package (node:crypto HMAC), also for non-ASCII bodies and secrets without the whsec_ prefix', () => {
    const at = new Date(1_700_000_000_000);
    const unicode = JSON.stringify({ user: 'Zoë 🙂 \u00e9', note: 'naïve' });
    for (const s of [secret(), randomBytes(24).toString('base64')]) {
      for (const b of [body, unicode]) expect(signWebhook('a-\u00e9', b, [s], at)['webhook-signature']).toBe(new Webhook(s).sign('a-\u00e9', at, b));
    }
    expect(() => signWebhook('a1', body, ['whsec_not base64!'])).toThrow();
  });

  it('during a rotation both secrets sign and either one verifies', () => {
    const [oldS, newS] = [secret(), secret()];
    const h = signWebhook('a1', body, [oldS, newS]);
    expect(h['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(oldS).verify(body, { ...h })).not.toThrow();
    expect(() => new Webhook(newS).verify(body, { ...h })).not.toThrow();
    expect(() => new Webhook(secret()).verify(body, { ...h })).toThrow();
  });

  it('accepts secrets without the whsec_ prefix', () => {
    const raw = randomBytes(32).toString('base64');
    const h = signWebhook('a1', body, [raw]);
    expect(() => new Webhook('whsec_' + raw).verify(body, { ...h })).not.toThrow();
  });
});
