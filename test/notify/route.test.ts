import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotifySchema } from '../../src/config/notify.ts';
import { matchesPattern, routeAlert, routeDecision } from '../../src/notify/route.ts';
import { resolveTargets } from '../../src/notify/secrets.ts';

const SECRET = 'whsec_' + Buffer.alloc(32, 7).toString('base64');

function setup(extra: Record<string, unknown> = {}) {
  const notify = NotifySchema.parse({
    slack: {
      enabled: true,
      targets: {
        secops: { url: 'https://hooks.slack.com/services/T/B/x1', route: { minTier: 1 } },
        shopOncall: { url: 'https://hooks.slack.com/services/T/B/x2', route: { applications: ['shop-*'], environments: ['production'], minTier: 2 } },
        payments: { url: 'https://hooks.slack.com/services/T/B/x3', route: { applications: [] } },
      },
    },
    webhook: { enabled: true, targets: { siem: { url: 'https://siem.example.com/in', secrets: SECRET, route: { minTier: 3 } } } },
    ...extra,
  });
  return { notify, targets: resolveTargets(notify, {}) };
}

const alert = (over: Partial<{ application_id: string; environment: string; tier: number }> = {}) => ({ application_id: 'shop-eu', environment: 'production', tier: 2, ...over });

describe('routing', () => {
  it('patterns: * anywhere, literal otherwise, regex characters are literal', () => {
    expect(matchesPattern('*', 'x')).toBe(true);
    expect(matchesPattern('shop-*', 'shop-eu')).toBe(true);
    expect(matchesPattern('shop-*', 'shop')).toBe(false);
    expect(matchesPattern('*-eu', 'shop-eu')).toBe(true);
    expect(matchesPattern('a.b', 'axb')).toBe(false);
    expect(matchesPattern('prod', 'production')).toBe(false);
  });

  it('routes by application, environment and tier', () => {
    const { notify, targets } = setup();
    const ids = (a: ReturnType<typeof alert>, ch: 'slack' | 'webhook' = 'slack') => routeAlert(a, ch, notify, targets).routed.map((r) => r.target.id);
    expect(ids(alert())).toEqual(['secops', 'shopOncall']);
    expect(ids(alert({ tier: 1 }))).toEqual(['secops']);
    expect(ids(alert({ environment: 'staging' }))).toEqual(['secops']);
    expect(ids(alert({ application_id: 'blog' }))).toEqual(['secops']);
    expect(ids(alert(), 'webhook')).toEqual([]);
    expect(ids(alert({ tier: 3 }), 'webhook')).toEqual(['siem']);
  });

  it('per-application overrides: extra targets, minTier, environments, exclusive', () => {
    const { notify, targets } = setup({
      applications: {
        payments: { slack: ['payments'] },
        'shop-eu': { minTier: 3 },
        blog: { environments: ['production'] },
        vault: { exclusive: true, slack: ['payments'] },
      },
    });
    const ids = (a: ReturnType<typeof alert>) => routeAlert(a, 'slack', notify, targets);
    expect(ids(alert({ application_id: 'payments' })).routed.map((r) => r.target.id)).toEqual(['payments', 'secops']);
    expect(ids(alert({ application_id: 'payments' })).routed.find((r) => r.target.id === 'payments')?.reason).toBe('applications.payments.slack');
    expect(ids(alert({ application_id: 'shop-eu', tier: 2 }))).toMatchObject({ routed: [], dropped: expect.stringContaining('minTier') });
    expect(ids(alert({ application_id: 'shop-eu', tier: 3 })).routed.map((r) => r.target.id)).toEqual(['secops', 'shopOncall']);
    expect(ids(alert({ application_id: 'blog', environment: 'staging' })).routed).toEqual([]);
    expect(ids(alert({ application_id: 'vault' })).routed.map((r) => r.target.id)).toEqual(['payments']);
  });

  it('never routes an alert below a target minTier through its route (property)', () => {
    const { notify, targets } = setup();
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.constantFrom('production', 'staging', 'dev'), fc.integer({ min: 1, max: 6 }), (app, env, tier) => {
        const r = routeAlert({ application_id: app, environment: env, tier }, 'slack', notify, targets);
        return r.routed.every((x) => tier >= x.target.route.minTier) && new Set(r.routed.map((x) => x.target.id)).size === r.routed.length;
      }),
    );
  });
});

describe("routing a person's decision (issue 15 item 5)", () => {
  const d = (over: Partial<{ application_id: string; environment: string }> = {}) => ({ application_id: 'shop-eu', environment: 'production', ...over });
  const ids = (r: { routed: Array<{ target: { id: string } }> }) => r.routed.map((x) => x.target.id);

  it('every target whose applications and environments match, whatever its minTier', () => {
    const { notify, targets } = setup();
    expect(ids(routeDecision(d(), 'slack', notify, targets))).toEqual(['secops', 'shopOncall']);
    expect(ids(routeDecision(d(), 'webhook', notify, targets))).toEqual(['siem']); // minTier 3
    expect(ids(routeDecision(d({ environment: 'staging' }), 'slack', notify, targets))).toEqual(['secops']);
  });

  it("an application override: its minTier does not hold it back; its environments, named targets and exclusive apply", () => {
    expect(ids(routeDecision(d(), 'slack', setup({ applications: { 'shop-eu': { minTier: 9 } } }).notify, setup().targets))).toEqual(['secops', 'shopOncall']);
    const envs = setup({ applications: { 'shop-eu': { environments: ['staging'] } } });
    expect(routeDecision(d(), 'slack', envs.notify, envs.targets)).toMatchObject({ routed: [], dropped: expect.stringContaining('environments') });
    const excl = setup({ applications: { 'shop-eu': { exclusive: true, slack: ['payments'] } } });
    expect(ids(routeDecision(d(), 'slack', excl.notify, excl.targets))).toEqual(['payments']);
  });
});
