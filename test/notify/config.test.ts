import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { maxInFlight, retryPolicy } from '../../src/config/notify.ts';
import { resolveTargets, Scrubber } from '../../src/notify/secrets.ts';

const SECRET = 'whsec_' + Buffer.alloc(32, 9).toString('base64');

describe('notify configuration', () => {
  it('has documented defaults', () => {
    const n = loadConfig({ env: {} }).notify;
    expect(n.retry).toEqual({ maxAttempts: 6, initialDelayMs: 500, maxDelayMs: 30_000, budgetMs: 120_000 });
    expect(n.slack.enabled).toBe(false);
    expect(n.ledger.lookbackMs).toBe(48 * 3600_000);
    expect(n.egress.allow).toEqual([]);
  });

  it('delivers 64 at once per lane and commits every second by default; a channel may override the bound; nonsense stops start-up', () => {
    const n = loadConfig({ env: {} }).notify;
    expect(n.consumer).toMatchObject({ maxInFlight: 64, commitIntervalMs: 1000 });
    expect(maxInFlight(n, 'webhook')).toBe(64);
    // Slack and SMTP limit their callers: lower ceilings unless the channel sets its own
    expect([maxInFlight(n, 'slack'), maxInFlight(n, 'email')]).toEqual([4, 8]);
    const c = loadConfig({ env: { RISK_HUB_NOTIFY__SLACK__MAX_IN_FLIGHT: '4', RISK_HUB_NOTIFY__CONSUMER__MAX_IN_FLIGHT: '128' } }).notify;
    expect([maxInFlight(c, 'slack'), maxInFlight(c, 'webhook')]).toEqual([4, 128]);
    const bad = (notify: unknown) => () => loadConfig({ env: {}, overrides: { notify } });
    expect(bad({ consumer: { maxInFlight: 0 } })).toThrow(/notify\.consumer\.maxInFlight/);
    expect(bad({ consumer: { maxInFlight: 5000 } })).toThrow(/notify\.consumer\.maxInFlight/);
    expect(bad({ webhook: { maxInFlight: 1.5 } })).toThrow(/notify\.webhook\.maxInFlight/);
    expect(bad({ consumer: { commitIntervalMs: -1 } })).toThrow(/notify\.consumer\.commitIntervalMs/);
  });

  it('takes targets and secrets from RISK_HUB_NOTIFY__ variables', () => {
    const c = loadConfig({
      env: {
        RISK_HUB_NOTIFY__SLACK__ENABLED: 'true',
        RISK_HUB_NOTIFY__SLACK__TARGETS__SEC_OPS__URL: 'https://hooks.slack.com/services/T0/B0/abcdef',
        RISK_HUB_NOTIFY__WEBHOOK__ENABLED: 'true',
        RISK_HUB_NOTIFY__WEBHOOK__TARGETS__SIEM__URL: 'https://siem.example.com/hook',
        RISK_HUB_NOTIFY__WEBHOOK__TARGETS__SIEM__SECRETS_ENV: 'SIEM_SECRETS',
        RISK_HUB_NOTIFY__RETRY__BUDGET_MS: '5000',
        RISK_HUB_NOTIFY__WEBHOOK__RETRY__MAX_ATTEMPTS: '2',
      },
    });
    expect(c.notify.slack.targets.secOps?.url).toContain('hooks.slack.com');
    expect(retryPolicy(c.notify, 'webhook')).toMatchObject({ budgetMs: 5000, maxAttempts: 2 });
    expect(retryPolicy(c.notify, 'slack')).toMatchObject({ budgetMs: 5000, maxAttempts: 6 });
    expect(() => resolveTargets(c.notify, {})).toThrow(/notify\.webhook\.targets\.siem\.secretsEnv: environment variable SIEM_SECRETS is not set/);
    const t = resolveTargets(c.notify, { SIEM_SECRETS: `${SECRET}, ${SECRET.replace('9', '8')}` });
    expect(t.webhook[0]?.secrets).toHaveLength(2);
    expect(t.slack[0]?.id).toBe('secOps');
  });

  it('stops with the field named on invalid values', () => {
    const bad = (notify: unknown) => () => loadConfig({ env: {}, overrides: { notify } });
    expect(bad({ slack: { targets: { a: {} } } })).toThrow(/notify\.slack\.targets\.a: give exactly one of url or urlEnv/);
    expect(bad({ slack: { headerTemplate: 'hi {{nope}}' } })).toThrow(/notify\.slack\.headerTemplate: unknown placeholder \{\{nope\}\}/);
    expect(bad({ retry: { maxAttempts: 0 } })).toThrow(/notify\.retry\.maxAttempts/);
    expect(bad({ applications: { shop: { webhook: ['ghost'] } } })).toThrow(/notify\.applications\.shop\.webhook\.0: no webhook target named "ghost"/);
    expect(bad({ webhook: { targets: { w: { url: 'file:///etc/passwd', secrets: SECRET } } } })).toThrow(/notify\.webhook\.targets\.w\.url/);
    expect(bad({ email: { targets: { e: { to: ['not-an-address'] } } } })).toThrow(/notify\.email\.targets\.e\.to\.0/);
    expect(bad({ surprise: 1 })).toThrow(/notify: Unrecognized key/);
    expect(() => resolveTargets(loadConfig({ env: {}, overrides: { notify: { webhook: { enabled: true, targets: { w: { url: 'https://x.example', secrets: 'c2hvcnQ=' } } } } } }).notify, {})).toThrow(/too short/);
  });

  it('the scrubber removes every resolved secret and URL credentials', () => {
    const c = loadConfig({
      env: {},
      overrides: {
        notify: {
          slack: { enabled: true, targets: { s: { urlEnv: 'SLACK_URL' } } },
          email: { enabled: true, smtp: { username: 'u', passwordEnv: 'SMTP_PW' } },
          webhook: { enabled: true, targets: { w: { url: 'https://x.example', secretsEnv: 'WH' } } },
        },
      },
    });
    const t = resolveTargets(c.notify, { SLACK_URL: 'https://hooks.slack.com/services/T1/B1/sekrit123', SMTP_PW: 'hunter2-pw', WH: SECRET });
    const s = new Scrubber(t.secrets);
    const msg = `POST https://hooks.slack.com/services/T1/B1/sekrit123 failed; path /services/T1/B1/sekrit123; pw hunter2-pw; key ${SECRET} ${SECRET.slice(6)}; http://user:pass@host/`;
    const out = s.scrub(msg);
    for (const secret of ['sekrit123', 'hunter2-pw', SECRET.slice(6), 'user:pass']) expect(out).not.toContain(secret);
  });
});
