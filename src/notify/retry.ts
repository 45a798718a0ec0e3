import type { RetryConfig } from '../config/notify.ts';
import { DeliveryError } from '../errors.ts';
import type { SendResult } from './types.ts';

// Failure classification (transient vs permanent) and the bounded retry loop shared by every channel.
//
//  transient : timeouts, connection refused/reset, DNS hiccups, HTTP 408/425/429/5xx, SMTP 4xx
//  permanent : other HTTP 4xx (410 Gone included), redirects (never followed), refused egress,
//              SMTP 5xx
//
// Backoff: exponential with full jitter, delay_n = random(0, min(maxDelayMs, initialDelayMs·2^(n-1))),
// or exactly Retry-After when the peer sent one. Bounded by maxAttempts AND budgetMs: no attempt starts
// after the budget, no attempt runs past it, and a wait that would end past it ends the loop at once.

// -- classification ----------------------------------------------------------------------------

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`; undefined when absent or invalid. */
export function parseRetryAfter(value: string | string[] | null | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === null) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  if (/^\d+\.\d+$/.test(s)) return Math.ceil(Number(s) * 1000);
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** A DeliveryError for a non-2xx HTTP answer. */
export function httpError(status: number, opts: { retryAfter?: string | string[] | null | undefined; body?: string; now?: number } = {}): DeliveryError {
  const detail = opts.body ? `: ${opts.body.replace(/\s+/g, ' ').slice(0, 200)}` : '';
  const code = `http_${status}`;
  if (status >= 300 && status < 400) return new DeliveryError(code, `answered ${status} (a redirect); redirects are never followed`, { retriable: false });
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(opts.retryAfter, opts.now);
    return new DeliveryError(code, `rate limited (429${retryAfterMs !== undefined ? `, Retry-After ${Math.ceil(retryAfterMs / 1000)} s` : ''})${detail}`, {
      retriable: true,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }
  if (status === 408 || status === 425) return new DeliveryError(code, `answered ${status}${detail}`, { retriable: true });
  if (status === 410) return new DeliveryError(code, `answered 410 Gone: the endpoint no longer exists${detail}`, { retriable: false });
  if (status >= 500) {
    const retryAfterMs = status === 503 ? parseRetryAfter(opts.retryAfter, opts.now) : undefined;
    return new DeliveryError(code, `answered ${status}${detail}`, { retriable: true, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }
  return new DeliveryError(code, `answered ${status}${detail}`, { retriable: false });
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_ABORTED',
  // nodemailer
  'ECONNECTION', 'ESOCKET', 'EDNS', 'EPROTOCOL',
]);

/** Anything thrown by a transport, as a DeliveryError (timeouts and connection faults are transient). */
export function toDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  // fetch wraps the real reason: TypeError('fetch failed', { cause }) — look down the chain.
  for (let c = (err as { cause?: unknown } | null)?.cause, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    if (c instanceof DeliveryError) return c;
  }
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; cause?: unknown };
  const cause = (e.cause ?? {}) as { code?: string; name?: string; message?: string };
  const code = e.code ?? cause.code;
  const msg = e.message ?? String(err);
  if (e.name === 'TimeoutError' || cause.name === 'TimeoutError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT')
    return new DeliveryError('timeout', `timed out (${msg})`, { retriable: true, cause: err });
  if (e.name === 'AbortError') return new DeliveryError('timeout', `aborted (${msg})`, { retriable: true, cause: err });
  if (code && TRANSIENT_CODES.has(code)) return new DeliveryError('connection_error', `${code}: ${cause.message && cause.message !== msg ? `${msg} (${cause.message})` : msg}`, { retriable: true, cause: err });
  return new DeliveryError('error', msg, { retriable: false, cause: err });
}

/** nodemailer errors: SMTP 4xx transient, 5xx permanent; connection faults transient. */
export function smtpError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = (err ?? {}) as { code?: string; responseCode?: number; response?: string; message?: string; command?: string };
  const rc = e.responseCode;
  const text = (e.response ?? e.message ?? String(err)).replace(/\s+/g, ' ').slice(0, 300);
  if (typeof rc === 'number' && rc >= 400 && rc < 500) return new DeliveryError(`smtp_${rc}`, `SMTP ${rc}${e.command ? ` after ${e.command}` : ''}: ${text}`, { retriable: true, cause: err });
  if (typeof rc === 'number' && rc >= 500) return new DeliveryError(`smtp_${rc}`, `SMTP ${rc}${e.command ? ` after ${e.command}` : ''}: ${text}`, { retriable: false, cause: err });
  if (e.code === 'ETIMEDOUT') return new DeliveryError('timeout', `SMTP timed out: ${text}`, { retriable: true, cause: err });
  if (e.code && TRANSIENT_CODES.has(e.code)) return new DeliveryError('connection_error', `SMTP ${e.code}: ${text}`, { retriable: true, cause: err });
  if (e.code === 'ETLS') return new DeliveryError('tls_error', `SMTP TLS failed: ${text}`, { retriable: true, cause: err });
  return toDeliveryError(err);
}

// -- the retry loop ----------------------------------------------------------------------------

/** Upper bound of the n-th backoff (n ≥ 1). */
export function backoffCap(policy: Pick<RetryConfig, 'initialDelayMs' | 'maxDelayMs'>, n: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(n - 1, 30));
}

/** Full jitter: uniform in [0, cap]. */
export function backoffDelay(policy: Pick<RetryConfig, 'initialDelayMs' | 'maxDelayMs'>, n: number, random: () => number = Math.random): number {
  return Math.floor(random() * (backoffCap(policy, n) + 1));
}

export interface AttemptInfo {
  attempt: number;
  ok: boolean;
  /** "http_200", "smtp_451", "timeout", … */
  status: string;
  latencyMs: number;
  error?: string;
  retriable?: boolean;
  /** Set when another attempt follows, after this wait. */
  nextDelayMs?: number;
  /** Set on the last attempt of a failed delivery. */
  final?: 'permanent' | 'exhausted';
}

export interface RetryOutcome {
  delivered: boolean;
  attempts: number;
  result?: SendResult;
  error?: DeliveryError;
  reason?: 'permanent' | 'exhausted';
  elapsedMs: number;
}

export interface RetryOptions {
  policy: RetryConfig;
  /** Per-attempt timeout (ms), capped by the remaining budget. */
  timeoutMs: number;
  /** Shutdown: interrupts a backoff wait; an attempt in flight finishes (within its timeout) and a success is recorded. Otherwise the loop then throws ShutdownError. */
  signal?: AbortSignal;
  /** Awaited after every attempt (the ledger write). */
  onAttempt?: (info: AttemptInfo) => Promise<void> | void;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** Thrown when the loop stops because of shutdown, not because of the peer. Nothing is recorded. */
export class ShutdownError extends Error {
  constructor() {
    super('delivery interrupted by shutdown');
    this.name = 'ShutdownError';
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ShutdownError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ShutdownError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `attemptFn` until it succeeds, fails permanently, or attempts / budget run out. */
export async function deliverWithRetry(
  attemptFn: (attempt: number, timeoutMs: number, signal: AbortSignal) => Promise<SendResult>,
  opts: RetryOptions,
): Promise<RetryOutcome> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? abortableSleep;
  const { policy } = opts;
  const start = now();
  let last: DeliveryError | undefined;
  let made = 0;
  for (let attempt = 1; attempt <= policy.maxAttempts; attempt++) {
    if (opts.signal?.aborted) throw new ShutdownError();
    const remaining = policy.budgetMs - (now() - start);
    if (remaining <= 0) break;
    const timeoutMs = Math.max(1, Math.min(opts.timeoutMs, remaining));
    // One controller and one timer per attempt (AbortSignal.timeout + AbortSignal.any cost several times
    // more per delivery in Node 20). Shutdown does NOT abort an attempt in flight: the peer may already
    // have accepted it, and a lane has up to maxInFlight of them — cutting them would send each again
    // after the restart. It finishes within its timeout and is recorded; only then does the loop stop.
    const attemptCtl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      attemptCtl.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    const t0 = now();
    made = attempt;
    let result: SendResult | undefined;
    let err: DeliveryError | undefined;
    try {
      result = await withHardTimeout(attemptFn(attempt, timeoutMs, attemptCtl.signal), timeoutMs + 250);
    } catch (e) {
      if (opts.signal?.aborted) throw new ShutdownError();
      err = timedOut && !(e instanceof DeliveryError && e.status !== 'timeout') ? new DeliveryError('timeout', `no answer within ${timeoutMs} ms`, { retriable: true, cause: e }) : toDeliveryError(e);
    } finally {
      clearTimeout(timer);
    }
    const latencyMs = now() - t0;
    if (result) {
      await opts.onAttempt?.({ attempt, ok: true, status: result.status, latencyMs });
      return { delivered: true, attempts: attempt, result, elapsedMs: now() - start };
    }
    last = err as DeliveryError;
    const info: AttemptInfo = { attempt, ok: false, status: last.status, latencyMs, error: last.message, retriable: last.retriable };
    if (!last.retriable) {
      await opts.onAttempt?.({ ...info, final: 'permanent' });
      return { delivered: false, attempts: attempt, error: last, reason: 'permanent', elapsedMs: now() - start };
    }
    const delay = last.retryAfterMs ?? backoffDelay(policy, attempt, opts.random);
    const elapsed = now() - start;
    if (attempt >= policy.maxAttempts || elapsed + delay >= policy.budgetMs) {
      await opts.onAttempt?.({ ...info, final: 'exhausted' });
      return { delivered: false, attempts: attempt, error: last, reason: 'exhausted', elapsedMs: now() - start };
    }
    await opts.onAttempt?.({ ...info, nextDelayMs: delay });
    await sleep(delay, opts.signal);
  }
  // Only reached when the budget ran out between attempts.
  return { delivered: false, attempts: made, error: last ?? new DeliveryError('exhausted', 'retry budget exhausted', { retriable: true }), reason: 'exhausted', elapsedMs: now() - start };
}

/** Guards against a transport that ignores its AbortSignal. */
function withHardTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeliveryError('timeout', `no answer within ${ms} ms`, { retriable: true })), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
