import type { KafkaMessage } from 'kafkajs';
import { LRUCache } from 'lru-cache';
import type { ScoringConfig } from '../config/scoring.ts';
import type { DecisionsConfig } from '../config/decisions.ts';
import type { Decision, RiskAlert } from '../contracts.ts';
import type { OutMessage } from '../kafka/chunk.ts';
import type { Logger } from '../log.ts';
import * as m from '../metrics/index.ts';
import { approxHeapBytes, isIdle, type UserState } from '../scoring/index.ts';
import { decodeState, peekTimes } from '../state/codec.ts';
import { entriesOf, type PartitionStore } from '../state/store.ts';
import { TransactionFencedByGroupError } from '../errors.ts';
import { RecordTooLargeError } from './failures.ts';
import { batchKeys, processBatch, processRequests, requestKeys, type BatchResult, type InputRecord } from './processor.ts';
import type { InputOffset, SentRange, TopicMessages, TransactionalProducer } from './producer.ts';
import { alertRecord, changelogRecords, changelogTombstones, DEAD_LETTER_MAX_BYTES, deadLetterRecord, decisionRecord, decisionTombstones, messageBytes } from './records.ts';

// One owned input partition (Kafka Streams' StreamTask): its LevelDB store, its transactional producer
// (behind the narrow port of producer.ts), a cache of decoded hot users, and the committed changes not
// yet written to the store. Everything a batch, a punctuation or a flush does to them happens here,
// in the numbered steps below, and no code outside this class writes its fields. The cache holds
// committed states after every commit; it is dropped whenever a transaction aborts, because scoring
// mutates cached states in place.
//
// A transaction stays open across batches (Kafka Streams' commit.interval.ms): each batch's records are
// held in it, and it is committed when scorer.commitIntervalMs has passed since it began (a timer
// commits it when no further batch comes), when it holds scorer.commitMaxRecords input records or its
// records reach the memory budget, or before a punctuation. The commit sends what it holds at once —
// each changed user's state, encoded then (once, however many of its batches changed it), then the
// alerts, decisions and dead letters in the order they were made — so a transaction costs the broker
// one produce request (or a few, for large ones) however many batches it spans. Until then the users it changed are held apart (`open.states`, never
// evicted) and nothing of it reaches the staged changes or stream time. An abort drops the cache and
// the open states, and moves the consumer back (`rewind`) to the first record the transaction held:
// those batches are fetched and scored again. The task knows the next offset of
// each topic it has committed or holds in the open transaction (`position`), read from the group after
// fencing, and skips records below it: a consumer that fetches again from an older committed offset (the
// group's offsets are reset by every rebalance; a previous owner's commit may land after the consumer
// read them) never scores a record twice.

export type TaskPhase = 'restoring' | 'active' | 'closed';

/** The Kafka names a task writes to and commits for. */
export interface TaskNames {
  input: string;
  changelog: string;
  alerts: string;
  deadLetters: string;
  groupId: string;
  /** The compacted decisions topic (written: decisions with their cause, tombstones when they end). */
  decisions: string;
  /** The decision-requests topic (read like `input`, co-partitioned with it). */
  requests: string;
}

/** Decoding of input records and encoding of alerts (the schema registry, behind a port). */
export interface TaskCodec {
  /** Poison becomes a record with `poison` set; a registry outage throws a retriable error. */
  decode(messages: KafkaMessage[]): Promise<InputRecord[]>;
  encodeAlert(alert: RiskAlert): Promise<Buffer>;
  encodeDecision(decision: Decision): Promise<Buffer>;
}

export interface TaskDeps {
  partition: number;
  /** Partitions of the input topic (records keyed for another partition are counted). */
  partitions: number;
  store: PartitionStore;
  producer: TransactionalProducer;
  codec: TaskCodec;
  names: TaskNames;
  scoring: ScoringConfig;
  /** The counter-measures policy (absent: alerts make no decisions). */
  decisions?: DecisionsConfig;
  cacheUsers: number;
  /**
   * This task's share of the process's memory budgets (bytes), asked after every batch: the task
   * manager divides scorer.cacheMaxBytes and scorer.storeFlushMaxBytes by the partitions it owns now.
   */
  budget?: () => { cacheBytes: number; pendingBytes: number };
  storeFlushIntervalMs: number;
  idleUserTtlMs: number;
  log: Logger;
  /** The clock (ms); Date.now by default. */
  now?: () => number;
  /** Told once when the task drops itself because its store could not be written after a commit. */
  onDropped?: (task: PartitionTask, err: unknown) => void;
  /**
   * How long (ms) a transaction stays open across batches before it is committed (scorer.commitIntervalMs);
   * 0 (the default) commits every batch.
   */
  commitIntervalMs?: number;
  /** Input records an open transaction holds at most before it is committed (scorer.commitMaxRecords). */
  commitMaxRecords?: number;
  /**
   * Commit times on a grid of commitIntervalMs shared by every task of the process (a transaction is
   * due at the first grid point after it began), so that tasks sharing one producer commit together.
   */
  alignCommits?: boolean;
  /** Moves this partition's consumer of `topic` back to `offset` (an aborted transaction's records are fetched again). */
  rewind?: (topic: string, offset: bigint) => void;
  /** Told when a commit outside `process` (the commit timer) failed: the task must be closed and reopened. */
  onFailed?: (task: PartitionTask, err: unknown) => void;
}

