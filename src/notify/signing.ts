import { createHmac } from 'node:crypto';
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

// HMAC through node:crypto (OpenSSL) rather than the standardwebhooks package's pure-JS SHA-256: same
// bytes (test/notify/signing.test.ts verifies with the package), a fraction of the CPU per delivery.
// Keys are decoded once per secret; the package's constructor still validates the secret's format.
const keys = new Map<string, Buffer>();
/** Secrets come from the configuration (a few per target); the bound only guards against misuse. */
const MAX_KEYS = 256;

function keyOf(secret: string): Buffer {
  let key = keys.get(secret);
  if (!key) {
    new Webhook(secret); // throws on a secret that is not (whsec_)base64
    key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
    if (keys.size >= MAX_KEYS) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

export function signWebhook(id: string, body: string, secrets: readonly string[], at: Date = new Date()): SignedHeaders {
  if (secrets.length === 0) throw new Error('no signing secret');
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const signatures = secrets.map((s) => `v1,${createHmac('sha256', keyOf(s)).update(`${id}.${timestamp}.`).update(body).digest('base64')}`);
  return {
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': signatures.join(' '),
  };
}
