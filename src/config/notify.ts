import { z } from 'zod';

// Notifier configuration (issue 4): channels, targets, routing, per-application overrides, retry
// budget, timeouts, egress allow-list. Units are in the field names (…Ms = milliseconds).
//
// Targets are maps keyed by their id (not arrays) so that every field, secrets included, can be set
// from the environment: RISK_HUB_NOTIFY__SLACK__TARGETS__SECOPS__URL=https://hooks.slack.com/…
// sets notify.slack.targets.secops.url (env segments are camel-cased: SEC_OPS → secOps).
//
// Secrets are never written in the YAML file: give the NAME of an environment variable (`urlEnv`,
// `passwordEnv`, `secretsEnv`) or inject the value itself through a RISK_HUB_NOTIFY__… variable.
// They are resolved at start-up (src/notify/secrets.ts), scrubbed from every error message and
// ledger entry, and redacted in logs.

export const CHANNELS = ['slack', 'email', 'webhook'] as const;
export type Channel = (typeof CHANNELS)[number];

/** A placeholder a template may use, e.g. "{{user}}". */
export const TEMPLATE_FIELDS = [
  'alert_id',
  'application',
  'environment',
  'user',
  'tier',
  'tier_bound',
  'increase',
  'threshold',
  'score',
  'triggered_at',
] as const;

const template = z
  .string()
  .min(1)
  .max(500)
  .superRefine((s, ctx) => {
    for (const m of s.matchAll(/\{\{\s*([^}\s]*)\s*\}\}/g)) {
      if (!(TEMPLATE_FIELDS as readonly string[]).includes(m[1] ?? ''))
        ctx.addIssue({ code: 'custom', message: `unknown placeholder {{${m[1]}}} (known: ${TEMPLATE_FIELDS.join(', ')})` });
    }
  });

const targetId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'target ids are 1-64 letters, digits, _ or -');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');
const ms = z.number().int().positive();

/** Which alerts a target receives. Names may use `*` as a wildcard; an empty list matches nothing. */
export const RouteSchema = z.strictObject({
  /** application_id values (or patterns such as "shop-*"). Default: every application. [] = none (the target is then reached only through `applications` overrides). */
  applications: z.array(z.string().min(1)).default(['*']),
  /** environment values (or patterns). Default: every environment. */
  environments: z.array(z.string().min(1)).default(['*']),
  /** Lowest alert tier sent to this target (1 = every alert). */
  minTier: z.number().int().min(1).default(1),
});
export type RouteConfig = z.infer<typeof RouteSchema>;

/** Transient failures are retried with exponential backoff and full jitter, bounded by attempts AND time. */
export const RetrySchema = z.strictObject({
  /** Attempts per alert and target, the first included. */
  maxAttempts: z.number().int().min(1).max(100).default(6),
  /** Upper bound of the first backoff (ms); the n-th backoff is random in [0, min(maxDelayMs, initialDelayMs·2^(n-1))]. */
  initialDelayMs: ms.default(500),
  /** Cap of one backoff (ms). */
  maxDelayMs: ms.default(30_000),
  /** Total time (ms) from the first attempt after which no new attempt starts; a Retry-After beyond it dead-letters at once. */
  budgetMs: ms.default(120_000),
});
export type RetryConfig = z.infer<typeof RetrySchema>;

const channelCommon = {
  /** Run this channel's consumer group. */
  enabled: z.boolean().default(false),
  /** Timeout of one attempt (ms): connect + response; always capped by what is left of the retry budget. */
  timeoutMs: ms.default(10_000),
  /** Deliveries in flight at once on each target's lane of this channel (overrides notify.consumer.maxInFlight; 1 = one at a time). */
  maxInFlight: z.number().int().min(1).max(1024).optional(),
  /** Overrides of notify.retry for this channel (same fields, no defaults: unset fields follow notify.retry). */
  retry: z
    .strictObject({
      maxAttempts: z.number().int().min(1).max(100).optional(),
      initialDelayMs: ms.optional(),
      maxDelayMs: ms.optional(),
      budgetMs: ms.optional(),
    })
    .optional(),
};

export const SlackTargetSchema = z
  .strictObject({
    /** The incoming-webhook URL itself (a secret: set it through RISK_HUB_NOTIFY__SLACK__TARGETS__<ID>__URL). */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** Name of the environment variable holding the incoming-webhook URL. */
    urlEnv: envName.optional(),
    route: RouteSchema.prefault({}),
  })
  .refine((t) => Boolean(t.url) !== Boolean(t.urlEnv), { message: 'give exactly one of url or urlEnv' });

export const SlackSchema = z.strictObject({
  ...channelCommon,
  targets: z.record(targetId, SlackTargetSchema).default({}),
  /** Header of the message (plain text, cut at 150 characters). */
  headerTemplate: template.default('Risk rising: {{user}} in {{application}}/{{environment}}'),
  /** Contributing attacks listed in the message (the alert carries at most scoring.maxContributions). */
  maxContributions: z.number().int().min(0).max(25).default(10),
});

