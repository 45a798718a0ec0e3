import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError, createAgent, riskHubEnforce, riskHubExpress, riskHubFastify, type Agent, type AgentOptions, type Attack } from '@risk-hub/agent';
import { DECISION_SCHEMA } from '../../packages/agent/src/decision-schema.ts';
import { DecisionDecoder, DecisionFeed } from '../../packages/agent/src/decision-feed.ts';
import { DecisionStore, type DecisionRecord } from '../../packages/agent/src/decisions.ts';
import { encodeWire, type Transport } from '../../packages/agent/src/transport.ts';
import type { Decision } from '../../src/contracts.ts';
import avro from 'avsc';

// The agent's decisions store (issue 15 item 4) without Kafka: the semantics of the compacted topic
// (latest record wins; tombstone, LIFT, undecodable and expired = no decision; simulated never
// enforced; other applications ignored), the memory bound, and enforcement through Express.

const T0 = 1_900_000_000_000;

function decision(user: string, over: Partial<Decision> = {}): Decision {
  return {
    decision_id: `d-${user}-${over.action ?? 'BLOCK'}`,
    application_id: 'shop',
    environment: 'production',
    user: { key: user, identifiers: {} },
    action: 'BLOCK',
    source: 'MANUAL',
    reason: 'test',
    alert_id: null,
    tier: null,
    made_by: 'tester',
    made_at: T0,
    until: T0 + 3_600_000,
    offense: 1,
    simulated: false,
    lifts: null,
    ...over,
  };
}

function storeAt(clock: { now: number }, maxDecisions = 1000, onBound?: () => void): DecisionStore {
  return new DecisionStore({ application: 'shop', environment: 'production', maxDecisions, now: () => clock.now, onBound });
}

const key = (user: string, app = 'shop', env = 'production'): string => `${app}/${env}/${user}`;

