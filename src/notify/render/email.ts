import type { Decision, RiskAlert } from '../../contracts.ts';
import { alertFacts, clip, contributionLine, fillTemplate, summaryLine, topContributions, type Fact } from './common.ts';
import { actionLine, decisionFacts, decisionSummaryLine } from './decision.ts';

// E-mail: a text part and an HTML part carrying the same facts; Message-ID derived from alert_id so
// that a receiver (or a mail archive) can recognise a repeated delivery.

export interface EmailMessage {
  subject: string;
  text: string;
  html: string;
  messageId: string;
  headers: Record<string, string>;
}

export interface EmailRenderOptions {
  subjectTemplate: string;
  maxContributions: number;
  includeIdentifiers: boolean;
  link?: string | undefined;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** `<alert_id@risk-hub>`; characters outside the RFC 5322 dot-atom set are replaced. */
export function messageIdFor(alertId: string): string {
  return `<${alertId.replace(/[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]/g, '_').slice(0, 200)}@risk-hub>`;
}

export function renderEmail(alert: RiskAlert, opts: EmailRenderOptions): EmailMessage {
  // Header injection: no CR/LF can survive into the subject.
  const subject = clip(fillTemplate(opts.subjectTemplate, alert).replace(/[\r\n]+/g, ' '), 250);
  const facts = alertFacts(alert, { includeIdentifiers: opts.includeIdentifiers });
  const { shown, more } = topContributions(alert, opts.maxContributions);
  const width = Math.max(...facts.map((f) => f.label.length));
  const action = actionLine(alert);

  const text = [
    summaryLine(alert) + '.',
    ...(action ? [`Action taken: ${action}.`] : []),
    '',
    ...facts.map((f) => `${(f.label + ':').padEnd(width + 2)}${f.value}`),
    '',
    ...(shown.length ? ['Top contributing attacks:', ...shown.map((c) => `  - ${contributionLine(c)}`), ...(more > 0 ? [`  …and ${more} more`] : []), ''] : []),
    ...(opts.link ? [`Details: ${opts.link}`, ''] : []),
    `Alert id: ${alert.alert_id}`,
    '-- ',
    'Risk Hub',
    '',
  ].join('\n');

  const rows = facts.map((f) => `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(f.label)}</th><td>${escapeHtml(f.value)}</td></tr>`).join('\n');
  const items = shown.map((c) => `<li>${escapeHtml(contributionLine(c))}</li>`).join('\n');
  const html = `<!doctype html>
<html><body style="font-family:sans-serif">
<p>${escapeHtml(summaryLine(alert))}.</p>
${action ? `<p><strong>Action taken: ${escapeHtml(action)}.</strong></p>\n` : ''}<table>
${rows}
</table>
${shown.length ? `<h3>Top contributing attacks</h3>\n<ul>\n${items}\n</ul>${more > 0 ? `\n<p>…and ${more} more</p>` : ''}` : ''}
${opts.link ? `<p><a href="${escapeHtml(opts.link)}">Details</a></p>` : ''}
<p style="color:#666">Alert id: ${escapeHtml(alert.alert_id)}</p>
</body></html>
`;
  return {
    subject,
    text,
    html,
    messageId: messageIdFor(alert.alert_id),
    headers: { 'X-Risk-Hub-Alert-Id': clip(alert.alert_id, 200), 'X-Risk-Hub-Tier': String(alert.tier) },
  };
}

function factsText(facts: Fact[]): string[] {
  const width = Math.max(...facts.map((f) => f.label.length));
  return facts.map((f) => `${(f.label + ':').padEnd(width + 2)}${f.value}`);
}

/**
 * A person's decision (manual block, challenge, monitor or lift). Fixed subject (the subject template's
 * placeholders are the alert's); Message-ID <decision_id@risk-hub>.
 */
export function renderEmailDecision(d: Decision, opts: Pick<EmailRenderOptions, 'includeIdentifiers'>): EmailMessage {
  const summary = decisionSummaryLine(d);
  const subject = clip(`[Risk Hub] ${summary.replace(/^Risk Hub: /, '')}`.replace(/[\r\n]+/g, ' '), 250);
  const facts = decisionFacts(d, opts);
  const text = [summary, '', ...factsText(facts), '', `Decision id: ${d.decision_id}`, '-- ', 'Risk Hub', ''].join('\n');
  const rows = facts.map((f) => `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(f.label)}</th><td>${escapeHtml(f.value)}</td></tr>`).join('\n');
  const html = `<!doctype html>
<html><body style="font-family:sans-serif">
<p>${escapeHtml(summary)}</p>
<table>
${rows}
</table>
<p style="color:#666">Decision id: ${escapeHtml(d.decision_id)}</p>
</body></html>
`;
  return {
    subject,
    text,
    html,
    messageId: messageIdFor(d.decision_id),
    headers: { 'X-Risk-Hub-Decision-Id': clip(d.decision_id, 200), 'X-Risk-Hub-Action': d.action },
  };
}
