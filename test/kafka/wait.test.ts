import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { waitForBrokerForever } from '../../src/kafka/wait.ts';
import { freePort as closedPort } from '../ports.ts';

// Waiting for a Kafka that is not there: a long-running process retries with backoff, reports every
// failure to its caller (which rate-limits the log line), and only an abort ends the wait.

describe('waitForBrokerForever', () => {
  it('keeps retrying past kafka.connectWaitMs with growing delays, and ends only when aborted', async () => {
    const config = ConfigSchema.parse({ kafka: { brokers: [`127.0.0.1:${await closedPort()}`], connectWaitMs: 500, connectionTimeoutMs: 500 } });
    const delays: number[] = [];
    const ac = new AbortController();
    const waiting = waitForBrokerForever(config, {
      signal: ac.signal,
      onRetry: (_err, attempt, delayMs) => {
        delays.push(delayMs);
        if (attempt === 3) ac.abort(new Error('stopping'));
      },
    });
    await expect(waiting).rejects.toThrow('stopping');
    // 0.5 s doubling, each with ±20 % jitter (so that many waiting pods do not retry in step)
    expect(delays).toHaveLength(3);
    [500, 1000, 2000].forEach((base, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(base * 0.8);
      expect(delays[i]).toBeLessThanOrEqual(base * 1.2);
    });
  });
});
