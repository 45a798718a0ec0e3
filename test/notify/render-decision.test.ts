import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { NotifySchema } from '../../src/config/notify.ts';
import type { Decision } from '../../src/contracts.ts';
import { readerType } from '../../src/kafka/serde.ts';
import { alertReader } from '../../src/notify/readers.ts';
import { decisionAction, manualDecisionLine, ordinal, utcMinute } from '../../src/notify/render/decision.ts';
import { renderers } from '../../src/notify/render/index.ts';
import { SLACK_LIMITS } from '../../src/notify/render/slack.ts';
import { sampleAlert, sampleDecision } from './receivers.ts';

// Issue 15 item 5: notifications say what was done — on an alert that caused a decision, and for a
// person's decisions (manual block, challenge, monitor, lift) read from the decisions topic.

const r = renderers(NotifySchema.parse({ includeIdentifiers: true }));
const t0 = Date.UTC(2026, 11, 3, 13, 5, 0);
const hour = 3600_000;

/** An automatic decision as the scorer puts it on an alert. */
function policyDecision(over: Partial<Decision> = {}): Decision {
  return sampleDecision({ source: 'POLICY', made_by: 'policy', reason: 'tier 2: +37 points in 24 h (above 25)', alert_id: 'a1b2c3d4e5f6a7b8c9d0e1f2', tier: 2, made_at: t0, until: t0 + hour, offense: 2, ...over });
}

const slackText = (m: { text: string; blocks: Array<Record<string, unknown>> }) => m.text + '\n' + JSON.stringify(m.blocks);

describe('what was done, in words', () => {
  it('each action, with duration, end time and offense; simulation said', () => {
    expect(decisionAction(policyDecision())).toBe('Blocked for 1h, until 2026-12-03 14:05 UTC (2nd offense)');
    expect(decisionAction(policyDecision({ action: 'CHALLENGE', until: t0 + 15 * 60_000, offense: 1 }))).toBe('Challenge required for 15m, until 2026-12-03 13:20 UTC (1st offense)');
    expect(decisionAction(policyDecision({ action: 'MONITOR', offense: 0 }))).toBe('Monitoring for 1h, until 2026-12-03 14:05 UTC');
    expect(decisionAction(policyDecision({ simulated: true }))).toBe('Blocked for 1h, until 2026-12-03 14:05 UTC (2nd offense) (simulation: not enforced)');
    expect(manualDecisionLine(sampleDecision())).toBe('Blocked by bob for 1d, until 2026-12-03 14:05 UTC (1st offense): card testing from a known bad ASN');
    expect(manualDecisionLine(sampleDecision({ action: 'LIFT', lifts: 'f'.repeat(32), offense: 0, reason: 'false positive' }))).toBe('Block lifted by bob: false positive');
    // the lifted action, when the record says it (written since lifted_action exists)
    expect(manualDecisionLine(sampleDecision({ action: 'LIFT', lifts: 'f'.repeat(32), lifted_action: 'CHALLENGE', offense: 0, reason: 'ok' }))).toBe('Challenge lifted by bob: ok');
    expect(manualDecisionLine(sampleDecision({ action: 'MONITOR', offense: 0, until: sampleDecision().made_at + 90 * 60_000 }))).toMatch(/^Monitored by bob for 1h 30m, until /);
  });

  it('ordinals and times', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal)).toEqual(['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd', '101st', '111th']);
    expect(utcMinute(t0)).toBe('2026-12-03 13:05 UTC');
  });
});

