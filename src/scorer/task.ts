import type { Producer } from 'kafkajs';
import { LRUCache } from 'lru-cache';
import type { UserState } from '../scoring/index.ts';
import * as m from '../metrics/index.ts';
import { decodeState } from '../state/codec.ts';
import { entriesOf, PartitionStore } from '../state/store.ts';

// One owned input partition: its LevelDB store, its transactional producer (transactional id derived
// from the application id and the partition, so a zombie previous owner is fenced), a cache of
// decoded hot users, and the committed changes not yet written to the store (`pending`, flushed every
// scorer.storeFlushIntervalMs). The cache holds committed states after every batch; it is dropped
// whenever a transaction aborts, because scoring mutates cached states in place.

export type TaskPhase = 'restoring' | 'active' | 'closed';

export class PartitionTask {
  phase: TaskPhase = 'restoring';
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  readonly cache: LRUCache<string, UserState>;
  /**
   * Stream time: the newest event time this task has committed (ms; -Infinity until its first batch).
   * Idleness is measured against it (capped by the clock), so replaying old events never forgets users
   * between two of their events.
   */
  streamTime = -Infinity;
  /**
   * Committed changes not yet in the store, by user key (null = deleted): the latest value wins. Written
   * with `pendingCheckpoint` (the changelog end they reach) by the scorer's flush.
   */
  readonly pending = new Map<string, Buffer | null>();
  pendingCheckpoint: bigint | undefined;
  /** Users added (less users deleted) by the pending changes. */
  pendingUserDelta = 0;
  /** When the store was last written (ms, Date.now()). */
  flushedAt = Date.now();
  /** Where the idle-user scan resumes (the last key it looked at); undefined = from the first key. */
  scanCursor: string | undefined;
  /** The tail of the work run by `exclusive`: batches and punctuations never interleave on one producer. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly partition: number,
    readonly store: PartitionStore,
    readonly producer: Producer,
    cacheUsers: number,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined);
    this.cache = new LRUCache<string, UserState>({ max: Math.max(1, cacheUsers) });
  }

  /**
   * Runs `fn` after everything queued before it on this task: a partition's batches and punctuations
   * share one transactional producer and one store, and must not interleave.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Records a committed change for the next flush. */
  stage(entries: Iterable<{ key: string; value: Buffer | null }>, checkpoint: bigint, userDelta: number): void {
    for (const e of entries) this.pending.set(e.key, e.value);
    this.pendingCheckpoint = checkpoint;
    this.pendingUserDelta += userDelta;
  }

  /**
   * Writes the staged changes and their checkpoint to the store in one atomic batch (run through
   * `exclusive`, so nothing is staged meanwhile). When it fails the task must be closed: the store then
   * lags its changelog, and the restore that reopening runs replays the difference.
   */
  async flush(): Promise<void> {
    this.flushedAt = Date.now();
    const checkpoint = this.pendingCheckpoint;
    if (checkpoint === undefined) return;
    await this.store.write(entriesOf(this.pending), checkpoint, this.pendingUserDelta);
    this.pending.clear();
    this.pendingCheckpoint = undefined;
    this.pendingUserDelta = 0;
  }

  markActive(): void {
    this.phase = 'active';
    this.resolveReady();
  }

  markFailed(err: unknown): void {
    this.rejectReady(err);
  }

  /** States of `keys` from the cache, else the changes not yet flushed, else the store (one getMany), else undefined (new users). */
  async load(keys: string[]): Promise<Map<string, UserState>> {
    const out = new Map<string, UserState>();
    const misses: string[] = [];
    for (const k of keys) {
      const hit = this.cache.get(k);
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
    const values = await this.store.getMany(misses);
    misses.forEach((k, i) => {
      const v = values[i];
      if (!v) return;
      const state = decodeState(v);
      if (state) out.set(k, state);
      else m.scorerStateUndecodable.inc(); // corrupted or foreign bytes: the user restarts from empty, counted
    });
    return out;
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.rejectReady(new Error(`partition ${this.partition} closed`));
    this.cache.clear();
    await this.producer.disconnect().catch(() => undefined);
    await this.store.close().catch(() => undefined);
  }
}
