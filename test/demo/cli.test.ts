import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { freePort as closedPort } from '../ports.ts';

// Bad input to the demo, simulate and user-risk commands: one line naming the problem and what to do,
// a non-zero exit, no stack trace (unless --verbose). No broker needed.

const ROOT = new URL('../..', import.meta.url).pathname;

function cli(args: string[], env: Record<string, string> = {}) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RISK_HUB_') && !['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL'].includes(k)));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...clean, ...env }, encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at /);

describe('CLI bad input', { timeout: 90_000 }, () => {
  it('an unknown command or flag: exit 2, the problem named', () => {
    const cmd = cli(['dmeo']);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/unknown command 'dmeo'/);
    const flag = cli(['demo', '--durration', '5']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/unknown option '--durration'/);
    noStack(flag.stderr);
  });

  it('a bad option value names the option', () => {
    for (const [args, re] of [
      [['demo', '--duration', 'soon'], /--duration must be a positive number \(got "soon"\)/],
      [['demo', '--speed', '0'], /--speed must be a positive number/],
      [['simulate', '--events', '2.5'], /--events must be a positive whole number/],
      [['simulate', '--users', '-1'], /--users must be a whole number >= 0/],
    ] as const) {
      const r = cli([...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
    }
    const start = cli(['simulate', '--dry-run', '--start', 'yesterday']);
    expect(start.code).toBe(1);
    expect(start.stderr.trim()).toMatch(/^risk-hub: --start "yesterday": expected an ISO 8601 time .* \[RH_CONFIG\]$/);
  });

  it('invalid configuration stops the demo before anything starts', () => {
    const r = cli(['demo', '--no-tty', '--duration', '5'], { RISK_HUB_SCORING__TIERS: '[5]' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^risk-hub: invalid configuration: scoring\.tiers\.0: tier bounds must be strictly increasing/);
  });

  it('an unreachable broker: one line naming it and what to do, exit 1', () => {
    const env = { KAFKA_BROKERS: '127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1/apis/ccompat/v7', RISK_HUB_KAFKA__CONNECT_WAIT_MS: '1500' };
    const sim = cli(['simulate', '--events', '5'], env);
    expect(sim.code).toBe(1);
    const last = sim.stderr.trim().split('\n').pop()!;
    expect(last).toMatch(/^risk-hub: Kafka at 127\.0\.0\.1:1 did not answer within \d+ s .*Start it \(risk-hub local up\) or set KAFKA_BROKERS/);
    noStack(sim.stderr);
    const demo = cli(['demo', '--no-tty', '--duration', '5', '--out', '/tmp/risk-hub-demo-cli-test'], env);
    expect(demo.code).toBe(1);
    expect(demo.stderr.trim().split('\n').pop()).toMatch(/^risk-hub: .*127\.0\.0\.1:1.*(unreachable|did not answer)/);
    noStack(demo.stderr);
  });

  it('half an external cluster (KAFKA_BROKERS without SCHEMA_REGISTRY_URL) is refused for the demo', () => {
    const r = cli(['demo', '--no-tty', '--duration', '5', '--out', '/tmp/risk-hub-demo-cli-test'], { KAFKA_BROKERS: '127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').pop()).toMatch(/^risk-hub: KAFKA_BROKERS and SCHEMA_REGISTRY_URL go together/);
  });

  it('user-risk without a scorer says so and how to fix it; --verbose adds the stack', async () => {
    const port = await closedPort();
    const r = cli(['user-risk', 'shop', 'production', 'eve', '--url', `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^risk-hub: no scorer answers at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): start one .* or pass --url http://host:port \\[RH_CONNECTION\\]$`));
    const v = cli(['--verbose', 'user-risk', 'shop', 'production', 'eve', '--url', `http://127.0.0.1:${port}`]);
    expect(v.stderr).toMatch(/\n\s+at /);
    const missingArg = cli(['user-risk', 'shop']);
    expect(missingArg.code).toBe(2);
    expect(missingArg.stderr).toMatch(/missing required argument 'environment'/);
  });

  it('simulate --dry-run needs no broker and is reproducible from the seed and start', () => {
    const a = cli(['simulate', '--dry-run', '--events', '30', '--seed', '42', '--start', '2026-11-20T00:00:00Z']);
    const b = cli(['simulate', '--dry-run', '--events', '30', '--seed', '42', '--start', '2026-11-20T00:00:00Z']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const lines = a.stdout.trim().split('\n').map((l) => JSON.parse(l) as { actor: string; attack: { occurred_at: number } });
    expect(lines).toHaveLength(30);
    expect(lines[0]!.attack.occurred_at).toBeGreaterThanOrEqual(Date.UTC(2026, 10, 20));
  });
});

