import { ConnectionError } from '../errors.ts';
import type { Config } from '../config/schema.ts';
import { createKafka } from './client.ts';

/**
 * Waits until the cluster answers an admin call (describeCluster), not merely until a port opens.
 * Gives up after `timeoutMs` with an error naming the brokers and what to do.
 */
export async function waitForBroker(config: Pick<Config, 'kafka'>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const admin = createKafka(config, { clientId: 'risk-hub-wait', retries: 0, quiet: true }).admin();
    try {
      await withTimeout(admin.connect(), Math.max(500, deadline - Date.now()));
      await withTimeout(admin.describeCluster(), Math.max(500, deadline - Date.now()));
      return;
    } catch (err) {
      last = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new ConnectionError(
    `Kafka at ${config.kafka.brokers.join(',')} did not answer within ${Math.round(timeoutMs / 1000)} s (${(last as Error | undefined)?.message ?? 'no answer'}). ` +
      'Start it (risk-hub local up) or set KAFKA_BROKERS to a reachable cluster.',
    { cause: last },
  );
}

export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ConnectionError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** First and largest pause (ms) between two attempts of waitForBrokerForever (doubling, ±20 % jitter). */
const FOREVER_FIRST_DELAY_MS = 500;
const FOREVER_MAX_DELAY_MS = 30_000;

/**
 * Waits, for as long as it takes, until the cluster answers an admin call (describeCluster): a missing
 * Kafka at start is an outage to wait out, not a reason to exit (an exiting pod crash-loops, and its
 * restarts back off far longer than this). Each attempt is bounded (connection and request timeouts);
 * between attempts the pause doubles from 0.5 s to 30 s with jitter. `onRetry` hears of every failed
 * attempt (callers log the reason, at most once per interval, and report not-ready meanwhile).
 * Resolves once the cluster answers; rejects with `signal.reason` when `signal` aborts (shutdown).
 */
export async function waitForBrokerForever(
  config: Pick<Config, 'kafka'>,
  opts: { onRetry?: (err: unknown, attempt: number, delayMs: number) => void; signal?: AbortSignal },
): Promise<void> {
  const { signal } = opts;
  const attemptMs = Math.max(1000, config.kafka.connectionTimeoutMs) + Math.max(1000, Math.min(config.kafka.requestTimeoutMs, 10_000));
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    const admin = createKafka(config, { clientId: 'risk-hub-wait', retries: 0, quiet: true }).admin();
    let failure: unknown;
    try {
      await untilAborted(withTimeout(admin.connect(), attemptMs, 'connecting to Kafka'), signal);
      await untilAborted(withTimeout(admin.describeCluster(), attemptMs, 'describing the Kafka cluster'), signal);
      return;
    } catch (err) {
      failure = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    signal?.throwIfAborted();
    const base = Math.min(FOREVER_MAX_DELAY_MS, FOREVER_FIRST_DELAY_MS * 2 ** Math.min(attempt - 1, 16));
    const delayMs = Math.round(base * (0.8 + Math.random() * 0.4));
    opts.onRetry?.(failure, attempt, delayMs);
    signal?.throwIfAborted(); // onRetry may have aborted (a shutdown heard meanwhile): no pause then
    await delayUnlessAborted(delayMs, signal);
  }
}

/** Resolves after `ms`, or rejects with `signal.reason` as soon as `signal` aborts. */
export function delayUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `p`, or a rejection with `signal.reason` as soon as `signal` aborts (shutdown does not wait for an attempt). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}
