import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SEVERITIES } from '../../src/contracts.ts';
import { emptyUserState, isUserState, scoreEvent, type UserState } from '../../src/scoring/index.ts';
import { decodeState, encodeState, peekLast } from '../../src/state/codec.ts';
import { attack, HOUR, MINUTE, NOW, policyWith, T0 } from '../scoring/fixtures.ts';

// The changelog / LevelDB value codec. The scoring property test also sends states through it
// between events and checks the outcomes against the reference model.

/** Random streams of one user's events (ids with non-ASCII characters, fractional points, big gaps). */
const streamArb = fc.array(
  fc.record({
    dt: fc.oneof(fc.integer({ min: -30 * MINUTE, max: 30 * MINUTE }), fc.integer({ min: 0, max: 30 * HOUR })),
    id: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' })),
    severity: fc.constantFrom(...SEVERITIES),
    points: fc.option(fc.double({ min: -5, max: 50, noNaN: true }), { nil: null }),
    type: fc.constantFrom('xss', 'sql_injection', 'path_traversal', 'ünïcode_type'),
  }),
  { maxLength: 120 },
);


describe('state codec', () => {
  it('round-trips every state the scoring core produces, exactly', () => {
    const policy = policyWith({ maxContributions: 5, maxRememberedEvents: 16 });
    fc.assert(
      fc.property(streamArb, (stream) => {
        const s = emptyUserState();
        let t = T0;
        for (const e of stream) {
          t += e.dt;
          scoreEvent(s, attack({ at: t, event_id: e.id, severity: e.severity, points: e.points, attack_type: e.type }), policy, NOW);
          const back = decodeState(encodeState(s));
          expect(back).toEqual(JSON.parse(JSON.stringify(s)));
          expect(peekLast(encodeState(s))).toBe(s.last);
          expect(peekLast(Buffer.from(JSON.stringify(s)))).toBe(s.last);
          expect(isUserState(back)).toBe(true);
          expect(Object.keys(back!)).toEqual(Object.keys(emptyUserState()));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips the empty state and a state with every number at its edge', () => {
    expect(decodeState(encodeState(emptyUserState()))).toEqual(emptyUserState());
    const s: UserState = {
      ...emptyUserState(),
      last: Number.MAX_SAFE_INTEGER,
      score: -0.5,
      scored: Number.MAX_SAFE_INTEGER,
      alerted: 3,
      sum: 1e300,
      count: 2 ** 40,
      et: [-1, 0, 2 ** 53],
      ep: [0.1, -7, Infinity],
      ec: [1, 127, 128],
      ids: ['', '#abc', '日本語'],
      idPos: 2,
      top: [['ev-😀', 'xss', 'HIGH', 6.25, 1_795_610_097_016, 2 ** 31, 0]],
    };
    expect(decodeState(encodeState(s))).toEqual(s);
  });

  it('is smaller than the JSON it replaces for a typical state', () => {
    const s = emptyUserState();
    const policy = policyWith();
    for (let i = 0; i < 10; i++) scoreEvent(s, attack({ at: T0 + i * HOUR, event_id: `4f1c2a9e-0b7d-4c1e-9a55-${String(i).padStart(12, '0')}`, severity: SEVERITIES[i % 5] }), policy, NOW);
    expect(encodeState(s).length).toBeLessThan(Buffer.byteLength(JSON.stringify(s)));
  });

  it('still reads the JSON values earlier versions wrote to LevelDB and the changelog', () => {
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, severity: 'HIGH' }), policyWith(), NOW);
    expect(decodeState(Buffer.from(JSON.stringify(s)))).toEqual(s);
    expect(decodeState(Buffer.from('{"not":"a state"}'))).toBeUndefined();
    expect(decodeState(Buffer.from('{broken'))).toBeUndefined();
  });

  it('rejects empty, unknown and truncated values instead of returning a wrong state', () => {
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, event_id: 'ev-1', severity: 'CRITICAL' }), policyWith(), NOW);
    const b = encodeState(s);
    expect(decodeState(Buffer.alloc(0))).toBeUndefined();
    expect(decodeState(Buffer.from([9, 1, 2, 3]))).toBeUndefined();
    for (let n = 1; n < b.length; n++) expect(decodeState(b.subarray(0, n))).toBeUndefined();
    expect(decodeState(Buffer.concat([b, Buffer.from([0])]))).toBeUndefined();
  });

  it('refuses to encode a counter that is not a non-negative integer (a bug upstream, never a silent corruption)', () => {
    expect(() => encodeState({ ...emptyUserState(), scored: -1 })).toThrow(/not a non-negative safe integer/);
    expect(() => encodeState({ ...emptyUserState(), idPos: 1.5 })).toThrow(/not a non-negative safe integer/);
  });

  it('peeks at T without decoding, and tells non-states apart', () => {
    expect(peekLast(encodeState(emptyUserState()))).toBeNull();
    expect(peekLast(Buffer.from([2, 1, 0, 0]))).toBeUndefined(); // truncated
    expect(peekLast(Buffer.from('{"not":"a state"}'))).toBeUndefined();
    expect(peekLast(Buffer.alloc(0))).toBeUndefined();
  });
});
