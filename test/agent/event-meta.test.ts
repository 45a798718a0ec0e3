import { describe, expect, it } from 'vitest';
import { createAgent, eventIdFor } from '@risk-hub/agent';
import type { Attack } from '../../src/contracts.ts';
import { DecisionStore } from '../../packages/agent/src/decisions.ts';

// The agent's API for callers that forward events seen elsewhere (the relay): an explicit event id and
// time (EventMeta), ids derived for the extra records of one event, reportEnforced, activeDecisions.

class Keep {
  sent: Attack[] = [];
  async send(events: Attack[]): Promise<{ rejected: Attack[] }> {
    this.sent.push(...events);
    return { rejected: [] };
  }
  async close(): Promise<void> {}
}

const fakeReq = (ip: string) => ({ raw: { headers: { 'user-agent': 'ua' }, method: 'POST', url: '/login', socket: {} }, ip }) as never;

describe('agent EventMeta', () => {
  it('eventIdFor: the id itself first, then deterministic UUID-shaped ids', () => {
    expect(eventIdFor('e-1', 0)).toBe('e-1');
    expect(eventIdFor('e-1', 1)).toBe(eventIdFor('e-1', 1));
    expect(eventIdFor('e-1', 1)).not.toBe(eventIdFor('e-1', 2));
    expect(eventIdFor('e-1', 1)).not.toBe(eventIdFor('e-2', 1));
    expect(eventIdFor('x'.repeat(256), 3)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('trackAuth, report and reportEnforced use the given id and time; an invalid id falls back to a UUID', async () => {
    const keep = new Keep();
    const agent = createAgent({ application: 'shop', transport: keep, lingerMs: 1, logger: null, now: () => 5_000_000 });
    for (let i = 0; i < 5; i++) agent.trackAuth(false, 'carol', fakeReq('203.0.113.1'), { eventId: `l-${i}`, at: 1_000 + i });
    expect(agent.report({ type: 'custom', severity: 'LOW', user: 'bob', occurredAt: 42, eventId: 'c-1' })).toBe('c-1');
    agent.trackAuth(false, 'erin', undefined, { eventId: '', at: Number.NaN });
    expect(agent.reportEnforced(fakeReq('203.0.113.2'), { action: 'CHALLENGE' }, { eventId: 'enf', at: 7 })).toBe(true);
    await agent.flush(2000);
    await agent.close({ timeoutMs: 500 });
    const carol = keep.sent.filter((e) => e.user.key === 'carol');
    expect(carol.map((e) => [e.event_id, e.occurred_at, e.attack_type])).toEqual([
      ['l-0', 1000, 'auth_failure'],
      ['l-1', 1001, 'auth_failure'],
      ['l-2', 1002, 'auth_failure'],
      ['l-3', 1003, 'auth_failure'],
      ['l-4', 1004, 'auth_failure'],
      [eventIdFor('l-4', 1), 1004, 'credential_stuffing'],
    ]);
    expect(keep.sent.find((e) => e.event_id === 'c-1')?.occurred_at).toBe(42);
    const erin = keep.sent.find((e) => e.user.key === 'erin')!;
    expect(erin.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(erin.occurred_at).toBe(5_000_000);
    expect(keep.sent.find((e) => e.event_id === 'enf')).toMatchObject({ attack_type: 'risk-hub.decision.challenge', severity: 'INFO', points: 0, blocked: false, occurred_at: 7, user: { key: 'anon:203.0.113.2' } });
  });

  it('inspectMany: each request\'s detections in order, reported with its id, as inspect() reports them', async () => {
    const keep = new Keep();
    const agent = createAgent({ application: 'shop', transport: keep, lingerMs: 1, logger: null, wafBudgetMicros: 1_000_000 });
    const req = (q: string) => ({ req: { raw: { headers: { 'user-agent': 'ua' }, method: 'GET', url: '/s', socket: {} }, ip: '203.0.113.5' } as never, extras: { query: { q } } });
    const found = agent.inspectMany([
      { ...req("1' OR '1'='1"), meta: { eventId: 'm-0', at: 10 } },
      { ...req('socks'), meta: { eventId: 'm-1', at: 11 } },
      { ...req('<script>alert(1)</script>'), meta: { eventId: 'm-2', at: 12 } },
    ]);
    expect(found.map((d) => d.map((x) => x.attackType))).toEqual([['sql_injection'], [], ['xss']]);
    await agent.flush(2000);
    await agent.close({ timeoutMs: 500 });
    expect(keep.sent.map((e) => [e.event_id, e.occurred_at, e.attack_type, e.user.key]).sort()).toEqual([
      ['m-0', 10, 'sql_injection', 'anon:203.0.113.5'],
      ['m-2', 12, 'xss', 'anon:203.0.113.5'],
    ]);
  });

  it('DecisionStore: version changes with every change; list() gives the entries in force', () => {
    let now = 1000;
    const store = new DecisionStore({ application: 'shop', environment: 'production', maxDecisions: 10, now: () => now });
    const v0 = store.version;
    const rec = (key: string, action: string, until: number) => ({ decision_id: `d-${key}`, application_id: 'shop', environment: 'production', user: { key }, action, reason: 'r', until, simulated: false });
    store.apply('shop/production/u1', rec('u1', 'BLOCK', 5000));
    store.apply('shop/production/u2', rec('u2', 'MONITOR', 2000));
    expect(store.version).toBe(v0 + 2);
    expect(store.list().map((e) => [e.userKey, e.decision.action])).toEqual([['u1', 'BLOCK'], ['u2', 'MONITOR']]);
    store.apply('other/production/u3', rec('u3', 'BLOCK', 5000));
    expect(store.version).toBe(v0 + 2);
    now = 3000;
    expect(store.list().map((e) => e.userKey)).toEqual(['u1']);
    store.apply('shop/production/u1', null);
    expect(store.version).toBe(v0 + 3);
    expect(store.list()).toEqual([]);
  });
});
