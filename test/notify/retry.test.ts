import { getEventListeners } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../src/errors.ts';
import { backoffCap, backoffDelay, deliverWithRetry, httpError, parseRetryAfter, ShutdownError, smtpError, toDeliveryError, type AttemptInfo } from '../../src/notify/retry.ts';

const policy = { maxAttempts: 6, initialDelayMs: 500, maxDelayMs: 30_000, budgetMs: 120_000 };

/** A virtual clock: sleeps advance it instead of waiting. */
function fakeTime() {
  let t = 1_000_000;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    advance: (ms: number) => (t += ms),
    sleeps,
  };
}

describe('classification', () => {
  it.each([
    [500, true],
    [502, true],
    [503, true],
    [429, true],
    [408, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [410, false],
    [301, false],
    [302, false],
  ])('HTTP %i retriable=%s', (status, retriable) => {
    const e = httpError(status);
    expect(e.retriable).toBe(retriable);
    expect(e.status).toBe(`http_${status}`);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.UTC(2025, 0, 1, 0, 0, 0);
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(new Date(now + 7000).toUTCString(), now)).toBe(7000);
    expect(parseRetryAfter(new Date(now - 7000).toUTCString(), now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(httpError(429, { retryAfter: '2' }).retryAfterMs).toBe(2000);
  });

  it('SMTP 4xx is transient, 5xx permanent, connection faults transient', () => {
    expect(smtpError({ responseCode: 451, response: '451 try later' })).toMatchObject({ retriable: true, status: 'smtp_451' });
    expect(smtpError({ responseCode: 550, response: '550 no such user' })).toMatchObject({ retriable: false, status: 'smtp_550' });
    expect(smtpError({ code: 'ECONNECTION', message: 'connect ECONNREFUSED' })).toMatchObject({ retriable: true });
    expect(smtpError({ code: 'ETIMEDOUT', message: 'Timeout' })).toMatchObject({ retriable: true, status: 'timeout' });
  });

  it('network errors are transient and the reason is found under fetch\'s TypeError', () => {
    expect(toDeliveryError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toMatchObject({ retriable: true, status: 'connection_error' });
    expect(toDeliveryError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }))).toMatchObject({ retriable: true, status: 'timeout' });
    const refused = new DeliveryError('egress_refused', 'no', { retriable: false });
    expect(toDeliveryError(new TypeError('fetch failed', { cause: refused }))).toBe(refused);
    expect(toDeliveryError(new Error('weird'))).toMatchObject({ retriable: false });
  });
});

describe('backoff', () => {
  it('full jitter stays within [0, min(max, initial·2^(n-1))]', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (n, r) => {
        const d = backoffDelay(policy, n, () => r);
        return d >= 0 && d <= backoffCap(policy, n) && d <= policy.maxDelayMs;
      }),
    );
    expect(backoffCap(policy, 1)).toBe(500);
    expect(backoffCap(policy, 2)).toBe(1000);
    expect(backoffCap(policy, 10)).toBe(30_000);
  });
});

