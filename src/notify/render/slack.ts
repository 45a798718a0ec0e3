import type { Decision, RiskAlert } from '../../contracts.ts';
import { alertFacts, clip, contributionLine, fillTemplate, iso, summaryLine, topContributions, type Fact } from './common.ts';
import { actionLine, decisionFacts, decisionSummaryLine, manualDecisionLine } from './decision.ts';

// Slack Block Kit for an incoming webhook, within Slack's limits: ≤ 50 blocks, header plain_text
// ≤ 150 characters, section text ≤ 3000, ≤ 10 fields of ≤ 2000, context ≤ 10 elements; and always a
// top-level `text` (notifications, screen readers, clients without blocks).

export const SLACK_LIMITS = { blocks: 50, header: 150, sectionText: 3000, fields: 10, fieldText: 2000, contextElements: 10, text: 4000 } as const;

/** Escapes the three characters Slack's mrkdwn treats as control (&, <, >) — no links or mentions from agent data. */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}


export interface SlackMessage {
  text: string;
  blocks: Array<Record<string, unknown>>;
  unfurl_links: false;
  unfurl_media: false;
}

export interface SlackRenderOptions {
  headerTemplate: string;
  maxContributions: number;
  includeIdentifiers: boolean;
  link?: string | undefined;
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

export function renderSlack(alert: RiskAlert, opts: SlackRenderOptions): SlackMessage {
  const blocks: Array<Record<string, unknown>> = [];
  blocks.push({ type: 'header', text: { type: 'plain_text', text: cut(fillTemplate(opts.headerTemplate, alert), SLACK_LIMITS.header), emoji: false } });

  const action = actionLine(alert);
  if (action) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: cut(`*Action taken:* ${escapeMrkdwn(action)}`, SLACK_LIMITS.sectionText) } });
  blocks.push(factsSection(alertFacts(alert, { includeIdentifiers: opts.includeIdentifiers })));

  const { shown, more } = topContributions(alert, opts.maxContributions);
  if (shown.length) {
    let body = '*Top contributing attacks*';
    let listed = 0;
    for (const c of shown) {
      const line = `\n• ${escapeMrkdwn(contributionLine(c))}`;
      // Keep room for the "…and N more" line.
      if (body.length + line.length > SLACK_LIMITS.sectionText - 40) break;
      body += line;
      listed++;
    }
    const rest = more + (shown.length - listed);
    if (rest > 0) body += `\n…and ${rest} more`;
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: body } });
  }

  const context = [`Alert \`${escapeMrkdwn(clip(alert.alert_id, 100))}\``, `triggered ${iso(alert.triggered_at)}`];
  if (opts.link) context.push(`<${opts.link.replace(/[<>|]/g, encodeURIComponent)}|Open in Risk Hub>`);
  blocks.push({ type: 'context', elements: context.slice(0, SLACK_LIMITS.contextElements).map((text) => ({ type: 'mrkdwn', text })) });

  const text = summaryLine(alert) + (action ? `. ${action}` : '');
  return { text: cut(escapeMrkdwn(text), SLACK_LIMITS.text), blocks: blocks.slice(0, SLACK_LIMITS.blocks), unfurl_links: false, unfurl_media: false };
}

function factsSection(facts: Fact[]): Record<string, unknown> {
  return {
    type: 'section',
    fields: facts.slice(0, SLACK_LIMITS.fields).map((f) => ({ type: 'mrkdwn', text: cut(`*${f.label}*\n${escapeMrkdwn(f.value)}`, SLACK_LIMITS.fieldText) })),
  };
}

/** A person's decision (manual block, challenge, monitor or lift): header, the line, the facts, the ids. */
export function renderSlackDecision(d: Decision, opts: Pick<SlackRenderOptions, 'includeIdentifiers'>): SlackMessage {
  const line = manualDecisionLine(d);
  const blocks: Array<Record<string, unknown>> = [
    { type: 'header', text: { type: 'plain_text', text: cut(`Risk Hub: ${clip(d.user.key, 100)}: ${line}`, SLACK_LIMITS.header), emoji: false } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(escapeMrkdwn(line), SLACK_LIMITS.sectionText) } },
    factsSection(decisionFacts(d, opts)),
    { type: 'context', elements: [{ type: 'mrkdwn', text: `Decision \`${escapeMrkdwn(clip(d.decision_id, 100))}\`` }, { type: 'mrkdwn', text: `made ${iso(d.made_at)}` }] },
  ];
  return { text: cut(escapeMrkdwn(decisionSummaryLine(d)), SLACK_LIMITS.text), blocks, unfurl_links: false, unfurl_media: false };
}
