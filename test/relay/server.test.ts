import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '@risk-hub/agent';
import type { Attack } from '../../src/contracts.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { AgentPool } from '../../src/relay/agents.ts';
import { startRelay, type RelayHandle } from '../../src/relay/server.ts';
import type { CorpusRequest } from '../vectors/corpus.ts';
import { toRelayJson } from '../vectors/relay-json.ts';

// The relay over HTTP on loopback, its agents on a transport that keeps (or holds) their events: no
// Kafka. test/integration/relay.test.ts runs it against the real broker.

class Keep {
  sent: Attack[] = [];
  hang = false;
  async send(events: Attack[]): Promise<{ rejected: Attack[] }> {
    if (this.hang) await new Promise((r) => setTimeout(r, 60_000).unref());
    this.sent.push(...events);
    return { rejected: [] };
  }
  async close(): Promise<void> {}
}

const TOKENS = { T_SHOP: 'shop-token-0123456789', T_BLOG: 'blog-token-0123456789' };
const log = createLogger({ level: 'silent' });
let relay: RelayHandle | undefined;
let keep: Keep;
let agents: Agent[] = [];

afterEach(async () => {
  await relay?.close(500);
  relay = undefined;
  agents = [];
});

async function start(maxEvents = 50_000, maxRequests = 64, wafBudgetMicros = 1_000_000): Promise<string> {
  const config = ConfigSchema.parse({
    relay: { port: 0, applications: { shop: { tokenEnv: 'T_SHOP', environments: ['production', 'staging'] }, blog: { tokenEnv: 'T_BLOG' } }, queue: { maxEvents, maxRequests } },
    log: { level: 'silent' },
  });
  keep = new Keep();
  const pool = new AgentPool({
    config,
    log,
    create: (application, environment) => {
      const a = createAgent({ application, environment, transport: keep, lingerMs: 1, logger: null, wafBudgetMicros, maxQueue: maxEvents + 2000 });
      agents.push(a);
      return a;
    },
  });
  relay = await startRelay({ config, log, env: TOKENS, pool });
  return `http://127.0.0.1:${relay.port}`;
}

async function post(base: string, path: string, body: unknown, token: string | null = TOKENS.T_SHOP): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const envelope = (events: unknown[], application_id = 'shop', environment = 'production') => ({ agent: { name: 'risk-hub-test', version: '0', language: 'test' }, application_id, environment, events });

async function flushed(): Promise<void> {
  for (const a of agents) await a.flush(5000);
}