export const SmtpSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    /** 587 (submission, STARTTLS), 465 (implicit TLS, set secure), 25. */
    port: z.number().int().min(1).max(65535).default(587),
    /** Implicit TLS from the first byte (port 465). Otherwise STARTTLS is used whenever the server offers it. */
    secure: z.boolean().default(false),
    /** Refuse to send unless STARTTLS succeeds. */
    requireTLS: z.boolean().default(false),
    /** Verify the server certificate. */
    rejectUnauthorized: z.boolean().default(true),
    username: z.string().min(1).optional(),
    /** SMTP password (a secret: set it through RISK_HUB_NOTIFY__EMAIL__SMTP__PASSWORD). */
    password: z.string().min(1).optional(),
    /** Name of the environment variable holding the SMTP password. */
    passwordEnv: envName.optional(),
    /** TCP connect timeout (ms). */
    connectionTimeoutMs: ms.default(10_000),
    /** Wait for the server greeting (ms). */
    greetingTimeoutMs: ms.default(10_000),
  })
  .refine((s) => !(s.password && s.passwordEnv), { message: 'give at most one of password or passwordEnv' })
  .refine((s) => !(s.password || s.passwordEnv) || Boolean(s.username), { message: 'a password needs a username' });

const address = z.string().min(3).max(320).regex(/^[^\s<>@]+@[^\s<>@]+$/, 'expected an e-mail address');

export const EmailTargetSchema = z.strictObject({
  to: z.array(address).min(1),
  cc: z.array(address).default([]),
  route: RouteSchema.prefault({}),
});

export const EmailSchema = z.strictObject({
  ...channelCommon,
  smtp: SmtpSchema.prefault({}),
  /** Sender, e.g. "Risk Hub <risk-hub@example.com>". */
  from: z.string().min(3).default('Risk Hub <risk-hub@localhost>'),
  subjectTemplate: template.default('[Risk Hub] tier {{tier}}: {{user}} +{{increase}} points in {{application}}/{{environment}}'),
  /** Check the SMTP connection (and login) when the notifier starts; a failure stops start-up. */
  verifyOnStart: z.boolean().default(true),
  maxContributions: z.number().int().min(0).max(100).default(10),
  targets: z.record(targetId, EmailTargetSchema).default({}),
});

export const WebhookTargetSchema = z
  .strictObject({
    /** HTTPS (or, for allow-listed hosts, HTTP) endpoint. */
    url: z.url({ protocol: /^https?$/ }),
    /** Signing secrets, comma separated, `whsec_`+base64 (Standard Webhooks). Two during a rotation: both sign. Secret: prefer secretsEnv. */
    secrets: z.string().min(1).optional(),
    /** Name of the environment variable holding the signing secrets (comma separated). */
    secretsEnv: envName.optional(),
    /** Extra non-secret request headers. */
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string()).default({}),
    route: RouteSchema.prefault({}),
  })
  .refine((t) => Boolean(t.secrets) !== Boolean(t.secretsEnv), { message: 'give exactly one of secrets or secretsEnv' });

export const WebhookSchema = z.strictObject({
  ...channelCommon,
  targets: z.record(targetId, WebhookTargetSchema).default({}),
});

/** Per-application override, keyed by application_id. */
export const ApplicationOverrideSchema = z.strictObject({
  /** Alerts of this application below this tier go nowhere. */
  minTier: z.number().int().min(1).optional(),
  /** Environments of this application that notify at all (patterns allowed). */
  environments: z.array(z.string().min(1)).optional(),
  /** Extra targets (ids) per channel that receive this application's alerts whatever their own routes say. */
  slack: z.array(targetId).default([]),
  email: z.array(targetId).default([]),
  webhook: z.array(targetId).default([]),
  /** true: ONLY the targets listed here receive this application's alerts (routes of other targets are ignored). */
  exclusive: z.boolean().default(false),
});
export type ApplicationOverride = z.infer<typeof ApplicationOverrideSchema>;