describe('decisions store', () => {
  it('the latest record of a key wins; a tombstone or a LIFT removes the decision', () => {
    const clock = { now: T0 };
    const s = storeAt(clock);
    s.apply(key('u1'), decision('u1', { action: 'MONITOR' }));
    expect(s.get('u1')?.action).toBe('MONITOR');
    s.apply(key('u1'), decision('u1', { action: 'BLOCK' }));
    expect(s.get('u1')).toMatchObject({ action: 'BLOCK', until: T0 + 3_600_000, reason: 'test', decision_id: 'd-u1-BLOCK', simulated: false });
    s.apply(key('u1'), decision('u1', { action: 'LIFT', lifts: 'd-u1-BLOCK' }));
    expect(s.get('u1')).toBeNull();
    s.apply(key('u1'), decision('u1', { action: 'CHALLENGE' }));
    expect(s.get('u1')?.action).toBe('CHALLENGE');
    s.apply(key('u1'), null);
    expect(s.get('u1')).toBeNull();
    expect(s.size).toBe(0);
  });

  it('an expired decision is not enforced, and a record that arrives expired is not kept', () => {
    const clock = { now: T0 };
    const s = storeAt(clock);
    s.apply(key('u1'), decision('u1', { until: T0 + 1000 }));
    s.apply(key('u2'), decision('u2', { until: T0 - 1 }));
    expect(s.get('u1')?.action).toBe('BLOCK');
    expect(s.size).toBe(1);
    clock.now = T0 + 1000; // until is exclusive
    expect(s.get('u1')).toBeNull();
    expect(s.sweep()).toBe(1);
    expect(s.size).toBe(0);
  });

  it('a simulated decision reads as MONITOR, its action kept apart', () => {
    const s = storeAt({ now: T0 });
    s.apply(key('u1'), decision('u1', { simulated: true }));
    expect(s.get('u1')).toMatchObject({ action: 'MONITOR', simulated: true, simulatedAction: 'BLOCK' });
  });

  it("ignores other applications' and environments' records, and a value that disagrees with its key", () => {
    const s = storeAt({ now: T0 });
    expect(s.apply(key('u1', 'other'), decision('u1', { application_id: 'other' }))).toBe(false);
    expect(s.apply(key('u1', 'shop', 'staging'), decision('u1', { environment: 'staging' }))).toBe(false);
    expect(s.apply(key('u1'), decision('u2'))).toBe(false);
    expect(s.apply(key('u1', 'other'), null)).toBe(false); // another application's tombstone
    expect(s.size).toBe(0);
    expect(s.stats()).toMatchObject({ ignored: 4, applied: 0 });
  });

  it('an unknown action or a broken value means no decision (fail open)', () => {
    const s = storeAt({ now: T0 });
    s.apply(key('u1'), decision('u1'));
    s.apply(key('u1'), { ...decision('u1'), action: 'BAN' } as DecisionRecord);
    expect(s.get('u1')).toBeNull();
    s.apply(key('u2'), { ...decision('u2'), until: Number.NaN } as DecisionRecord);
    expect(s.get('u2')).toBeNull();
  });

  it('keeps long reasons and ids bounded, and hands out one frozen object per decision (no allocation per lookup)', () => {
    const s = storeAt({ now: T0 });
    s.apply(key('u1'), decision('u1', { reason: 'x'.repeat(10_000), decision_id: 'i'.repeat(10_000) }));
    const d = s.get('u1')!;
    expect(d.reason).toHaveLength(256);
    expect(d.decision_id).toHaveLength(128);
    expect(Object.isFrozen(d)).toBe(true);
    expect(s.get('u1')).toBe(d);
  });

  it('at the bound: expired entries go first, a BLOCK evicts the oldest MONITOR or simulated entry, a new MONITOR is refused, a held key still updates; one warning', () => {
    const clock = { now: T0 };
    let warnings = 0;
    const s = storeAt(clock, 3, () => warnings++);
    s.apply(key('m1'), decision('m1', { action: 'MONITOR' }));
    s.apply(key('s1'), decision('s1', { simulated: true }));
    s.apply(key('b1'), decision('b1'));
    expect(s.size).toBe(3);
    s.apply(key('m2'), decision('m2', { action: 'MONITOR' })); // refused: nothing expired, MONITOR never evicts
    expect(s.get('m2')).toBeNull();
    expect(warnings).toBe(1);
    s.apply(key('b2'), decision('b2')); // evicts the oldest unenforced: m1
    expect(s.get('b2')?.action).toBe('BLOCK');
    expect(s.get('m1')).toBeNull();
    s.apply(key('c1'), decision('c1', { action: 'CHALLENGE' })); // evicts s1
    expect(s.get('s1')).toBeNull();
    s.apply(key('b3'), decision('b3')); // all enforced now: refused
    expect(s.get('b3')).toBeNull();
    s.apply(key('b1'), decision('b1', { action: 'LIFT' })); // a held key updates (here: leaves)
    expect(s.get('b1')).toBeNull();
    s.apply(key('b3'), decision('b3')); // room again
    expect(s.get('b3')?.action).toBe('BLOCK');
    expect(s.stats()).toMatchObject({ active: 3, maxDecisions: 3, droppedAtBound: 2, evictedAtBound: 2 });
    expect(warnings).toBe(1); // once while full; again only after the store had room
    // expired entries make room at the bound
    s.apply(key('short'), null);
    clock.now = T0 + 3_600_000;
    s.apply(key('b4'), decision('b4', { until: T0 + 7_200_000 }));
    expect(s.get('b4')?.action).toBe('BLOCK');
    expect(s.size).toBe(1);
  });

  it('tracks whether any anonymous (anon:<ip>) user has a decision', () => {
    const s = storeAt({ now: T0 });
    expect(s.hasAnonymous).toBe(false);
    s.apply(key('anon:10.0.0.1'), decision('anon:10.0.0.1'));
    expect(s.hasAnonymous).toBe(true);
    s.apply(key('anon:10.0.0.1'), null);
    expect(s.hasAnonymous).toBe(false);
  });
});