/** Input records of one partition, in offset order, and the offset after which the group resumes. */
export interface InputBatch {
  /** The topic the batch was read from: the input (attacks, by default) or the decision requests. */
  topic?: string;
  messages: KafkaMessage[];
  /** The last offset this batch covers (≥ its last message's: a fetch can end in transaction markers). */
  lastOffset: string;
}

/**
 * Bytes a changelog or alert record may take: below the broker's default message.max.bytes (1 MiB,
 * 1,048,588) with room for the batch framing. A larger one is a deterministic failure found before
 * anything is sent.
 */
export const MAX_RECORD_BYTES = 1_000_000;
/** Heap bytes of a cache entry beside its state and key (the LRU's node, the key's string header). */
const CACHE_ENTRY_BYTES = 150;
/** Heap bytes of a pending entry beside its key and value (map entry, Buffer object). */
const PENDING_ENTRY_BYTES = 120;
/** Users read per store per punctuation: a slice, so a large store is walked a little at a time. */
const IDLE_SCAN_KEYS = 1000;
/** Input records of an open transaction when scorer.commitMaxRecords is not given. */
const DEFAULT_COMMIT_MAX_RECORDS = 10_000;

/** The transaction a task keeps open across batches until it commits it. */
interface OpenTransaction {
  /** When it began (ms, the task's clock). */
  startedAt: number;
  /** Input records (and dead-lettered ones) it holds. */
  records: number;
  /** Bytes of the records it holds (its states by their heap estimate; a bound on what it holds in memory). */
  bytes: number;
  /** By topic, the offset of the first record it holds: where the consumer resumes when it aborts. */
  from: Map<string, bigint>;
  /** By topic, the next offset after the last batch it holds: sent with the commit. */
  offsets: Map<string, bigint>;
  /** Users it changed, not yet committed: served before the cache, never evicted, dropped on abort; encoded for the changelog at the commit. */
  states: Map<string, UserState>;
  /** Alerts, decisions and dead letters, in the order they were made: sent at the commit. */
  alerts: OutMessage[];
  decisions: OutMessage[];
  deadLetters: OutMessage[];
  userDelta: number;
  streamTime: number;
  /** Its batches' results, counted in the metrics once committed. */
  results: Array<{ result: BatchResult; t0: bigint }>;
}

/** A batch the consumer fetched before it was moved back (see `rewind`): it must not be scored. */
export class StaleBatchError extends Error {
  constructor(partition: number) {
    super(`partition ${partition}: the batch was fetched before the consumer was moved back`);
    this.name = 'StaleBatchError';
  }
}

export class PartitionTask {
  readonly partition: number;
  readonly ready: Promise<void>;
  private readonly deps: TaskDeps;
  private readonly now: () => number;
  private state: TaskPhase = 'restoring';
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  private readonly cache: LRUCache<string, UserState>;
  /** The newest event time committed (ms; -Infinity until the first batch): idleness is measured by it. */
  private streamTimeMs = -Infinity;
  /** Committed changes not yet in the store, by user key (null = deleted): the latest value wins. */
  private readonly pending = new Map<string, Buffer | null>();
  /** The changelog end the pending changes reach: the store's checkpoint once they are written. */
  private pendingCheckpoint: bigint | undefined;
  /** Users added (less users deleted) by the pending changes. */
  private pendingUserDelta = 0;
  /** Bytes staged in `pending` since the last flush (keys, values and map entries; an upper bound). */
  private pendingBytes = 0;
  /** When the store was last written (ms). */
  private flushedAt: number;
  /** Where the idle-user scan resumes (the last key it looked at); undefined = from the first key. */
  private scanCursor: string | undefined;
  /** The tail of the work run by `exclusive`: batches, punctuations and flushes never interleave. */
  private tail: Promise<unknown> = Promise.resolve();
  /** The transaction open across batches (undefined: none). */
  private open: OpenTransaction | undefined;
  /** By topic, the next offset committed (read from the group when activated, then each commit's). */
  private readonly committed = new Map<string, bigint>();
  /** Commits the open transaction when no further batch comes (scorer.commitIntervalMs). */
  private timer: NodeJS.Timeout | undefined;
  /** A commit failed in a way that leaves the producer or the group's offsets in doubt: reopen first. */
  private broken: unknown;

