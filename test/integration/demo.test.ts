import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { Decision, RiskAlert } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { ATTACKER_ROLES, attackerKey, ROSTER } from '../../src/simulate/generator.ts';
import { eventually } from './helpers.ts';

// Drives `risk-hub demo` as a newcomer would (the CLI, no terminal) against the test cluster, then
// checks what arrived at the receivers from the files the demo left: every simulated attacker (and the
// example app's hijacked account, attacked with real HTTP requests) alerted on Slack, e-mail and the
// webhook (signature verified again here), no benign user alerted anywhere, the run's topics gone;
// and the counter-measures: the demo's policy blocks the hijacked account, the example app refuses its
// next requests (403), the summary says so, and the printed `decisions list` hint lists the block.
// The example Python app (examples/python-app: stdlib WSGI + the Python agent, through the demo's relay)
// gets the same traffic: its hijacked account is scored, blocked at tier 3 and refused (403) too.

const ROOT = new URL('../..', import.meta.url).pathname;
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

interface Run {
  child: ChildProcess;
  out: string;
  stdout: () => string;
  exited: Promise<number | null>;
}

function startDemo(args: string[], timeoutMs: number): Run {
  const out = mkdtempSync(join(tmpdir(), 'risk-hub-demo-test-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'demo', '--no-tty', '--out', out, '--interval', '2', ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      KAFKA_BROKERS: inject('brokers'),
      SCHEMA_REGISTRY_URL: inject('registryUrl'),
      DEMO_WEBHOOK_SECRET: SECRET,
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (clearTimeout(killer), resolve(code))));
  return { child, out, stdout: () => text, exited };
}

