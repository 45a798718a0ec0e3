import { describe, expect, it } from 'vitest';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { pointsFor, resolvePolicy, tierBound, tierFor } from '../../src/scoring/index.ts';
import { policyWith } from './fixtures.ts';

describe('pointsFor', () => {
  const policy = policyWith({ attackTypePoints: { credential_stuffing: { MEDIUM: 4 }, scanner: { HIGH: 0 } } });

  it('uses the points carried by the event first, even 0', () => {
    expect(pointsFor(policy, { points: 7, attack_type: 'credential_stuffing', severity: 'MEDIUM' })).toBe(7);
    expect(pointsFor(policy, { points: 0, attack_type: 'xss', severity: 'CRITICAL' })).toBe(0);
  });

  it('then the attack-type table for the severity', () => {
    expect(pointsFor(policy, { points: null, attack_type: 'credential_stuffing', severity: 'MEDIUM' })).toBe(4);
    expect(pointsFor(policy, { points: null, attack_type: 'scanner', severity: 'HIGH' })).toBe(0);
  });

  it('then the severity table (defaults INFO 0, LOW 1, MEDIUM 3, HIGH 6, CRITICAL 10)', () => {
    expect(pointsFor(policy, { points: null, attack_type: 'credential_stuffing', severity: 'HIGH' })).toBe(6);
    const bySeverity = (['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const).map((severity) =>
      pointsFor(policy, { points: null, attack_type: 'xss', severity }),
    );
    expect(bySeverity).toEqual([0, 1, 3, 6, 10]);
  });

  it('gives 0 for a severity missing from every table and for negative or non-finite points', () => {
    const partial = policyWith({ severityPoints: { HIGH: 6 } as never });
    expect(pointsFor(partial, { points: null, attack_type: 'xss', severity: 'LOW' })).toBe(0);
    expect(pointsFor(policy, { points: -5, attack_type: 'xss', severity: 'HIGH' })).toBe(0);
    expect(pointsFor(policy, { points: Number.NaN, attack_type: 'xss', severity: 'HIGH' })).toBe(0);
  });

  it('does not resolve attack types through Object.prototype', () => {
    for (const attack_type of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(pointsFor(policy, { points: null, attack_type, severity: 'HIGH' })).toBe(6);
    }
  });
});

describe('resolvePolicy', () => {
  const config = ScoringSchema.parse({
    threshold: 10,
    tiers: [25, 50, 100],
    severityPoints: { HIGH: 7 },
    attackTypePoints: { credential_stuffing: { MEDIUM: 4, HIGH: 8 } },
    applications: {
      shop: { threshold: 5, tiers: [20], severityPoints: { LOW: 2 }, attackTypePoints: { credential_stuffing: { HIGH: 9 }, xss: { LOW: 3 } } },
    },
  });

  it('merges tables entry by entry over the defaults for an application without overrides', () => {
    const p = resolvePolicy(config, 'blog');
    expect(p.threshold).toBe(10);
    expect(p.tiers).toEqual([25, 50, 100]);
    expect(p.severityPoints).toEqual({ INFO: 0, LOW: 1, MEDIUM: 3, HIGH: 7, CRITICAL: 10 });
    expect(p.attackTypePoints).toEqual({ credential_stuffing: { MEDIUM: 4, HIGH: 8 } });
    expect(p.windowMs).toBe(24 * 60 * 60 * 1000);
    expect(p.maxContributions).toBe(10);
    expect(p.maxRememberedEvents).toBe(512);
  });

  it("applies an application's overrides on top of the global policy", () => {
    const p = resolvePolicy(config, 'shop');
    expect(p.threshold).toBe(5);
    expect(p.tiers).toEqual([20]);
    expect(p.severityPoints).toEqual({ INFO: 0, LOW: 2, MEDIUM: 3, HIGH: 7, CRITICAL: 10 });
    expect(p.attackTypePoints).toEqual({ credential_stuffing: { MEDIUM: 4, HIGH: 9 }, xss: { LOW: 3 } });
    expect(pointsFor(p, { points: null, attack_type: 'credential_stuffing', severity: 'MEDIUM' })).toBe(4);
    expect(pointsFor(p, { points: null, attack_type: 'credential_stuffing', severity: 'HIGH' })).toBe(9);
    expect(pointsFor(p, { points: null, attack_type: 'sql_injection', severity: 'LOW' })).toBe(2);
  });

  it('memoizes per (config object, application) and shares the base policy', () => {
    expect(resolvePolicy(config, 'shop')).toBe(resolvePolicy(config, 'shop'));
    expect(resolvePolicy(config, 'blog')).toBe(resolvePolicy(config, 'other'));
    expect(resolvePolicy(config, 'constructor')).toBe(resolvePolicy(config, 'blog'));
    const other = ScoringSchema.parse({ threshold: 3 });
    expect(resolvePolicy(other, 'blog').threshold).toBe(3);
    expect(Object.isFrozen(resolvePolicy(config, 'shop'))).toBe(true);
  });
});

describe('tiers', () => {
  const p = policyWith({ threshold: 10, tiers: [25, 50, 100] });
  it('are strictly greater than their bounds', () => {
    expect([0, 10, 11, 25, 26, 50, 51, 100, 101, 10_000].map((s) => tierFor(p, s))).toEqual([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]);
    expect([1, 2, 3, 4].map((t) => tierBound(p, t))).toEqual([10, 25, 50, 100]);
  });
});
