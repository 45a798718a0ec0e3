import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { formatUserRisk, queryUserRisk } from '../../src/cli/user-risk.ts';
import { RiskHubError } from '../../src/errors.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function scorer(handler: (path: string) => { status: number; body: unknown }): Promise<{ url: string; hits: string[] }> {
  const hits: string[] = [];
  const srv = createServer((req, res) => {
    hits.push(req.url ?? '');
    const out = handler(req.url ?? '');
    res.writeHead(out.status, { 'content-type': 'application/json' }).end(JSON.stringify(out.body));
  });
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, hits };
}

const T = Date.UTC(2026, 10, 25, 10, 0);
const ANSWER = {
  application_id: 'shop',
  environment: 'production',
  user: 'mallory',
  partition: 4,
  known: true,
  increase_24h: 53,
  risk_score: 61,
  tier: 3,
  alerted_tier: 3,
  window_start: T - 86_400_000,
  window_end: T,
  contributions: [
    { event_id: 'e2', attack_type: 'command_injection', severity: 'CRITICAL', points: 10, occurred_at: T },
    { event_id: 'e1', attack_type: 'sql_injection', severity: 'HIGH', points: 6, occurred_at: T - 60_000 },
  ],
  contributions_truncated: 12,
  last_event_at: T,
};

describe('user-risk query', () => {
  it('asks the scorer and prints increase, tier and contributing attacks', async () => {
    const s = await scorer(() => ({ status: 200, body: ANSWER }));
    const r = await queryUserRisk(s.url, 'shop', 'production', 'mallory');
    expect(s.hits).toEqual(['/v1/users/shop/production/mallory/risk']);
    const text = formatUserRisk(r, 10);
    expect(text).toContain('shop/production/mallory  (partition 4, answered by');
    expect(text).toMatch(/increase \(24 h\)\s+53 points, tier 3/);
    expect(text).toMatch(/risk score\s+61 points \(lifetime\)/);
    expect(text).toContain('contributing attacks (and 12 smaller):');
    expect(text).toMatch(/2026-11-25 10:00Z {2}command_injection {2}CRITICAL {3}10 {2}e2/);
  });

  it('escapes the path segments', async () => {
    const s = await scorer(() => ({ status: 200, body: { ...ANSWER, known: false } }));
    const r = await queryUserRisk(s.url, 'shop', 'prod-eu', 'x/a b@c');
    expect(s.hits).toEqual(['/v1/users/shop/prod-eu/x%2Fa%20b%40c/risk']);
    expect(formatUserRisk(r)).toContain('no events scored for this user');
  });

  it('refuses, without asking, an application or environment outside the identity rules', async () => {
    // "a/b" + "c" and "a" + "b/c" would name one key: neither may be asked for.
    const s = await scorer(() => ({ status: 200, body: ANSWER }));
    for (const [app, env] of [
      ['a/b', 'c'],
      ['a', 'b/c'],
      ['', 'production'],
      ['shop', 'prod eu'],
    ] as const) {
      const err = await queryUserRisk(s.url, app, env, 'u').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RiskHubError);
      expect((err as RiskHubError).code).toBe('RH_USAGE');
    }
    expect(s.hits).toEqual([]);
  });

  it('follows a 421 to the owner once', async () => {
    const owner = await scorer(() => ({ status: 200, body: ANSWER }));
    const other = await scorer(() => ({ status: 421, body: { error: 'not mine', partition: 4, owner: { url: owner.url } } }));
    const r = await queryUserRisk(other.url, 'shop', 'production', 'mallory');
    expect(r.url).toBe(owner.url);
    expect(r.redirected).toBe(true);
    expect(owner.hits).toHaveLength(1);
    expect(formatUserRisk(r)).toContain('after a redirect to the owner');
  });

  it('does not follow a second 421 (ownership moving): a clear retriable error', async () => {
    const c = await scorer(() => ({ status: 200, body: ANSWER }));
    const b = await scorer(() => ({ status: 421, body: { partition: 4, owner: { url: c.url } } }));
    const a = await scorer(() => ({ status: 421, body: { partition: 4, owner: { url: b.url } } }));
    const err = await queryUserRisk(a.url, 'shop', 'production', 'mallory').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RiskHubError);
    expect((err as RiskHubError).retriable).toBe(true);
    expect((err as Error).message).toMatch(/moved again while asking .* retry in a few seconds/);
    // (undici itself retries a 421 once on a fresh connection, so b may see the request twice.)
    expect(b.hits.length).toBeGreaterThan(0);
    expect(c.hits).toEqual([]);
  });

  it('explains a 421 without an owner, a restoring partition and a non-scorer', async () => {
    const none = await scorer(() => ({ status: 421, body: { partition: 2, owner: null } }));
    await expect(queryUserRisk(none.url, 'a', 'b', 'c')).rejects.toThrow(/does not own partition 2 and no owner is known/);
    const restoring = await scorer(() => ({ status: 503, body: { error: 'partition 2 is restoring; retry shortly' } }));
    await expect(queryUserRisk(restoring.url, 'a', 'b', 'c')).rejects.toThrow(/partition 2 is restoring; retry shortly/);
    const notifier = await scorer(() => ({ status: 404, body: { error: 'no route' } }));
    await expect(queryUserRisk(notifier.url, 'a', 'b', 'c')).rejects.toThrow(/has no user-risk endpoint \(is it a scorer/);
  });
});
