import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import type { Attack } from '../../src/contracts.ts';
import { ConfigError, createAgent, riskHubFastify, type Agent, type AgentOptions } from '@risk-hub/agent';
import type { Transport } from '../../packages/agent/src/transport.ts';
import { DEMO_PASSWORDS, startExampleApp, type ExampleApp } from '../../examples/express-app/server.ts';

/** A transport that records what it is given; `mode` switches between working, failing and hanging. */
class FakeTransport implements Transport {
  sent: Attack[] = [];
  attempts: string[][] = [];
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  closed = false;
  async send(events: Attack[]): Promise<{ rejected: Attack[] }> {
    this.attempts.push(events.map((e) => e.event_id));
    if (this.mode === 'fail') throw new Error('broker unreachable');
    if (this.mode === 'hang') await new Promise((r) => setTimeout(r, 60_000).unref());
    this.sent.push(...events);
    return { rejected: [] };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

function agentWith(transport: Transport, opts: Partial<AgentOptions> = {}): Agent {
  const agent = createAgent({ application: 'shop', environment: 'test', transport, lingerMs: 5, logger: null, wafBudgetMicros: 1_000_000, ...opts });
  cleanup.push(() => agent.close({ timeoutMs: 500 }));
  return agent;
}

async function app(agent: Agent): Promise<ExampleApp> {
  const a = await startExampleApp({ agent });
  cleanup.push(() => a.close());
  return a;
}

async function login(url: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function until(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('agent with the example Express app (real HTTP on loopback, fake transport)', { timeout: 30_000 }, () => {
  it('reports attacks for the signed-in user with type, severity and a scrubbed request; benign requests report nothing', async () => {
    const t = new FakeTransport();
    const agent = agentWith(t);
    const { url } = await app(agent);
    const token = await login(url, 'alice', DEMO_PASSWORDS.alice!);
    const auth = { authorization: `Bearer ${token}`, 'user-agent': 'Mozilla/5.0 test' };
    for (const path of ['/search?q=wool+socks', '/files?name=readme.txt', '/users/u-1002', '/']) {
      expect((await fetch(`${url}${path}`, { headers: auth })).status).toBeLessThan(500);
    }
    expect(await agent.flush(2000)).toBe(true);
    expect(t.sent).toEqual([]);

    await fetch(`${url}/search?q=${encodeURIComponent("1' OR '1'='1")}&password=hunter2`, { headers: auth });
    await fetch(`${url}/search?q=${encodeURIComponent('<script>alert(1)</script>')}`, { headers: auth });
    await fetch(`${url}/files?name=${encodeURIComponent('../../etc/passwd')}`, { headers: auth });
    await fetch(`${url}/users/${encodeURIComponent("1' OR 1=1--")}`, { headers: auth });
    await until(() => t.sent.length >= 4);
    expect(t.sent.map((e) => [e.user.key, e.attack_type, e.severity])).toEqual([
      ['u-1001', 'sql_injection', 'HIGH'],
      ['u-1001', 'xss', 'MEDIUM'],
      ['u-1001', 'path_traversal', 'HIGH'],
      ['u-1001', 'sql_injection', 'HIGH'],
    ]);
    const first = t.sent[0]!;
    expect(first).toMatchObject({
      application_id: 'shop',
      environment: 'test',
      user: { key: 'u-1001', identifiers: { login: 'alice', email: 'alice@example.com' } },
      points: null,
      blocked: false,
      agent: { name: 'risk-hub-node', language: 'node' },
      request: { ip: '127.0.0.1', method: 'GET', user_agent: 'Mozilla/5.0 test' },
    });
    expect(first.request!.path).toBe('/search?q=1%27%20OR%20%271%27%3D%271&password=[redacted]');
    expect(JSON.stringify(t.sent)).not.toContain(token);
    expect(new Set(t.sent.map((e) => e.event_id)).size).toBe(4);
    expect(agent.stats()).toMatchObject({ sent: 4, dropped: 0, detections: 4, errors: 0 });
  });

  it('keys anonymous requests by client IP and reports scanners', async () => {
    const t = new FakeTransport();
    const agent = agentWith(t);
    const { url } = await app(agent);
    await fetch(`${url}/search?q=x`, { headers: { 'user-agent': 'sqlmap/1.7.2#stable (https://sqlmap.org)' } });
    await fetch(`${url}/search?url=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`);
    await until(() => t.sent.length >= 2);
    expect(t.sent.map((e) => [e.user.key, e.attack_type, e.severity])).toEqual([
      ['anon:127.0.0.1', 'scanner', 'LOW'],
      ['anon:127.0.0.1', 'ssrf', 'HIGH'],
    ]);
  });

  it('failed logins are auth_failure; a burst on one account becomes credential_stuffing', async () => {
    const t = new FakeTransport();
    const agent = agentWith(t);
    const { url } = await app(agent);
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=bob&password=guess${i}` });
      expect(res.status).toBe(401);
    }
    await until(() => t.sent.length >= 12);
    const kinds = t.sent.map((e) => `${e.attack_type}:${e.severity}`);
    expect(kinds.filter((k) => k === 'auth_failure:LOW')).toHaveLength(10);
    expect(kinds.filter((k) => k.startsWith('credential_stuffing'))).toEqual(['credential_stuffing:MEDIUM', 'credential_stuffing:HIGH']);
    expect(new Set(t.sent.map((e) => e.user.key))).toEqual(new Set(['u-1002']));
    expect(JSON.stringify(t.sent)).not.toMatch(/guess\d/);
  });

  it('inspects form bodies (SQL injection in the login form is reported for the client IP)', async () => {
    const t = new FakeTransport();
    const agent = agentWith(t);
    const { url } = await app(agent);
    await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=${encodeURIComponent("admin' OR '1'='1' --")}&password=x` });
    await until(() => t.sent.some((e) => e.attack_type === 'sql_injection'));
    expect(t.sent.find((e) => e.attack_type === 'sql_injection')!.user.key).toBe('anon:127.0.0.1');
  });

  it('inspects a query parameter and a cookie named __proto__ (issue 13), in Express and a plain Node server', async () => {
    const sqli = encodeURIComponent("1' OR '1'='1");
    const t = new FakeTransport();
    const agent = agentWith(t);
    const { url } = await app(agent);
    const plain = createServer((req, res) => {
      agent.watch(req, res);
      res.end('ok');
    });
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => plain.close(resolve)));
    const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    for (const base of [url, plainUrl]) {
      await fetch(`${base}/search?__proto__=${sqli}`, { headers: { 'user-agent': `query ${base}` } });
      await fetch(`${base}/search?q=socks`, { headers: { 'user-agent': `cookie ${base}`, cookie: `__proto__=${sqli}` } });
    }
    await until(() => t.sent.length >= 4);
    expect(t.sent.map((e) => `${e.request?.user_agent} ${e.attack_type}`).sort()).toEqual(
      [`cookie ${url}`, `cookie ${plainUrl}`, `query ${url}`, `query ${plainUrl}`].map((ua) => `${ua} sql_injection`).sort(),
    );
  });
});

