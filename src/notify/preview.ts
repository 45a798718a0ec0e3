import { CHANNELS, type Channel } from '../config/notify.ts';
import type { Config } from '../config/schema.ts';
import type { RiskAlert } from '../contracts.ts';
import { ConfigError } from '../errors.ts';
import { readerType } from '../kafka/serde.ts';
import { staticEgressVerdict } from './egress.ts';
import { renderers } from './render/index.ts';
import { routeAlert } from './route.ts';
import { resolveTargets } from './secrets.ts';
import type { ResolvedTargets, Target } from './types.ts';

// `risk-hub config test --alert sample.json`: where an alert goes and what each message looks like.
// Sends nothing, opens no connection; secrets are neither needed nor shown.

export interface PreviewChannel {
  channel: Channel;
  enabled: boolean;
  routes: Array<{ target: string; reason: string; destination: string; /** Set when egress will refuse the target. */ egress?: string }>;
  dropped?: string;
  /** The rendered message (Slack payload, e-mail parts, webhook body + headers). */
  message?: unknown;
}

/** Validates a sample alert against schemas/risk-alert.avsc; the error names the fields. */
export function parseSampleAlert(json: unknown, file = 'alert'): RiskAlert {
  const type = readerType('risk-alert.avsc');
  const withDefaults = { contributions_truncated: 0, ...(json as object) } as Record<string, unknown>;
  const bad: string[] = [];
  if (!type.isValid(withDefaults, { errorHook: (path) => bad.push(path.join('.') || '(root)') })) {
    throw new ConfigError(`${file}: not a valid RiskAlert (schemas/risk-alert.avsc) at: ${[...new Set(bad)].join(', ')}`);
  }
  return withDefaults as unknown as RiskAlert;
}

function destination(t: Target): string {
  switch (t.channel) {
    case 'slack':
      return 'Slack incoming webhook (URL is a secret, not shown)';
    case 'email':
      return `to ${t.to.join(', ')}${t.cc.length ? `, cc ${t.cc.join(', ')}` : ''}`;
    case 'webhook': {
      const u = new URL(t.url);
      u.username = '';
      u.password = '';
      return `POST ${u.toString()} (${t.secrets.length} signing secret${t.secrets.length === 1 ? '' : 's'})`;
    }
  }
}

/** The refusal a delivery to this HTTP target will meet (loopback, metadata, private), if it can be told now. */
function egressWarning(t: Target, allow: readonly string[]): string | undefined {
  if (t.channel === 'email') return undefined;
  const v = staticEgressVerdict(t.url, allow);
  if (!v || v.allowed) return undefined;
  return `egress will refuse it (${v.address}: ${v.why}); list it in notify.egress.allow if this is intended`;
}

export function previewAlert(config: Config, alert: RiskAlert, env: NodeJS.ProcessEnv = process.env): PreviewChannel[] {
  const n = config.notify;
  // Placeholders stand in for secrets that are not set in this shell: the preview needs none.
  const targets: ResolvedTargets = resolveTargets(n, env, { all: true, placeholders: true });
  const render = renderers(n);
  return CHANNELS.map((channel) => {
    const decision = routeAlert(alert, channel, n, targets);
    const out: PreviewChannel = {
      channel,
      enabled: n[channel].enabled,
      routes: decision.routed.map((r) => {
        const egress = egressWarning(r.target, n.egress.allow);
        return { target: r.target.id, reason: r.reason, destination: destination(r.target), ...(egress ? { egress } : {}) };
      }),
      ...(decision.dropped ? { dropped: decision.dropped } : {}),
    };
    if (decision.routed.length) {
      if (channel === 'slack') out.message = render.slack(alert);
      else if (channel === 'email') {
        const m = render.email(alert);
        out.message = { from: n.email.from, subject: m.subject, messageId: m.messageId, headers: m.headers, text: m.text, html: m.html };
      } else {
        const { body } = render.webhook(alert);
        out.message = { headers: { 'content-type': 'application/json', 'webhook-id': alert.alert_id, 'webhook-timestamp': '<time of the attempt>', 'webhook-signature': 'v1,<HMAC-SHA256 per secret>' }, body: JSON.parse(body) as unknown };
      }
    }
    return out;
  });
}