describe('deliverWithRetry', () => {
  const ok = { status: 'http_200' };

  it('500, 500, 200: delivered on the third attempt, every attempt reported', async () => {
    const time = fakeTime();
    const answers = [httpError(500), httpError(500)];
    const seen: AttemptInfo[] = [];
    const out = await deliverWithRetry(
      async () => {
        const a = answers.shift();
        if (a) throw a;
        return ok;
      },
      { policy, timeoutMs: 1000, onAttempt: (i) => void seen.push(i), now: time.now, sleep: time.sleep, random: () => 0.5 },
    );
    expect(out).toMatchObject({ delivered: true, attempts: 3 });
    expect(seen.map((s) => [s.attempt, s.ok, s.status])).toEqual([
      [1, false, 'http_500'],
      [2, false, 'http_500'],
      [3, true, 'http_200'],
    ]);
    expect(seen[0]?.nextDelayMs).toBe(250);
    expect(seen[1]?.nextDelayMs).toBe(500);
  });

  it('leaves no listener on the shutdown signal after its deliveries', async () => {
    const shutdown = new AbortController();
    const seen: AbortSignal[] = [];
    for (let i = 0; i < 20; i++) {
      const out = await deliverWithRetry(
        async (_attempt, _timeoutMs, signal) => {
          seen.push(signal);
          return ok;
        },
        { policy, timeoutMs: 1000, signal: shutdown.signal },
      );
      expect(out.delivered).toBe(true);
    }
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    expect(seen.every((s) => !s.aborted)).toBe(true); // timers cleared: no late timeout abort
  });

  it('shutdown lets the attempt in flight finish: a success is recorded and returned (the peer accepted it), no further attempt starts', async () => {
    const shutdown = new AbortController();
    const seen: AttemptInfo[] = [];
    let attemptSignal: AbortSignal | undefined;
    const run = deliverWithRetry(
      async (_attempt, _timeoutMs, signal) => {
        attemptSignal = signal;
        shutdown.abort(); // SIGTERM while the request is on the wire
        await new Promise((r) => setTimeout(r, 20));
        return ok;
      },
      { policy, timeoutMs: 10_000, signal: shutdown.signal, onAttempt: (i) => void seen.push(i) },
    );
    await expect(run).resolves.toMatchObject({ delivered: true, attempts: 1 });
    expect(attemptSignal?.aborted).toBe(false);
    expect(seen.map((i) => i.ok)).toEqual([true]);
  });

  it('shutdown during a failing attempt: ShutdownError after it, nothing recorded, no retry', async () => {
    const shutdown = new AbortController();
    const seen: AttemptInfo[] = [];
    let attempts = 0;
    const run = deliverWithRetry(
      async () => {
        attempts++;
        shutdown.abort();
        throw httpError(503);
      },
      { policy, timeoutMs: 10_000, signal: shutdown.signal, onAttempt: (i) => void seen.push(i) },
    );
    await expect(run).rejects.toBeInstanceOf(ShutdownError);
    expect(attempts).toBe(1);
    expect(seen).toEqual([]);
  });

  it('a hanging attempt at shutdown is still bounded by its timeout', async () => {
    const shutdown = new AbortController();
    const run = deliverWithRetry(
      (_attempt, _timeoutMs, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
      { policy, timeoutMs: 50, signal: shutdown.signal },
    );
    shutdown.abort();
    await expect(run).rejects.toBeInstanceOf(ShutdownError);
  });

  it('gives a hanging attempt its timeout, as a retriable timeout', async () => {
    const out = await deliverWithRetry(
      (_attempt, _timeoutMs, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
      { policy: { ...policy, maxAttempts: 1 }, timeoutMs: 30 },
    );
    expect(out).toMatchObject({ delivered: false, reason: 'exhausted' });
    expect(out.delivered === false && out.error?.status).toBe('timeout');
  });

  it('400: permanent at once, one attempt', async () => {
    const time = fakeTime();
    const seen: AttemptInfo[] = [];
    const out = await deliverWithRetry(
      async () => {
        throw httpError(400);
      },
      { policy, timeoutMs: 1000, onAttempt: (i) => void seen.push(i), now: time.now, sleep: time.sleep },
    );
    expect(out).toMatchObject({ delivered: false, attempts: 1, reason: 'permanent' });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.final).toBe('permanent');
    expect(time.sleeps).toEqual([]);
  });

  it('stops after maxAttempts with reason exhausted', async () => {
    const time = fakeTime();
    const out = await deliverWithRetry(
      async () => {
        throw httpError(503);
      },
      { policy: { ...policy, maxAttempts: 4 }, timeoutMs: 1000, now: time.now, sleep: time.sleep, random: () => 0.99 },
    );
    expect(out).toMatchObject({ delivered: false, attempts: 4, reason: 'exhausted' });
    expect(time.sleeps).toHaveLength(3);
  });

  it('honours Retry-After exactly, and gives up at once when it lands past the budget', async () => {
    const time = fakeTime();
    const answers: unknown[] = [httpError(429, { retryAfter: '7' })];
    const out = await deliverWithRetry(
      async () => {
        const a = answers.shift();
        if (a) throw a;
        return ok;
      },
      { policy, timeoutMs: 1000, now: time.now, sleep: time.sleep },
    );
    expect(out.delivered).toBe(true);
    expect(time.sleeps).toEqual([7000]);

    const t2 = fakeTime();
    const seen: AttemptInfo[] = [];
    const out2 = await deliverWithRetry(
      async () => {
        throw httpError(429, { retryAfter: '600' });
      },
      { policy, timeoutMs: 1000, onAttempt: (i) => void seen.push(i), now: t2.now, sleep: t2.sleep },
    );
    expect(out2).toMatchObject({ delivered: false, attempts: 1, reason: 'exhausted' });
    expect(t2.sleeps).toEqual([]);
    expect(seen[0]?.final).toBe('exhausted');
  });

  it('the budget bounds the total time, whatever the per-attempt timeout and attempts', async () => {
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 100, max: 5000 }), fc.integer({ min: 1, max: 3000 }), async (attempts, budgetMs, attemptMs) => {
        const time = fakeTime();
        const timeouts: number[] = [];
        const out = await deliverWithRetry(
          async (_n, timeoutMs) => {
            timeouts.push(timeoutMs);
            time.advance(Math.min(attemptMs, timeoutMs));
            throw httpError(500);
          },
          { policy: { maxAttempts: attempts, initialDelayMs: 50, maxDelayMs: 1000, budgetMs }, timeoutMs: 2000, now: time.now, sleep: time.sleep, random: () => 0.7 },
        );
        // every attempt's timeout fits into what was left of the budget
        expect(out.elapsedMs).toBeLessThanOrEqual(budgetMs);
        expect(out.attempts).toBeLessThanOrEqual(attempts);
        expect(timeouts.every((t) => t <= budgetMs)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a transport that ignores its signal is cut by the attempt timeout (real time)', async () => {
    const t0 = Date.now();
    const out = await deliverWithRetry(() => new Promise(() => undefined), { policy: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 10, budgetMs: 5000 }, timeoutMs: 100 });
    expect(out).toMatchObject({ delivered: false, reason: 'exhausted', attempts: 2 });
    expect(out.error?.status).toBe('timeout');
    expect(Date.now() - t0).toBeLessThan(4000);
  });

  it('shutdown interrupts a wait and throws ShutdownError without recording', async () => {
    const ac = new AbortController();
    const seen: AttemptInfo[] = [];
    const p = deliverWithRetry(
      async () => {
        throw httpError(500);
      },
      { policy: { ...policy, initialDelayMs: 10_000, maxDelayMs: 10_000 }, timeoutMs: 1000, signal: ac.signal, random: () => 0.99, onAttempt: (i) => void seen.push(i) },
    );
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toBeInstanceOf(ShutdownError);
    expect(seen).toHaveLength(1);
  });
});
