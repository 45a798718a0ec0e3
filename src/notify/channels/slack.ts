import { IncomingWebhook, IncomingWebhookHTTPError, IncomingWebhookRequestError, type FetchFunction } from '@slack/webhook';

type FetchResponse = Awaited<ReturnType<FetchFunction>>;
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import type { SlackMessage } from '../render/slack.ts';
import { httpError, toDeliveryError } from '../retry.ts';
import type { ChannelSender, SendContext, SendResult, SlackTarget } from '../types.ts';

// Slack incoming webhooks through @slack/webhook, with its fetch replaced by undici's fetch on the
// egress-checked Agent. The library's own retries are off (ours are budgeted and recorded) and its
// HTTP error does not carry headers, so the wrapper keeps the last response to read Retry-After.

export class SlackSender implements ChannelSender<SlackTarget> {
  readonly channel = 'slack' as const;
  private readonly dispatcher: Dispatcher;
  private readonly render: (notification: SendContext['notification']) => SlackMessage;

  constructor(opts: { dispatcher: Dispatcher; render: (notification: SendContext['notification']) => SlackMessage }) {
    this.dispatcher = opts.dispatcher;
    this.render = opts.render;
  }

  async send(target: SlackTarget, ctx: SendContext): Promise<SendResult> {
    let last: FetchResponse | undefined;
    const fetchFn: FetchFunction = async (url, init) => {
      const res = await undiciFetch(url, {
        method: init?.method ?? 'POST',
        ...(init?.headers ? { headers: init.headers } : {}),
        ...(init?.body !== undefined ? { body: init.body as string } : {}),
        // 'manual': a 3xx comes back as a response and is classified permanent (never followed).
        redirect: 'manual',
        signal: init?.signal ? AbortSignal.any([init.signal, ctx.signal]) : ctx.signal,
        dispatcher: this.dispatcher,
      });
      last = res as unknown as FetchResponse;
      return last;
    };
    const hook = new IncomingWebhook(target.url, { fetch: fetchFn, timeout: 0, retryConfig: { retries: 0 } });
    try {
      await hook.send(this.render(ctx.notification) as never);
      return { status: `http_${last?.status ?? 200}` };
    } catch (err) {
      if (err instanceof IncomingWebhookHTTPError) {
        throw httpError(err.statusCode, { retryAfter: last?.headers.get('retry-after'), body: err.body });
      }
      if (err instanceof IncomingWebhookRequestError) throw toDeliveryError(err.original);
      throw toDeliveryError(err);
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => undefined);
  }
}
