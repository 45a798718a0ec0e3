import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import type { Decision, DecisionRequest } from '../../src/contracts.ts';
import { decideForRequest, parseRequest, requestDecisionId } from '../../src/decisions/index.ts';
import { runAdd, runList, runRemove, type Io } from '../../src/cli/decisions.ts';
import { lookupDecision } from '../../src/cli/user-risk.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { AvroSerde, subjectFor } from '../../src/kafka/serde.ts';
import { userKeyOf } from '../../src/identity.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// `risk-hub decisions add | remove | list` against the real broker and registry. The scorer is not
// running: the test stands in for it, reading the request the CLI produced and writing the Decision
// record the scorer would (decideForRequest), so only the CLI's side is under test.

const ROOT = new URL('../../', import.meta.url).pathname;
const H = 3_600_000;

function capture(): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (s) => lines.push(s), err: (s) => errors.push(s) };
}

describe('risk-hub decisions on the real broker', () => {
  let config: Config;
  let serde: AvroSerde;
  const kafka = () => createKafka(config);
  let producer: ReturnType<ReturnType<typeof createKafka>['producer']>;
  let admin: ReturnType<ReturnType<typeof createKafka>['admin']>;
  let cfgFile: string;

  beforeAll(async () => {
    config = testConfig({ decisions: { applications: { shop: {} }, exempt: { users: ['admin'] } } });
    await prepareTopics(config);
    serde = new AvroSerde(config);
    producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    admin = kafka().admin();
    await admin.connect();
    const dir = mkdtempSync(join(tmpdir(), 'rh-cli-decisions-'));
    cfgFile = join(dir, 'config.yaml');
    // JSON is YAML: the CLI in a child process reads the same brokers, registry and topics.
    writeFileSync(cfgFile, JSON.stringify({ applicationId: config.applicationId, kafka: { brokers: config.kafka.brokers }, schemaRegistry: { url: config.schemaRegistry.url }, topics: config.topics, decisions: { applications: { shop: {} } } }));
  });
  afterAll(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
  });

  /** Writes a decision record as the scorer would: Avro, keyed like the user, on the user's murmur2 partition. */
  async function writeDecision(d: Decision): Promise<void> {
    const key = userKeyOf(d.application_id, d.environment, d.user.key);
    const partitions = (await admin.fetchTopicOffsets(config.topics.decisions)).length;
    const value = await serde.encode(subjectFor(config.topics.decisions), d);
    await producer.send({ topic: config.topics.decisions, acks: -1, messages: [{ key, value, partition: partitionFor(key, partitions) }] });
  }

  /** The next requests on the requests topic, as the scorer reads them (with their partition). */
  async function readRequests(n: number): Promise<Array<{ partition: number; key: string; request: DecisionRequest }>> {
    const got: Array<{ partition: number; key: string; request: DecisionRequest }> = [];
    const consumer = kafka().consumer({ groupId: `${config.applicationId}-test-requests-${Date.now()}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: config.topics.decisionRequests, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key!.toString('utf8');
        const p = parseRequest(key, message.value);
        if (!p.ok) throw new Error(`the CLI produced an invalid request: ${p.message}`);
        got.push({ partition, key, request: p.request });
      },
    });
    try {
      await eventually(() => (got.length >= n ? true : undefined), 60_000, `${n} request(s) on ${config.topics.decisionRequests}`);
    } finally {
      await consumer.disconnect();
    }
    return got;
  }

  function decision(over: Omit<Partial<Decision>, 'user'> & { user: string }): Decision {
    const now = Date.now();
    return {
      decision_id: `d-${over.user}-${now}`,
      application_id: 'shop',
      environment: 'production',
      action: 'BLOCK',
      source: 'MANUAL',
      reason: 'test',
      alert_id: null,
      tier: null,
      made_by: 'tester',
      made_at: now,
      until: now + H,
      offense: 1,
      simulated: false,
      lifts: null,
      ...over,
      user: { key: over.user, identifiers: {} },
    };
  }

  it('add: produces a valid request on the user\'s partition and prints the scorer\'s decision in one line', async () => {
    const io = capture();
    const run = runAdd(config, { app: 'shop', env: 'production', user: 'alice', action: 'block', for: '1h', reason: 'credential stuffing', by: 'bob', wait: true, timeout: '60s' }, io);
    const [seen] = await readRequests(1);
    const req = seen!.request;
    expect(req).toMatchObject({ v: 1, op: 'add', application_id: 'shop', environment: 'production', user_key: 'alice', action: 'BLOCK', duration_ms: H, reason: 'credential stuffing', made_by: 'bob' });
    expect(seen!.key).toBe('shop/production/alice');
    const partitions = (await admin.fetchTopicOffsets(config.topics.decisionRequests)).length;
    expect(seen!.partition).toBe(partitionFor(seen!.key, partitions));
    // Standing in for the scorer.
    const d = decideForRequest(req, {}, { offenses: 0, dec: null }, Date.now())!;
    expect(d.decision_id).toBe(requestDecisionId(req.request_id));
    await writeDecision(d);
    expect(await run).toBe(0);
    expect(io.errors).toEqual([]);
    expect(io.lines).toHaveLength(1);
    expect(io.lines[0]).toMatch(new RegExp(`^blocked shop/production/alice for 1h, until \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\dZ, decision ${d.decision_id}$`));

    // user-risk's decision lookup reads the same record.
    const l = await lookupDecision(config, 'shop', 'production', 'alice');
    expect('decision' in l && l.decision?.decision_id).toBe(d.decision_id);
  });

  it('list --json: active decisions only (not lifted, expired, tombstoned or of another application)', async () => {
    const now = Date.now();
    await writeDecision(decision({ user: 'carol', action: 'CHALLENGE' }));
    await writeDecision(decision({ user: 'dave', until: now - 1000, made_at: now - 2 * H }));
    await writeDecision(decision({ user: 'erin' }));
    await writeDecision(decision({ user: 'erin', action: 'LIFT', offense: 0, lifts: 'd-erin' }));
    await writeDecision(decision({ user: 'frank', application_id: 'blog' }));
    const sim = decision({ user: 'gina', environment: 'staging', simulated: true });
    await writeDecision(sim);
    await producer.send({ topic: config.topics.decisions, acks: -1, messages: [{ key: 'shop/production/hank', value: await serde.encode(subjectFor(config.topics.decisions), decision({ user: 'hank' })) }] });
    await producer.send({ topic: config.topics.decisions, acks: -1, messages: [{ key: 'shop/production/hank', value: null }] });
    const io = capture();
    expect(await runList(config, { app: 'shop', json: true }, io)).toBe(0);
    const listed = JSON.parse(io.lines.join('\n')) as Decision[];
    expect(listed.map((d) => `${d.environment}/${d.user.key}:${d.action}`).sort()).toEqual(['production/alice:BLOCK', 'production/carol:CHALLENGE', 'staging/gina:BLOCK']);
    expect(listed.find((d) => d.user.key === 'gina')?.simulated).toBe(true);

    const text = capture();
    expect(await runList(config, { app: 'shop', env: 'production' }, text)).toBe(0);
    const out = text.lines.join('\n');
    expect(out).toMatch(/^shop\/production: 2 active decisions/);
    expect(out).toContain('CHALLENGE');
    expect(out).not.toContain('dave');

    const all = capture();
    expect(await runList(config, { app: 'shop', json: true, all: true }, all)).toBe(0);
    expect((JSON.parse(all.lines.join('\n')) as Decision[]).map((d) => d.user.key).sort()).toEqual(['alice', 'carol', 'dave', 'erin', 'gina']);
  });

  it('remove: with nothing active says so, exits non-zero and sends nothing; with a block, prints the LIFT', async () => {
    const io = capture();
    expect(await runRemove(config, { app: 'shop', env: 'production', user: 'dave', reason: 'r', wait: true, timeout: '5s' }, io)).toBe(1);
    expect(io.errors).toEqual(['no active decision for shop/production/dave: nothing to lift (nothing sent)']);

    const lift = capture();
    const run = runRemove(config, { app: 'shop', env: 'production', user: 'carol', reason: 'false positive', by: 'bob', wait: true, timeout: '60s' }, lift);
    // The add of the first test is request 1: the remove is request 2 (dave's sent nothing).
    const reqs = await readRequests(2);
    const req = reqs.find((r) => r.request.op === 'remove')!.request;
    expect(req).toMatchObject({ op: 'remove', user_key: 'carol', reason: 'false positive', made_by: 'bob' });
    expect(reqs).toHaveLength(2);
    const carol = decision({ user: 'carol', action: 'CHALLENGE' });
    const d = decideForRequest(req, {}, { offenses: 1, dec: { id: carol.decision_id, action: 'CHALLENGE', source: 'MANUAL', until: carol.until } }, Date.now())!;
    await writeDecision(d);
    expect(await run).toBe(0);
    expect(lift.lines).toEqual([`lifted the decision ${carol.decision_id} of shop/production/carol, decision ${d.decision_id}`]);
  });

  it('add: without a scorer, says the request is queued in one line and exits 3', async () => {
    const io = capture();
    expect(await runAdd(config, { app: 'shop', user: 'ivan', action: 'monitor', for: '1m', reason: 'watch', wait: true, timeout: '2s' }, io)).toBe(3);
    expect(io.lines).toEqual([]);
    expect(io.errors).toHaveLength(1);
    expect(io.errors[0]).toMatch(/^request [0-9a-f-]+ for shop\/production\/ivan is queued on .* but no scorer applied it within 2s: is a scorer running\?/);
  });

  it('the CLI: unknown application and bad duration exit non-zero with one line, before sending', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '-c', cfgFile, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, RISK_HUB_CONFIG: '' }, timeout: 60_000 });
    const add = ['decisions', 'add', '--user', 'zed', '--action', 'block', '--reason', 'r', '--url', 'http://127.0.0.1:9'];
    const ghost = cli(...add, '--app', 'ghost', '--for', '1h');
    expect(ghost.status).not.toBe(0);
    expect(ghost.stderr.trim().split('\n')).toHaveLength(1);
    expect(ghost.stderr).toMatch(/^risk-hub: unknown application "ghost": not in the configuration .*no scorer answered at http:\/\/127\.0\.0\.1:9, and no decision names it; check the id, or pass --force \[RH_USAGE\]/);
    const bad = cli(...add, '--app', 'shop', '--for', 'soon');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim()).toBe('risk-hub: --for "soon" is not a duration: write a whole number and a unit, e.g. 15m, 1h, 7d [RH_USAGE]');
    const slash = cli(...add, '--app', 'sh/op', '--for', '1h');
    expect(slash.status).not.toBe(0);
    expect(slash.stderr.trim().split('\n')).toHaveLength(1);
    const list = cli('decisions', 'list', '--app', 'shop', '--json');
    expect(list.status, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as Decision[]).map((d) => d.user.key).sort()).toEqual(['alice', 'gina']); // carol lifted, ivan never applied
  });

  it('add: an exempt user is refused in one line unless --force', async () => {
    const o = { app: 'shop', user: 'admin', action: 'block', for: '1h', reason: 'r', wait: false, timeout: '15s' };
    await expect(runAdd(config, o, capture())).rejects.toThrow(/^user "admin" is exempt in the decisions policy of shop \(decisions.exempt\): refused; pass --force to decide anyway$/);
    const io = capture();
    expect(await runAdd(config, { ...o, force: true, json: true }, io)).toBe(0);
    expect(JSON.parse(io.lines[0]!)).toMatchObject({ queued: true, request: { op: 'add', user_key: 'admin', action: 'BLOCK' } });
  });
});
