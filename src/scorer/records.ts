import type { Decision, RiskAlert } from '../contracts.ts';
import { userKeyOf } from '../identity.ts';
import type { OutMessage } from '../kafka/chunk.ts';
import { DLQ_HEADERS } from '../kafka/names.ts';
import type { UserState } from '../scoring/index.ts';
import { encodeState } from '../state/codec.ts';

// Pure builders of the records one transaction carries: changelog states and tombstones, alerts, and
// dead letters. No Kafka client, no I/O: the partition task hands their output to its producer port.

/**
 * Bytes (key + value + headers) a dead letter may take: well below the broker's default
 * message.max.bytes (1 MiB), so a dead letter is never itself rejected, whatever the original's size.
 */
export const DEAD_LETTER_MAX_BYTES = 256 * 1024;
/** A dead letter's size when even a full-size one was rejected: a reference (headers, 1 KiB prefixes). */
export const DEAD_LETTER_REFERENCE_BYTES = 8 * 1024;
/** Bytes of a too-large original value kept in its dead letter (enough to see its frame and schema id). */
export const DEAD_LETTER_VALUE_PREFIX_BYTES = 1024;
/** Bytes of a too-large original key kept in its dead letter. */
const DEAD_LETTER_KEY_MAX_BYTES = 1024;
/** Bytes of the original's headers kept; beyond that they are dropped (and the dead letter says so). */
const DEAD_LETTER_ORIGINAL_HEADERS_MAX_BYTES = 16 * 1024;
/** Characters of an error message in a header. */
const ERROR_MESSAGE_MAX_CHARS = 1000;

/** A user's changed state on partition `partition` of the changelog. */
export function changelogRecords(dirty: Map<string, UserState>, partition: number): OutMessage[] {
  const out: OutMessage[] = [];
  // forEach, not a spread of the Map: no [key, state] array per changed user, on the hot path.
  dirty.forEach((s, key) => out.push({ key, value: encodeState(s), partition }));
  return out;
}

/** Deletions of forgotten users on the changelog (compaction removes them). */
export function changelogTombstones(keys: string[], partition: number): OutMessage[] {
  return keys.map((key) => ({ key, value: null, partition }));
}

/** An alert on partition `partition` of `risk-alerts`, keyed like the attacks that raised it. */
export function alertRecord(alert: RiskAlert, value: Buffer, partition: number): OutMessage {
  return { key: `${alert.application_id}/${alert.environment}/${alert.user.key}`, value, partition };
}

/** A decision on partition `partition` of the decisions topic, keyed like the user (its latest record is their decision). */
export function decisionRecord(d: Decision, value: Buffer, partition: number): OutMessage {
  return { key: userKeyOf(d.application_id, d.environment, d.user.key), value, partition };
}

/** The end of users' decision records (compaction then removes them: the topic holds active decisions). */
export function decisionTombstones(keys: string[], partition: number): OutMessage[] {
  return keys.map((key) => ({ key, value: null, partition }));
}

/** The input record a dead letter is made of (as the consumer read it). */
export interface OriginalRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined;
  timestamp?: string | undefined;
}

export interface DeadLetterReason {
  offset: string;
  reason: string;
  message: string;
  schemaId?: number | undefined;
}

/**
 * The dead letter of `original` (read at `topic`/`partition`/`d.offset`): the original key, value and
 * headers plus `x-risk-hub-*` headers saying why and where from. It always fits in `maxBytes`: a
 * larger original keeps only a prefix of its key and value, loses its own headers, and says so
 * (`x-risk-hub-dlq-truncated: true` and the original sizes); the whole record stays on the input topic
 * at the offset the headers give, for its retention.
 */
export function deadLetterRecord(original: OriginalRecord, d: DeadLetterReason, origin: { topic: string; partition: number }, maxBytes = DEAD_LETTER_MAX_BYTES): OutMessage {
  const ours: Record<string, string> = {
    [DLQ_HEADERS.reason]: d.reason,
    [DLQ_HEADERS.message]: d.message.slice(0, ERROR_MESSAGE_MAX_CHARS),
    [DLQ_HEADERS.originalTopic]: origin.topic,
    [DLQ_HEADERS.originalPartition]: String(origin.partition),
    [DLQ_HEADERS.originalOffset]: d.offset,
    [DLQ_HEADERS.originalTimestamp]: original.timestamp ?? '',
    ...(d.schemaId !== undefined ? { [DLQ_HEADERS.schemaId]: String(d.schemaId) } : {}),
  };
  const key = original.key;
  const value = original.value;
  const theirs = copyHeaders(original.headers);
  const whole = sizeOf(key) + sizeOf(value) + headersSize(ours) + headersSize(theirs) + 256;
  if (whole <= maxBytes) return { key, value, headers: { ...theirs, ...ours } };
  return {
    key: key && key.length > DEAD_LETTER_KEY_MAX_BYTES ? key.subarray(0, DEAD_LETTER_KEY_MAX_BYTES) : key,
    value: value && value.length > DEAD_LETTER_VALUE_PREFIX_BYTES ? value.subarray(0, DEAD_LETTER_VALUE_PREFIX_BYTES) : value,
    headers: {
      ...(headersSize(theirs) <= Math.min(DEAD_LETTER_ORIGINAL_HEADERS_MAX_BYTES, Math.floor(maxBytes / 4)) ? theirs : {}),
      ...ours,
      [DLQ_HEADERS.truncated]: 'true',
      [DLQ_HEADERS.originalKeyBytes]: String(sizeOf(key)),
      [DLQ_HEADERS.originalValueBytes]: String(sizeOf(value)),
    },
  };
}

/** Bytes of a message's key, value and headers (what counts against the broker's limit, less framing). */
export function messageBytes(msg: OutMessage): number {
  return sizeOf(msg.key) + sizeOf(msg.value) + (msg.headers ? headersSize(msg.headers) : 0);
}

function copyHeaders(h: OriginalRecord['headers']): Record<string, string | Buffer> {
  const out: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    if (v === undefined) continue;
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined) out[k] = one;
  }
  return out;
}

function sizeOf(v: string | Buffer | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'string' ? Buffer.byteLength(v) : v.length;
}

function headersSize(h: Record<string, string | Buffer | undefined>): number {
  let n = 0;
  for (const k in h) n += Buffer.byteLength(k) + sizeOf(h[k]) + 8;
  return n;
}