  constructor(deps: TaskDeps) {
    this.deps = deps;
    this.partition = deps.partition;
    this.now = deps.now ?? Date.now;
    this.flushedAt = this.now();
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    // maxSize is only a ceiling; `trimCache` applies the budget, which moves with rebalances.
    this.cache = new LRUCache<string, UserState>({
      max: Math.max(1, deps.cacheUsers),
      maxSize: Number.MAX_SAFE_INTEGER,
      sizeCalculation: (state, key) => approxHeapBytes(state) + CACHE_ENTRY_BYTES + key.length,
    });
  }

  get phase(): TaskPhase {
    return this.state;
  }

  get streamTime(): number {
    return this.streamTimeMs;
  }

  get store(): PartitionStore {
    return this.deps.store;
  }

  /** The hot-user cache: users and their estimated heap bytes (for the memory budget's tests and metrics). */
  get cacheUsage(): { users: number; bytes: number } {
    return { users: this.cache.size, bytes: this.cache.calculatedSize };
  }

  /** Whether committed changes wait for the store and are due (scorer.storeFlushIntervalMs, or their bytes reached the budget). */
  get flushDue(): boolean {
    if (this.state !== 'active' || this.pendingCheckpoint === undefined) return false;
    if (this.deps.budget && this.pendingBytes >= this.deps.budget().pendingBytes) return true;
    return this.now() - this.flushedAt >= this.deps.storeFlushIntervalMs;
  }

  /**
   * Runs `fn` after everything queued before it on this task: a partition's batches, punctuations and
   * flushes share one producer and one store, and must not interleave.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  // -- lifecycle --------------------------------------------------------------------------------

  /** Fences the previous owner of this partition (see TransactionalProducer.fence). */
  async fence(): Promise<void> {
    await this.deps.producer.fence();
  }

  /**
   * Where the restore starts: the store's checkpoint, or the changelog start when the store is new or
   * its checkpoint lies outside [low, end] (the topic was recreated): the store is then cleared.
   */
  async restoreStart(low: bigint, end: bigint): Promise<{ from: bigint; rebuilt: boolean }> {
    const from = (await this.deps.store.checkpoint()) ?? low;
    if (from >= low && from <= end) return { from, rebuilt: false };
    this.deps.log.warn({ partition: this.partition, checkpoint: from.toString(), low: low.toString(), end: end.toString() }, 'store checkpoint outside the changelog: rebuilding the store from the changelog');
    await this.deps.store.clear();
    return { from: low, rebuilt: true };
  }

  /**
   * Active: batches may be processed. `committed` gives, by topic, the group's next offset of this
   * partition read after fencing (stable then): records below it are never scored again.
   */
  markActive(committed?: ReadonlyMap<string, bigint>): void {
    if (this.state !== 'restoring') return;
    for (const [topic, offset] of committed ?? []) this.committed.set(topic, offset);
    this.state = 'active';
    this.resolveReady();
  }

  markFailed(err: unknown): void {
    this.rejectReady(err);
  }

  /**
   * Closes the task; with `flush`, first writes its committed changes to the store (which a restore
   * would otherwise replay). Never with `flush` from inside `exclusive`.
   */
  async close(opts: { flush: boolean }): Promise<void> {
    if (opts.flush && this.state === 'active') {
      // An open transaction is aborted, never committed here: the partition may belong to another
      // member already (a revocation is learned after the rejoin), which redoes it from the committed offsets.
      await this.exclusive(async () => {
        await this.rollback(undefined, false);
        await this.flush();
      }).catch((err: unknown) => this.deps.log.warn({ err, partition: this.partition }, 'writing the store before closing it failed; the next restore replays the changelog'));
    }
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.rejectReady(new Error(`partition ${this.partition} closed`));
    await this.rollback(undefined, false);
    await this.deps.producer.disconnect().catch(() => undefined);
    await this.deps.store.close().catch(() => undefined);
  }

  // -- process ----------------------------------------------------------------------------------

