import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kafkajsPatched } from '../../src/kafka/patched.ts';

// patches/kafkajs+2.2.4.patch rewrites hot spots of kafkajs' producer encoding. The broker checks
// every batch it receives (so the integration tests exercise the patch end to end); these tests pin
// each rewritten function against the algorithm it replaced.

const require = createRequire(import.meta.url);
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number;
// What the record batch encoder calls: the native CRC32C of @node-rs/crc32 when installed.
const batchCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as ((b: Buffer) => number) & { native: boolean };
const Encoder = require('kafkajs/src/protocol/encoder.js') as {
  new (size?: number): { writeVarInt(v: number): unknown; writeVarLong(v: unknown): unknown; buffer: Buffer };
  sizeOfVarLong(v: unknown): number;
};
const group = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (a: {
  topic: string;
  partitionMetadata: unknown[];
  messages: Array<{ partition: number; i: number }>;
  partitioner: (a: { message: { partition: number } }) => number;
}) => Record<string, Array<{ i: number }>>;
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: object) => { buffer: Buffer };
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (a: object) => Promise<{ buffer: Buffer }> };
const createRequest = require('kafkajs/src/protocol/request.js') as (a: object) => Promise<{ buffer: Buffer; size(): number }>;
const RecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (d: unknown, ctx: object) => { offset: string; timestamp: string; key: Buffer; value: Buffer };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => unknown;
const ProduceV3 = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (a: object) => { encode(): Promise<{ buffer: Buffer; buffers(): Buffer[]; size(): number }> };