describe('relay over HTTP (fake transport)', { timeout: 60_000 }, () => {
  it('answers /healthz without a token, and 401 / 403 / 404 / 405 per the protocol', async () => {
    const base = await start();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await post(base, '/v1/events', envelope([]), null)).status).toBe(401);
    expect((await post(base, '/v1/events', envelope([]), 'wrong-token')).status).toBe(401);
    expect((await post(base, '/v1/inspect', { request: {} }, 'wrong')).status).toBe(401);
    expect((await fetch(`${base}/v1/decisions`)).status).toBe(401);
    expect((await post(base, '/v1/events', envelope([], 'blog'))).status).toBe(403); // shop's token, blog's events
    expect((await post(base, '/v1/events', envelope([], 'shop', 'qa'))).status).toBe(403); // environment not configured
    expect((await fetch(`${base}/v1/decisions?environment=staging`, { headers: { authorization: `Bearer ${TOKENS.T_BLOG}` } })).status).toBe(403);
    expect((await post(base, '/v1/events', envelope([], 'blog', 'production'), TOKENS.T_BLOG)).status).toBe(202);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${TOKENS.T_SHOP}` } })).status).toBe(405);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/risk_hub_relay_requests_total\{route="\/v1\/events",status="401"\} 2/);
  });

  it('refuses oversized (413), too many events (413), non-JSON, invalid UTF-8 and deep nesting (400), and keeps answering', async () => {
    const base = await start();
    expect((await post(base, '/v1/events', Buffer.alloc(1024 * 1024 + 1, 0x20))).status).toBe(413);
    expect((await post(base, '/v1/events', envelope(new Array(501).fill({ kind: 'custom' })))).status).toBe(413);
    expect((await post(base, '/v1/events', 'not json')).status).toBe(400);
    expect((await post(base, '/v1/events', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))).status).toBe(400);
    expect((await post(base, '/v1/events', '['.repeat(500_000) + ']'.repeat(500_000))).status).toBe(400);
    expect((await post(base, '/v1/events', { application_id: 'shop' })).status).toBe(400);
    // a body that lies about its length, in chunks: cut at 1 MiB
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.T_SHOP}`, 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 20; i++) req.write(chunk);
      req.end();
    });
    expect(status).toBe(413);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('POST /v1/inspect gives the Node agent\'s verdicts on the whole shared corpus (test/vectors/requests.json)', async () => {
    const base = await start();
    const corpus = JSON.parse(readFileSync(new URL('../vectors/requests.json', import.meta.url), 'utf8')) as Array<CorpusRequest & { expect: string[] }>;
    for (const r of corpus) {
      const res = await post(base, '/v1/inspect', { request: toRelayJson(r) });
      expect(res.status).toBe(200);
      const found = [...new Set((res.body.detections as Array<{ attack_type: string }>).map((d) => d.attack_type))].sort();
      expect({ name: r.name, found }).toEqual({ name: r.name, found: r.expect });
    }
    expect(keep.sent).toEqual([]); // inspect reports nothing
  });

  it('the whole corpus as request events of one POST (inspected together) gives each request the Node agent\'s verdict', async () => {
    const base = await start();
    const corpus = JSON.parse(readFileSync(new URL('../vectors/requests.json', import.meta.url), 'utf8')) as Array<CorpusRequest & { expect: string[] }>;
    const at = Date.now();
    const events = corpus.map((r, i) => ({ kind: 'request', id: `v-${i}`, at, user: { key: r.name }, request: toRelayJson(r) }));
    const res = await post(base, '/v1/events', envelope(events));
    expect(res.status).toBe(202);
    expect(res.body.detections).toBe(corpus.reduce((n, r) => n + r.expect.length, 0));
    await flushed();
    for (const r of corpus) {
      const found = [...new Set(keep.sent.filter((e) => e.user.key === r.name).map((e) => e.attack_type))].sort();
      expect({ name: r.name, found }).toEqual({ name: r.name, found: r.expect });
    }
  });

  it('counts engine runs over the WAF budget in /metrics (fail open: the request is let through undetected)', async () => {
    const base = await start(50_000, 64, 1); // 1 µs: every engine run is over its budget
    const corpus = JSON.parse(readFileSync(new URL('../vectors/requests.json', import.meta.url), 'utf8')) as Array<CorpusRequest & { expect: string[] }>;
    const events = corpus.map((r, i) => ({ kind: 'request', id: `t-${i}`, at: Date.now(), user: { key: r.name }, request: toRelayJson(r) }));
    const res = await post(base, '/v1/events', envelope(events));
    expect(res.status).toBe(202);
    expect(res.body.detections).toBeLessThan(corpus.reduce((n, r) => n + r.expect.length, 0));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const timeouts = Number(/^risk_hub_relay_waf_timeouts_total (\d+)/m.exec(metrics)?.[1] ?? 0);
    expect(timeouts).toBeGreaterThan(0);
  });

  it('reports request, login, custom and enforcement events as the Node agent does, with the events\' ids and times', async () => {
    const base = await start();
    const at = Date.now() - 1000;
    const sqli = { method: 'GET', uri: "/search?q=%27%20OR%201%3D1--", ip: '203.0.113.9', headers: { 'user-agent': 'curl/8.5' }, query: { q: ["' OR 1=1--"] } };
    const events = [
      { kind: 'request', id: 'req-1', at, user: { key: 'u-1001', identifiers: { email: 'alice@example.com' } }, request: sqli },
      { kind: 'request', id: 'req-2', at, user: null, request: { ...sqli, ip: '198.51.100.7' } },
      { kind: 'request', id: 'req-3', at, user: { key: 'u-1001' }, request: { method: 'GET', uri: '/ok', ip: '203.0.113.9', query: { q: ['shoes'] } } },
      ...Array.from({ length: 10 }, (_, i) => ({ kind: 'login', id: `login-${i}`, at: at + i, success: false, user: { key: 'carol', identifiers: {} }, request: { method: 'POST', uri: '/login', ip: '203.0.113.10' } })),
      { kind: 'login', id: 'login-ok', at, success: true, user: { key: 'dave' }, request: { method: 'POST', uri: '/login', ip: '203.0.113.11' } },
      { kind: 'custom', id: 'custom-1', at, user: { key: 'u-1001', identifiers: {} }, type: 'payment_fraud', severity: 'HIGH', points: null },
      { kind: 'custom', id: 'custom-2', at, user: { key: 'u-1001' }, type: 'chargeback', severity: 'LOW', points: 7 },
      { kind: 'enforcement', id: 'enf-1', at, user: { key: 'u-1001' }, action: 'BLOCK', decision_id: 'd-1', request: { method: 'GET', uri: '/orders', ip: '203.0.113.9' } },
      { kind: 'enforcement', id: 'enf-2', at, user: { key: 'u-1002' }, action: 'BLOCK', simulated: true, decision_id: 'd-2', request: { method: 'GET', uri: '/orders', ip: '203.0.113.9' } },
      { kind: 'bogus', id: 'x', at },
    ];
    const res = await post(base, '/v1/events', envelope(events));
    expect(res).toEqual({ status: 202, body: { accepted: events.length - 1, rejected: 1, detections: 2 } });
    await flushed();
    const byId = new Map(keep.sent.map((e) => [e.event_id, e]));
    const r1 = byId.get('req-1')!;
    expect(r1).toMatchObject({ occurred_at: at, application_id: 'shop', environment: 'production', attack_type: 'sql_injection', severity: 'HIGH', points: null, blocked: false });
    expect(r1.user).toEqual({ key: 'u-1001', identifiers: { email: 'alice@example.com' } });
    expect(r1.request).toEqual({ ip: '203.0.113.9', method: 'GET', path: expect.stringMatching(/^\/search/), user_agent: 'curl/8.5' });
    expect(r1.agent).toEqual({ name: 'risk-hub-node', version: '0.1.0', language: 'node' });
    expect(byId.get('req-2')!.user.key).toBe('anon:198.51.100.7');
    const logins = keep.sent.filter((e) => e.user.key === 'carol');
    expect(logins.map((e) => `${e.attack_type}:${e.severity}`)).toEqual([
      ...Array.from({ length: 5 }, () => 'auth_failure:LOW'),
      'credential_stuffing:MEDIUM',
      ...Array.from({ length: 5 }, () => 'auth_failure:LOW'),
      'credential_stuffing:HIGH',
    ]);
    expect(logins.filter((e) => e.attack_type === 'auth_failure').map((e) => e.event_id)).toEqual(Array.from({ length: 10 }, (_, i) => `login-${i}`));
    expect(logins.find((e) => e.severity === 'HIGH')!.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(keep.sent.some((e) => e.user.key === 'dave')).toBe(false);
    expect(byId.get('custom-1')).toMatchObject({ attack_type: 'payment_fraud', severity: 'HIGH', points: null, request: null });
    expect(byId.get('custom-2')).toMatchObject({ attack_type: 'chargeback', severity: 'LOW', points: 7 });
    expect(byId.get('enf-1')).toMatchObject({ attack_type: 'risk-hub.decision.block', severity: 'INFO', points: 0, blocked: true, user: { key: 'u-1001' } });
    expect(byId.get('enf-2')).toMatchObject({ attack_type: 'risk-hub.decision.simulated-block', severity: 'INFO', points: 0, blocked: false });
    expect(keep.sent.length).toBe(2 + 12 + 2 + 2);
  });

  it('answers 503 when the events waiting for Kafka would pass relay.queue.maxEvents', async () => {
    const base = await start(1000);
    keep.hang = true;
    const batch = (n: number) => envelope(Array.from({ length: 500 }, (_, i) => ({ kind: 'custom', id: `c-${n}-${i}`, at: Date.now(), user: { key: `user-${n}-${i}` }, type: 'custom', severity: 'LOW' })));
    expect((await post(base, '/v1/events', batch(1))).status).toBe(202);
    expect((await post(base, '/v1/events', batch(2))).status).toBe(202);
    const full = await post(base, '/v1/events', batch(3));
    expect(full.status).toBe(503);
    expect(agents[0]!.stats().droppedQueueFull).toBe(0);
  });

  it('answers 503 beyond relay.queue.maxRequests requests at once (a slow upload holds its slot)', async () => {
    const base = await start(50_000, 1);
    const slow = httpRequest(`${base}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKENS.T_SHOP}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
    const answered = new Promise<number>((resolve, reject) => {
      slow.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      slow.on('error', reject);
    });
    slow.write('{"application_id":"shop",');
    // bounded wait until the relay holds the slow request
    let busy = 0;
    for (let i = 0; i < 200 && busy !== 503; i++) {
      busy = (await post(base, '/v1/events', envelope([]))).status;
      if (busy !== 503) await new Promise((r) => setTimeout(r, 5));
    }
    expect(busy).toBe(503);
    slow.end('"environment":"production","events":[]}');
    expect(await answered).toBe(202);
    expect((await post(base, '/v1/events', envelope([]))).status).toBe(202);
  });

  it('GET /v1/decisions: the empty list with a version, 304 for the same version', async () => {
    const base = await start();
    const auth = { authorization: `Bearer ${TOKENS.T_SHOP}` };
    const first = await fetch(`${base}/v1/decisions?environment=production`, { headers: auth });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { version: string; decisions: unknown[] };
    expect(body.decisions).toEqual([]);
    expect(first.headers.get('etag')).toBe(`"${body.version}"`);
    const again = await fetch(`${base}/v1/decisions?environment=production`, { headers: { ...auth, 'if-none-match': `"${body.version}"` } });
    expect(again.status).toBe(304);
  });

  it('hostile events: __proto__ keys everywhere, huge strings, wrong types — rejected or bounded, never a crash', async () => {
    const base = await start();
    const hostile = JSON.parse(
      `{"application_id":"shop","environment":"production","events":[` +
        `{"kind":"request","id":"h1","at":1,"user":{"key":"u","identifiers":{"__proto__":"x"}},"request":{"__proto__":{"uri":"/x"},"uri":"/a","headers":{"__proto__":"1"},"query":{"__proto__":["<script>alert(1)</script>"]},"body":{"__proto__":{"constructor":{"prototype":"x"}}}}},` +
        `{"kind":"request","id":"h2","at":1,"user":{"key":"u"},"request":{"uri":5,"headers":[],"query":"x","body":"${'y'.repeat(300_000)}"}},` +
        `{"__proto__":{"kind":"login"},"id":"h3","at":1},` +
        `{"kind":"login","id":"h4","at":1,"success":false,"user":{"key":["a"]}}]}`,
    );
    const res = await post(base, '/v1/events', hostile);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1, rejected: 3, detections: 1 }); // the __proto__ query value is inspected
    expect(({} as Record<string, unknown>).uri).toBeUndefined();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });
});
