import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { userKey } from '../../src/contracts.ts';
import { IDENTIFIER_PATTERN, identityProblem, MAX_USER_KEY_BYTES, parseUserKey, userKeyOf, utf8Length } from '../../src/identity.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';

const identifier = fc.stringMatching(IDENTIFIER_PATTERN);
const userKeyArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((u) => u.trim() !== '' && utf8Length(u) <= MAX_USER_KEY_BYTES);

describe('identity rules', () => {
  it('the record key of a valid identity parses back to it: two different valid triples never share a key', () => {
    fc.assert(
      fc.property(identifier, identifier, userKeyArb, (app, env, user) => {
        expect(identityProblem(app, env, user)).toBeUndefined();
        expect(parseUserKey(userKeyOf(app, env, user))).toEqual({ applicationId: app, environment: env, user });
      }),
    );
  });

  it('refuses the colliding triples of issue 13 (a "/" in the application or the environment)', () => {
    // "a/b" + "c" and "a" + "b/c" joined to one key; so did "env" + "x/y" and "env/x" + "y".
    expect(userKeyOf('a/b', 'c', 'u')).toBe(userKeyOf('a', 'b/c', 'u'));
    expect(identityProblem('a/b', 'c', 'u')).toMatch(/application_id "a\/b" must match/);
    expect(identityProblem('a', 'b/c', 'u')).toMatch(/environment "b\/c" must match/);
    expect(identityProblem('shop', 'env', 'x/y')).toBeUndefined(); // the user key comes last: it may hold "/"
    expect(identityProblem('shop', 'env/x', 'y')).toMatch(/environment/);
  });

  it('bounds and restricts each part', () => {
    expect(identityProblem('a'.repeat(64), 'production', 'u')).toBeUndefined();
    expect(identityProblem('a'.repeat(65), 'production', 'u')).toMatch(/application_id/);
    for (const bad of ['', '-shop', '.shop', 'shop eu', 'shöp', 'shop:eu', 'shop%2Feu', 'shop\n']) expect(identityProblem(bad, 'production', 'u')).toMatch(/application_id/);
    for (const ok of ['shop', 'shop-eu', 'py_shop.v2', 'A1']) expect(identityProblem(ok, 'production', 'u')).toBeUndefined();
    expect(identityProblem('shop', 'production', '')).toMatch(/user.key/);
    expect(identityProblem('shop', 'production', ' \t')).toMatch(/user.key/);
    expect(identityProblem('shop', 'production', 'é'.repeat(128))).toBeUndefined(); // 256 bytes
    expect(identityProblem('shop', 'production', 'é'.repeat(129))).toMatch(/258 bytes/);
    expect(identityProblem(undefined, 'production', 'u')).toMatch(/application_id/);
  });

  it('refuses a scoring override for an application id no record can carry', () => {
    expect(() => ScoringSchema.parse({ applications: { 'a/b': { threshold: 5 } } })).toThrow(/no attack of application_id .{0,2}a\/b.{0,2} can be scored/);
    expect(ScoringSchema.parse({ applications: { 'shop-eu': { threshold: 5 } } }).applications['shop-eu']!.threshold).toBe(5);
  });

  it('counts UTF-8 bytes as Buffer does', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => utf8Length(s) === Buffer.byteLength(s, 'utf8')));
    fc.assert(fc.property(fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }), (s) => utf8Length(s) === Buffer.byteLength(s, 'utf8')));
  });

  it('keeps the key of every valid identity as it was: states and changelogs written before still match', () => {
    // The worked example of docs/agents.md: same key, same partition as before the rules.
    expect(userKey('shop', 'production', 'u-1001')).toBe('shop/production/u-1001');
    expect(partitionFor(userKey('shop', 'production', 'u-1001'), 6)).toBe(3);
  });
});
