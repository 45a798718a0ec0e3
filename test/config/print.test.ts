import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// `risk-hub config print`: the effective configuration (defaults, file, environment), secrets redacted;
// invalid configuration: one line naming the field, exit 1, no stack trace.

const ROOT = new URL('../..', import.meta.url).pathname;

function cli(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RISK_HUB_') && !['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'STATE_DIR'].includes(k)));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('risk-hub config print', { timeout: 60_000 }, () => {
  it('prints the effective configuration from the file and the environment, with secrets redacted', () => {
    const secret = 'whsec_' + Buffer.from('a-webhook-signing-secret-of-32-bytes!!').toString('base64');
    const r = cli(['--config', 'config/risk-hub.example.yaml', 'config', 'print'], {
      RISK_HUB_SCORING__THRESHOLD: '15',
      KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092',
      RISK_HUB_KAFKA__SASL__MECHANISM: 'scram-sha-512',
      RISK_HUB_KAFKA__SASL__USERNAME: 'risk-hub',
      RISK_HUB_KAFKA__SASL__PASSWORD: 'hunter2-sasl-password',
      RISK_HUB_NOTIFY__SLACK__TARGETS__SECOPS__URL: 'https://hooks.slack.com/services/T0001/B0001/abcdefghijkl',
      RISK_HUB_NOTIFY__WEBHOOK__TARGETS__SOAR__URL: 'https://soar.example.com/hook',
      RISK_HUB_NOTIFY__WEBHOOK__TARGETS__SOAR__SECRETS: secret,
      RISK_HUB_NOTIFY__EMAIL__SMTP__USERNAME: 'mailer',
      RISK_HUB_NOTIFY__EMAIL__SMTP__PASSWORD: 'smtp-password-123',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const s of ['hunter2-sasl-password', 'abcdefghijkl', secret, secret.slice(6), 'smtp-password-123']) expect(r.stdout).not.toContain(s);
    const printed = parse(r.stdout) as {
      scoring: { threshold: number; tiers: number[] };
      kafka: { brokers: string[]; sasl: { password: string; username: string } };
      notify: { slack: { targets: { secops: { url: string } } }; webhook: { targets: { soar: { url: string; secrets: string } } }; email: { smtp: { password: string } } };
    };
    expect(printed.scoring.threshold).toBe(15);
    expect(printed.scoring.tiers).toEqual([25, 50, 100]);
    expect(printed.kafka.brokers).toEqual(['kafka-1:9092', 'kafka-2:9092']);
    expect(printed.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'risk-hub', password: '[redacted]' });
    expect(printed.notify.slack.targets.secops.url).toBe('[redacted]');
    expect(printed.notify.webhook.targets.soar).toMatchObject({ url: 'https://soar.example.com/[redacted]', secrets: '[redacted]' });
    expect(printed.notify.email.smtp.password).toBe('[redacted]');
  });

  it('never prints registry credentials given in SCHEMA_REGISTRY_URL, nor credential headers of a webhook', () => {
    const r = cli(['config', 'print'], {
      SCHEMA_REGISTRY_URL: 'https://reg-user:reg-s3cret%21pass@registry.example.com:8081/apis/ccompat/v7',
      RISK_HUB_NOTIFY__WEBHOOK__TARGETS__SOAR__URL: 'https://soar.example.com/hook',
      RISK_HUB_NOTIFY__WEBHOOK__TARGETS__SOAR__SECRETS_ENV: 'SOAR_SECRETS',
      RISK_HUB_NOTIFY__WEBHOOK__TARGETS__SOAR__HEADERS: JSON.stringify({ 'x-api-key': 'key-0123456789', Authorization: 'Bearer tok-0123456789', 'X-Auth-Token': 'tok-abcdef', 'X-Tenant': 'acme' }),
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const s of ['reg-s3cret', 'key-0123456789', 'tok-0123456789', 'tok-abcdef']) expect(r.stdout).not.toContain(s);
    const printed = parse(r.stdout) as { schemaRegistry: { url: string; username: string; password: string }; notify: { webhook: { targets: { soar: { headers: Record<string, string> } } } } };
    expect(printed.schemaRegistry).toMatchObject({ url: 'https://registry.example.com:8081/apis/ccompat/v7', username: 'reg-user', password: '[redacted]' });
    expect(printed.notify.webhook.targets.soar.headers).toEqual({ 'x-api-key': '[redacted]', Authorization: '[redacted]', 'X-Auth-Token': '[redacted]', 'X-Tenant': 'acme' });
  });

  it('schemas register names an unreachable registry without its credentials', () => {
    const r = cli(['schemas', 'register'], { SCHEMA_REGISTRY_URL: 'http://reg-user:reg-s3cret-pass@127.0.0.1:9/apis/ccompat/v7', RISK_HUB_SCHEMA_REGISTRY__TIMEOUT_MS: '2000' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/schema registry at http:\/\/127\.0\.0\.1:9\/apis\/ccompat\/v7 /);
    expect(r.stderr + r.stdout).not.toContain('reg-s3cret-pass');
  });

  it('refuses an invalid configuration in one line naming the field, exit 1, no stack trace', () => {
    const r = cli(['config', 'print'], { RISK_HUB_SCORING__THRESHOLD: '-3' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^risk-hub: invalid configuration: scoring\.threshold: .* \(see config\/risk-hub\.example\.yaml\) \[RH_CONFIG\]/);
  });

  it('names a missing or malformed configuration file', () => {
    const missing = cli(['--config', 'nope.yaml', 'config', 'print']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^risk-hub: cannot read configuration file nope\.yaml/);
    const bad = cli(['--config', 'config/risk-hub.example.yaml', 'config', 'print'], { RISK_HUB_KAFKA__BRKERS: '["x:1"]' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/kafka: Unrecognized key: "brkers"/);
  });
});
