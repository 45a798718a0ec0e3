import type { Batch, Consumer } from 'kafkajs';
import type { Logger } from '../log.ts';
import { classifyFailure, failureReason, isTransient, RecordTooLargeError, type FailureKind } from './failures.ts';
import type { TaskManager } from './task-manager.ts';
import { DEAD_LETTER_MAX_BYTES, DEAD_LETTER_REFERENCE_BYTES } from './records.ts';
import { StaleBatchError, type InputBatch } from './task.ts';

// The batch loop (Kafka Streams' StreamThread): fetches batches of `attacks` and of the decision
// requests (kafkajs eachBatch, `concurrency` partitions at a time; both topics co-partitioned, see
// assigner.ts), hands each to its partition's task, and decides what a failure
// means (failures.ts): an outage is retried with backoff for as long as it lasts, staying in the group;
// a task failure reopens the task (fence + restore) before the retry; a deterministic failure is
// retried a bounded number of times, then the batch is split in halves until the offending record is
// alone, and that record is dead-lettered with its reason. No batch is retried forever for a reason
// that will not go away.
//
// A task keeps its transaction open across batches (scorer.commitIntervalMs). When a batch fails after
// earlier ones joined that transaction, the task aborts them all and moves the consumer back to the
// first of them: the batch in hand is stale and given up, and the batches fetched again up to it commit
// one by one (`cautious`), so the failing one is alone in its transaction when it is retried, and the
// rules above apply to it as before. Halves of a split batch, and batches while stopping, commit alone too.

/** What the loop needs of the task manager (a fake in unit tests). */
export type TaskSource = Pick<TaskManager, 'taskFor' | 'committedOffset' | 'closeTask' | 'reportStuck' | 'onAssignment' | 'onRebalancing'>;

export interface BatchLoopDeps {
  consumer: Consumer;
  manager: TaskSource;
  log: Logger;
  inputTopic: string;
  /** The decision-requests topic, read beside the input (absent: the input only). */
  requestsTopic?: string;
  concurrency: number;
  /** First retry delay (ms), doubling to RETRY_MAX_MS; 500 by default (tests shorten it). */
  retryBaseMs?: number;
  /** The consumer stopped for good (an error kafkajs does not restart from, e.g. a refused join). */
  onStopped?: (err: unknown) => void;
}

/** Attempts of a whole batch failing deterministically before it is split. */
export const DETERMINISTIC_ATTEMPTS = 3;
/** Consecutive failures after which a partition counts as halted (metric and one error line). */
const HALTED_AFTER = 5;
/** Retry backoff: 0.5 s doubling to 10 s. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 10_000;
/** While one failure lasts, one warn line per partition per this interval. */
const LOG_EVERY_MS = 30_000;

export interface BatchContext {
  partition: number;
  heartbeat: () => Promise<void>;
  isRunning: () => boolean;
  isStale: () => boolean;
  resolveOffset: (offset: string) => void;
}

export class BatchLoop {
  private readonly deps: BatchLoopDeps;
  private stopping = false;
  /** By `topic|partition`: batches up to this offset commit on their own (an abort moved the consumer back over them). */
  private readonly cautious = new Map<string, bigint>();

  constructor(deps: BatchLoopDeps) {
    this.deps = deps;
  }