/** The byte-at-a-time CRC32C (Castagnoli, reflected 0x82F63B78) kafkajs shipped. */
function referenceCrc32C(buf: Buffer): number {
  let crc = ~0;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

/** Zig-zag varlong of an integer, as the protocol defines it (BigInt, no shortcuts). */
function referenceVarLong(v: bigint): Buffer {
  let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

describe('patched kafkajs', () => {
  it('is patched in this installation (npm postinstall ran)', () => {
    expect(kafkajsPatched()).toBe(true);
  });

  it('computes the standard CRC32C check value and agrees with the byte-at-a-time algorithm', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32C(Buffer.alloc(0))).toBe(0);
    for (let n = 0; n < 40; n++) {
      const b = randomBytes(n * 37);
      expect(crc32C(b)).toBe(referenceCrc32C(b));
      expect(crc32C(b.subarray(3))).toBe(referenceCrc32C(b.subarray(3)));
    }
  });

  it('checksums batches natively (@node-rs/crc32 is a dependency), with the same unsigned values', () => {
    expect(batchCrc32C.native).toBe(true);
    expect(batchCrc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(batchCrc32C(Buffer.alloc(0))).toBe(0);
    for (let n = 0; n < 40; n++) {
      const b = randomBytes(n * 101 + 1);
      expect(batchCrc32C(b)).toBe(referenceCrc32C(b));
      expect(batchCrc32C(b.subarray(1))).toBe(referenceCrc32C(b.subarray(1)));
    }
  });

  it('writes varlongs of safe integers exactly as the protocol encodes them, and sizes them alike', () => {
    const edge = [0, 1, -1, 63, -64, 64, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1_795_610_097_016];
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...edge), fc.maxSafeInteger(), fc.integer()), (v) => {
        const e = new Encoder();
        e.writeVarLong(v);
        const expected = referenceVarLong(BigInt(v));
        expect(e.buffer.equals(expected)).toBe(true);
        expect(Encoder.sizeOfVarLong(v)).toBe(expected.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes varints exactly as the protocol encodes them', () => {
    fc.assert(
      fc.property(fc.integer(), (v) => {
        const e = new Encoder();
        e.writeVarInt(v);
        expect(e.buffer.equals(referenceVarLong(BigInt(v)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('encodes a record with key, value, headers and a large timestamp delta byte for byte', () => {
    const r = Record({ key: 'shop/production/u1', value: Buffer.from([0, 0, 0, 0, 7, 1, 2]), headers: { a: 'x', b: ['1', '2'] }, offsetDelta: 300, timestampDelta: 2 ** 33 });
    const body = Buffer.concat([
      Buffer.from([0]), // attributes
      referenceVarLong(2n ** 33n),
      referenceVarLong(300n),
      referenceVarLong(18n), Buffer.from('shop/production/u1'),
      referenceVarLong(7n), Buffer.from([0, 0, 0, 0, 7, 1, 2]),
      referenceVarLong(3n),
      referenceVarLong(1n), Buffer.from('a'), referenceVarLong(1n), Buffer.from('x'),
      referenceVarLong(1n), Buffer.from('b'), referenceVarLong(1n), Buffer.from('1'),
      referenceVarLong(1n), Buffer.from('b'), referenceVarLong(1n), Buffer.from('2'),
    ]);
    expect(r.buffer.equals(Buffer.concat([referenceVarLong(BigInt(body.length)), body]))).toBe(true);
  });

  it('encodes tombstones and many records in a row (records share a slab) byte for byte', () => {
    const tomb = Record({ key: null, value: null, offsetDelta: 0, timestampDelta: 0 });
    const body = Buffer.concat([Buffer.from([0]), referenceVarLong(0n), referenceVarLong(0n), referenceVarLong(-1n), referenceVarLong(-1n), referenceVarLong(0n)]);
    expect(tomb.buffer.equals(Buffer.concat([referenceVarLong(BigInt(body.length)), body]))).toBe(true);
    // Enough records to go through several slabs; each keeps its own bytes.
    const records = Array.from({ length: 5000 }, (_, i) => ({ i, r: Record({ key: `k${i}`, value: Buffer.alloc(300 + (i % 7), i % 251), offsetDelta: i, timestampDelta: i * 3 }) }));
    for (const { i, r } of records) {
      const value = Buffer.alloc(300 + (i % 7), i % 251);
      const b = Buffer.concat([Buffer.from([0]), referenceVarLong(BigInt(i * 3)), referenceVarLong(BigInt(i)), referenceVarLong(BigInt(`k${i}`.length)), Buffer.from(`k${i}`), referenceVarLong(BigInt(value.length)), value, referenceVarLong(0n)]);
      expect(r.buffer.equals(Buffer.concat([referenceVarLong(BigInt(b.length)), b]))).toBe(true);
    }
  });

  it('lays out an uncompressed record batch as the protocol defines it, with the CRC over the body', async () => {
    const records = [0, 1, 2].map((i) => Record({ key: `k${i}`, value: Buffer.from(`v${i}`), offsetDelta: i, timestampDelta: i }));
    const b = (await RecordBatch({ records, firstTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_000_002, lastOffsetDelta: 2, transactional: true, producerEpoch: 3, firstSequence: 7 })).buffer;
    expect(b.readBigInt64BE(0)).toBe(0n); // first offset
    expect(b.readInt32BE(8)).toBe(b.length - 12); // batch length
    expect(b.readInt8(16)).toBe(2); // magic
    expect(b.readUInt32BE(17)).toBe(referenceCrc32C(b.subarray(21)));
    expect(b.readInt16BE(21)).toBe(16); // attributes: transactional, no compression
    expect(b.readInt32BE(23)).toBe(2); // last offset delta
    expect(b.readBigInt64BE(27)).toBe(1_700_000_000_000n);
    expect(b.readBigInt64BE(35)).toBe(1_700_000_000_002n);
    expect(b.readBigInt64BE(43)).toBe(-1n); // producer id
    expect(b.readInt16BE(51)).toBe(3);
    expect(b.readInt32BE(53)).toBe(7);
    expect(b.readInt32BE(57)).toBe(3); // record count
    expect(b.subarray(61).equals(Buffer.concat(records.map((r) => r.buffer)))).toBe(true);
  });

  it('frames a request as size, api key and version, correlation id, client id, payload', async () => {
    const payload = Buffer.from('payload-bytes');
    const r = (await createRequest({ correlationId: 42, clientId: 'risk-hub', request: { apiKey: 0, apiVersion: 7, encode: async () => ({ buf: payload, buffer: payload, size: () => payload.length }) } })).buffer;
    const expected = Buffer.concat([Buffer.from([0, 0, 0, 7, 0, 0, 0, 42, 0, 8]), Buffer.from('risk-hub'), payload]);
    expect(r.readInt32BE(0)).toBe(expected.length);
    expect(r.subarray(4).equals(expected)).toBe(true);
  });

  it('decodes record offsets and timestamps as the Long arithmetic did, for any base and delta', () => {
    const bigBase = fc.oneof(fc.constantFrom(0n, -1n, 2n ** 52n - 1n, 2n ** 52n, 2n ** 53n + 1n, 2n ** 62n), fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }), fc.bigInt({ min: 0n, max: 2n ** 45n }));
    const delta = fc.oneof(fc.constantFrom(0, 1, -1, 2 ** 48 - 1, -(2 ** 48), 2 ** 48, 2 ** 50, Number.MAX_SAFE_INTEGER), fc.integer(), fc.integer({ min: -100_000, max: 100_000 }));
    fc.assert(
      fc.property(bigBase, bigBase, delta, fc.integer({ min: 0, max: 2 ** 31 - 1 }), (firstOffset, firstTimestamp, timestampDelta, offsetDelta) => {
        // A record as the protocol lays it out (no length prefix: the batch decoder strips it).
        const body = Buffer.concat([Buffer.from([0]), referenceVarLong(BigInt(timestampDelta)), referenceVarLong(BigInt(offsetDelta)), referenceVarLong(1n), Buffer.from('k'), referenceVarLong(2n), Buffer.from('vv'), referenceVarLong(0n)]);
        const r = RecordDecoder(new Decoder(body), { firstOffset: firstOffset.toString(), firstTimestamp: firstTimestamp.toString(), magicByte: 2 });
        expect(r.offset).toBe(BigInt.asIntN(64, firstOffset + BigInt(offsetDelta)).toString());
        expect(r.timestamp).toBe(BigInt.asIntN(64, firstTimestamp + BigInt(timestampDelta)).toString());
        expect(r.key.toString()).toBe('k');
        expect(r.value.toString()).toBe('vv');
      }),
      { numRuns: 3000 },
    );
  });

  it('frames a produce request around its record batches without copying them', async () => {
    const messages = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(50, i), timestamp: 1_700_000_000_000 + i }));
    const topicData = [
      { topic: 'cl', partitions: [{ partition: 3, messages: messages(5), firstSequence: 0 }, { partition: 4, messages: messages(2), firstSequence: 9 }] },
      { topic: 'alerts', partitions: [{ partition: 0, messages: messages(1), firstSequence: 1 }] },
    ];
    const req = await ProduceV3({ acks: -1, timeout: 30_000, transactionalId: 'tx', producerId: 7, producerEpoch: 2, topicData }).encode();
    // The envelopes, by hand; each batch as RecordBatch encodes it alone (pinned above).
    const batch = async (msgs: ReturnType<typeof messages>, firstSequence: number) =>
      (
        await RecordBatch({
          records: msgs.map((m, i) => Record({ key: m.key, value: m.value, offsetDelta: i, timestampDelta: m.timestamp - msgs[0]!.timestamp })),
          firstTimestamp: msgs[0]!.timestamp,
          maxTimestamp: msgs.at(-1)!.timestamp,
          producerId: 7,
          producerEpoch: 2,
          firstSequence,
          transactional: true,
          lastOffsetDelta: msgs.length - 1,
        })
      ).buffer;
    const int16 = (v: number) => Buffer.from([(v >> 8) & 0xff, v & 0xff]);
    const int32 = (v: number) => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };
    const str = (v: string) => Buffer.concat([int16(v.length), Buffer.from(v)]);
    const part = async (p: number, msgs: ReturnType<typeof messages>, seq: number) => { const b = await batch(msgs, seq); return Buffer.concat([int32(p), int32(b.length), b]); };
    const expected = Buffer.concat([
      str('tx'), int16(-1), int32(30_000), int32(2),
      str('cl'), int32(2), await part(3, messages(5), 0), await part(4, messages(2), 9),
      str('alerts'), int32(1), await part(0, messages(1), 1),
    ]);
    expect(req.size()).toBe(expected.length);
    expect(Buffer.concat(req.buffers()).equals(expected)).toBe(true);
    expect(req.buffer.equals(expected)).toBe(true);
    // Envelopes and batches are separate buffers, joined only on the socket.
    expect(req.buffers().length).toBeGreaterThan(3);
    const framed = await createRequest({ correlationId: 5, clientId: 'c', request: { apiKey: 0, apiVersion: 3, encode: async () => req } });
    expect(framed.buffer.readInt32BE(0)).toBe(framed.size() - 4);
    expect(framed.buffer.subarray(framed.size() - expected.length).equals(expected)).toBe(true);
  });

  it('groups messages per partition in their original order', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ partition: (i * 7) % 5, i }));
    const out = group({ topic: 't', partitionMetadata: [{}], messages, partitioner: ({ message }) => message.partition });
    expect(Object.keys(out).sort()).toEqual(['0', '1', '2', '3', '4']);
    for (const [p, list] of Object.entries(out)) expect(list.map((m) => m.i)).toEqual(messages.filter((m) => String(m.partition) === p).map((m) => m.i));
  });
});
