import { request, type Dispatcher } from 'undici';
import { notificationId } from '../notification.ts';
import { renderNotificationWebhook } from '../render/index.ts';
import { httpError, toDeliveryError } from '../retry.ts';
import { signWebhook } from '../signing.ts';
import type { ChannelSender, SendContext, SendResult, WebhookTarget } from '../types.ts';

// Signed JSON POST (Standard Webhooks) through the egress-checked undici Agent: no redirects, a
// timeout on every attempt (headers, body, and the attempt's AbortSignal).

export const USER_AGENT = 'risk-hub-notifier/1';

/** Reads at most `limit` bytes of a response body (for error messages), then drops the rest. */
export async function readSnippet(body: Dispatcher.ResponseData['body'], limit = 512): Promise<string> {
  let out = '';
  try {
    for await (const chunk of body) {
      out += Buffer.from(chunk as Uint8Array).toString('utf8');
      if (out.length >= limit) break;
    }
  } catch {
    // an unreadable error body changes nothing to the verdict
  } finally {
    body.destroy();
  }
  return out.slice(0, limit);
}

export class WebhookSender implements ChannelSender<WebhookTarget> {
  readonly channel = 'webhook' as const;
  private readonly dispatcher: Dispatcher;
  private readonly clock: () => Date;

  constructor(opts: { dispatcher: Dispatcher; clock?: () => Date }) {
    this.dispatcher = opts.dispatcher;
    this.clock = opts.clock ?? (() => new Date());
  }

  async send(target: WebhookTarget, ctx: SendContext): Promise<SendResult> {
    const { body } = renderNotificationWebhook(ctx.notification);
    const headers: Record<string, string> = {
      ...target.headers,
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      // Fresh timestamp and signatures on every attempt; the id stays the alert (or decision) id.
      ...signWebhook(notificationId(ctx.notification), body, target.secrets, this.clock()),
    };
    let res: Dispatcher.ResponseData;
    try {
      res = await request(target.url, {
        method: 'POST',
        body,
        headers,
        dispatcher: this.dispatcher,
        signal: ctx.signal,
        headersTimeout: ctx.timeoutMs,
        bodyTimeout: ctx.timeoutMs,
      });
    } catch (err) {
      throw toDeliveryError(err);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) {
      await res.body.dump().catch(() => undefined);
      return { status: `http_${res.statusCode}` };
    }
    const snippet = await readSnippet(res.body);
    throw httpError(res.statusCode, { retryAfter: res.headers['retry-after'], body: snippet });
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }
}
