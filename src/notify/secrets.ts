import { Webhook } from 'standardwebhooks';
import type { NotifyConfig } from '../config/notify.ts';
import { isSecretHeader, scrubSecrets } from '../config/redact.ts';
import { ConfigError } from '../errors.ts';
import type { EmailTarget, ResolvedTargets, SlackTarget, WebhookTarget } from './types.ts';

// Secrets are referenced by environment-variable NAME in the configuration (urlEnv, passwordEnv,
// secretsEnv) or injected as values through RISK_HUB_NOTIFY__… variables. They are resolved here,
// once, and the list of every secret value is kept for scrubbing (Scrubber below).

/**
 * Resolves the targets of the enabled channels (all channels when `all` is set, e.g. for
 * `config test`). A missing or malformed secret stops start-up with the field and variable named.
 */
export function resolveTargets(
  notify: NotifyConfig,
  env: NodeJS.ProcessEnv = process.env,
  opts: { all?: boolean; /** Stand-ins for secrets that are not set (config test: nothing is sent). */ placeholders?: boolean } = {},
): ResolvedTargets {
  const secrets: string[] = [];
  const PLACEHOLDER = { url: 'https://placeholder.invalid/', password: 'placeholder', secrets: 'whsec_' + Buffer.alloc(24).toString('base64') };
  const fromEnv = (name: string, field: string, kind: keyof typeof PLACEHOLDER): string => {
    const v = env[name];
    if (v === undefined || v.trim() === '') {
      if (opts.placeholders) return PLACEHOLDER[kind];
      throw new ConfigError(`${field}: environment variable ${name} is not set (it holds a secret)`);
    }
    return v.trim();
  };
  const on = (enabled: boolean) => enabled || Boolean(opts.all);

  const slack: SlackTarget[] = [];
  if (on(notify.slack.enabled)) {
    for (const [id, t] of Object.entries(notify.slack.targets)) {
      const field = `notify.slack.targets.${id}`;
      const url = t.url ?? fromEnv(t.urlEnv ?? '', `${field}.urlEnv`, 'url');
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new ConfigError(`${field}: the Slack webhook URL${t.urlEnv ? ` in ${t.urlEnv}` : ''} is not a valid URL`);
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError(`${field}: the Slack webhook URL must be http(s)`);
      secrets.push(url);
      // The path carries the token: scrub it on its own too (errors often show only the path).
      if (parsed.pathname.length > 8) secrets.push(parsed.pathname);
      slack.push({ channel: 'slack', id, url, route: t.route });
    }
  }

  const email: EmailTarget[] = [];
  let smtpPassword: string | undefined;
  if (on(notify.email.enabled)) {
    const s = notify.email.smtp;
    smtpPassword = s.password ?? (s.passwordEnv ? fromEnv(s.passwordEnv, 'notify.email.smtp.passwordEnv', 'password') : undefined);
    if (smtpPassword) secrets.push(smtpPassword);
    for (const [id, t] of Object.entries(notify.email.targets)) email.push({ channel: 'email', id, to: [...t.to], cc: [...t.cc], route: t.route });
  }

  const webhook: WebhookTarget[] = [];
  if (on(notify.webhook.enabled)) {
    for (const [id, t] of Object.entries(notify.webhook.targets)) {
      const field = `notify.webhook.targets.${id}`;
      const raw = t.secrets ?? fromEnv(t.secretsEnv ?? '', `${field}.secretsEnv`, 'secrets');
      const list = raw.split(',').map((x) => x.trim()).filter(Boolean);
      if (list.length === 0) throw new ConfigError(`${field}: no signing secret`);
      list.forEach((secret, i) => {
        try {
          new Webhook(secret);
        } catch {
          throw new ConfigError(`${field}: signing secret #${i + 1} is not base64 ("whsec_" + base64 of at least 24 random bytes)`);
        }
        if (Buffer.from(secret.replace(/^whsec_/, ''), 'base64').length < 16)
          throw new ConfigError(`${field}: signing secret #${i + 1} is too short (use at least 24 random bytes)`);
        secrets.push(secret, secret.replace(/^whsec_/, ''));
      });
      // A credential passed as a header (x-api-key, authorization) is scrubbed like a signing secret.
      for (const [name, value] of Object.entries(t.headers)) if (isSecretHeader(name)) secrets.push(value, value.replace(/^(Bearer|Basic|Token)\s+/i, ''));
      webhook.push({ channel: 'webhook', id, url: t.url, secrets: list, headers: { ...t.headers }, route: t.route });
    }
  }
  return { slack, email, webhook, smtpPassword, secrets: [...new Set(secrets)] };
}

/** Removes every known secret (and URL credentials) from text bound for logs, the ledger or the DLQ. */
export class Scrubber {
  private readonly secrets: string[];
  constructor(secrets: Iterable<string>) {
    // Longest first, so a secret containing another is replaced whole.
    this.secrets = [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  }
  scrub(text: string): string {
    return scrubSecrets(text, this.secrets)
      .replace(/(\w+:\/\/)[^/@\s]+:[^/@\s]+@/g, '$1[redacted]@')
      .replace(/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]+/g, 'hooks.slack.com/services/[redacted]');
  }
}