  /**
   * One input batch, exactly once (run through `exclusive`). Before the commit (5) any error leaves
   * nothing behind: the transaction is aborted (with the batches it held before this one: the consumer
   * is moved back to its first record) and the cache dropped, so the batch can be retried. After it the
   * batch is done whatever happens: a failed store write (7) drops the task, whose store the next
   * restore brings up to the committed changelog; the batch is never scored again. `commitNow` commits
   * the transaction with this batch whether or not it is due. Records below `position` (scored already)
   * are skipped.
   */
  async process(input: InputBatch, opts: { commitNow?: boolean } = {}): Promise<BatchResult> {
    this.assertActive();
    const t0 = process.hrtime.bigint();
    const batch = this.unseen(input);
    if (!batch) return emptyResult();
    const topic = batch.topic ?? this.deps.names.input;
    let result: BatchResult;
    let states: Map<string, UserState>;
    const requests = batch.topic !== undefined && batch.topic === this.deps.names.requests;
    try {
      if (requests) {
        // 1–3 for people's requests: parse (invalid ones are dead-lettered), load, decide
        const records = batch.messages.map((msg) => ({ offset: msg.offset, recordKey: msg.key ? msg.key.toString('utf8') : null, value: msg.value }));
        states = await this.load(requestKeys(records));
        result = processRequests(records, states, this.now());
      } else {
        // 1. decode; poison becomes a dead letter, a registry outage throws (retriable)
        const records = await this.deps.codec.decode(batch.messages);
        // 2. load the touched users' states: cache, else committed changes not yet flushed, else the store
        states = await this.load(batchKeys(records));
        // 3. score and decide (pure; mutates the loaded states in place)
        const ctx = { partition: this.partition, partitions: this.deps.partitions, nowMs: this.now() };
        result = processBatch(records, states, this.deps.scoring, ctx, this.deps.decisions);
      }
      // 4. build the batch's alerts, decisions and dead letters; one over the broker's limit fails here
      const out = await this.transactionRecords(batch, result);
      // 5. into the open transaction (begun by the first batch): the changed states (encoded at the
      //    commit), alerts, decisions, dead letters, and this batch's input offset; all sent at the commit
      const tx = this.hold(topic, batch);
      tx.records += batch.messages.length;
      tx.userDelta += result.counts.newUsers;
      if (result.streamTime > tx.streamTime) tx.streamTime = result.streamTime;
      holdAll(tx, tx.alerts, out.alerts);
      holdAll(tx, tx.decisions, out.decisions);
      holdAll(tx, tx.deadLetters, out.deadLetters);
      result.dirty.forEach((s, k) => {
        // forEach: no [key, value] array per entry
        if (!tx.states.has(k)) tx.bytes += approxHeapBytes(s) + k.length;
        tx.states.set(k, s);
      });
      states.forEach((s, k) => {
        if (!result.dirty.has(k) && !tx.states.has(k)) this.cache.set(k, s); // committed values, unchanged
      });
      tx.results.push({ result, t0 });
      // 6. commit when due (scorer.commitIntervalMs, the records or memory bound, or asked); after the
      //    commit the changes are staged with their checkpoint, the states cached and stream time moved
      if (opts.commitNow || this.commitDue(tx)) await this.commitTransaction({ topic, first: BigInt(batch.messages[0]!.offset) });
      else this.armTimer(tx);
    } catch (err) {
      // Whatever failed, the batch may have mutated states the open transaction holds: it all goes.
      await this.rollback({ topic, first: BigInt(batch.messages[0]!.offset) }, true);
      throw err;
    }
    // 7. write the store when due; a failure drops the task (restore repairs the store)
    await this.flushOrDrop();
    return result;
  }

  /** Whether the open transaction must be committed now: its time is up, or it holds enough. */
  private commitDue(tx: OpenTransaction): boolean {
    if (this.now() >= this.dueAt(tx)) return true;
    if (tx.records >= (this.deps.commitMaxRecords ?? DEFAULT_COMMIT_MAX_RECORDS)) return true;
    return this.deps.budget !== undefined && this.pendingBytes + tx.bytes >= this.deps.budget().pendingBytes;
  }

  /** When `tx` is due by time (ms, the task's clock): commitIntervalMs after it began, or the grid point after its start. */
  private dueAt(tx: OpenTransaction): number {
    const interval = this.deps.commitIntervalMs ?? 0;
    if (interval <= 0) return tx.startedAt;
    return this.deps.alignCommits ? (Math.floor(tx.startedAt / interval) + 1) * interval : tx.startedAt + interval;
  }

  /** The part of `batch` not scored yet (offsets at or after `position`); undefined when none is left. */
  private unseen(batch: InputBatch): InputBatch | undefined {
    const topic = batch.topic ?? this.deps.names.input;
    const next = this.open?.offsets.get(topic) ?? this.committed.get(topic);
    const first = batch.messages[0];
    if (!first) return undefined;
    if (next === undefined || BigInt(first.offset) >= next) return batch;
    const messages = batch.messages.filter((msg) => BigInt(msg.offset) >= next);
    return messages.length ? { ...batch, messages } : undefined;
  }

