import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotifySchema } from '../../src/config/notify.ts';
import { SEVERITIES, type RiskAlert } from '../../src/contracts.ts';
import { renderers } from '../../src/notify/render/index.ts';
import { messageIdFor } from '../../src/notify/render/email.ts';
import { SLACK_LIMITS } from '../../src/notify/render/slack.ts';
import { sampleAlert } from './receivers.ts';

const notify = NotifySchema.parse({ linkTemplate: 'https://risk.example.com/u/{{application}}/{{user}}' });
const r = renderers(notify);

function texts(block: Record<string, unknown>): string[] {
  const out: string[] = [];
  const t = block.text as { text?: string } | undefined;
  if (t?.text) out.push(t.text);
  for (const f of (block.fields as Array<{ text: string }> | undefined) ?? []) out.push(f.text);
  for (const e of (block.elements as Array<{ text: string }> | undefined) ?? []) out.push(e.text);
  return out;
}

const arbAlert = fc
  .record({
    user: fc.string({ maxLength: 5000 }),
    app: fc.string({ minLength: 1, maxLength: 400 }),
    env: fc.string({ minLength: 1, maxLength: 400 }),
    n: fc.integer({ min: 0, max: 300 }),
    type: fc.string({ maxLength: 300 }),
    ids: fc.dictionary(fc.string({ maxLength: 50 }), fc.string({ maxLength: 2000 }), { maxKeys: 30 }),
  })
  .map(({ user, app, env, n, type, ids }) =>
    sampleAlert({
      user: { key: user, identifiers: ids },
      application_id: app,
      environment: env,
      contributions: Array.from({ length: n }, (_, i) => ({ event_id: `e${i}`, attack_type: type + i, severity: SEVERITIES[i % 5]!, points: i % 11, occurred_at: 1_700_000_000_000 + i })),
    }),
  );

describe('Slack Block Kit', () => {
  it('carries the facts, a text fallback, and escapes agent-provided values', () => {
    const a = sampleAlert({ user: { key: '<!channel> *boss* <https://evil|click>', identifiers: {} } });
    const m = r.slack(a);
    expect(m.text).toContain('gained 37 points in 24 h (threshold 10, tier 2)');
    expect(m.text).not.toContain('<!channel>');
    // mrkdwn blocks (the header is plain_text: Slack renders it literally)
    const all = m.blocks.slice(1).flatMap(texts).join('\n');
    expect(all).not.toMatch(/<!channel>|<https:\/\/evil/);
    expect(all).toContain('&lt;!channel&gt;');
    expect(all).toContain('sql_injection · HIGH · 6 pts');
    expect(all).toContain('credential_stuffing · CRITICAL · 10 pts');
    expect(all).toContain('…and 4 more');
    expect(all).toContain('+37 points (threshold 10)');
    expect(all).toContain('<https://risk.example.com/u/shop/%3C!channel%3E%20*boss*%20%3Chttps%3A%2F%2Fevil%7Cclick%3E|Open in Risk Hub>');
    expect(m.blocks[0]).toMatchObject({ type: 'header' });
    // highest points first
    expect(all.indexOf('credential_stuffing')).toBeLessThan(all.indexOf('sql_injection'));
  });

  it('stays within Slack limits whatever the input (property)', () => {
    fc.assert(
      fc.property(arbAlert, (a) => {
        const m = r.slack(a);
        expect(m.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
        expect(m.text.length).toBeGreaterThan(0);
        expect(m.text.length).toBeLessThanOrEqual(SLACK_LIMITS.text);
        for (const b of m.blocks) {
          if (b.type === 'header') expect((b.text as { text: string }).text.length).toBeLessThanOrEqual(SLACK_LIMITS.header);
          if (b.type === 'section' && b.text) expect((b.text as { text: string }).text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
          const fields = (b.fields as Array<{ text: string }> | undefined) ?? [];
          expect(fields.length).toBeLessThanOrEqual(SLACK_LIMITS.fields);
          for (const f of fields) expect(f.text.length).toBeLessThanOrEqual(SLACK_LIMITS.fieldText);
          expect(((b.elements as unknown[]) ?? []).length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('e-mail', () => {
  it('text and HTML carry the same facts; HTML is escaped; Message-ID from alert_id', () => {
    const a = sampleAlert({ user: { key: '<script>alert(1)</script>', identifiers: { email: 'x@y.z' } } });
    const m = r.email(a);
    expect(m.messageId).toBe('<a1b2c3d4e5f6a7b8c9d0e1f2@risk-hub>');
    expect(m.subject).toBe('[Risk Hub] tier 2: <script>alert(1)</script> +37 points in shop/production');
    expect(m.html).not.toContain('<script>');
    expect(m.html).toContain('&lt;script&gt;');
    for (const fact of ['shop', 'production', '+37 points (threshold 10)', '2 (above 25 points)', 'sql_injection · HIGH · 6 pts', 'email: x@y.z', '2025-06-01T12:00:00Z']) {
      expect(m.text).toContain(fact);
      expect(m.html).toContain(fact);
    }
  });

  it('no CR/LF can reach the subject (header injection)', () => {
    fc.assert(
      fc.property(arbAlert, (a) => {
        const m = r.email(a);
        return !/[\r\n]/.test(m.subject) && m.subject.length <= 250;
      }),
      { numRuns: 100 },
    );
    const m = r.email(sampleAlert({ user: { key: 'a\r\nBcc: victim@example.com', identifiers: {} } }));
    expect(m.subject).not.toMatch(/[\r\n]/);
  });

  it('Message-ID is a valid msg-id for any alert id', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (id) => /^<[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]*@risk-hub>$/.test(messageIdFor(id))));
  });
});

describe('webhook JSON', () => {
  it('is the Standard Webhooks envelope around the alert, identical on every render', () => {
    const a: RiskAlert = sampleAlert();
    const one = r.webhook(a);
    expect(one.body).toBe(r.webhook(a).body);
    // `decision` was added by issue 15 (backward compatible: an added field, null when none).
    expect(JSON.parse(one.body)).toEqual({ type: 'risk_alert.triggered', timestamp: '2025-06-01T12:00:00.000Z', data: { ...a, decision: null } });
  });
});
