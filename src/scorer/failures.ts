import { isRetriable, RiskHubError } from '../errors.ts';

// How the batch loop treats a failed batch, by what failed:
//   outage         the broker or the schema registry is unreachable or timing out: pause and retry the
//                  same batch with backoff, staying in the group; never dead-letter, never give up;
//   deterministic  the same records fail the same way every time (a record over the broker's size
//                  limit, a transaction rejected with MESSAGE_TOO_LARGE / INVALID_RECORD …): retried a
//                  bounded number of times, then the batch is split until the offending record is
//                  alone, and that record is dead-lettered with the reason;
//   task           anything else (fenced, a failed or ambiguous commit, an unexpected error): the task
//                  is closed and reopened (fence + restore) before the batch is retried.

export type FailureKind = 'outage' | 'deterministic' | 'task';

/** Broker error types that the same records will meet again on every attempt. */
const DETERMINISTIC_TYPES = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP', 'POLICY_VIOLATION']);

/** A record the scorer built is too large for the broker: found before sending (nothing was sent). */
export class RecordTooLargeError extends RiskHubError {
  readonly reason = 'record-too-large';
  constructor(message: string) {
    super('RH_RECORD_TOO_LARGE', message);
    this.name = 'RecordTooLargeError';
  }
}

export function classifyFailure(err: unknown): FailureKind {
  for (const e of causes(err)) {
    if (e instanceof RecordTooLargeError) return 'deterministic';
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && DETERMINISTIC_TYPES.has(type)) return 'deterministic';
  }
  // Our own retriable errors (the registry unreachable or timing out, the broker wait) come before
  // anything was sent: the task is intact. A kafkajs error, retriable or not, may have left the
  // transaction in doubt, so the task is reopened, which settles it.
  if (isRetriable(err) && !isKafkaJsError(err)) return 'outage';
  return 'task';
}

/** Whether an error is passing trouble (an outage, a timeout, a coordinator moving): logged as one warn line. */
export function isTransient(err: unknown): boolean {
  for (const e of causes(err)) {
    if (isRetriable(e)) return true;
    const name = (e as { name?: unknown }).name;
    if (name === 'KafkaJSConnectionError' || name === 'KafkaJSRequestTimeoutError' || name === 'KafkaJSNumberOfRetriesExceeded') return true;
  }
  return false;
}

function isKafkaJsError(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name.startsWith('KafkaJS');
}

/** The reason a dead letter gives for a deterministic failure. */
export function failureReason(err: unknown): string {
  for (const e of causes(err)) {
    if (e instanceof RecordTooLargeError) return e.reason;
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && DETERMINISTIC_TYPES.has(type)) return `rejected-${type.toLowerCase().replaceAll('_', '-')}`;
  }
  return 'rejected';
}

/** `err` and what it wraps (`cause`, kafkajs' `originalError`), at most a few levels deep. */
export function* causes(err: unknown): Generator<unknown> {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    yield e;
    const o = e as { cause?: unknown; originalError?: unknown };
    e = o.originalError ?? o.cause;
  }
}