export const NotifySchema = z
  .strictObject({
    /** Default retry policy of every channel. */
    retry: RetrySchema.prefault({}),
    /** Outbound HTTP (Slack, webhooks) never reaches private, loopback, link-local, CGNAT or metadata addresses unless listed here (CIDRs such as "10.1.0.0/16", addresses, or host names). */
    egress: z
      .strictObject({ allow: z.array(z.string().min(1)).default([]) })
      .prefault({}),
    /** Idempotency across restarts: the delivery ledger is read back this far (ms) into a bounded cache. */
    ledger: z
      .strictObject({
        lookbackMs: ms.default(48 * 60 * 60 * 1000),
        /** (channel, target, alert) keys remembered. */
        cacheSize: z.number().int().min(1000).default(200_000),
        /** How long a (re)joined consumer waits for the ledger read-back before failing the batch (ms). */
        catchUpTimeoutMs: ms.default(60_000),
      })
      .prefault({}),
    consumer: z
      .strictObject({
        /** Partitions of risk-alerts one channel handles at the same time (in order within each). */
        partitionsConsumedConcurrently: z.number().int().min(1).max(64).default(6),
        /**
         * Handled offsets are committed at most this often (ms) and at the end of each fetched batch;
         * 0: whenever the handled prefix advances (a commit per alert or so: slow). Safe either way: an
         * alert handled but not yet committed when the process dies is found on the delivery ledger and skipped.
         */
        commitIntervalMs: z.number().int().min(0).max(60_000).default(1000),
        /**
         * Deliveries in flight at once on each target's lane (across its partitions): alerts of different
         * users go out concurrently, one user's alerts one after the other, in order. Also the bound of
         * the lane's HTTP connections. 1 restores one delivery at a time per lane.
         */
        maxInFlight: z.number().int().min(1).max(1024).default(64),
        /** Group session timeout (ms). The consumer heartbeats while an alert is being retried. */
        sessionTimeoutMs: ms.default(30_000),
        /**
         * Alerts older than this (ms, by record time) are skipped, not sent (outcome "expired"): a new
         * consumer group reads risk-alerts from the beginning, and an alert older than the ledger
         * look-back could not be recognised as already delivered. At most ledger.lookbackMs.
         */
        maxAlertAgeMs: ms.default(48 * 60 * 60 * 1000),
        /** How often the consumer lag of each channel group is read from the broker (ms), for risk_hub_consumer_lag_records. */
        lagIntervalMs: ms.default(15_000),
      })
      .prefault({}),
    /** Put the user's identifiers (email, login…) in messages. */
    includeIdentifiers: z.boolean().default(true),
    /** Optional link added to every message, e.g. "https://risk.example.com/users/{{application}}/{{environment}}/{{user}}". */
    linkTemplate: template.optional(),
    slack: SlackSchema.prefault({}),
    email: EmailSchema.prefault({}),
    webhook: WebhookSchema.prefault({}),
    applications: z.record(z.string().min(1), ApplicationOverrideSchema).default({}),
  })
  .superRefine((n, ctx) => {
    for (const [app, o] of Object.entries(n.applications)) {
      for (const channel of CHANNELS) {
        o[channel].forEach((id, i) => {
          if (!n[channel].targets[id])
            ctx.addIssue({ code: 'custom', path: ['applications', app, channel, i], message: `no ${channel} target named "${id}"` });
        });
      }
    }
    if (n.consumer.maxAlertAgeMs > n.ledger.lookbackMs)
      ctx.addIssue({ code: 'custom', path: ['consumer', 'maxAlertAgeMs'], message: `must not exceed ledger.lookbackMs (${n.ledger.lookbackMs}): older alerts could be delivered twice` });
    for (const [i, entry] of n.egress.allow.entries()) {
      if (/\s/.test(entry)) ctx.addIssue({ code: 'custom', path: ['egress', 'allow', i], message: 'no spaces allowed' });
    }
  });

export type NotifyConfig = z.infer<typeof NotifySchema>;
export type SlackConfig = NotifyConfig['slack'];
export type EmailConfig = NotifyConfig['email'];
export type WebhookConfig = NotifyConfig['webhook'];

/**
 * Ceilings of deliveries in flight where the receiver limits its callers, unless the channel sets its
 * own: Slack's incoming webhooks take about one message a second per webhook (a burst beyond gets 429
 * and waits out Retry-After), and SMTP servers commonly refuse more than ~10 sessions per client.
 */
const CHANNEL_MAX_IN_FLIGHT: Readonly<Partial<Record<Channel, number>>> = Object.freeze({ slack: 4, email: 8 });

/**
 * Deliveries in flight at once on one lane of `channel`: the channel's override, else
 * notify.consumer.maxInFlight within the channel's ceiling (CHANNEL_MAX_IN_FLIGHT).
 */
export function maxInFlight(n: NotifyConfig, channel: Channel): number {
  return n[channel].maxInFlight ?? Math.min(n.consumer.maxInFlight, CHANNEL_MAX_IN_FLIGHT[channel] ?? Number.MAX_SAFE_INTEGER);
}

/** The retry policy of a channel: notify.retry with the channel's overrides. */
export function retryPolicy(n: NotifyConfig, channel: Channel): RetryConfig {
  const o = n[channel].retry ?? {};
  return Object.fromEntries(Object.entries({ ...n.retry, ...o }).map(([k, v]) => [k, v ?? n.retry[k as keyof RetryConfig]])) as RetryConfig;
}
