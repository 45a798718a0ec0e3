import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { riskHubExpress, type Agent } from '@risk-hub/agent';
import { testAgent } from './agent-helpers.ts';
import type { Config } from '../../src/config/schema.ts';
import type { ScorerHandle } from '../../src/scorer/scorer.ts';
import { readAttacks, type ReadRecord } from '../agent/kafka-helpers.ts';
import type { CorpusRequest } from '../vectors/corpus.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';
import { startTestScorer, TopicReader, type RiskAlert } from './scorer-harness.ts';

// Proves test/vectors/e2e-traffic.json: the traffic every language's end-to-end test sends (corpus
// attacks for one identified user, then a burst of failed logins for that user) sent over real HTTP
// through an Express app watched by the Node agent, to the real broker and the real scorer. What the
// scorer then holds for the user (GET /v1/users/…/risk) and the alerts it published must be the
// vector's `expect`: the values the Python, Java, Ruby and PHP end-to-end tests compare their own
// user's with (.ci/agents.sh), so "the same traffic gives the same score" holds for every agent.

const VECTORS = new URL('../vectors/', import.meta.url);
interface E2ETraffic {
  attacks: string[];
  login_burst: { path: string; failures: number };
  expect: {
    increase_24h: number;
    risk_score: number;
    tier: number;
    alerted_tier: number;
    contributions: number;
    alert_tiers: number[];
    records: string[];
  };
}
const traffic = JSON.parse(readFileSync(new URL('e2e-traffic.json', VECTORS), 'utf8')) as E2ETraffic;
const corpus = new Map((JSON.parse(readFileSync(new URL('requests.json', VECTORS), 'utf8')) as CorpusRequest[]).map((r) => [r.name, r]));

const APP = 'e2e-node';
const ENV = 'production';

let config: Config;
let agent: Agent;
let server: Server;
let base: string;
let scorer: ScorerHandle;
let alerts: TopicReader<RiskAlert>;
let attacks: { records: ReadRecord[]; stop: () => Promise<void> };

/** The reference app: the corpus's routes (as node-verdicts.ts), X-User identifies, POST /login fails. */
async function startApp(a: Agent): Promise<Server> {
  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));
  app.use(riskHubExpress(a));
  app.use((req, _res, next) => {
    const user = req.header('x-user');
    if (user) a.identify(req, user);
    next();
  });
  app.post(traffic.login_burst.path, (req, res) => {
    a.trackAuth(false, String((req.body as { username?: unknown }).username), req);
    res.status(401).json({ ok: false });
  });
  const ok = (_req: express.Request, res: express.Response): void => void res.json({ ok: true });
  app.all('/users/:id', ok);
  app.all('/files/:name', ok);
  app.use(ok);
  return new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
}

beforeAll(async () => {
  config = testConfig();
  await prepareTopics(config);
  scorer = await startTestScorer(config);
  alerts = await new TopicReader<RiskAlert>(config, config.topics.alerts, 'alert').start();
  attacks = await readAttacks(config);
  agent = testAgent(config, {
    application: APP,
    environment: ENV,
    decisions: { enabled: false },
    // the verdicts, not the machine's speed, are under test (as node-verdicts.ts)
    wafBudgetMicros: 1_000_000,
  });
  server = await startApp(agent);
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.close();
  await agent?.close({ timeoutMs: 5000 });
  await attacks?.stop();
  await alerts?.stop();
  await scorer?.stop();
});

describe('test/vectors/e2e-traffic.json through the Node agent', () => {
  it('names corpus requests and says what the scorer holds afterwards', () => {
    for (const name of traffic.attacks) expect(corpus.has(name), name).toBe(true);
    expect(traffic.login_burst.failures).toBeGreaterThan(0);
    expect(traffic.expect.alert_tiers.at(-1)).toBe(traffic.expect.alerted_tier);
  });

  it('gives the expected score, tier, contributions and alerts on the real scorer', async () => {
    const user = `node-e2e-${randomBytes(4).toString('hex')}`;
    for (const name of traffic.attacks) {
      const r = corpus.get(name)!;
      const headers: Record<string, string> = { ...r.headers, 'x-user': user };
      if (r.content_type) headers['content-type'] = r.content_type;
      const res = await fetch(base + r.uri, { method: r.method, headers, ...(r.body ? { body: r.body } : {}) });
      await res.arrayBuffer();
    }
    for (let i = 0; i < traffic.login_burst.failures; i++) {
      const res = await fetch(base + traffic.login_burst.path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password: 'wrong' }) });
      expect(res.status).toBe(401);
    }
    await agent.flush(10_000);

    const x = traffic.expect;
    const key = `${APP}/${ENV}/${user}`;
    const records = await eventually(() => {
      const mine = attacks.records.filter((r) => r.key === key);
      return mine.length >= x.records.length ? mine : undefined;
    }, 60_000, `${x.records.length} records of ${key}`);
    expect(records.map((r) => `${r.value.attack_type}:${r.value.severity}`).sort()).toEqual([...x.records].sort());

    type Risk = { increase_24h: number; risk_score: number; tier: number; alerted_tier: number; contributions: unknown[]; contributions_truncated: number };
    const url = `${scorer.url}/v1/users/${APP}/${ENV}/${user}/risk`;
    const risk = await eventually(async () => {
      const res = await fetch(url);
      const body = res.status === 200 ? ((await res.json()) as Risk) : undefined;
      return body && body.contributions.length + body.contributions_truncated >= x.contributions ? body : undefined;
    }, 60_000, `the scorer holding ${x.contributions} contributions of ${user}`);
    expect({
      increase_24h: risk.increase_24h,
      risk_score: risk.risk_score,
      tier: risk.tier,
      alerted_tier: risk.alerted_tier,
      contributions: risk.contributions.length + risk.contributions_truncated,
    }).toEqual({ increase_24h: x.increase_24h, risk_score: x.risk_score, tier: x.tier, alerted_tier: x.alerted_tier, contributions: x.contributions });

    // The alerts: one per tier crossed, in order (not the increase at each crossing: it depends on which
    // event crosses, and the order of a request's detection among the logins varies; relay.test.ts).
    const mine = await eventually(
      async () => {
        const a = (await alerts.settle(1000)).filter((r) => r.value.user.key === user).map((r) => r.value);
        return a.length >= x.alert_tiers.length ? a : undefined;
      },
      60_000,
      `the alerts of ${user}`,
    );
    expect(mine.map((a) => a.tier)).toEqual(x.alert_tiers);
    expect(mine.every((a) => a.threshold === config.scoring.threshold)).toBe(true);
  }, 120_000);
});
