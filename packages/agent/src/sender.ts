// The background sender: a bounded queue that drops its OLDEST events when Kafka is slow or
// unreachable, and one loop that sends batches (linger ~50 ms, up to 500 events) and retries a failed
// batch as it is. dd-trace-js's appsec hands its reports to an exporter apart from detection the same way.

import type { Attack } from './contracts.ts';
import type { Logger } from './options.ts';
import { BoundedQueue } from './queue.ts';
import type { Transport } from './transport.ts';

/** The agent's counters (stats()), shared by its parts. */
export interface Counters {
  sent: number;
  droppedInvalid: number;
  droppedShutdown: number;
  suppressed: number;
  userKeysHashed: number;
  truncated: number;
  inspected: number;
  detections: number;
  wafTimeouts: number;
  errors: number;
  lastError: string | null;
}

export function newCounters(): Counters {
  return { sent: 0, droppedInvalid: 0, droppedShutdown: 0, suppressed: 0, userKeysHashed: 0, truncated: 0, inspected: 0, detections: 0, wafTimeouts: 0, errors: 0, lastError: null };
}

export interface CloseResult {
  /** Everything queued was sent before the deadline. */
  flushed: boolean;
  /** Events given up at close. */
  dropped: number;
}

export interface SenderOptions {
  maxQueue: number;
  batchSize: number;
  /** ms */
  lingerMs: number;
  logger: Logger | null;
}

export function describeError(message: unknown): string {
  if (message instanceof Error) return `${message.name}: ${message.message}`;
  return String(message);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
}

export class Sender {
  private readonly queue: BoundedQueue<Attack>;
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly logger: Logger | null;
  /** The batch being sent; kept as is until Kafka takes it (same events, same order on a retry). */
  private batch: Attack[] = [];
  private reachable: boolean | null = null;
  private failures = 0;
  private wake: (() => void) | undefined;
  private interrupt: (() => void) | undefined;
  private closingNow = false;
  private closedNow = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly transport: Transport,
    opts: SenderOptions,
    private readonly counters: Counters,
  ) {
    this.queue = new BoundedQueue<Attack>(opts.maxQueue);
    this.batchSize = opts.batchSize;
    this.lingerMs = opts.lingerMs;
    this.logger = opts.logger;
    this.loop = this.run();
  }

  /** close() was called: no new events. */
  get closing(): boolean {
    return this.closingNow;
  }

  /** close() gave up or finished: nothing is sent any more. */
  get closed(): boolean {
    return this.closedNow;
  }

  get queued(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.batch.length;
  }

  get droppedQueueFull(): number {
    return this.queue.dropped;
  }

  /** Whether the last send attempt succeeded (null before the first). */
  get kafkaReachable(): boolean | null {
    return this.reachable;
  }

  /** Queues an event; false (counted as dropped at shutdown) once closing. */
  push(event: Attack): boolean {
    if (this.closingNow) {
      this.counters.droppedShutdown++;
      return false;
    }
    this.queue.push(event);
    this.wake?.();
    return true;
  }

  /** Resolves true once everything queued is sent, false at the deadline (epoch ms) or on close. */
  async flush(deadline: number): Promise<boolean> {
    while (this.queue.length > 0 || this.batch.length > 0) {
      if (this.closedNow || Date.now() >= deadline) return false;
      this.wake?.();
      await sleep(10);
    }
    return true;
  }

  /**
   * Stops taking events, sends what is queued until `timeoutMs` after `started` (epoch ms), counts
   * what is left as dropped, and disconnects within what is left of the time (at least 250 ms).
   */
  async close(timeoutMs: number, started: number): Promise<CloseResult> {
    this.closingNow = true;
    this.wake?.();
    this.interrupt?.();
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.loop.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.closedNow = true;
    this.wake?.();
    this.interrupt?.();
    const leftover = this.queue.drain().length + this.batch.length;
    this.counters.droppedShutdown += leftover;
    this.batch = [];
    const remaining = Math.max(250, timeoutMs - (Date.now() - started));
    await Promise.race([this.transport.close().catch(() => undefined), sleep(remaining)]);
    return { flushed: flushed && leftover === 0, dropped: leftover };
  }

  /** The loop: one batch at a time; a failed batch is retried as is (same events, same order) so the idempotent producer can deduplicate it. */
  private async run(): Promise<void> {
    for (;;) {
      if (this.closedNow) return;
      if (this.queue.length === 0 && this.batch.length === 0) {
        if (this.closingNow) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      if (this.batch.length === 0) {
        if (this.queue.length < this.batchSize && !this.closingNow && this.lingerMs > 0) await sleep(this.lingerMs);
        this.batch = this.queue.take(this.batchSize);
        if (this.batch.length === 0) continue;
      }
      const batch = this.batch;
      try {
        const { rejected } = await this.transport.send(batch);
        if (this.closedNow) return;
        this.counters.sent += batch.length - rejected.length;
        this.counters.droppedInvalid += rejected.length;
        if (rejected.length > 0) this.logger?.warn({ rejected: rejected.length }, 'events invalid for the registry schema were dropped');
        if (this.reachable === false) this.logger?.info?.({ after: this.failures }, 'delivering events again');
        this.reachable = true;
        this.failures = 0;
        this.batch = [];
      } catch (err) {
        if (this.closedNow) return;
        this.failures++;
        this.counters.lastError = describeError(err);
        if (this.reachable !== false) this.logger?.warn({ error: this.counters.lastError }, 'cannot deliver events (Kafka or schema registry unreachable); queueing, oldest dropped when full');
        this.reachable = false;
        await this.sleepUnlessClosed(Math.min(5000, 100 * 2 ** Math.min(this.failures, 6)));
      }
    }
  }

  /** Back-off between failed batches; only close() cuts it short (new events do not: no hammering a down broker). */
  private async sleepUnlessClosed(ms: number): Promise<void> {
    if (this.closingNow) ms = Math.min(ms, 250);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.interrupt = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      t.unref();
      this.interrupt = done;
    });
  }
}
