import type { NotifyConfig } from '../../config/notify.ts';
import type { RiskAlert } from '../../contracts.ts';
import { fillTemplate } from './common.ts';
import { renderEmail, type EmailMessage } from './email.ts';
import { renderSlack, type SlackMessage } from './slack.ts';
import { renderWebhook, type WebhookPayload } from './webhook.ts';

export { renderEmail, renderSlack, renderWebhook };
export type { EmailMessage, SlackMessage, WebhookPayload };

/** The optional per-alert link, placeholders URL-encoded. */
export function linkFor(alert: RiskAlert, notify: Pick<NotifyConfig, 'linkTemplate'>): string | undefined {
  return notify.linkTemplate ? fillTemplate(notify.linkTemplate, alert, encodeURIComponent) : undefined;
}

/** Renderers bound to the configuration: what `config test` prints is exactly what the senders send. */
export function renderers(notify: NotifyConfig) {
  return {
    slack: (alert: RiskAlert): SlackMessage =>
      renderSlack(alert, {
        headerTemplate: notify.slack.headerTemplate,
        maxContributions: notify.slack.maxContributions,
        includeIdentifiers: notify.includeIdentifiers,
        link: linkFor(alert, notify),
      }),
    email: (alert: RiskAlert): EmailMessage =>
      renderEmail(alert, {
        subjectTemplate: notify.email.subjectTemplate,
        maxContributions: notify.email.maxContributions,
        includeIdentifiers: notify.includeIdentifiers,
        link: linkFor(alert, notify),
      }),
    webhook: (alert: RiskAlert): { payload: WebhookPayload; body: string } => renderWebhook(alert),
  };
}
export type Renderers = ReturnType<typeof renderers>;