describe('agent with Fastify', { timeout: 30_000 }, () => {
  it('the plugin inspects query, body and params and uses the identified user', async () => {
    const t = new FakeTransport();
    const agent = agentWith(t);
    const fastify = Fastify();
    cleanup.push(() => fastify.close());
    await fastify.register(riskHubFastify(agent));
    fastify.addHook('preHandler', async (request) => {
      if (request.headers['x-user']) agent.identify(request, { key: String(request.headers['x-user']), identifiers: { tenant: 'acme' } });
    });
    fastify.get('/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
    fastify.post('/comments', async () => ({ ok: true }));
    const url = await fastify.listen({ port: 0, host: '127.0.0.1' });
    await fetch(`${url}/items/42?sort=asc`, { headers: { 'x-user': 'u-7' } });
    await fetch(`${url}/items/${encodeURIComponent("42' UNION SELECT password FROM users--")}`, { headers: { 'x-user': 'u-7' } });
    await fetch(`${url}/comments`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user': 'u-8' }, body: JSON.stringify({ text: '<svg onload=alert(1)>' }) });
    await fetch(`${url}/items/1?next=${encodeURIComponent('../../../../etc/shadow')}`);
    await until(() => t.sent.length >= 3);
    await agent.flush(1000);
    expect(t.sent.map((e) => [e.user.key, e.attack_type, e.severity, e.user.identifiers.tenant ?? null])).toEqual([
      ['u-7', 'sql_injection', 'HIGH', 'acme'],
      ['u-8', 'xss', 'MEDIUM', 'acme'],
      ['anon:127.0.0.1', 'path_traversal', 'HIGH', null],
    ]);
    expect(agent.stats().inspected).toBe(4);
  });
});

describe('never hurting the application', { timeout: 30_000 }, () => {
  it('with the transport failing: the app answers, the queue stays bounded and drops the oldest, then recovers with the same event ids', async () => {
    const t = new FakeTransport();
    t.mode = 'fail';
    const agent = agentWith(t, { maxQueue: 20, batchSize: 5, maxEventsPerUserPerMinute: 10_000 });
    const { url } = await app(agent);
    const latencies: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t0 = performance.now();
      const res = await fetch(`${url}/search?q=${encodeURIComponent(`${i}' OR '1'='1`)}`);
      latencies.push(performance.now() - t0);
      expect(res.status).toBe(200);
    }
    await until(() => agent.stats().detections === 60);
    const s = agent.stats();
    expect(s.queued).toBeLessThanOrEqual(20);
    expect(s.inFlight).toBeLessThanOrEqual(5);
    expect(s.droppedQueueFull).toBe(60 - s.queued - s.inFlight);
    expect(s.kafkaReachable).toBe(false);
    expect(s.lastError).toMatch(/broker unreachable/);
    latencies.sort((a, b) => a - b);
    expect(latencies[Math.floor(latencies.length * 0.9)]).toBeLessThan(250);

    // Every retry of the in-flight batch carries the same event ids, in the same order, and is what goes first.
    await until(() => t.attempts.length >= 2);
    const inFlight = t.attempts[t.attempts.length - 1]!;
    expect(t.attempts.filter((a) => a.join() === inFlight.join()).length).toBe(t.attempts.length);
    expect(inFlight.length).toBeLessThanOrEqual(5);
    t.mode = 'ok';
    await until(() => agent.stats().queued === 0 && agent.stats().inFlight === 0, 20_000);
    expect(t.sent.slice(0, inFlight.length).map((e) => e.event_id)).toEqual(inFlight);
    expect(t.sent.length).toBe(s.queued + s.inFlight);
    // the newest events survived
    const payloads = t.sent.map((e) => e.request!.path!);
    expect(payloads.some((p) => p.includes('59'))).toBe(true);
    expect(agent.stats().kafkaReachable).toBe(true);
  });

  it('close() is bounded when the transport hangs, and counts what it gave up', async () => {
    const t = new FakeTransport();
    t.mode = 'hang';
    const agent = createAgent({ application: 'shop', transport: t, lingerMs: 1, logger: null });
    for (let i = 0; i < 3; i++) agent.report({ type: 'custom', severity: 'LOW', user: `u${i}` });
    await until(() => agent.stats().inFlight === 3);
    agent.report({ type: 'custom', severity: 'LOW', user: 'late' });
    const t0 = Date.now();
    const r = await agent.close({ timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(r).toEqual({ flushed: false, dropped: 4 });
    expect(agent.stats().droppedShutdown).toBe(4);
    expect(agent.report({ type: 'custom', severity: 'LOW', user: 'after' })).toBeNull();
  });

  it('close() flushes what is queued when Kafka is there', async () => {
    const t = new FakeTransport();
    const agent = createAgent({ application: 'shop', transport: t, lingerMs: 200, logger: null });
    for (let i = 0; i < 7; i++) agent.report({ type: 'custom', severity: 'MEDIUM', user: `u${i}`, points: 4 });
    expect(await agent.close({ timeoutMs: 2000 })).toEqual({ flushed: true, dropped: 0 });
    expect(t.sent).toHaveLength(7);
    expect(t.sent[0]!.points).toBe(4);
    expect(t.closed).toBe(true);
  });

  it('errors inside the agent never reach the application', async () => {
    const t = new FakeTransport();
    const agent = agentWith(t, {
      skip: () => {
        throw new Error('bad skip function');
      },
    });
    const { url } = await app(agent);
    const res = await fetch(`${url}/search?q=ok`);
    expect(res.status).toBe(200);
    expect(agent.stats().errors).toBe(1);
    // garbage in every public method: no throw
    expect(() => agent.identify(null as never, 'x')).not.toThrow();
    expect(() => agent.identify({} as never, { key: 5 as never })).not.toThrow();
    expect(() => agent.trackAuth(false, null as never)).not.toThrow();
    expect(agent.report(null as never)).toBeNull();
    expect(agent.report({ type: 'x', severity: 'SEVERE' as never, user: 'u' })).toBeNull();
    expect(agent.report({ type: 'x', severity: 'LOW' })).toBeNull();
    expect(agent.report({ type: 'x', severity: 'LOW', user: 'u', occurredAt: Number.NaN })).toBeNull();
    expect(agent.inspect({} as never)).toEqual([]);
  });

  it('a transport that throws synchronously or rejects invalid events is contained', async () => {
    let calls = 0;
    const transport: Transport = {
      send: (events) => {
        calls++;
        if (calls === 1) throw new TypeError('boom');
        return Promise.resolve({ rejected: events.slice(0, 1) });
      },
      close: async () => undefined,
    };
    const agent = agentWith(transport);
    agent.report({ type: 'custom', severity: 'LOW', user: 'a' });
    agent.report({ type: 'custom', severity: 'LOW', user: 'b' });
    await until(() => agent.stats().sent === 1, 5000);
    expect(agent.stats()).toMatchObject({ sent: 1, droppedInvalid: 1 });
  });

  it('limits events per user per minute', async () => {
    const t = new FakeTransport();
    const agent = agentWith(t, { maxEventsPerUserPerMinute: 3 });
    const ids = Array.from({ length: 5 }, () => agent.report({ type: 'custom', severity: 'LOW', user: 'noisy' }));
    expect(ids.filter(Boolean)).toHaveLength(3);
    expect(agent.report({ type: 'custom', severity: 'LOW', user: 'other' })).toMatch(/^[0-9a-f-]{36}$/);
    expect(agent.stats().suppressed).toBe(2);
  });

  it('refuses invalid options at creation', () => {
    expect(() => createAgent({} as never)).toThrow(ConfigError);
    expect(() => createAgent({ application: 'x', schemaRegistry: 'http://r' })).toThrow(/brokers/);
    expect(() => createAgent({ application: 'x', brokers: 'b:9092' })).toThrow(/schemaRegistry/);
    expect(() => createAgent({ application: 'x', transport: new FakeTransport(), maxQueue: 0 })).toThrow(/maxQueue/);
  });
});