describe('an alert that caused a decision', () => {
  const a = sampleAlert({ decision: policyDecision() });
  const line = 'Blocked for 1h, until 2026-12-03 14:05 UTC (2nd offense)';

  it('Slack: a section and the text fallback say it', () => {
    const m = r.slack(a);
    expect(m.text).toBe(`Risk Hub: user alice@example.com in shop/production gained 37 points in 24 h (threshold 10, tier 2). ${line}`);
    expect(m.blocks[1]).toEqual({ type: 'section', text: { type: 'mrkdwn', text: `*Action taken:* ${line}` } });
    expect((m.blocks[2]!.fields as unknown[]).length).toBeLessThanOrEqual(SLACK_LIMITS.fields);
  });

  it('e-mail: text and HTML say it', () => {
    const m = r.email(a);
    expect(m.text.split('\n')[1]).toBe(`Action taken: ${line}.`);
    expect(m.html).toContain(`<strong>Action taken: ${line}.</strong>`);
  });

  it('webhook: data.decision is the decision record', () => {
    expect(JSON.parse(r.webhook(a).body).data.decision).toEqual(policyDecision());
  });

  it('simulated: said in every channel', () => {
    const sim = sampleAlert({ decision: policyDecision({ simulated: true }) });
    expect(r.slack(sim).text).toContain('(simulation: not enforced)');
    expect(r.email(sim).text).toContain('(simulation: not enforced)');
    expect(JSON.parse(r.webhook(sim).body).data.decision.simulated).toBe(true);
  });

  it('no decision: the messages are as before, and the webhook says decision null', () => {
    for (const none of [sampleAlert(), sampleAlert({ decision: null })]) {
      expect(r.slack(none).text).toBe('Risk Hub: user alice@example.com in shop/production gained 37 points in 24 h (threshold 10, tier 2)');
      expect(JSON.stringify(r.slack(none).blocks)).not.toContain('Action taken');
      expect(r.email(none).text).not.toContain('Action taken');
      expect(JSON.parse(r.webhook(none).body).data.decision).toBeNull();
    }
  });

  it('an alert written before the decision field existed reads as decision null', () => {
    const old = readerType('risk-alert.avsc', ['decision']);
    const bytes = old.toBuffer({ ...sampleAlert() });
    const read = alertReader().createResolver(old);
    expect(alertReader().fromBuffer(bytes, read as avro.Resolver)).toMatchObject({ alert_id: sampleAlert().alert_id, decision: null });
  });
});

describe("a person's decision", () => {
  it('block: Slack, e-mail and webhook say who, what, how long, why', () => {
    const d = sampleDecision();
    const line = 'Blocked by bob for 1d, until 2026-12-03 14:05 UTC (1st offense): card testing from a known bad ASN';
    const s = r.slack({ kind: 'decision', decision: d });
    expect(s.text).toBe(`Risk Hub: user alice@example.com in shop/production: ${line}`);
    expect(s.blocks[0]).toMatchObject({ type: 'header' });
    expect(slackText(s)).toContain('Decision `0123456789abcdef0123456789abcdef`');

    const e = r.email({ kind: 'decision', decision: d });
    expect(e.subject).toBe(`[Risk Hub] user alice@example.com in shop/production: ${line}`);
    expect(e.messageId).toBe('<0123456789abcdef0123456789abcdef@risk-hub>');
    expect(e.headers).toEqual({ 'X-Risk-Hub-Decision-Id': d.decision_id, 'X-Risk-Hub-Action': 'BLOCK' });
    expect(e.text).toContain('Made by:');
    expect(e.html).toContain('card testing from a known bad ASN');

    const w = r.webhook({ kind: 'decision', decision: d });
    expect(JSON.parse(w.body)).toEqual({ type: 'risk_decision.made', timestamp: '2026-12-02T14:05:00.000Z', data: d });
    expect(w.body).toBe(r.webhook({ kind: 'decision', decision: d }).body);
  });

  it('challenge and monitor', () => {
    expect(r.slack({ kind: 'decision', decision: sampleDecision({ action: 'CHALLENGE' }) }).text).toContain(': Challenge required by bob for 1d');
    expect(r.email({ kind: 'decision', decision: sampleDecision({ action: 'MONITOR', offense: 0 }) }).subject).toContain(': Monitored by bob for 1d, until 2026-12-03 14:05 UTC: card');
  });

  it('lift: "Block lifted by", its own webhook type, the lifted decision named', () => {
    const d = sampleDecision({ action: 'LIFT', lifts: 'f'.repeat(32), offense: 0, reason: 'false positive' });
    expect(r.slack({ kind: 'decision', decision: d }).text).toBe('Risk Hub: user alice@example.com in shop/production: Block lifted by bob: false positive');
    expect(r.email({ kind: 'decision', decision: d }).text).toMatch(/Lifts decision: +f{32}/);
    expect(JSON.parse(r.webhook({ kind: 'decision', decision: d }).body)).toMatchObject({ type: 'risk_decision.lifted', data: { action: 'LIFT', lifts: 'f'.repeat(32) } });
  });

  it('escapes what people typed, and no CR/LF reaches the subject', () => {
    const d = sampleDecision({ made_by: '<!channel>', reason: 'see <https://evil|here>\r\nBcc: x@y' });
    const s = r.slack({ kind: 'decision', decision: d });
    expect(s.text + JSON.stringify(s.blocks.slice(1))).not.toMatch(/<!channel>|<https:\/\/evil/);
    expect(r.email({ kind: 'decision', decision: d }).subject).not.toMatch(/[\r\n]/);
    expect(r.email({ kind: 'decision', decision: d }).html).not.toContain('<https://evil');
  });
});
