import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { eventIdProblem, identityProblem, userKeyOf } from '../../src/identity.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { AvroSerde } from '../../src/kafka/serde.ts';
import type { Agent } from '@risk-hub/agent';
import { testAgent } from './agent-helpers.ts';
import { DEMO_PASSWORDS, startExampleApp, type ExampleApp } from '../../examples/express-app/server.ts';
import { readAttacks, type ReadRecord } from '../agent/kafka-helpers.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// The Node.js agent against the real broker and registry: real HTTP requests to the example app, real
// libddwaf detection, Avro records on a unique attacks topic, read back and decoded.

let config: Config;
let agent: Agent;
let app: ExampleApp;
let reader: { records: ReadRecord[]; stop: () => Promise<void> };

beforeAll(async () => {
  config = testConfig();
  await prepareTopics(config);
  agent = testAgent(config, {
    application: 'demo-shop',
    environment: 'staging',
    wafBudgetMicros: 1_000_000, // a loaded CI machine must not turn a detection into a timeout
  });
  app = await startExampleApp({ agent });
  reader = await readAttacks(config);
});

afterAll(async () => {
  await app?.close();
  await agent?.close({ timeoutMs: 5000 });
  await reader?.stop();
});

async function login(username: string): Promise<string> {
  const res = await fetch(`${app.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: DEMO_PASSWORDS[username] }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

describe('Node.js agent → real Kafka', () => {
  it('SQL injection, XSS and path traversal in real requests reach the attacks topic with the right user, type, severity, key and partition; benign requests produce nothing', async () => {
    const alice = await login('alice');
    const carol = await login('carol');
    const asAlice = { authorization: `Bearer ${alice}` };
    const asCarol = { authorization: `Bearer ${carol}` };
    // benign traffic first, from both users and an anonymous visitor
    for (const path of ['/search?q=wool+socks', '/search?q=hello+world', '/files?name=readme.txt', '/users/u-1001', '/']) {
      expect((await fetch(`${app.url}${path}`, { headers: asAlice })).status).toBeLessThan(500);
      expect((await fetch(`${app.url}${path}`, { headers: asCarol })).status).toBeLessThan(500);
      expect((await fetch(`${app.url}${path}`)).status).toBeLessThan(500);
    }
    // attacks
    await fetch(`${app.url}/search?q=${encodeURIComponent("1' OR '1'='1")}`, { headers: asAlice });
    await fetch(`${app.url}/search?q=${encodeURIComponent('<script>alert(1)</script>')}`, { headers: asAlice });
    await fetch(`${app.url}/files?name=${encodeURIComponent('../../etc/passwd')}`, { headers: asCarol });
    await fetch(`${app.url}/files?name=${encodeURIComponent('../../../var/backups/db.tar')}`);

    const records = await eventually(() => (reader.records.length >= 4 ? reader.records : undefined), 60_000, '4 attack records');
    // nothing else arrives (the benign requests produced no event)
    expect(await agent.flush(5000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1500));
    expect(reader.records).toHaveLength(4);

    const seen = records.map((r) => [r.value.user.key, r.value.attack_type, r.value.severity]).sort();
    expect(seen).toEqual(
      [
        ['u-1001', 'sql_injection', 'HIGH'],
        ['u-1001', 'xss', 'MEDIUM'],
        ['u-1003', 'path_traversal', 'HIGH'],
        ['anon:127.0.0.1', 'path_traversal', 'MEDIUM'],
      ].sort(),
    );
    const serde = new AvroSerde(config);
    const schemaId = await serde.latestId(`${config.topics.attacks}-value`);
    for (const r of records) {
      const v = r.value;
      expect(r.key).toBe(`demo-shop/staging/${v.user.key}`);
      expect(r.partition).toBe(partitionFor(r.key, 6));
      expect(r.raw[0]).toBe(0);
      expect(r.raw.readInt32BE(1)).toBe(schemaId);
      expect(v.application_id).toBe('demo-shop');
      expect(v.environment).toBe('staging');
      expect(v.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(Math.abs(v.occurred_at - Date.now())).toBeLessThan(120_000);
      expect(v.agent).toEqual({ name: 'risk-hub-node', version: '0.1.0', language: 'node' });
      expect(v.request).toMatchObject({ ip: '127.0.0.1', method: 'GET' });
      expect(JSON.stringify(v)).not.toContain(alice);
      expect(JSON.stringify(v)).not.toContain(carol);
    }
    const aliceSqli = records.find((r) => r.value.attack_type === 'sql_injection')!.value;
    expect(aliceSqli.user.identifiers).toEqual({ login: 'alice', email: 'alice@example.com' });
    expect(agent.stats()).toMatchObject({ sent: 4, dropped: 0, kafkaReachable: true });
  });

  it('a burst of failed logins lands as auth_failure and credential_stuffing for the attacked account', async () => {
    const before = reader.records.length;
    for (let i = 0; i < 5; i++) {
      await fetch(`${app.url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=bob&password=wrong${i}` });
    }
    const records = await eventually(() => (reader.records.length >= before + 6 ? reader.records.slice(before) : undefined), 60_000, '6 auth records');
    expect(records.map((r) => `${r.value.user.key} ${r.value.attack_type} ${r.value.severity}`).sort()).toEqual(
      [...Array.from({ length: 5 }, () => 'u-1002 auth_failure LOW'), 'u-1002 credential_stuffing MEDIUM'].sort(),
    );
    // one user, one key, one partition: the scorer sees them in order
    expect(new Set(records.map((r) => r.partition)).size).toBe(1);
  });

  it('failed logins with a 10 KB login name land under its hashed key, within the identity rules the scorer enforces (issue 13)', async () => {
    const before = reader.records.length;
    const username = `${'stuffed-'.repeat(1280)}x`; // 10,241 bytes: over the 256-byte bound of a user key
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${app.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: `wrong${i}` }) });
      expect(res.status).toBe(401);
    }
    const records = await eventually(() => (reader.records.length >= before + 6 ? reader.records.slice(before) : undefined), 60_000, '6 auth records');
    const hashed = `${username.slice(0, 128)}…sha256:${createHash('sha256').update(username).digest('hex')}`;
    expect(records.map((r) => `${r.value.attack_type} ${r.value.severity}`).sort()).toEqual(
      [...Array.from({ length: 5 }, () => 'auth_failure LOW'), 'credential_stuffing MEDIUM'].sort(),
    );
    for (const r of records) {
      // the bytes on the topic decode to a record the scorer accepts: valid identity and event id, key = value's
      expect(r.value.user.key).toBe(hashed);
      expect(identityProblem(r.value.application_id, r.value.environment, r.value.user.key)).toBeUndefined();
      expect(eventIdProblem(r.value.event_id)).toBeUndefined();
      expect(r.key).toBe(userKeyOf('demo-shop', 'staging', hashed));
      expect(r.partition).toBe(partitionFor(r.key, 6));
      expect(r.value.user.identifiers).toEqual({ login: username.slice(0, 256) });
    }
    expect(agent.stats().userKeysHashed).toBeGreaterThanOrEqual(5);
  });
});