  async run(): Promise<void> {
    const { consumer, manager, inputTopic } = this.deps;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const mine = (e.payload.memberAssignment[inputTopic] ?? []).slice().sort((a, b) => a - b);
      void manager.onAssignment(mine, { generationId: e.payload.generationId, memberId: e.payload.memberId });
    });
    consumer.on(consumer.events.REBALANCING, () => manager.onRebalancing());
    // kafkajs restarts the consumer after a retriable error; after any other it stays stopped, and the
    // process would look alive with nothing consumed.
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart && !this.stopping) this.deps.onStopped?.(e.payload.error);
    });
    await consumer.connect();
    const topics = this.deps.requestsTopic ? [inputTopic, this.deps.requestsTopic] : [inputTopic];
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Each partition has its own producer, transaction, store and cache, so partitions are processed
      // concurrently: one partition's CPU work overlaps another's transaction round trips.
      partitionsConsumedConcurrently: this.deps.concurrency,
      eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
        if (batch.isEmpty()) return;
        const ctx = { partition: batch.partition, heartbeat, isRunning: () => isRunning() && !this.stopping, isStale, resolveOffset };
        await this.handleBatch(toInput(batch, inputTopic), ctx);
      },
    });
  }

  /** Stops taking new attempts (the running one completes). */
  stop(): void {
    this.stopping = true;
  }

  /** One fetched batch: committed (true), or given up because the partition is not ours or the loop stops. */
  handleBatch(input: InputBatch, ctx: BatchContext): Promise<boolean> {
    return this.handle(input, ctx, DETERMINISTIC_ATTEMPTS);
  }

  /**
   * Processes `input` until it is committed (true), the partition is no longer ours or the loop stops
   * (false). After `deterministicAttempts` deterministic failures the batch is split (`isolate`).
   */
  private async handle(input: InputBatch, ctx: BatchContext, deterministicAttempts: number): Promise<boolean> {
    const { manager, log } = this.deps;
    const p = ctx.partition;
    const key = `${input.topic ?? this.deps.inputTopic}|${p}`;
    let deterministic = 0;
    let loggedAt = -Infinity;
    for (let attempt = 0; ctx.isRunning() && !ctx.isStale(); attempt++) {
      const task = await manager.taskFor(p, ctx.heartbeat, ctx.isRunning);
      if (!task || ctx.isStale()) return false;
      if (attempt > 0 && (await this.alreadyCommitted(p, input))) {
        ctx.resolveOffset(input.lastOffset);
        return true;
      }
      const commitNow = deterministicAttempts < DETERMINISTIC_ATTEMPTS || this.stopping || this.isCautious(key, input);
      try {
        // Checked in the task's turn: a commit that failed just before (the timer's) may have moved the consumer back.
        await task.exclusive(() => {
          if (ctx.isStale()) throw new StaleBatchError(p);
          return task.process(input, { commitNow });
        });
        ctx.resolveOffset(input.lastOffset);
        if (attempt > 0) {
          manager.reportStuck(p, undefined);
          log.info({ partition: p, attempts: attempt + 1 }, 'batch committed after retrying');
        }
        return true;
      } catch (err) {
        if (err instanceof StaleBatchError) return false;
        const kind = classifyFailure(err);
        if (ctx.isStale()) {
          // The abort took earlier batches with this one: the consumer fetches them again, and they
          // commit one by one up to this batch, which is then retried alone.
          this.cautious.set(key, BigInt(input.lastOffset));
          this.logFailure(p, attempt, kind, err);
          if (kind !== 'outage' && !(err instanceof RecordTooLargeError)) await manager.closeTask(task);
          return false;
        }
        if (kind === 'deterministic' && ++deterministic >= deterministicAttempts) return this.isolate(input, ctx, err);
        if (Date.now() - loggedAt >= LOG_EVERY_MS) {
          loggedAt = Date.now();
          this.logFailure(p, attempt, kind, err);
        }
        if (attempt + 1 === HALTED_AFTER) manager.reportStuck(p, `${kind}: ${(err as Error).message}`);
        // Nothing was sent for an outage before the commit, or a record found too large: the task is
        // intact. Anything else may leave the transaction in doubt: reopening the task settles it.
        if (kind === 'task' || (kind === 'deterministic' && !(err instanceof RecordTooLargeError))) await manager.closeTask(task);
        await sleepWithHeartbeats(this.backoff(attempt), ctx.heartbeat);
      }
    }
    return false;
  }

  /**
   * A batch that fails deterministically: its halves are processed on their own (each split again
   * when it fails), so only the offending record is left; it is dead-lettered with the failure's reason.
   */
  private async isolate(input: InputBatch, ctx: BatchContext, err: unknown): Promise<boolean> {
    if (input.messages.length > 1) {
      const mid = Math.ceil(input.messages.length / 2);
      const first = { messages: input.messages.slice(0, mid), lastOffset: input.messages[mid - 1]!.offset };
      const second = { messages: input.messages.slice(mid), lastOffset: input.lastOffset };
      return (await this.handle(first, ctx, 1)) && (await this.handle(second, ctx, 1));
    }
    const reason = failureReason(err);
    const message = (err as Error).message ?? String(err);
    // A dead letter the dead-letter topic itself rejects (a topic limit below ours) is sent again as a
    // reference: headers and a 1 KiB prefix, whatever the original's size.
    let maxBytes = DEAD_LETTER_MAX_BYTES;
    for (let attempt = 0; ctx.isRunning() && !ctx.isStale(); attempt++) {
      const task = await this.deps.manager.taskFor(ctx.partition, ctx.heartbeat, ctx.isRunning);
      if (!task || ctx.isStale()) return false;
      try {
        await task.exclusive(() => {
          if (ctx.isStale()) throw new StaleBatchError(ctx.partition);
          return task.deadLetter(input, reason, message, maxBytes);
        });
        ctx.resolveOffset(input.lastOffset);
        return true;
      } catch (dlqErr) {
        if (dlqErr instanceof StaleBatchError || ctx.isStale()) return false;
        const kind = classifyFailure(dlqErr);
        this.logFailure(ctx.partition, attempt, kind, dlqErr);
        if (kind === 'deterministic') maxBytes = DEAD_LETTER_REFERENCE_BYTES;
        if (kind !== 'outage') await this.deps.manager.closeTask(task);
        await sleepWithHeartbeats(this.backoff(attempt), ctx.heartbeat);
      }
    }
    return false;
  }

  /** Whether `input` lies in a range an abort moved the consumer back over (then it commits on its own). */
  private isCautious(key: string, input: InputBatch): boolean {
    const until = this.cautious.get(key);
    if (until === undefined) return false;
    if (BigInt(input.messages[0]?.offset ?? input.lastOffset) <= until) return true;
    this.cautious.delete(key);
    return false;
  }

  /**
   * A failed commit can be ambiguous (the broker may have committed before the answer was lost). The
   * task was reopened since, which settled that transaction: if the group's offset now covers the
   * batch, it was committed and its state restored, so it must not be scored again.
   */
  private async alreadyCommitted(p: number, input: InputBatch): Promise<boolean> {
    const committed = await this.deps.manager.committedOffset(p, input.topic).catch(() => -1n);
    if (committed <= BigInt(input.lastOffset)) return false;
    this.deps.log.warn({ partition: p, lastOffset: input.lastOffset }, 'the failed commit had in fact succeeded; batch not scored again');
    return true;
  }

  private backoff(attempt: number): number {
    return Math.min(RETRY_MAX_MS, (this.deps.retryBaseMs ?? RETRY_BASE_MS) * 2 ** Math.min(attempt, 5));
  }

  private logFailure(p: number, attempt: number, kind: FailureKind, err: unknown): void {
    // Passing trouble repeats every few seconds while it lasts: one line, no stack.
    const transient = kind === 'outage' || isTransient(err);
    const fields = { err: transient ? (err as Error).message : err, partition: p, attempt, kind };
    if (kind === 'outage') this.deps.log.warn(fields, 'batch failed: broker or schema registry unavailable; retrying with backoff (logged every 30 s while it lasts)');
    else this.deps.log.warn(fields, 'batch failed; retrying');
  }
}

function toInput(batch: Batch, inputTopic: string): InputBatch {
  // The input's batches carry no topic: that is the default everywhere downstream.
  return { ...(batch.topic === inputTopic ? {} : { topic: batch.topic }), messages: batch.messages, lastOffset: batch.lastOffset() };
}

/** Sleeps `ms`, heartbeating every second so the group keeps this member through a long backoff. */
async function sleepWithHeartbeats(ms: number, heartbeat: () => Promise<void>): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(1000, until - Date.now())));
    await heartbeat().catch(() => undefined);
  }
}

