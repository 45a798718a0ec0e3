import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// `risk-hub config test`: routing and rendering without sending (no broker, no secrets needed).

const dir = mkdtempSync(join(tmpdir(), 'rh-config-test-'));
const cfg = join(dir, 'rh.yaml');
writeFileSync(
  cfg,
  `notify:
  slack:
    enabled: true
    targets:
      secops: { urlEnv: SLACK_URL_NOT_SET_HERE }
      shopTeam: { urlEnv: SLACK_URL_SHOP, route: { applications: ['shop*'], minTier: 3 } }
  email:
    enabled: true
    targets:
      soc: { to: [soc@example.com], route: { applications: [] } }
  webhook:
    enabled: false
    targets:
      siem: { url: 'https://user:pw@siem.example.com/risk', secretsEnv: SIEM_NOT_SET }
  applications:
    shop: { email: [soc] }
`,
);

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '-c', cfg, ...args], { encoding: 'utf8', env: { ...process.env, RISK_HUB_CONFIG: '' }, timeout: 30_000 });
}

describe('risk-hub config test', () => {
  it('shows where an alert goes and what is sent, without secrets', () => {
    const r = cli('config', 'test', '--alert', 'test/notify/fixtures/alert.json', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Array<{ channel: string; enabled: boolean; routes: Array<{ target: string; reason: string; destination: string }>; message?: { subject?: string; text?: string } }>;
    const by = Object.fromEntries(out.map((c) => [c.channel, c]));
    expect(by.slack?.routes.map((x) => x.target)).toEqual(['secops']); // shopTeam needs tier 3
    expect(by.email?.routes).toEqual([{ target: 'soc', reason: 'applications.shop.email', destination: 'to soc@example.com' }]);
    expect(by.email?.message?.subject).toBe('[Risk Hub] tier 2: alice@example.com +37 points in shop/production');
    expect(by.webhook?.enabled).toBe(false);
    expect(by.webhook?.routes[0]?.destination).toBe('POST https://siem.example.com/risk (1 signing secret)');
    expect(r.stdout).not.toContain('pw@');
    expect(by.slack?.message?.text).toContain('gained 37 points in 24 h');
  });

  it('names the field of an invalid sample alert', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ alert_id: 'x', tier: 'two' }));
    const r = cli('config', 'test', '--alert', bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not a valid RiskAlert .* at: .*tier/);
  });

  it('refuses an unknown channel for the notifier', () => {
    const r = cli('notifier', '--channel', 'pager');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--channel: unknown channel "pager"');
  });
});