/** Waits for `re` in the demo's output; a failure shows the end of that output. */
async function waitForOutput(run: Run, re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  try {
    return await eventually(() => re.exec(run.stdout()) ?? undefined, timeoutMs, what);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- demo output (exit ${run.child.exitCode}) ---\n${run.stdout().slice(-3000)}`);
  }
}

function files(dir: string, ext: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(ext)).map((f) => join(dir, f)) : [];
}

const SIMULATED_ATTACKERS = ATTACKER_ROLES.map((role) => `${ROSTER.find((r) => r.role === role)!.application}/production/${attackerKey(role, 0)}`);
const BENIGN = /\/user-\d{4}$|^demo-shop(-py)?\/production\/u-1002$/;
const PY_ATTACKER = 'demo-shop-py/production/u-1001';
/** The Python app runs when python3 is here (the demo says so in one line otherwise). */
const HAS_PYTHON = spawnSync('python3', ['--version'], { stdio: 'ignore' }).status === 0;

describe('risk-hub demo', () => {
  it(
    'alerts every simulated attacker and the hijacked app account on Slack, e-mail and webhook, and no benign user',
    async () => {
      const run = startDemo(['--duration', '50', '--seed', 'demo-test'], 240_000);
      // While it runs: the README's query command answers from the demo's scorer.
      const ready = await waitForOutput(run, /ready in [\d.]+ s: scorer (http:\/\/\S+)/, 180_000, 'the demo to be ready');
      const url = ready[1]!;
      await eventually(
        () => (existsSync(join(run.out, 'alerts.jsonl')) && readFileSync(join(run.out, 'alerts.jsonl'), 'utf8').includes('"key":"eve"') ? true : undefined),
        60_000,
        'the first alert for eve',
      );
      const q = await runCli(['user-risk', 'shop', 'production', 'eve', '--url', url]);
      expect(q.code, q.text).toBe(0);
      expect(q.text).toMatch(/increase \(24 h\)\s+\d+ points, tier 1/);
      expect(q.text).toMatch(/contributing attacks/);

      // The hijacked account crosses tier 3: the scorer publishes a block, and the demo's hint lists it.
      const blocked = (): Decision | undefined =>
        existsSync(join(run.out, 'decisions.jsonl'))
          ? readFileSync(join(run.out, 'decisions.jsonl'), 'utf8')
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Decision)
              .find((d) => d.application_id === 'demo-shop' && d.user.key === 'u-1001' && d.action === 'BLOCK')
          : undefined;
      const block = await eventually(blocked, 60_000, 'the block of demo-shop/production/u-1001');
      expect(block).toMatchObject({ source: 'POLICY', tier: 3, simulated: false });
      const list = await runCli(['-c', join(run.out, 'cli.yaml'), 'decisions', 'list', '--app', 'demo-shop', '--json']);
      expect(list.code, list.text).toBe(0);
      expect(list.text).toContain(`"decision_id": "${block.decision_id}"`);

      const code = await run.exited;
      const stdout = run.stdout();
      expect(code, stdout).toBe(0);
      expect(stdout).toMatch(/no benign user was alerted/);
      expect(stdout).toMatch(/decisions\s+\d+ made \(block \d+/);
      expect(stdout).toMatch(/demo-shop\/production\/u-1001: block \S+ \(tier 3, offense \d+\), then refused \d+ requests? \(403\) by the app/);
      if (HAS_PYTHON) {
        expect(stdout).toMatch(/apps: express http:\/\/\S+ \(demo-shop\) · python http:\/\/\S+ \(demo-shop-py, relay http:\/\/\S+\)/);
        expect(stdout).toMatch(/demo-shop-py\/production\/u-1001: block \S+ \(tier 3, offense \d+\), then refused \d+ requests? \(403\) by the app/);
        expect(stdout).toMatch(/python app {2}\d+ requests, \d+ refused \(403\) by the Python agent's decisions/);
      } else {
        expect(stdout).toContain('python3 not found: the demo runs without the example Python app');
      }
      expect(stdout).not.toMatch(/\n\s+at .*\(.*\.ts:\d+/); // no stack trace

      // The alerts the scorer published (the demo's view of risk-alerts).
      const alerts = readFileSync(join(run.out, 'alerts.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as RiskAlert);
      const key = (a: Pick<RiskAlert, 'application_id' | 'environment' | 'user'>) => `${a.application_id}/${a.environment}/${a.user.key}`;
      const alerted = new Set(alerts.map(key));
      for (const k of [...SIMULATED_ATTACKERS, 'demo-shop/production/u-1001', ...(HAS_PYTHON ? [PY_ATTACKER] : [])]) expect(alerted, k).toContain(k);
      expect([...alerted].filter((k) => BENIGN.test(k))).toEqual([]);
      const ids = new Set(alerts.map((a) => a.alert_id));

      // Slack: one payload per alert, each naming an attacker.
      const slack = files(join(run.out, 'slack'), '.json').map((f) => JSON.parse(readFileSync(f, 'utf8')) as { text: string; blocks: Array<{ type: string; elements?: Array<{ text: string }> }> });
      const slackIds = new Set(slack.map((p) => /Alert `([0-9a-f]+)`/.exec(p.blocks.find((b) => b.type === 'context')!.elements![0]!.text)?.[1]));
      expect(slackIds).toEqual(ids);
      const slackUsers = new Set(slack.map((p) => /^Risk Hub: user (\S+) in (\S+) gained/.exec(p.text)).map((m) => `${m![2]}/${m![1]}`));
      for (const k of [...SIMULATED_ATTACKERS, 'demo-shop/production/u-1001']) expect(slackUsers).toContain(k);
      expect([...slackUsers].filter((k) => BENIGN.test(k))).toEqual([]);

      // E-mail: real SMTP, one .eml per alert, Message-ID and alert header from the alert id.
      const mails = await Promise.all(files(join(run.out, 'mail'), '.eml').map(async (f) => simpleParser(readFileSync(f))));
      expect(new Set(mails.map((m) => m.headers.get('x-risk-hub-alert-id') as string))).toEqual(ids);
      const mailUsers = new Set(mails.map((m) => /(\S+\/\S+\/\S+) \+\d+ points/.exec(m.subject ?? '')?.[1]));
      for (const k of [...SIMULATED_ATTACKERS, 'demo-shop/production/u-1001']) expect(mailUsers).toContain(k);
      expect([...mailUsers].filter((k) => k && BENIGN.test(k))).toEqual([]);
      for (const m of mails) {
        expect(m.text).toMatch(/points/);
        expect(m.html).toBeTruthy();
      }

      // Webhook: every stored body carries a Standard Webhooks signature that verifies with the secret.
      const hooks = files(join(run.out, 'webhook'), '.json').map((f) => JSON.parse(readFileSync(f, 'utf8')) as { headers: Record<string, string>; body: string });
      const wh = new Webhook(SECRET);
      const hookAlerts = hooks.map((h) => (wh.verify(h.body, h.headers) as { data: RiskAlert }).data);
      expect(new Set(hooks.map((h) => h.headers['webhook-id']))).toEqual(ids);
      expect(() => wh.verify(hooks[0]!.body.replace('"tier":', '"tier": '), hooks[0]!.headers)).toThrow();
      const hookUsers = new Set(hookAlerts.map(key));
      for (const k of [...SIMULATED_ATTACKERS, 'demo-shop/production/u-1001']) expect(hookUsers).toContain(k);
      expect([...hookUsers].filter((k) => BENIGN.test(k))).toEqual([]);

      const summary = JSON.parse(readFileSync(join(run.out, 'summary.json'), 'utf8')) as {
        runId: string;
        benignAlerted: string[];
        produced: number;
        scored: number;
        decisions: Array<{ user: string; action: string; source: string; tier: number | null }>;
        app?: { requests: number; refused: Record<string, number> };
        pythonApp?: { requests: number; refused: Record<string, number> };
        alerts: Array<{ user: string; tier: number }>;
      };
      expect(summary.benignAlerted).toEqual([]);
      expect(summary.scored).toBe(summary.produced);
      // Counter-measures: a policy block for the hijacked account, and the app refused it at least once.
      expect(summary.decisions).toContainEqual(expect.objectContaining({ user: 'demo-shop/production/u-1001', action: 'BLOCK', source: 'POLICY', tier: 3 }));
      expect(summary.app?.refused['demo-shop/production/u-1001']).toBeGreaterThanOrEqual(1);
      if (HAS_PYTHON) {
        // The Python app's attacker: its events reached the scorer through the relay (scored up to tier 3),
        // the policy blocked it, and the Python agent refused its next requests.
        expect(summary.alerts.filter((a) => a.user === PY_ATTACKER).map((a) => a.tier)).toContain(3);
        expect(summary.decisions).toContainEqual(expect.objectContaining({ user: PY_ATTACKER, action: 'BLOCK', source: 'POLICY', tier: 3 }));
        expect(summary.pythonApp?.refused[PY_ATTACKER]).toBeGreaterThanOrEqual(1);
        expect(summary.pythonApp?.refused['demo-shop-py/production/u-1002']).toBeUndefined();
      }
      // No benign user is ever acted on (the simulated attackers may be: their decisions are recorded).
      expect(summary.decisions.filter((d) => BENIGN.test(d.user))).toEqual([]);

      // The run's topics were deleted.
      await expectTopicsGone(summary.runId);
    },
    300_000,
  );

  it(
    'stops cleanly on Ctrl-C: summary, exit 0, topics deleted',
    async () => {
      const run = startDemo(['--seed', 'ctrl-c', '--no-with-app'], 180_000);
      await waitForOutput(run, /ready in/, 120_000, 'the demo to be ready');
      await waitForOutput(run, /\[00:0[4-9]\] events [1-9]/, 30_000, 'events flowing');
      run.child.kill('SIGINT');
      const code = await run.exited;
      const stdout = run.stdout();
      expect(code, stdout).toBe(0);
      expect(stdout).toMatch(/Risk Hub demo run [0-9a-f]{6}: ran/);
      expect(stdout).toMatch(/Slack payloads\s+\S+\/slack\/\*\.json/);
      const summary = JSON.parse(readFileSync(join(run.out, 'summary.json'), 'utf8')) as { runId: string; produced: number };
      expect(summary.produced).toBeGreaterThan(0);
      await expectTopicsGone(summary.runId);
    },
    240_000,
  );
});

async function runCli(args: string[]): Promise<{ code: number | null; text: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => (clearTimeout(killer), resolve(c))));
  return { code, text };
}

async function expectTopicsGone(runId: string): Promise<void> {
  const admin = createKafka({ kafka: { brokers: inject('brokers').split(','), clientId: 'demo-test', ssl: false, connectionTimeoutMs: 3000, requestTimeoutMs: 10000, connectWaitMs: 10000 } }).admin();
  await admin.connect();
  try {
    await eventually(async () => ((await admin.listTopics()).some((t) => t.startsWith(`risk-hub-demo-${runId}-`)) ? undefined : true), 30_000, `topics of run ${runId} deleted`);
  } finally {
    await admin.disconnect();
  }
}
