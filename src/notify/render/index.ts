import type { NotifyConfig } from '../../config/notify.ts';
import type { RiskAlert } from '../../contracts.ts';
import { asNotification, type Notification } from '../notification.ts';
import { fillTemplate } from './common.ts';
import { renderEmail, renderEmailDecision, type EmailMessage } from './email.ts';
import { renderSlack, renderSlackDecision, type SlackMessage } from './slack.ts';
import { renderWebhook, renderWebhookDecision, type DecisionWebhookPayload, type WebhookPayload } from './webhook.ts';

export { renderEmail, renderSlack, renderWebhook, renderEmailDecision, renderSlackDecision, renderWebhookDecision };
export type { EmailMessage, SlackMessage, WebhookPayload, DecisionWebhookPayload };

/** The optional per-alert link, placeholders URL-encoded. */
export function linkFor(alert: RiskAlert, notify: Pick<NotifyConfig, 'linkTemplate'>): string | undefined {
  return notify.linkTemplate ? fillTemplate(notify.linkTemplate, alert, encodeURIComponent) : undefined;
}

/**
 * Renderers bound to the configuration: what `config test` prints is exactly what the senders send.
 * Each takes an alert or a notification (an alert, or a person's decision from the decisions topic).
 */
export function renderers(notify: NotifyConfig) {
  return {
    slack: (input: RiskAlert | Notification): SlackMessage => {
      const n = asNotification(input);
      if (n.kind === 'decision') return renderSlackDecision(n.decision, { includeIdentifiers: notify.includeIdentifiers });
      return renderSlack(n.alert, {
        headerTemplate: notify.slack.headerTemplate,
        maxContributions: notify.slack.maxContributions,
        includeIdentifiers: notify.includeIdentifiers,
        link: linkFor(n.alert, notify),
      });
    },
    email: (input: RiskAlert | Notification): EmailMessage => {
      const n = asNotification(input);
      if (n.kind === 'decision') return renderEmailDecision(n.decision, { includeIdentifiers: notify.includeIdentifiers });
      return renderEmail(n.alert, {
        subjectTemplate: notify.email.subjectTemplate,
        maxContributions: notify.email.maxContributions,
        includeIdentifiers: notify.includeIdentifiers,
        link: linkFor(n.alert, notify),
      });
    },
    webhook: (input: RiskAlert | Notification): { payload: WebhookPayload | DecisionWebhookPayload; body: string } => renderNotificationWebhook(input),
  };
}
export type Renderers = ReturnType<typeof renderers>;

/** The webhook body of an alert or a person's decision (no configuration involved). */
export function renderNotificationWebhook(input: RiskAlert | Notification): { payload: WebhookPayload | DecisionWebhookPayload; body: string } {
  const n = asNotification(input);
  return n.kind === 'decision' ? renderWebhookDecision(n.decision) : renderWebhook(n.alert);
}