describe('decoding decision records', () => {
  it('the schema the agent carries is schemas/decision.avsc (the package cannot read the server\'s files)', () => {
    const server = JSON.parse(readFileSync(new URL('../../schemas/decision.avsc', import.meta.url), 'utf8')) as unknown;
    expect(DECISION_SCHEMA).toEqual(server);
    expectTypeOf<Decision>().toMatchTypeOf<DecisionRecord>();
  });

  it('decodes the wire format; garbage, truncated or trailing bytes are undecodable, counted, and mean no decision for the key', () => {
    const clock = { now: T0 };
    const store = storeAt(clock);
    const warnings: unknown[] = [];
    const feed = new DecisionFeed(
      { brokers: [], topic: 't', registry: { url: 'http://127.0.0.1:1' }, clientId: 'c', logger: { warn: (o) => warnings.push(o) } },
      store,
    );
    try {
      const type = avro.Type.forSchema(DECISION_SCHEMA as unknown as avro.Schema);
      const good = encodeWire({ id: 7, type }, decision('u1'));
      feed.handle(key('u1'), good);
      expect(store.get('u1')?.action).toBe('BLOCK');
      for (const bad of [Buffer.from('not avro'), good.subarray(0, good.length - 3), Buffer.concat([good, Buffer.from([1, 2])]), Buffer.from([1, 0, 0, 0, 7, 1])]) {
        feed.handle(key('u1'), good);
        feed.handle(key('u1'), bad);
        expect(store.get('u1')).toBeNull();
      }
      feed.handle(null, good); // no key: cannot be anyone's
      feed.handle(key('u2', 'other'), Buffer.from('garbage of another application: not even decoded'));
      expect(feed.counts).toMatchObject({ records: 11, undecodable: 5 });
      expect(warnings).toHaveLength(1); // once per interval
    } finally {
      void feed.close();
    }
  });

  it('an unreachable registry falls back to the carried schema', async () => {
    const decoder = new DecisionDecoder({ url: 'http://127.0.0.1:1', timeoutMs: 500 });
    await decoder.prepare([42]);
    const type = avro.Type.forSchema(DECISION_SCHEMA as unknown as avro.Schema);
    expect(decoder.decode(encodeWire({ id: 42, type }, decision('u1')))?.action).toBe('BLOCK');
  });
});

class Recorder implements Transport {
  sent: Attack[] = [];
  async send(events: Attack[]): Promise<{ rejected: Attack[] }> {
    this.sent.push(...events);
    return { rejected: [] };
  }
  async close(): Promise<void> {}
}

function agentWith(decisions: AgentOptions['decisions'] = {}): { agent: Agent; t: Recorder; store: DecisionStore } {
  const t = new Recorder();
  const agent = createAgent({ application: 'shop', transport: t, lingerMs: 1, logger: null, detect: false, decisions });
  const store = (agent as unknown as { decisionStore: DecisionStore }).decisionStore;
  return { agent, t, store };
}

