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

/** Backoff of `waitForBrokerForever`: 0.5 s doubling to 30 s. */
const FOREVER_BASE_MS = 500;
const FOREVER_MAX_MS = 30_000;

/**
 * Waits until the cluster answers an admin call, however long that takes (a long-running process
 * treats a missing Kafka as an outage, not a reason to exit): retries with backoff (0.5 s doubling to
 * 30 s), telling `onRetry` each failure (attempt counted from 1) so the caller can log it rate-limited.
 * Rejects only when `signal` aborts.
 */
export async function waitForBrokerForever(
  config: Pick<Config, 'kafka'>,
  opts: { onRetry?: (err: unknown, attempt: number, delayMs: number) => void; signal?: AbortSignal } = {},
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      await waitForBroker(config, Math.max(1000, config.kafka.connectionTimeoutMs));
      return;
    } catch (err) {
      const delay = Math.min(FOREVER_MAX_MS, FOREVER_BASE_MS * 2 ** Math.min(attempt - 1, 10));
      opts.onRetry?.(err, attempt, delay);
      opts.signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(timer);
          reject(opts.signal!.reason);
        };
        const timer = setTimeout(() => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve();
        }, delay);
        opts.signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}
