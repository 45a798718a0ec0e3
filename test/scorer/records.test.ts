import { describe, expect, it } from 'vitest';
import { DLQ_HEADERS } from '../../src/kafka/names.ts';
import { alertRecord, changelogRecords, changelogTombstones, DEAD_LETTER_MAX_BYTES, DEAD_LETTER_REFERENCE_BYTES, deadLetterRecord, messageBytes } from '../../src/scorer/records.ts';
import { emptyUserState, scoreEvent } from '../../src/scoring/index.ts';
import { decodeState } from '../../src/state/codec.ts';
import { attack, NOW, policyWith, T0 } from '../scoring/fixtures.ts';

const origin = { topic: 'attacks', partition: 3 };

describe('record builders', () => {
  it('changelog records carry each changed state on the input partition; tombstones have no value', () => {
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, severity: 'HIGH' }), policyWith(), NOW);
    const [r] = changelogRecords(new Map([['a/p/u', s]]), 3);
    expect(r).toMatchObject({ key: 'a/p/u', partition: 3 });
    expect(decodeState(r!.value!)).toEqual(s);
    expect(changelogTombstones(['x'], 2)).toEqual([{ key: 'x', value: null, partition: 2 }]);
  });

  it('an alert is keyed application/environment/user on the input partition', () => {
    const r = alertRecord({ application_id: 'a', environment: 'e', user: { key: 'u' } } as never, Buffer.from('v'), 1);
    expect(r).toEqual({ key: 'a/e/u', value: Buffer.from('v'), partition: 1 });
  });

  it('a small dead letter keeps the whole original, its headers, and says why and where from', () => {
    const r = deadLetterRecord(
      { key: Buffer.from('k'), value: Buffer.from([1, 2, 3]), headers: { trace: Buffer.from('t') }, timestamp: '5' },
      { offset: '42', reason: 'no-magic-byte', message: 'first byte is 1', schemaId: 7 },
      origin,
    );
    expect(r.value).toEqual(Buffer.from([1, 2, 3]));
    expect(r.headers).toMatchObject({
      trace: Buffer.from('t'),
      [DLQ_HEADERS.reason]: 'no-magic-byte',
      [DLQ_HEADERS.originalTopic]: 'attacks',
      [DLQ_HEADERS.originalPartition]: '3',
      [DLQ_HEADERS.originalOffset]: '42',
      [DLQ_HEADERS.originalTimestamp]: '5',
      [DLQ_HEADERS.schemaId]: '7',
    });
    expect(r.headers![DLQ_HEADERS.truncated]).toBeUndefined();
  });

  it('a ~1 MB garbage value (and key and headers) gives a dead letter under the limit that says it is truncated and how large the original was', () => {
    const big = Buffer.alloc(1_000_000, 0x41);
    const r = deadLetterRecord(
      { key: Buffer.alloc(300_000, 0x6b), value: big, headers: { h: Buffer.alloc(200_000) } },
      { offset: '9', reason: 'no-magic-byte', message: 'x'.repeat(100_000) },
      origin,
    );
    expect(messageBytes(r)).toBeLessThan(DEAD_LETTER_MAX_BYTES);
    expect(r.headers).toMatchObject({
      [DLQ_HEADERS.truncated]: 'true',
      [DLQ_HEADERS.originalValueBytes]: '1000000',
      [DLQ_HEADERS.originalKeyBytes]: '300000',
      [DLQ_HEADERS.originalOffset]: '9',
    });
    expect(r.headers!.h).toBeUndefined();
    expect(r.value!.subarray(0, 4)).toEqual(big.subarray(0, 4));
  });

  it('always fits, whatever the sizes', () => {
    for (const max of [DEAD_LETTER_MAX_BYTES, DEAD_LETTER_REFERENCE_BYTES]) {
      for (const n of [0, 1, 1000, max - 300, max, 5_000_000]) {
        const headers = { h: Buffer.alloc(n % 15_000) };
        const r = deadLetterRecord({ key: Buffer.alloc(n % 7919), value: Buffer.alloc(n), headers }, { offset: '1', reason: 'r', message: 'm'.repeat(n % 3000) }, origin, max);
        expect(messageBytes(r)).toBeLessThanOrEqual(max);
      }
    }
  });
});