  /**
   * The open transaction (begun when none is open), with the batch's input offset as its next offset of
   * `topic`; the caller adds the batch's records to it.
   */
  private hold(topic: string, batch: InputBatch): OpenTransaction {
    let tx = this.open;
    if (!tx) {
      tx = { startedAt: this.now(), records: 0, bytes: 0, from: new Map(), offsets: new Map(), states: new Map(), alerts: [], decisions: [], deadLetters: [], userDelta: 0, streamTime: -Infinity, results: [] };
      this.open = tx;
    }
    if (!tx.from.has(topic)) tx.from.set(topic, BigInt(batch.messages[0]!.offset));
    tx.offsets.set(topic, BigInt(batch.lastOffset) + 1n);
    return tx;
  }

  /** What an open transaction holds, as the records one send puts into it: `changelog` (its states, encoded) first. */
  private heldRecords(tx: OpenTransaction, changelog: OutMessage[]): TopicMessages[] {
    const n = this.deps.names;
    const out: TopicMessages[] = [];
    if (changelog.length) out.push({ topic: n.changelog, messages: changelog });
    if (tx.alerts.length) out.push({ topic: n.alerts, messages: tx.alerts });
    if (tx.decisions.length) out.push({ topic: n.decisions, messages: tx.decisions });
    if (tx.deadLetters.length) out.push({ topic: n.deadLetters, messages: tx.deadLetters });
    return out;
  }

  /** The changelog end offset of this partition after what a transaction sent (the store's next checkpoint), undefined when nothing was. */
  private checkpointOf(sent: SentRange[]): bigint | undefined {
    let checkpoint: bigint | undefined;
    for (const r of sent) {
      if (r.topic !== this.deps.names.changelog || r.partition !== this.partition) continue;
      const end = r.baseOffset + BigInt(r.count);
      if (checkpoint === undefined || end > checkpoint) checkpoint = end;
    }
    return checkpoint;
  }

  /**
   * Commits the open transaction, if any (run through `exclusive`), outside a batch (the timer, a
   * punctuation, a shutdown). A failure aborts it (see `rollback`) and is rethrown; as the commit may
   * have happened all the same (its answer lost) or the producer be fenced, the task refuses further
   * batches until it is reopened (fencing settles the transaction; the group's offsets are read again).
   */
  async commitOpen(): Promise<void> {
    try {
      await this.commitTransaction();
    } catch (err) {
      // Refused by the group and aborted: nothing is in doubt, the consumer was moved back (rollback).
      if (!(err instanceof TransactionFencedByGroupError)) this.broken ??= err;
      throw err;
    }
  }

  /**
   * Commits the open transaction, if any: what it holds, the input offsets of its last batches, then the
   * commit; after it the changes are staged with their checkpoint, the states cached, stream time moved,
   * and the metrics counted. A failure aborts it (see `rollback`, which `current`, the batch in hand,
   * is given to) and is rethrown.
   */
  private async commitTransaction(current?: { topic: string; first: bigint }): Promise<void> {
    const tx = this.open;
    if (!tx) return;
    this.disarmTimer();
    const c0 = process.hrtime.bigint();
    let checkpoint: bigint | undefined;
    let changelog: OutMessage[];
    try {
      // 1. its states encoded, each once (one over the broker's limit fails here, before any send);
      // 2. one transaction: what it holds, then the input offsets of its last batches, committed
      changelog = changelogRecords(tx.states, this.partition);
      for (let i = 0; i < changelog.length; i++) assertFits(changelog[i]!, 'the state of user');
      const offsets: InputOffset[] = [];
      for (const [topic, next] of tx.offsets) offsets.push({ topic, partition: this.partition, next });
      checkpoint = this.checkpointOf(await this.deps.producer.transact(this.heldRecords(tx, changelog), offsets));
    } catch (err) {
      await this.rollback(current, true);
      throw err;
    }
    m.scorerCommitDuration.observe(Number(process.hrtime.bigint() - c0) / 1e9);
    this.open = undefined;
    for (const [topic, next] of tx.offsets) this.committed.set(topic, next);
    if (checkpoint !== undefined) this.stage(changelog as Array<{ key: string; value: Buffer }>, checkpoint, tx.userDelta);
    if (tx.streamTime > this.streamTimeMs) this.streamTimeMs = tx.streamTime;
    tx.states.forEach((s, k) => this.cache.set(k, s));
    this.trimCache();
    for (const { result, t0 } of tx.results) recordBatchMetrics(this.deps.log, this.partition, result, t0);
  }

  /**
   * Aborts the open transaction, if any, and drops the cache (scoring mutated cached states in place).
   * With `rewind`, the consumer is moved back to the first record the transaction held of each topic,
   * except `current`'s topic when `current` began it there (its caller retries that batch itself).
   */
  private async rollback(current: { topic: string; first: bigint } | undefined, rewind: boolean): Promise<void> {
    this.cache.clear();
    const tx = this.open;
    if (!tx) return;
    this.open = undefined;
    this.disarmTimer();
    // Nothing of it reached the broker: its records are sent only by the commit, which aborts itself when it fails.
    m.scorerTransactionAborts.inc();
    if (!rewind) return;
    for (const [topic, from] of tx.from) {
      if (current && topic === current.topic && from === current.first) continue;
      this.deps.rewind?.(topic, from);
    }
  }

