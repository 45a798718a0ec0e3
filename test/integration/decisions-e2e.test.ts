import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '@risk-hub/agent';
import { testAgent } from './agent-helpers.ts';
import type { Config } from '../../src/config/schema.ts';
import type { Decision } from '../../src/contracts.ts';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { DEMO_PASSWORDS, startExampleApp, type ExampleApp } from '../../examples/express-app/server.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

// The whole loop of issue 15 on the real broker, registry and scorer: real HTTP attacks on the example
// app → its agent reports them → the scorer's alert crosses the policy's tier and publishes a block in
// the same transaction → the agent refuses that user with 403 while other users are served → a person
// lifts the block (the CLI's request path) → the user is served again.

const APP = 'demo-shop';
const ENV = 'production';
const ALICE = 'u-1001';

describe('counter-measures end to end (scorer → decisions → agent in the example app)', () => {
  let config: Config;
  let scorer: ScorerHandle;
  let agent: Agent;
  let app: ExampleApp;
  let alerts: TopicReader<RiskAlert>;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    config = testConfig({
      decisions: { rules: [{ tier: 1, action: 'monitor', durations: ['1h'] }, { tier: 2, action: 'block', durations: ['15m', '1h'] }] },
    });
    await prepareTopics(config);
    scorer = await startTestScorer(config);
    alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts).start();
    agent = testAgent(config, { application: APP, environment: ENV, decisions: { topic: config.topics.decisions } });
    app = await startExampleApp({ agent });
    for (const name of ['alice', 'bob'] as const) {
      const res = await fetch(`${app.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: name, password: DEMO_PASSWORDS[name] }) });
      tokens[name] = ((await res.json()) as { token: string }).token;
    }
  });
  afterAll(async () => {
    await app?.close();
    await agent?.close({ timeoutMs: 5000 });
    await alerts?.stop();
    await scorer?.stop();
  });

  /** Runs the real CLI (`risk-hub decisions …`) with this test's configuration; its JSON output. */
  async function cli(...args: string[]): Promise<Decision> {
    const dir = join('/tmp/risk-hub-test', config.applicationId);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'cli.yaml');
    writeFileSync(file, stringify(JSON.parse(JSON.stringify(config))));
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', file, 'decisions', ...args, '--json'], {
      env: { ...process.env, RISK_HUB_CONFIG: '' },
      timeout: 60_000,
    });
    return JSON.parse(stdout) as Decision;
  }

  const get = async (who: 'alice' | 'bob', path: string) => (await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${tokens[who]}` } })).status;
  const INJECTION = `/search?q=${encodeURIComponent("' UNION SELECT username, password FROM users--")}`;

  it('an attacker crossing the policy’s tier is refused by the app while other users are served; a lift lets them in again', async () => {
    // Each injection is an attack of alice's (HIGH: 6 points); tier 2 (> 25 points) blocks her. Bounded:
    // at most 40 requests, one every 250 ms, until the app refuses her.
    const statuses: number[] = [];
    for (let i = 0; i < 40 && !statuses.includes(403); i++) {
      statuses.push(await get('alice', INJECTION));
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(statuses).toContain(403);
    expect(statuses.slice(0, 5).every((s) => s === 200)).toBe(true); // not blocked before the tier
    expect(await get('alice', '/search?q=socks')).toBe(403); // every request of hers, attacks or not
    expect(await get('bob', '/search?q=socks')).toBe(200);

    const blocking = alerts.records.map((r) => r.value).find((a) => a.user.key === ALICE && a.decision?.action === 'BLOCK');
    expect(blocking).toBeDefined();
    const decision = blocking!.decision as Decision;
    expect(decision).toMatchObject({ source: 'POLICY', tier: 2, offense: 1 });
    expect(agent.decisionFor(ALICE)).toMatchObject({ action: 'BLOCK', decision_id: decision.decision_id });

    const lifted = await cli('remove', '--app', APP, '--env', ENV, '--user', ALICE, '--reason', 'false positive', '--by', 'e2e');
    expect(lifted).toMatchObject({ action: 'LIFT', lifts: decision.decision_id });
    await eventually(async () => ((await get('alice', '/search?q=socks')) === 200 ? true : undefined), 30_000, 'alice served after the lift');
    expect(agent.stats().enforced.block).toBeGreaterThanOrEqual(2);

    // A person's block by hand works the same way, within seconds.
    const byHand = await cli('add', '--app', APP, '--env', ENV, '--user', ALICE, '--action', 'block', '--for', '1h', '--reason', 'INC-7', '--by', 'e2e', '--url', scorer.url);
    expect(byHand).toMatchObject({ action: 'BLOCK', source: 'MANUAL', made_by: 'e2e', offense: 2 });
    await eventually(async () => ((await get('alice', '/search?q=socks')) === 403 ? true : undefined), 30_000, 'alice refused by hand');
    expect(await get('bob', '/search?q=socks')).toBe(200);
  });
});
