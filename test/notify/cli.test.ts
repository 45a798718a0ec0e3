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

describe('risk-hub config test', { timeout: 60_000 }, () => {
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

  it('warns that a loopback, metadata or private webhook target will be refused by egress unless allowed', { timeout: 60_000 }, () => {
    const c = join(dir, 'egress.yaml');
    const hook = (url: string) => `{ url: '${url}', secretsEnv: NOT_SET }`;
    writeFileSync(
      c,
      `notify:
  egress: { allow: ['10.1.0.0/16'] }
  webhook:
    enabled: true
    targets:
      local: ${hook('http://127.0.0.1:8080/hook')}
      named: ${hook('http://localhost:8080/hook')}
      meta: ${hook('http://169.254.169.254/latest')}
      compat: ${hook('http://[::127.0.0.1]/hook')}
      lan: ${hook('http://10.0.0.5/hook')}
      allowed: ${hook('http://10.1.2.3/hook')}
      public: ${hook('https://hooks.example.com/hook')}
`,
    );
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '-c', c, 'config', 'test', '--alert', 'test/notify/fixtures/alert.json', ...args], { encoding: 'utf8', env: { ...process.env, RISK_HUB_CONFIG: '' }, timeout: 30_000 });
    const json = run('--json');
    expect(json.status, json.stderr).toBe(0);
    const routes = (JSON.parse(json.stdout) as Array<{ channel: string; routes: Array<{ target: string; egress?: string }> }>).find((x) => x.channel === 'webhook')!.routes;
    const egress = Object.fromEntries(routes.map((r) => [r.target, r.egress]));
    expect(egress.local).toMatch(/egress will refuse it \(127\.0\.0\.1: loopback address\).*notify\.egress\.allow/);
    expect(egress.named).toMatch(/refuse.*loopback/);
    expect(egress.meta).toMatch(/refuse.*metadata/);
    expect(egress.compat).toMatch(/refuse.*loopback/);
    expect(egress.lan).toMatch(/refuse.*private/);
    expect(egress.allowed).toBeUndefined();
    expect(egress.public).toBeUndefined();
    const text = run();
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.match(/WARNING: egress will refuse it/g)).toHaveLength(5);
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