async function withApp(agent: Agent, run: (url: string) => Promise<void>): Promise<void> {
  const app = express();
  app.use(riskHubExpress(agent));
  app.use((req, _res, next) => {
    const user = req.headers['x-user'];
    if (typeof user === 'string') agent.identify(req, user);
    next();
  });
  app.use(riskHubEnforce(agent));
  app.get('/', (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('enforcement through Express (no Kafka)', () => {
  it('BLOCK: 403 with the default JSON body; others and MONITOR and simulated pass; each enforcement is an INFO 0-point event', async () => {
    const { agent, t, store } = agentWith();
    const now = Date.now();
    store.apply(key('mallory'), decision('mallory', { until: now + 60_000 }));
    store.apply(key('watched'), decision('watched', { action: 'MONITOR', until: now + 60_000 }));
    store.apply(key('sim'), decision('sim', { simulated: true, until: now + 60_000 }));
    await withApp(agent, async (url) => {
      const blocked = await fetch(url, { headers: { 'x-user': 'mallory' } });
      expect(blocked.status).toBe(403);
      expect(blocked.headers.get('content-type')).toContain('application/json');
      expect(await blocked.json()).toEqual({ error: 'forbidden', message: 'Access denied.' });
      for (const user of ['alice', 'watched', 'sim']) expect((await fetch(url, { headers: { 'x-user': user } })).status).toBe(200);
      expect((await fetch(url)).status).toBe(200);
    });
    expect(agent.decisionFor('mallory')?.action).toBe('BLOCK');
    expect(agent.decisionFor('alice')).toBeNull();
    expect(await agent.flush(2000)).toBe(true);
    expect(t.sent.map((e) => [e.user.key, e.attack_type, e.severity, e.points, e.blocked]).sort()).toEqual(
      [
        ['mallory', 'risk-hub.decision.block', 'INFO', 0, true],
        ['sim', 'risk-hub.decision.simulated-block', 'INFO', 0, false],
        ['watched', 'risk-hub.decision.monitor', 'INFO', 0, false],
      ].sort(),
    );
    expect(agent.stats().enforced).toEqual({ block: 1, challenge: 0, monitor: 1, simulated: 1 });
    expect(agent.stats().decisions).toMatchObject({ active: 3, maxDecisions: 1_000_000, topic: null });
    await agent.close();
  });

  it('an HTML body, an onBlock handler (a handler that answers nothing or throws still blocks), a challenge hook', async () => {
    const now = Date.now();
    const html = agentWith({ blockResponse: { html: '<p>no</p>' } });
    html.store.apply(key('m'), decision('m', { until: now + 60_000 }));
    await withApp(html.agent, async (url) => {
      const r = await fetch(url, { headers: { 'x-user': 'm' } });
      expect([r.status, r.headers.get('content-type'), await r.text()]).toEqual([403, 'text/html; charset=utf-8', '<p>no</p>']);
    });
    await html.agent.close();

    let mode: 'answer' | 'silent' | 'throw' = 'answer';
    const hooks = agentWith({
      onBlock: (_req, res: express.Response, d) => {
        if (mode === 'throw') throw new Error('handler bug');
        if (mode === 'answer') res.status(451).send(`blocked until ${d.until}`);
      },
      onChallenge: async (req: express.Request, res: express.Response) => {
        await new Promise((r) => setTimeout(r, 5));
        if (req.headers['x-mfa'] !== 'ok') res.redirect('/mfa');
      },
    });
    hooks.store.apply(key('m'), decision('m', { until: now + 60_000 }));
    hooks.store.apply(key('c'), decision('c', { action: 'CHALLENGE', until: now + 60_000 }));
    await withApp(hooks.agent, async (url) => {
      expect(await (await fetch(url, { headers: { 'x-user': 'm' } })).text()).toBe(`blocked until ${now + 60_000}`);
      mode = 'silent';
      expect((await fetch(url, { headers: { 'x-user': 'm' } })).status).toBe(403);
      mode = 'throw';
      expect((await fetch(url, { headers: { 'x-user': 'm' } })).status).toBe(403);
      const challenged = await fetch(url, { headers: { 'x-user': 'c' }, redirect: 'manual' });
      expect([challenged.status, challenged.headers.get('location')]).toEqual([302, '/mfa']);
      expect((await fetch(url, { headers: { 'x-user': 'c', 'x-mfa': 'ok' } })).status).toBe(200);
    });
    expect(hooks.agent.stats()).toMatchObject({ enforced: { block: 3, challenge: 2 }, errors: 1 });
    await hooks.agent.close();
  });

  it('CHALLENGE without a hook fails open (logged once); a decision-less agent and a disabled one never refuse', async () => {
    const warnings: string[] = [];
    const t = new Recorder();
    const agent = createAgent({ application: 'shop', transport: t, lingerMs: 1, detect: false, logger: { warn: (_o, m) => warnings.push(m) } });
    const store = (agent as unknown as { decisionStore: DecisionStore }).decisionStore;
    store.apply(key('c'), decision('c', { action: 'CHALLENGE', until: Date.now() + 60_000 }));
    await withApp(agent, async (url) => {
      expect((await fetch(url, { headers: { 'x-user': 'c' } })).status).toBe(200);
      expect((await fetch(url, { headers: { 'x-user': 'c' } })).status).toBe(200);
    });
    expect(warnings.filter((w) => w.includes('onChallenge'))).toHaveLength(1);
    await agent.close();

    const off = createAgent({ application: 'shop', transport: new Recorder(), logger: null, detect: false, decisions: { enabled: false } });
    expect(off.decisionFor('anyone')).toBeNull();
    expect(off.stats().decisions).toBeNull();
    await withApp(off, async (url) => {
      expect((await fetch(url, { headers: { 'x-user': 'anyone' } })).status).toBe(200);
    });
    await off.close();
  });

  it('identify() returns the decision; decisionFor finds an anonymous user by address; a long key by its hashed form', () => {
    const { agent, store } = agentWith();
    const long = 'L'.repeat(300);
    const hashed = (agent as unknown as { user(u: unknown): { key: string } }).user(long).key;
    store.apply(key(hashed), decision(hashed, { until: Date.now() + 60_000 }));
    store.apply(key('anon:10.1.2.3'), decision('anon:10.1.2.3', { until: Date.now() + 60_000 }));
    const req = { headers: {}, socket: { remoteAddress: '10.1.2.3' } } as never;
    expect(agent.decisionFor(req)?.action).toBe('BLOCK');
    expect(agent.decisionFor(long)?.action).toBe('BLOCK');
    const req2 = { headers: {}, socket: { remoteAddress: '10.9.9.9' } } as never;
    expect(agent.decisionFor(req2)).toBeNull();
    expect(agent.identify(req2, long)?.action).toBe('BLOCK');
    expect(agent.decisionFor(req2)?.action).toBe('BLOCK');
    void agent.close();
  });
});

describe('enforcement through Fastify (no Kafka)', () => {
  it('the plugin enforces in preHandler on the user identified in an onRequest hook: 403, a challenge hook with the reply, others served', async () => {
    const { agent, store } = agentWith({
      onChallenge: (_request, reply: { redirect(url: string): void }) => {
        reply.redirect('/mfa');
      },
    });
    const now = Date.now();
    store.apply(key('m'), decision('m', { until: now + 60_000 }));
    store.apply(key('c'), decision('c', { action: 'CHALLENGE', until: now + 60_000 }));
    const app = Fastify();
    await app.register(riskHubFastify(agent));
    app.addHook('onRequest', async (request) => {
      const user = request.headers['x-user'];
      if (typeof user === 'string') agent.identify(request, user);
    });
    app.get('/', async () => ({ ok: true }));
    try {
      const blocked = await app.inject({ url: '/', headers: { 'x-user': 'm' } });
      expect([blocked.statusCode, blocked.json()]).toEqual([403, { error: 'forbidden', message: 'Access denied.' }]);
      const challenged = await app.inject({ url: '/', headers: { 'x-user': 'c' } });
      expect([challenged.statusCode, challenged.headers.location]).toEqual([302, '/mfa']);
      expect((await app.inject({ url: '/', headers: { 'x-user': 'alice' } })).statusCode).toBe(200);
      expect((await app.inject({ url: '/' })).statusCode).toBe(200);
    } finally {
      await app.close();
      await agent.close();
    }
    expect(agent.stats().enforced).toMatchObject({ block: 1, challenge: 1 });
  });
});

describe('decisions options', () => {
  it('are validated at start-up, naming the field', () => {
    const make = (decisions: unknown) => () => createAgent({ application: 'shop', transport: new Recorder(), logger: null, detect: false, decisions: decisions as AgentOptions['decisions'] });
    expect(make({ maxDecisions: 0 })).toThrow(/decisions\.maxDecisions must be a positive integer/);
    expect(make({ topic: '' })).toThrow(/decisions\.topic/);
    expect(make({ enabled: 'yes' })).toThrow(/decisions\.enabled/);
    expect(make({ onBlock: 'x' })).toThrow(/decisions\.onBlock/);
    expect(make({ blockResponse: { text: 'x' } })).toThrow(/decisions\.blockResponse/);
    expect(make({ blockResponse: { html: 1 } })).toThrow(/blockResponse\.html/);
    expect(make('x')).toThrow(ConfigError);
  });
});
