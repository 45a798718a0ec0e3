import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SEVERITIES } from '../../src/contracts.ts';
import { contributionsOf, emptyUserState, isUserState, markActive, scoreEvent, type StoredContribution, type UserState } from '../../src/scoring/index.ts';
import { decodeState, encodeState, peekLast, resetScratch } from '../../src/state/codec.ts';
import { eventIdKey } from '../../src/scoring/state.ts';
import { randomUUID } from 'node:crypto';
import { attack, HOUR, legacyJson, MINUTE, NOW, plain, policyWith, T0, withTop } from '../scoring/fixtures.ts';

// The changelog / LevelDB value codec. The scoring property test also sends states through it
// between events and checks the outcomes against the reference model.

/** Random streams of one user's events (ids with non-ASCII characters, fractional points, big gaps). */
const streamArb = fc.array(
  fc.record({
    dt: fc.oneof(fc.integer({ min: -30 * MINUTE, max: 30 * MINUTE }), fc.integer({ min: 0, max: 30 * HOUR })),
    /** The partition's stream time ahead of the user's events when it arrives (ms; a backfill when large). */
    ahead: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 * 24 * HOUR }), fc.double({ min: 0, max: 1e6, noNaN: true })),
    // Within the scorer's 256-byte limit: longer ids are refused on arrival (and clipped on decode).
    id: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' }).filter((id) => Buffer.byteLength(id) <= 256)),
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
          markActive(s, t + e.ahead);
          const back = decodeState(encodeState(s));
          expect(plain(back!)).toEqual(plain(s));
          const since = Math.max(s.last!, s.activeAt ?? -Infinity);
          expect(peekLast(encodeState(s))).toBe(since);
          expect(peekLast(legacyJson(s))).toBe(since);
          expect(isUserState(back)).toBe(true);
          expect(Object.keys(back!)).toEqual(Object.keys(emptyUserState()));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a decoded state\'s event ids as bytes of its value, and re-points them at each value it is encoded into', () => {
    const policy = policyWith({ maxContributions: 3, tiers: [40, 100] });
    const s = emptyUserState();
    for (let i = 0; i < 4; i++) scoreEvent(s, attack({ at: T0 + i * MINUTE, event_id: `ev-ü-${i}`, points: 5 + i }), policy, NOW);
    const before = contributionsOf(s);
    expect(s.cid.every((id) => typeof id === 'string')).toBe(true);
    // Encoding: the ids now refer to the value written (the strings are let go), and read the same.
    const b = encodeState(s);
    expect(s.cbytes).toBe(b);
    expect(s.cid.every((id) => typeof id === 'number')).toBe(true);
    expect(contributionsOf(s)).toEqual(before);
    // Decoding: no string per candidate, the value itself is kept.
    const back = decodeState(b)!;
    expect(back.cbytes).toBe(b);
    expect(back.cid.every((id) => typeof id === 'number')).toBe(true);
    expect(contributionsOf(back)).toEqual(before);
    // A new event mixes a string in; the alert it raises reads ids of both kinds; the next value holds all.
    const r = scoreEvent(back, attack({ at: T0 + HOUR, event_id: 'ev-new', points: 30 }), policy, NOW);
    expect(r.alert?.contributions.map((c) => c.event_id)).toEqual(['ev-new', 'ev-ü-3', 'ev-ü-2']);
    expect(back.cid.filter((id) => typeof id === 'string')).toEqual(['ev-new']);
    const next = encodeState(back);
    expect(back.cbytes).toBe(next);
    expect(plain(decodeState(next)!)).toEqual(plain(back));
    expect(contributionsOf(back).map((c) => c[0])).toEqual(['ev-new', 'ev-ü-3', 'ev-ü-2']); // ev-ü-1 now has K dominators
    // Once every candidate has left the window the value is let go too.
    scoreEvent(back, attack({ at: T0 + 3 * 24 * HOUR, event_id: 'ev-late', points: 0 }), policy, NOW);
    expect(back.cid).toEqual([]);
    expect(back.cbytes).toBeNull();
  });

  it('round-trips the empty state and a state with every number at its edge', () => {
    expect(decodeState(encodeState(emptyUserState()))).toEqual(emptyUserState());
    const s: UserState = withTop({
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
      ids: ['', '#abc', '日本語', 0, 2 ** 53 - 1],
      idPos: 2,
    }, [['ev-😀', 'xss', 'HIGH', 6.25, 1_795_610_097_016, 2 ** 31, 0]]);
    expect(plain(decodeState(encodeState(s))!)).toEqual(plain(s));
  });

  it('is 60% smaller than format 2, and a third of the JSON before it, for a typical state (UUID event ids)', () => {
    const s = emptyUserState();
    const policy = policyWith();
    for (let i = 0; i < 10; i++) scoreEvent(s, attack({ at: T0 + i * HOUR, event_id: `4f1c2a9e-0b7d-4c1e-9a55-${String(i).padStart(12, '0')}`, severity: SEVERITIES[i % 5] }), policy, NOW);
    // 929 bytes in format 2 and 1,137 as JSON (measured with their encoders, with the id keys of then).
    // Format 4 took 527 bytes, the ids as text.
    expect(encodeState(s).length).toBeLessThanOrEqual(Math.round(929 * 0.41));
    expect(encodeState(s)[0]).toBe(5);
    // A backfilled user: the partition's stream time 30 days ahead costs 5 bytes.
    const n = encodeState(s).length;
    markActive(s, s.last! + 30 * 24 * HOUR);
    expect(encodeState(s).length).toBe(n + 5);
  });

  it('still reads format 4, which stores and changelogs written before format 5 hold, and writes its UUIDs as 16 bytes', () => {
    // Written by the format-4 encoder (dcbf380 and earlier): a UUID, a non-ASCII id and type, an upper-case UUID.
    const v4 = Buffer.from(
      'BAMAAJB1+UF5QiIiAwEDAAOA9O4GDAGAurcDAgGAurcDFAEDALdkQQlgnT5DCGV2LfCfmIAAyDUzaFp4J0MDJDNGMkExQjRDLTVENkUtNEY3MC04QTlCLTBDMUQyRTNGNEE1QgADeHNzBBQAAgAkM2YyYTFiNGMtNWQ2ZS00ZjcwLThhOWItMGMxZDJlM2Y0YTViAA7DvG7Dr2NvZGVfdHlwZQMMgPTuBgABB2V2LfCfmIABAQKAurcDAQE=',
      'base64',
    );
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, event_id: '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b', severity: 'HIGH', points: 6, attack_type: 'ünïcode_type' }), policyWith(), NOW);
    scoreEvent(s, attack({ at: T0 + HOUR, event_id: 'ev-😀', severity: 'LOW', attack_type: 'xss' }), policyWith(), NOW);
    scoreEvent(s, attack({ at: T0 + 2 * HOUR, event_id: '3F2A1B4C-5D6E-4F70-8A9B-0C1D2E3F4A5B', severity: 'CRITICAL', attack_type: 'xss' }), policyWith(), NOW);
    const back = decodeState(v4)!;
    expect(plain(back)).toEqual(plain(s));
    expect(peekLast(v4)).toBe(T0 + 2 * HOUR);
    for (let n = 1; n < v4.length; n++) expect(decodeState(v4.subarray(0, n))).toBeUndefined();
    // Written again: format 5, the lower-case UUID in 16 bytes instead of 36 (the upper-case one stays text, as it came).
    const v5 = encodeState(back);
    expect(v5[0]).toBe(5);
    expect(v5.length).toBe(v4.length - 20);
    expect(v5.includes('3F2A1B4C-5D6E-4F70-8A9B-0C1D2E3F4A5B')).toBe(true);
    expect(v5.includes('3f2a1b4c')).toBe(false);
    expect(contributionsOf(decodeState(v5)!).map((c) => c[0]).sort()).toEqual(['3F2A1B4C-5D6E-4F70-8A9B-0C1D2E3F4A5B', '3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b', 'ev-😀']);
    expect(plain(decodeState(v5)!)).toEqual(plain(s));
    expect(encodeState(s).equals(v5)).toBe(true);
  });

  it('writes an event id as 16 bytes only when it is a UUID in its canonical form', () => {
    const ids = [
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '0123456789ab-cdef-0123-4567-89abcdef', // dashes misplaced
      '01234567-89ab-cdef-0123-456789abcdeg', // not hex
      '01234567-89AB-cdef-0123-456789abcdef', // upper case
      '01234567-89ab-cdef-0123-456789abcdef0', // 37 characters
      '01234567_89ab-cdef-0123-456789abcdef',
      '０1234567-89ab-cdef-0123-456789abcdef', // a full-width digit
    ];
    for (const [i, id] of ids.entries()) {
      const s = emptyUserState();
      scoreEvent(s, attack({ at: T0, event_id: id }), policyWith(), NOW);
      const b = encodeState(s);
      expect(contributionsOf(decodeState(b)!)[0]![0]).toBe(id);
      expect(b.includes(id)).toBe(i >= 2);
    }
  });

  it('still reads format 3, which stores and changelogs written before format 4 hold (activeAt null)', () => {
    // Written by the format-3 encoder (every version before format 4): two events an hour apart, a non-ASCII id and type, a hashed id key.
    const v3 = Buffer.from(
      'AwMAAKgG9kF5Qg4OAgACAAKAurcDDAGAurcDAgECCGV2LfCfmIAA2O3vQ3FLPEMCB2V2LfCfmIAADsO8bsOvY29kZV90eXBlAwyAurcDAAAoeHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eAADeHNzAQIAAQA=',
      'base64',
    );
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, event_id: 'ev-😀', severity: 'HIGH', points: 6, attack_type: 'ünïcode_type' }), policyWith(), NOW);
    scoreEvent(s, attack({ at: T0 + HOUR, event_id: 'x'.repeat(40), severity: 'LOW', attack_type: 'xss' }), policyWith(), NOW);
    expect(plain(decodeState(v3)!)).toEqual(plain(s));
    expect(decodeState(v3)!.activeAt).toBeNull();
    expect(Object.keys(decodeState(v3)!)).toEqual(Object.keys(emptyUserState()));
    expect(peekLast(v3)).toBe(T0 + HOUR);
    for (let n = 1; n < v3.length; n++) expect(decodeState(v3.subarray(0, n))).toBeUndefined();
    // Format 3 with a format-4 flag is not a state.
    const bad = Buffer.from(v3);
    bad[1] = bad[1]! | 4;
    expect(decodeState(bad)).toBeUndefined();
    // Re-encoded, it is format 5 and the same state.
    expect(encodeState(s)[0]).toBe(5);
    expect(plain(decodeState(encodeState(decodeState(v3)!))!)).toEqual(plain(s));
  });

  it('still reads format 2, which stores and changelogs written before format 3 hold', () => {
    // Written by the format-2 encoder (683b320 and earlier): a fractional point, a non-ASCII id and type, a hashed id key.
    const v2 = Buffer.from(
      'AgEAgP6X8kF5QgAAAAAAAB1AAAAAAAAAHUACAAIAAgAAwJfyQXlCAAAAAAAAGUABAID+l/JBeUIAAAAAAADwPwECB2V2LfCfmIAPIzFxdDB0Z2YwemN3MWcxAgdldi3wn5iADsO8bsOvY29kZV90eXBlBEhJR0gAAAAAAAAZQAAAwJfyQXlCAAAoeHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eAN4c3MDTE9XAAAAAAAA8D8AgP6X8kF5QgEA',
      'base64',
    );
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, event_id: 'ev-😀', severity: 'HIGH', points: 6.25, attack_type: 'ünïcode_type' }), policyWith(), NOW);
    scoreEvent(s, attack({ at: T0 + 1000, event_id: 'x'.repeat(40), severity: 'LOW', attack_type: 'xss' }), policyWith(), NOW);
    expect(plain(decodeState(v2)!)).toEqual(plain(s));
    expect(Object.keys(decodeState(v2)!)).toEqual(Object.keys(emptyUserState()));
    expect(peekLast(v2)).toBe(T0 + 1000);
    for (let n = 1; n < v2.length; n++) expect(decodeState(v2.subarray(0, n))).toBeUndefined();
    // Re-encoded, it is format 3 and the same state.
    expect(plain(decodeState(encodeState(decodeState(v2)!))!)).toEqual(plain(s));
  });

  it('falls back to absolute f64 times when a time is not an integer in [0, 2^52], and keeps -0, NaN and ±Infinity', () => {
    // Each its own candidates: encoding re-points a state's candidate arrays at the bytes it wrote.
    const base = (over: Partial<UserState> = {}, top: StoredContribution[] = [['a', 'xss', 'LOW', 3, T0, 0, 0]]): UserState =>
      withTop({ ...emptyUserState(), last: T0, score: 3, sum: 3, count: 1, et: [T0], ep: [3], ec: [1], ...over }, top);
    for (const s of [
      base({ et: [T0 - 0.5] }),
      base({}, [['a', 'xss', 'LOW', 3, -1, 0, 0]]),
      base({ last: 2 ** 52 + 2 }),
      base({ score: -0, sum: NaN, ep: [-Infinity] }),
      base({}, [['a', 'xss', 'LOW', 2 ** 52, T0, 0, 0]]),
      base({ activeAt: T0 + 0.5 }),
      base({ activeAt: T0 + 2 ** 52 }),
      base({ last: T0 - 0.5, activeAt: T0 }),
      base({ last: null, activeAt: T0 }),
    ]) {
      expect(plain(decodeState(encodeState(s))!)).toEqual(plain(s));
      expect(Object.is(decodeState(encodeState(s))!.score, s.score)).toBe(true);
    }
  });

  it('grows its scratch buffer for a state larger than 64 KiB (long non-ASCII ids, many contributions)', () => {
    const id = (i: number) => `${'日本語'.repeat(12)}-${i}`;
    const s: UserState = withTop(
      { ...emptyUserState(), last: T0, ids: Array.from({ length: 5_000 }, (_, i) => id(i)) },
      Array.from({ length: 100 }, (_, i) => [id(i), `type-${i}-ü`, 'SEVERE' as never, 0.5, T0 - i, i, 0]),
    );
    const b = encodeState(s);
    expect(b.length).toBeGreaterThan(500_000);
    expect(plain(decodeState(b)!)).toEqual(plain(s));
  });

  it('writes every byte whatever room its scratch buffer starts with (it grows mid-state)', () => {
    // CJK text takes the 3 bytes per UTF-16 unit a string's room is reckoned at: no slack to hide a
    // missing room check. Every starting room from the smallest to past the whole state.
    const policy = policyWith({ maxContributions: 5, maxRememberedEvents: 16 });
    const states: UserState[] = [];
    for (const [ids, types] of [
      [(i: number) => `事件${'日本語'.repeat(i % 5)}${i}`, (i: number) => `攻撃${i % 3}`],
      [() => randomUUID(), (i: number) => (i % 2 ? '跨站脚本' : 'sql_injection')],
      [(i: number) => `e${i}`, (i: number) => `${'型'.repeat(i % 7)}`],
    ] as const) {
      const s = emptyUserState();
      for (let i = 0; i < 12; i++) scoreEvent(s, attack({ at: T0 + i * MINUTE + (i % 2) * 0.5, event_id: ids(i), severity: SEVERITIES[i % 5], points: i % 3 ? null : 2.5, attack_type: types(i) }), policy, NOW);
      states.push(s, withTop(s, contributionsOf(s).map((c) => [c[0], c[1], '重大' as never, c[3], c[4], c[5], c[6]])));
    }
    try {
      for (const s of states) {
        resetScratch();
        const expected = encodeState(s);
        let wrong = 0;
        for (let room = 64; room <= expected.length + 64; room++) {
          resetScratch(room);
          if (!encodeState(s).equals(expected)) wrong++;
        }
        expect(wrong).toBe(0);
        expect(plain(decodeState(expected)!)).toEqual(plain(s));
      }
    } finally {
      resetScratch();
    }
  });

  it('writes each attack type of a state once, and severities outside the enum as text', () => {
    const s = emptyUserState();
    for (let i = 0; i < 10; i++) scoreEvent(s, attack({ at: T0 + i * MINUTE, event_id: `ev-${i}`, severity: 'MEDIUM', attack_type: i % 2 ? 'sql_injection' : 'path_traversal' }), policyWith(), NOW);
    const b = encodeState(s);
    expect(b.toString('latin1').split('sql_injection').length - 1).toBe(1);
    expect(b.toString('latin1').split('path_traversal').length - 1).toBe(1);
    const odd: UserState = withTop(s, [...contributionsOf(s), ['ev-x', 'sql_injection', 'SEVERE' as never, 1, T0, 10, 0]]);
    expect(plain(decodeState(encodeState(odd))!)).toEqual(plain(odd));
  });

  it('still reads the JSON values earlier versions wrote to LevelDB and the changelog', () => {
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, severity: 'HIGH' }), policyWith(), NOW);
    expect(plain(decodeState(legacyJson(s))!)).toEqual(plain(s));
    expect(decodeState(Buffer.from('{"not":"a state"}'))).toBeUndefined();
    expect(decodeState(legacyJson(s, { top: [['ev', 'xss', 'HIGH', 'six', T0, 0, 0]] }))).toBeUndefined();
    // Hashed id keys were '#…' strings then: they come back as the numbers eventIdKey now gives.
    expect(decodeState(legacyJson(s, { ids: ['#1vp6ohd00s1601', 'evt-1'] }))!.ids).toEqual([eventIdKey('0b7c6d6e-8f1a-4f55-9a52-3a7e1c1b2d3e'), 'evt-1']);
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
    // Format 3 fields out of range: unknown flags, delta mode without T, an attack type never defined, a severity index past the enum, a `num` tag that is odd but not 1.
    expect(decodeState(Buffer.from([3, 4, ...b.subarray(2)]))).toBeUndefined();
    expect(decodeState(Buffer.from([3, 2, ...b.subarray(2)]))).toBeUndefined();
    // A numeric id key that is not an integer below 2^53.
    const numeric = emptyUserState();
    scoreEvent(numeric, attack({ at: T0, event_id: randomUUID() }), policyWith(), NOW);
    const nb = encodeState(numeric);
    const key = Buffer.alloc(8);
    key.writeDoubleLE(numeric.ids[0] as number);
    const idAt = nb.indexOf(key);
    expect(nb[idAt - 1]).toBe(0); // uv 0: a numeric key follows
    for (const bad of [0.5, -1, 2 ** 53, NaN]) {
      const c = Buffer.from(nb);
      c.writeDoubleLE(bad, idAt);
      expect(decodeState(c)).toBeUndefined();
    }
    const typeAt = b.lastIndexOf('ev-1') + 4; // after the contribution's event id (the first 'ev-1' is the remembered id)
    expect(b[typeAt]).toBe(0); // the first contribution defines its type
    const withType = (k: number) => Buffer.from([...b.subarray(0, typeAt), k, ...b.subarray(typeAt + 2 + b[typeAt + 1]!)]);
    expect(decodeState(withType(2))).toBeUndefined();
    const sevAt = typeAt + 2 + b[typeAt + 1]!;
    expect(decodeState(Buffer.from([...b.subarray(0, sevAt), 5, ...b.subarray(sevAt + 1)]))).toBeUndefined();
    expect(decodeState(Buffer.from([...b.subarray(0, sevAt + 1), 3, ...b.subarray(sevAt + 2)]))).toBeUndefined();
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