  private armTimer(tx: OpenTransaction): void {
    if (this.timer) return;
    const wait = Math.max(0, this.dueAt(tx) - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.exclusive(async () => {
        if (this.state !== 'active' || !this.open) return;
        // The transaction the timer was armed for is due; a newer one waits for its own time.
        if (this.open === tx || this.commitDue(this.open)) {
          await this.commitOpen();
          await this.flushOrDrop();
        } else this.armTimer(this.open);
      }).catch((err: unknown) => {
        if (err instanceof TransactionFencedByGroupError) this.deps.log.info({ partition: this.partition, err: err.message }, 'transaction refused by the consumer group (rebalancing); its records are fetched again');
        else this.deps.onFailed?.(this, err);
      });
    }, wait);
    this.timer.unref();
  }

  private disarmTimer(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Dead-letters every record of `batch` with `reason` in one transaction with the input offset, and
   * scores none of them: the last resort for a record that fails deterministically on its own. Each
   * dead letter fits in `maxBytes` (truncated, and saying so, when the original does not).
   */
  async deadLetter(input: InputBatch, reason: string, message: string, maxBytes = DEAD_LETTER_MAX_BYTES): Promise<void> {
    this.assertActive();
    const batch = this.unseen(input);
    if (!batch) return;
    const topic = batch.topic ?? this.deps.names.input;
    const dead = batch.messages.map((msg) => deadLetterRecord(msg, { offset: msg.offset, reason, message }, { topic, partition: this.partition }, maxBytes));
    try {
      const tx = this.hold(topic, batch);
      tx.records += dead.length;
      holdAll(tx, tx.deadLetters, dead);
      await this.commitTransaction({ topic, first: BigInt(batch.messages[0]!.offset) });
    } catch (err) {
      await this.rollback({ topic, first: BigInt(batch.messages[0]!.offset) }, true);
      throw err;
    }
    m.scorerDeadLettered.inc({ reason }, dead.length);
    this.deps.log.warn({ partition: this.partition, offsets: batch.messages.map((msg) => msg.offset), reason, message }, 'records dead-lettered after failing on their own');
  }

  /** A batch's alerts, decisions and dead letters as records; one over the broker's limit throws. */
  private async transactionRecords(batch: InputBatch, result: BatchResult): Promise<{ alerts: OutMessage[]; decisions: OutMessage[]; deadLetters: OutMessage[] }> {
    const p = this.partition;
    const alerts = await Promise.all(result.alerts.map(async (a) => alertRecord(a, await this.deps.codec.encodeAlert(a), p)));
    const decisions = await Promise.all(result.decisions.map(async (d) => decisionRecord(d, await this.deps.codec.encodeDecision(d), p)));
    for (let i = 0; i < alerts.length; i++) assertFits(alerts[i]!, 'an alert for user');
    for (let i = 0; i < decisions.length; i++) assertFits(decisions[i]!, 'a decision for user');
    // Only batches with dead letters need their records by offset (most have none).
    const byOffset = new Map(result.deadLetters.length ? batch.messages.map((msg) => [msg.offset, msg]) : []);
    const source = batch.topic ?? this.deps.names.input;
    const deadLetters = result.deadLetters.map((d) => deadLetterRecord(byOffset.get(d.offset)!, d, { topic: source, partition: p }));
    return { alerts, decisions, deadLetters };
  }

  /**
   * A punctuation's own transaction: `records`, with the committed input offsets unchanged (no input
   * was read; they make a zombie's punctuation fail the group's generation check when the producer is
   * shared). An error aborts it (counted) and is rethrown. Returns the changelog end offset of this
   * partition after what was sent (the store's next checkpoint), undefined when nothing was.
   */
  private async commit(records: TopicMessages[]): Promise<bigint | undefined> {
    const c0 = process.hrtime.bigint();
    const offsets: InputOffset[] = [];
    for (const [topic, next] of this.committed) offsets.push({ topic, partition: this.partition, next });
    try {
      const checkpoint = this.checkpointOf(await this.deps.producer.transact(records, offsets));
      m.scorerCommitDuration.observe(Number(process.hrtime.bigint() - c0) / 1e9);
      return checkpoint;
    } catch (err) {
      m.scorerTransactionAborts.inc();
      throw err;
    }
  }

  // -- punctuate --------------------------------------------------------------------------------

  /**
   * Punctuation (run through `exclusive`): the next slice of the store is checked for users idle longer
   * than scorer.idleUserTtlMs by the task's stream time (capped by the clock, so a clamped future event
   * does not age everyone) and for decisions whose time ran out by the clock. In one transaction idle
   * users are tombstoned on the changelog, ended decisions on the decisions topic (their users' states
   * rewritten without them); then they leave the cache and are staged for the store like a batch's
   * changes. A user is not idle while a decision holds them. Returns the users changed.
   */
  async punctuate(): Promise<number> {
    if (this.state !== 'active') return 0;
    // 0. the open transaction first: the scan below reads committed values only
    await this.commitOpen();
    const ttl = this.deps.idleUserTtlMs;
    const nowMs = this.now();
    const horizon = Math.min(nowMs, this.streamTimeMs);
    // 1. read the next slice of the store
    const rows = await this.deps.store.scan(this.scanCursor, IDLE_SCAN_KEYS);
    this.scanCursor = rows.length < IDLE_SCAN_KEYS ? undefined : rows[rows.length - 1]![0];
    // 2. pick the users whose decision ended and the idle users (a committed change not yet flushed
    //    is newer than the stored value); a user is not idle while a decision holds them
    const idle: string[] = [];
    const ended = new Map<string, UserState>();
    /** Users whose decision record is tombstoned: the ended ones, and idle users forgotten with theirs. */
    const decided: string[] = [];
    for (const [key, stored] of rows) {
      const value = this.pending.has(key) ? this.pending.get(key) : stored;
      if (!value) continue;
      const times = peekTimes(value);
      if (times === undefined) continue;
      const decisionEnded = times.decisionUntil !== null && times.decisionUntil <= nowMs;
      const isIdleUser = ttl > 0 && Number.isFinite(horizon) && isIdle(times.since, horizon, ttl);
      if (isIdleUser && (times.decisionUntil === null || decisionEnded)) {
        idle.push(key);
        if (decisionEnded) decided.push(key);
      } else if (decisionEnded) {
        const state = decodeState(value);
        if (!state) continue;
        ended.set(key, state);
        decided.push(key);
      }
    }
    if ((!idle.length && !ended.size) || this.state !== 'active') return 0;
    // 3. one transaction (no input offset: no input was read): idle users tombstoned on the changelog;
    //    ended decisions tombstoned on the decisions topic, their users' states rewritten without them
    for (const state of ended.values()) state.dec = null;
    const forgotten = changelogTombstones(idle, this.partition);
    const rewritten = changelogRecords(ended, this.partition);
    const records: TopicMessages[] = [{ topic: this.deps.names.changelog, messages: [...forgotten, ...rewritten] }];
    if (decided.length) records.push({ topic: this.deps.names.decisions, messages: decisionTombstones(decided, this.partition) });
    const checkpoint = await this.commit(records);
    // 4. after the commit: forget them in the cache, stage the changes, write the store when due
    for (const key of idle) this.cache.delete(key);
    for (const key of ended.keys()) this.cache.delete(key);
    if (checkpoint !== undefined) this.stage([...forgotten, ...rewritten] as Array<{ key: string; value: Buffer | null }>, checkpoint, -idle.length);
    await this.flushOrDrop();
    if (idle.length) m.scorerUsersExpired.inc(idle.length);
    if (decided.length) m.scorerDecisionsEnded.inc(decided.length);
    this.deps.log.debug({ partition: this.partition, users: idle.length, decisionsEnded: decided.length }, 'idle users forgotten, ended decisions tombstoned');
    return idle.length + ended.size;
  }

  // -- flush ------------------------------------------------------------------------------------

  /** Writes the committed changes to the store when due (run through `exclusive`); a failure drops the task. */
  async flushOrDrop(): Promise<void> {
    if (!this.flushDue) return;
    await this.flush().catch((err: unknown) => this.drop(err));
  }

  /**
   * Writes the staged changes and their checkpoint to the store in one atomic batch (run through
   * `exclusive`). When it fails the store lags its changelog and the task must be closed: the restore
   * that reopening runs replays the difference.
   */
  private async flush(): Promise<void> {
    this.flushedAt = this.now();
    const checkpoint = this.pendingCheckpoint;
    if (checkpoint === undefined) return;
    await this.deps.store.write(entriesOf(this.pending), checkpoint, this.pendingUserDelta);
    this.pending.clear();
    this.pendingBytes = 0;
    this.pendingCheckpoint = undefined;
    this.pendingUserDelta = 0;
  }

  /** Records a committed change for the next flush. */
  private stage(entries: Iterable<{ key: string; value: Buffer | null }>, checkpoint: bigint, userDelta: number): void {
    for (const e of entries) {
      this.pending.set(e.key, e.value);
      this.pendingBytes += PENDING_ENTRY_BYTES + e.key.length + (e.value?.length ?? 0); // replaced versions included: an upper bound
    }
    this.pendingCheckpoint = checkpoint;
    this.pendingUserDelta += userDelta;
  }

  /** Evicts the least recently used users until the cache is within this task's share of scorer.cacheMaxBytes. */
  private trimCache(): void {
    if (!this.deps.budget) return;
    const limit = this.deps.budget().cacheBytes;
    while (this.cache.size > 0 && this.cache.calculatedSize > limit) this.cache.pop();
  }

  /** A store write failed after its changes were committed: closed (not flushed again), reported. */
  private async drop(err: unknown): Promise<void> {
    this.deps.log.error({ err, partition: this.partition }, 'writing the local store failed after the commit; the store will be restored from the changelog');
    await this.close({ flush: false });
    this.deps.onDropped?.(this, err);
  }

  // -- reads ------------------------------------------------------------------------------------

  /**
   * States of `keys` from the open transaction, else the cache, else the changes not yet flushed, else
   * the store (one getMany), else undefined (new users).
   */
  async load(keys: string[]): Promise<Map<string, UserState>> {
    return this.read(keys, false);
  }

  /**
   * The committed states of `keys` (the query route): a user the open transaction changed is read from
   * the committed bytes, since the cached object is the one scoring mutates in place. Run it through
   * `exclusive`, so that no batch is halfway through mutating a cached state.
   */
  async loadCommitted(keys: string[]): Promise<Map<string, UserState>> {
    return this.read(keys, true);
  }

  private async read(keys: string[], committedOnly: boolean): Promise<Map<string, UserState>> {
    const out = new Map<string, UserState>();
    const misses: string[] = [];
    const open = this.open?.states;
    for (const k of keys) {
      const changed = open?.get(k);
      const hit = committedOnly ? (changed ? undefined : this.cache.get(k)) : (changed ?? this.cache.get(k));
      if (hit) {
        out.set(k, hit);
        continue;
      }
      const pending = this.pending.get(k);
      if (pending === undefined) misses.push(k);
      else if (pending !== null) {
        const state = decodeState(pending);
        if (state) out.set(k, state);
      }
    }
    const values = await this.deps.store.getMany(misses);
    misses.forEach((k, i) => {
      const v = values[i];
      if (!v) return;
      const state = decodeState(v);
      if (state) out.set(k, state);
      else m.scorerStateUndecodable.inc(); // corrupted or foreign bytes: the user restarts from empty, counted
    });
    return out;
  }

  private assertActive(): void {
    if (this.state !== 'active') throw new Error(`partition ${this.partition} is ${this.state}, not active`);
    if (this.broken !== undefined) throw new Error(`partition ${this.partition}: a commit failed; the task must be reopened first`, { cause: this.broken });
  }
}

