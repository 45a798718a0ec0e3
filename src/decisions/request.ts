// A person's decision request on the decision-requests topic (contracts.ts `DecisionRequest`): JSON,
// keyed like the user. Anyone who can write the topic controls these bytes, so the scorer parses them
// strictly and bounds every field; a request that fails is dead-lettered and decides nothing.

import { z } from 'zod';
import type { DecisionRequest } from '../contracts.ts';
import { identityProblem, userKeyOf, utf8Length } from '../identity.ts';
import { MAX_DECISION_MS, MIN_DECISION_MS } from './duration.ts';

/** Most bytes of a request's value (its fields below are far smaller). */
export const MAX_REQUEST_BYTES = 4096;
/** Most UTF-8 bytes of a request's reason and of its author's name. */
export const MAX_REASON_BYTES = 512;
export const MAX_AUTHOR_BYTES = 128;

const bytes = (max: number) => z.string().min(1).refine((s) => utf8Length(s) <= max, `longer than ${max} UTF-8 bytes`);

const RequestSchema = z
  .strictObject({
    v: z.literal(1),
    request_id: z.string().regex(/^[A-Za-z0-9-]{8,64}$/, 'expected 8 to 64 letters, digits or dashes (a UUID)'),
    op: z.enum(['add', 'remove']),
    application_id: z.string(),
    environment: z.string(),
    user_key: z.string(),
    action: z.enum(['MONITOR', 'CHALLENGE', 'BLOCK']).optional(),
    duration_ms: z.number().int().min(MIN_DECISION_MS).max(MAX_DECISION_MS).optional(),
    reason: bytes(MAX_REASON_BYTES),
    made_by: bytes(MAX_AUTHOR_BYTES),
    // Within a day of the epoch's 2^43 ms (year 2248): a plausible wall-clock time in ms.
    requested_at: z.number().int().min(0).max(2 ** 43),
  })
  .superRefine((r, ctx) => {
    const identity = identityProblem(r.application_id, r.environment, r.user_key);
    if (identity !== undefined) ctx.addIssue({ code: 'custom', message: identity });
    if (r.op === 'add' && (r.action === undefined || r.duration_ms === undefined)) ctx.addIssue({ code: 'custom', message: 'an add needs action and duration_ms' });
    if (r.op === 'remove' && (r.action !== undefined || r.duration_ms !== undefined)) ctx.addIssue({ code: 'custom', message: 'a remove takes no action or duration_ms' });
  });

export type ParsedRequest = { ok: true; request: DecisionRequest } | { ok: false; reason: string; message: string };

/**
 * The request in `value`, checked against `recordKey` (the key chose the partition, hence the scorer
 * task that owns the user: a request keyed for another user must not act on this one).
 */
export function parseRequest(recordKey: string | null, value: Buffer | null): ParsedRequest {
  if (!value) return { ok: false, reason: 'undecodable', message: 'no value' };
  if (value.length > MAX_REQUEST_BYTES) return { ok: false, reason: 'too-large', message: `${value.length} bytes, over the ${MAX_REQUEST_BYTES}-byte limit` };
  let json: unknown;
  try {
    json = JSON.parse(value.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'undecodable', message: `not JSON: ${(err as Error).message}` };
  }
  const parsed = RequestSchema.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: 'invalid-request', message: parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ').slice(0, 1000) };
  }
  const r = parsed.data as DecisionRequest;
  const key = userKeyOf(r.application_id, r.environment, r.user_key);
  if (recordKey !== key) return { ok: false, reason: 'key-mismatch', message: `the record key is not the request's user key ${JSON.stringify(key.slice(0, 200))}` };
  return { ok: true, request: r };
}

/** The record of a request: its key (the user's) and JSON value. */
export function requestRecord(r: DecisionRequest): { key: string; value: Buffer } {
  return { key: userKeyOf(r.application_id, r.environment, r.user_key), value: Buffer.from(JSON.stringify(r), 'utf8') };
}
