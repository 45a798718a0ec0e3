import { describe, expect, it } from 'vitest';
import { AuthFailureTracker } from '../../packages/agent/src/auth.ts';
import { anonymousUser, normalizeUser } from '../../packages/agent/src/user.ts';

describe('failed logins → credential stuffing', () => {
  it('MEDIUM at 5 failures in a minute, HIGH at 10, then at most one HIGH per minute', () => {
    const t = new AuthFailureTracker();
    const out: Array<string | null> = [];
    for (let i = 0; i < 12; i++) out.push(t.failure('u1', 1000 + i * 1000).stuffing);
    expect(out).toEqual([null, null, null, null, 'MEDIUM', null, null, null, null, 'HIGH', null, null]);
    // still hammering a minute after the first HIGH → one more HIGH
    const later: Array<string | null> = [];
    for (let i = 0; i < 60; i++) later.push(t.failure('u1', 13_000 + i * 1000).stuffing);
    expect(later.filter((s) => s === 'HIGH')).toHaveLength(1);
    expect(later.filter((s) => s === 'MEDIUM')).toHaveLength(0);
  });

  it('failures spread out over more than a minute are not stuffing; users are independent', () => {
    const t = new AuthFailureTracker();
    const s = [];
    for (let i = 0; i < 20; i++) s.push(t.failure('slow', i * 20_000).stuffing);
    expect(s.every((x) => x === null)).toBe(true);
    for (let i = 0; i < 4; i++) expect(t.failure(`user${i}`, 5).stuffing).toBeNull();
  });

  it('starts from scratch after a quiet period', () => {
    const t = new AuthFailureTracker();
    for (let i = 0; i < 5; i++) t.failure('u', i);
    const again = [];
    for (let i = 0; i < 5; i++) again.push(t.failure('u', 120_000 + i).stuffing);
    expect(again).toEqual([null, null, null, null, 'MEDIUM']);
  });

  it('tracks a bounded number of users', () => {
    const t = new AuthFailureTracker({ maxUsers: 100 });
    for (let i = 0; i < 1000; i++) t.failure(`u${i}`, i);
    expect(t.trackedUsers).toBe(100);
    expect(() => new AuthFailureTracker({ mediumAt: 5, highAt: 5 })).toThrow(RangeError);
  });
});

describe('users', () => {
  it('normalizes strings, numbers and objects, rejects empties', () => {
    expect(normalizeUser(' alice ')).toEqual({ key: 'alice', identifiers: {} });
    expect(normalizeUser(42)).toEqual({ key: '42', identifiers: {} });
    expect(normalizeUser({ key: 'u-1', identifiers: { email: 'a@x', age: 3, nope: { x: 1 }, empty: null } })).toEqual({ key: 'u-1', identifiers: { email: 'a@x', age: '3' } });
    expect(normalizeUser('')).toBeNull();
    expect(normalizeUser({ key: '  ' })).toBeNull();
    expect(normalizeUser(undefined)).toBeNull();
    expect(normalizeUser({ id: 'x' })).toBeNull();
    // over 256 bytes: hashed (test/agent/identity.test.ts), not cut: two long logins stay two users
    expect(normalizeUser('k'.repeat(1000))?.key).toMatch(/^k{128}…sha256:[0-9a-f]{64}$/);
    expect(normalizeUser('k'.repeat(1001))?.key).not.toBe(normalizeUser('k'.repeat(1000))?.key);
  });

  it('anonymous users are keyed by IP', () => {
    expect(anonymousUser('203.0.113.7')).toEqual({ key: 'anon:203.0.113.7', identifiers: { ip: '203.0.113.7' } });
    expect(anonymousUser(null).key).toBe('anon:unknown');
  });
});