/** Adds `records` to what `tx` holds, with their bytes. */
function holdAll(tx: OpenTransaction, into: OutMessage[], records: OutMessage[]): void {
  for (let i = 0; i < records.length; i++) {
    into.push(records[i]!);
    tx.bytes += messageBytes(records[i]!);
  }
}

/** `what` names the record in the error (with its key): built only when it does not fit, off the hot path. */
function assertFits(msg: OutMessage, what: string): void {
  const bytes = messageBytes(msg);
  if (bytes > MAX_RECORD_BYTES) throw new RecordTooLargeError(`${what} ${String(msg.key)} is ${bytes} bytes, over the ${MAX_RECORD_BYTES}-byte record limit`);
}

function emptyResult(): BatchResult {
  return { dirty: new Map(), alerts: [], decisions: [], deadLetters: [], counts: { scored: 0, duplicate: 0, late: 0, clamped: 0, wrongPartition: 0, points: 0, newUsers: 0, truncated: 0 }, streamTime: -Infinity };
}

function recordBatchMetrics(log: Logger, partition: number, result: BatchResult, t0: bigint): void {
  const c = result.counts;
  m.scorerEvents.inc({ outcome: 'scored' }, c.scored);
  if (c.duplicate) m.scorerEvents.inc({ outcome: 'duplicate' }, c.duplicate);
  if (c.late) m.scorerEvents.inc({ outcome: 'late' }, c.late);
  if (c.clamped) m.scorerClamped.inc(c.clamped);
  if (c.wrongPartition) m.scorerWrongPartition.inc(c.wrongPartition);
  m.scorerPoints.inc(c.points);
  for (const a of result.alerts) m.scorerAlerts.inc({ tier: String(a.tier) });
  for (const d of result.decisions) m.scorerDecisions.inc({ action: d.action, source: d.source });
  for (const d of result.deadLetters) m.scorerDeadLettered.inc({ reason: d.reason });
  if (result.deadLetters.length) log.warn({ partition, deadLetters: result.deadLetters.map((d) => ({ offset: d.offset, reason: d.reason })) }, 'records dead-lettered');
  m.scorerBatchDuration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
}
