import { Webhook } from 'standardwebhooks';

// Standard Webhooks (https://www.standardwebhooks.com): three headers,
//   webhook-id         the alert_id (stable across retries: the receiver's idempotency key)
//   webhook-timestamp  seconds since the epoch of THIS attempt (receivers reject > 5 min skew)
//   webhook-signature  "v1,<base64 HMAC-SHA256(secret, id + '.' + timestamp + '.' + body)>",
//                      space separated, one per secret: during a rotation both secrets sign, so the
//                      receiver can switch at its own pace.

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export function signWebhook(id: string, body: string, secrets: readonly string[], at: Date = new Date()): SignedHeaders {
  if (secrets.length === 0) throw new Error('no signing secret');
  const signatures = secrets.map((s) => new Webhook(s).sign(id, at, body));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
