import type { Admin, Kafka } from 'kafkajs';
import type { Config } from '../config/schema.ts';
import { scorerCommitted } from '../kafka/offsets.ts';
import type { Logger } from '../log.ts';
import * as m from '../metrics/index.ts';
import { restore, type RestoreTarget } from '../state/restore.ts';
import { PartitionStore, type StoreMemory } from '../state/store.ts';
import type { TransactionalProducer } from './producer.ts';
import type { GroupGeneration } from './shared-transactions.ts';
import { PartitionTask, type TaskCodec, type TaskNames } from './task.ts';

// The task manager (Kafka Streams' TaskManager): which partitions this instance owns, their tasks
// (open, fence, restore, active, closed), readiness, the halted-partition and lag metrics, and the
// timers that flush and punctuate the tasks. It never touches a task's state: it calls the task.
//
// A store that cannot be opened does not hold up the other partitions: a corrupt one is moved aside
// and rebuilt from the changelog; one that is only unavailable (locked) is retried with backoff while
// its partition is paused; one that can be neither opened nor moved aside stops the process (onFatal),
// so the orchestrator replaces it.

export interface TaskManagerDeps {
  config: Config;
  kafka: Kafka;
  admin: Admin;
  log: Logger;
  names: TaskNames;
  /** Partitions of the input topic. */
  partitions: number;
  codec: TaskCodec;
  producerFor: (partition: number) => TransactionalProducer;
  /** Stops fetching a partition (its batches wait until `resume`). */
  pause: (partition: number) => void;
  resume: (partition: number) => void;
  /** Moves the consumer of `topic`/`partition` back to `offset` (an aborted transaction's records are fetched again). */
  seek?: (topic: string, partition: number, offset: bigint) => void;
  /** Repair is impossible: the process must exit non-zero. */
  onFatal: (err: unknown) => void;
  /**
   * Told the group member this process commits offsets as, after each join, once the tasks of the
   * partitions the join took away are closed (the shared producer's generation fencing).
   */
  onGeneration?: (g: GroupGeneration) => void;
  now?: () => number;
}

/** Backoff of a partition whose task could not be opened: 1 s doubling to 60 s. */
const OPEN_RETRY_BASE_MS = 1000;
const OPEN_RETRY_MAX_MS = 60_000;
/** How often committed changes are checked for a flush, lag is read from the broker, and halted partitions are retried. */
const LAG_INTERVAL_MS = 5000;
const USERS_INTERVAL_MS = 10_000;

export class TaskManager {
  private readonly deps: TaskManagerDeps;
  private readonly now: () => number;
  private readonly tasks = new Map<number, PartitionTask>();

  /** LevelDB's native memory per store (scorer.storeCacheBytes, storeWriteBufferBytes). */
  private get storeMemory(): StoreMemory {
    return { cacheBytes: this.deps.config.scorer.storeCacheBytes, writeBufferBytes: this.deps.config.scorer.storeWriteBufferBytes };
  }

  /** Each task's share of the process's memory budgets: divided by the partitions owned now. */
  private get budget(): { cacheBytes: number; pendingBytes: number } {
    const n = Math.max(1, this.tasks.size);
    const { cacheMaxBytes, storeFlushMaxBytes } = this.deps.config.scorer;
    return { cacheBytes: Math.floor(cacheMaxBytes / n), pendingBytes: Math.floor(storeFlushMaxBytes / n) };
  }
  private assigned: number[] = [];
  private joined = false;
  /** The group member this process was at its last join (undefined before the first, or without generations). */
  private generation: GroupGeneration | undefined;
  private stopping = false;
  /** Partitions whose task could not be opened: when to try again, and how many times it failed. */
  private readonly failing = new Map<number, { attempts: number; retryAt: number; reason: string }>();
  /** Partitions whose batches fail again and again (reported by the batch loop), with the reason. */
  private readonly stuck = new Map<number, string>();
  private readonly paused = new Set<number>();
  /** Partitions whose task dropped itself (a store write failed after a commit), until reopened. */
  private readonly dropped = new Set<number>();
  /** Ownership changes, one at a time; `busy` counts those queued or running. */
  private ownership: Promise<void> = Promise.resolve();
  private busy = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly punctuating = new Set<PartitionTask>();
  private lagged = new Set<number>();

  constructor(deps: TaskManagerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
  }

  // -- readiness --------------------------------------------------------------------------------

  isReady(): boolean {
    return this.joined && !this.stopping && this.assigned.every((p) => this.tasks.get(p)?.phase === 'active');
  }

  readiness(): { ready: boolean; detail: unknown } {
    const partitions = Object.fromEntries(this.assigned.map((p) => [p, this.tasks.get(p)?.phase ?? (this.failing.has(p) ? 'halted' : 'opening')]));
    const halted = Object.fromEntries([...this.haltedReasons()]);
    return { ready: this.isReady(), detail: { joined: this.joined, partitions, ...(Object.keys(halted).length ? { halted } : {}) } };
  }

  ownedPartitions(): number[] {
    return [...this.assigned];
  }

  /** The task of partition `p`, whatever its phase (the query route reads it). */
  task(p: number): PartitionTask | undefined {
    return this.tasks.get(p);
  }

  private haltedReasons(): Map<number, string> {
    const out = new Map<number, string>();
    for (const p of this.assigned) {
      const reason = this.failing.get(p)?.reason ?? this.stuck.get(p) ?? (this.dropped.has(p) ? 'task dropped: its store could not be written' : undefined);
      if (reason !== undefined) out.set(p, reason);
    }
    return out;
  }

  private updateGauges(): void {
    m.scorerReady.set(this.isReady() ? 1 : 0);
    m.scorerAssignedPartitions.set(this.assigned.length);
    m.scorerHaltedPartitions.set(this.haltedReasons().size);
  }

  /** The batch loop reports a partition whose batch keeps failing (`reason`), or that recovered (undefined). */
  reportStuck(p: number, reason: string | undefined): void {
    const was = this.stuck.get(p);
    if (reason === undefined) this.stuck.delete(p);
    else this.stuck.set(p, reason);
    if (was === undefined && reason !== undefined) this.deps.log.error({ partition: p, reason }, 'partition halted: its batch keeps failing; retrying with backoff');
    if (was !== undefined && reason === undefined) this.deps.log.info({ partition: p }, 'partition resumed');
    this.updateGauges();
  }

  // -- assignment -------------------------------------------------------------------------------

  onRebalancing(): void {
    this.joined = false;
    this.updateGauges();
  }

  /** Ownership learned from GROUP_JOIN (kafkajs has no revoke callback), serialised. */
  onAssignment(mine: number[], generation?: GroupGeneration): Promise<void> {
    return this.enqueue(() => this.assign(mine, generation));
  }

  private async assign(mine: number[], generation: GroupGeneration | undefined): Promise<void> {
    this.assigned = mine;
    this.joined = true;
    const lost = membershipLost(this.generation, generation);
    if (generation) this.generation = generation;
    this.deps.log.info({ partitions: mine, ...(generation ? { generation: generation.generationId } : {}) }, 'partitions assigned');
    if (lost) this.deps.log.warn({ was: lost.was, now: lost.now }, 'this member had left the consumer group (a generation passed without it): every task is reopened, since its partitions may have been processed elsewhere meanwhile');
    for (const [p, t] of [...this.tasks]) {
      if (mine.includes(p) && !lost) continue;
      this.tasks.delete(p);
      await t.close({ flush: true });
      m.scorerRestoreRemaining.remove(String(p));
      this.deps.log.info({ partition: p }, mine.includes(p) ? 'partition closed, to be reopened' : 'partition revoked, store closed');
    }
    // Only now: a commit as the new generation holds no partition this join took away.
    if (generation) this.deps.onGeneration?.(generation);
    for (const p of [...this.failing.keys(), ...this.stuck.keys(), ...this.paused, ...this.dropped]) {
      if (mine.includes(p)) continue;
      this.failing.delete(p);
      this.stuck.delete(p);
      this.dropped.delete(p);
      // kafkajs keeps a pause across rebalances: a partition given back later must be fetched again.
      if (this.paused.delete(p)) this.deps.resume(p);
    }
    this.forgetSeriesOf((p) => !mine.includes(p));
    this.updateGauges();
    const fresh = mine.filter((p) => !this.tasks.has(p) && !this.inBackoff(p));
    if (fresh.length) await this.openTasks(fresh);
    this.updateGauges();
    void this.updateLag(); // the owned partitions' series at once, not after the first interval
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.busy++;
    this.ownership = this.ownership
      .then(fn)
      .catch((err: unknown) => this.deps.log.error({ err }, 'assignment handling failed'))
      .finally(() => this.busy--);
    return this.ownership;
  }

  private inBackoff(p: number): boolean {
    const f = this.failing.get(p);
    return f !== undefined && this.now() < f.retryAt;
  }

  /** Removes the per-partition series of partitions no longer owned (a stale lag fires alerts). */
  private forgetSeriesOf(gone: (p: number) => boolean): void {
    for (const p of [...this.lagged]) {
      if (!gone(p)) continue;
      m.consumerLag.remove({ consumergroup: this.deps.names.groupId, topic: this.deps.names.input, partition: String(p) });
      this.lagged.delete(p);
    }
  }

  // -- open, fence, restore ---------------------------------------------------------------------

  /** Opens, fences and restores `partitions` together; a partition whose store fails is left out. */
  private async openTasks(partitions: number[]): Promise<void> {
    const opened: PartitionTask[] = [];
    for (const p of partitions) {
      const store = await this.openStore(p);
      if (!store) continue;
      const task = new PartitionTask({
        partition: p,
        partitions: this.deps.partitions,
        store,
        producer: this.deps.producerFor(p),
        codec: this.deps.codec,
        names: this.deps.names,
        scoring: this.deps.config.scoring,
        decisions: this.deps.config.decisions,
        cacheUsers: this.deps.config.scorer.cacheUsers,
        budget: () => this.budget,
        storeFlushIntervalMs: this.deps.config.scorer.storeFlushIntervalMs,
        idleUserTtlMs: this.deps.config.scorer.idleUserTtlMs,
        log: this.deps.log,
        now: this.now,
        onDropped: (t) => this.onDropped(t),
        commitIntervalMs: this.deps.config.scorer.commitIntervalMs,
        commitMaxRecords: this.deps.config.scorer.commitMaxRecords,
        alignCommits: this.deps.config.scorer.transactionScope === 'process',
        rewind: (topic, offset) => this.deps.seek?.(topic, p, offset),
        onFailed: (t, err) => this.onCommitFailed(t, err),
      });
      this.tasks.set(p, task);
      opened.push(task);
    }
    if (opened.length) await this.fenceAndRestore(opened);
  }

  private async fenceAndRestore(opened: PartitionTask[]): Promise<void> {
    const partitions = opened.map((t) => t.partition);
    try {
      // 1. fence every previous owner, together: with a producer per partition its transactional id
      //    does; with one per process the group's generation does, and the partition's id of the other
      //    scope is initialised too (a scorer of that scope may still be running outside the group);
      // 2. the group's offsets, read with require_stable (which waits for a previous owner's
      //    transaction holding offsets to end): stable from now on, as no one else commits them. A
      //    record below them was committed and is skipped if fetched again. The changelog end read
      //    next is stable too.
      await Promise.all(opened.map((t) => t.fence()));
      const names = this.deps.names;
      const [inputs, requests] = await Promise.all([scorerCommitted(this.deps.admin, this.deps.config, names.input, true), scorerCommitted(this.deps.admin, this.deps.config, names.requests, true)]);
      const offsets = await this.deps.admin.fetchTopicOffsets(this.deps.names.changelog);
      const targets = new Map<number, RestoreTarget>();
      for (const t of opened) {
        const o = offsets.find((x) => x.partition === t.partition)!;
        const end = BigInt(o.high);
        const { from } = await t.restoreStart(BigInt(o.low), end);
        targets.set(t.partition, { store: t.store, from, end });
        m.scorerRestoreRemaining.set({ partition: String(t.partition) }, Number(end - from));
      }
      const t0 = this.now();
      const applied = await restore({
        kafka: this.deps.kafka,
        topic: this.deps.names.changelog,
        groupPrefix: this.deps.config.applicationId,
        targets,
        log: this.deps.log,
        bufferBytes: this.deps.config.scorer.restoreBufferBytes,
        onProgress: (p, remaining, n) => {
          m.scorerRestoreRemaining.set({ partition: String(p) }, Number(remaining));
          m.scorerRestoreRecords.inc(n);
        },
      });
      for (const t of opened) {
        const committed = new Map<string, bigint>();
        const i = inputs.get(t.partition);
        const r = requests.get(t.partition);
        if (i !== undefined) committed.set(names.input, i);
        if (r !== undefined) committed.set(names.requests, r);
        this.activate(t, committed);
      }
      this.deps.log.info({ partitions, records: Object.fromEntries(applied), ms: this.now() - t0 }, 'partitions restored');
    } catch (err) {
      // Backed off like a store that cannot be opened: no reopening in a tight loop while it lasts.
      for (const t of opened) {
        t.markFailed(err);
        if (this.tasks.get(t.partition) === t) this.tasks.delete(t.partition);
        await t.close({ flush: false });
        this.markFailing(t.partition, `fencing or restore failed: ${(err as Error).message}`);
      }
    }
    this.updateGauges();
  }

  private activate(t: PartitionTask, committed: ReadonlyMap<string, bigint>): void {
    if (t.phase === 'closed') return;
    t.markActive(committed);
    this.dropped.delete(t.partition);
    const wasHalted = this.failing.delete(t.partition);
    if (wasHalted) this.deps.log.info({ partition: t.partition }, 'partition resumed');
    if (this.paused.delete(t.partition)) this.deps.resume(t.partition);
  }

  /**
   * The partition's store. A store LevelDB reports corrupt (or cannot open for any reason but a lock)
   * is moved aside and a new one built in its place, restored from the changelog; a locked one is
   * retried later (undefined, with backoff). Moving aside or creating failing is fatal.
   */
  private async openStore(p: number): Promise<PartitionStore | undefined> {
    const { stateDir } = this.deps.config.scorer;
    const changelog = this.deps.names.changelog;
    try {
      return await PartitionStore.open(stateDir, changelog, p, this.storeMemory);
    } catch (err) {
      if (levelCode(err) === 'LEVEL_LOCKED') {
        this.markFailing(p, `store locked: ${(err as Error).message}`);
        return undefined;
      }
      let aside: string;
      try {
        aside = PartitionStore.moveAside(stateDir, changelog, p, this.now());
      } catch (moveErr) {
        this.deps.log.fatal({ err: moveErr, partition: p }, 'a store that cannot be opened cannot be moved aside either; exiting');
        this.deps.onFatal(moveErr);
        return undefined;
      }
      this.deps.log.error({ err, partition: p, movedTo: aside }, 'the store could not be opened; moved aside, rebuilding it from the changelog');
      m.scorerStoresRebuilt.inc();
      try {
        return await PartitionStore.open(stateDir, changelog, p, this.storeMemory);
      } catch (again) {
        this.deps.log.fatal({ err: again, partition: p }, 'a new store cannot be created; exiting');
        this.deps.onFatal(again);
        return undefined;
      }
    }
  }

  /** A partition whose task could not be opened or restored: backed off (1 s doubling to 60 s), one log line per attempt. */
  private markFailing(p: number, reason: string): void {
    const attempts = (this.failing.get(p)?.attempts ?? 0) + 1;
    const delay = Math.min(OPEN_RETRY_MAX_MS, OPEN_RETRY_BASE_MS * 2 ** Math.min(attempts - 1, 10));
    this.failing.set(p, { attempts, retryAt: this.now() + delay, reason });
    this.deps.log.error({ partition: p, reason, attempts, retryInMs: delay }, 'partition halted; retrying with backoff');
    this.updateGauges();
  }

  /** A task that dropped itself (its store could not be written): reopened by its next batch. */
  private onDropped(t: PartitionTask): void {
    if (this.tasks.get(t.partition) === t) this.tasks.delete(t.partition);
    this.dropped.add(t.partition);
    this.updateGauges();
  }

  /** A commit outside a batch (the commit timer) failed: the task is reopened by its next batch, as after a failed batch. */
  private onCommitFailed(t: PartitionTask, err: unknown): void {
    this.deps.log.warn({ err: (err as Error).message, partition: t.partition }, 'committing the open transaction failed; it was aborted and its records are fetched again after the task is reopened');
    void this.closeTask(t);
  }

  /** Closes a task after its batch failed (it is reopened, fencing and restoring, before the retry). */
  async closeTask(t: PartitionTask): Promise<void> {
    if (this.tasks.get(t.partition) === t) this.tasks.delete(t.partition);
    await t.close({ flush: true }); // what it committed before is written, not replayed
    this.updateGauges();
  }

  // -- the batch loop's view --------------------------------------------------------------------

  /**
   * The active task of partition `p`, waiting (with heartbeats, so a long restore never costs the
   * group membership) while it restores and opening it if none exists. A partition whose store is in
   * backoff is paused instead (undefined): the other partitions go on, and it resumes once active.
   */
  async taskFor(p: number, heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<PartitionTask | undefined> {
    while (isRunning() && !this.stopping) {
      const t = this.tasks.get(p);
      if (t?.phase === 'active') return t;
      if (!t && this.inBackoff(p)) {
        if (!this.paused.has(p)) {
          this.paused.add(p);
          this.deps.pause(p);
        }
        return undefined;
      }
      if (t) await Promise.race([t.ready.catch(() => undefined), sleep(1000)]);
      else if (this.busy > 0) await Promise.race([this.ownership, sleep(1000)]);
      else await Promise.race([this.enqueue(() => (this.tasks.has(p) ? Promise.resolve() : this.openTasks([p]))), sleep(1000)]);
      await heartbeat();
    }
    return undefined;
  }

  /** The group's committed offset of partition `p` of `topic` (the input by default); -1 when none. */
  async committedOffset(p: number, topic?: string): Promise<bigint> {
    return (await scorerCommitted(this.deps.admin, this.deps.config, topic, true)).get(p) ?? -1n;
  }

  // -- timers -----------------------------------------------------------------------------------

  start(): void {
    const { storeFlushIntervalMs, punctuateIntervalMs } = this.deps.config.scorer;
    this.every(Math.max(100, storeFlushIntervalMs), () => this.flushDue());
    // Always: besides idle users (when idleUserTtlMs > 0) it tombstones decisions whose time ran out.
    this.every(punctuateIntervalMs, () => this.punctuateAll());
    this.every(USERS_INTERVAL_MS, () => void this.countUsers());
    this.every(LAG_INTERVAL_MS, () => {
      void this.updateLag();
      this.retryHalted();
    });
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  /** Committed changes of partitions that received no batch since they became due reach the store too. */
  private flushDue(): void {
    for (const t of this.tasks.values()) if (t.flushDue) void t.exclusive(() => t.flushOrDrop());
  }

  /** Each active store, one slice at a time, queued behind its partition's running batch. */
  private punctuateAll(): void {
    if (this.stopping) return;
    for (const t of this.tasks.values()) {
      if (t.phase !== 'active' || this.punctuating.has(t)) continue;
      this.punctuating.add(t);
      void t
        .exclusive(() => t.punctuate())
        .catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message, partition: t.partition }, 'forgetting idle users failed; retried at the next punctuation'))
        .finally(() => this.punctuating.delete(t));
    }
  }

  /** Counted once per opened store (a key scan), then kept by each write. */
  private async countUsers(): Promise<void> {
    const active = [...this.tasks.values()].filter((t) => t.phase === 'active');
    const n = await Promise.all(active.map((t) => t.store.countUsers().catch(() => 0)));
    m.scorerUsers.set(n.reduce((a, b) => a + b, 0));
  }

  /**
   * Lag of every owned partition from the broker's offsets (the group's committed offset and the log
   * end), whatever the batches do: a halted partition's lag grows. Failures leave the last values.
   */
  async updateLag(): Promise<void> {
    if (!this.joined || this.stopping) return;
    const owned = [...this.assigned];
    try {
      const [ends, committed] = await Promise.all([this.deps.admin.fetchTopicOffsets(this.deps.names.input), scorerCommitted(this.deps.admin, this.deps.config)]);
      for (const e of ends) {
        if (!owned.includes(e.partition) || !this.assigned.includes(e.partition)) continue;
        const lag = BigInt(e.high) - (committed.get(e.partition) ?? BigInt(e.low));
        m.consumerLag.set({ consumergroup: this.deps.names.groupId, topic: this.deps.names.input, partition: String(e.partition) }, Math.max(0, Number(lag)));
        this.lagged.add(e.partition);
      }
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message }, 'reading consumer lag failed; retried at the next interval');
    }
  }

  /** Halted partitions whose backoff has passed are opened again (their partition resumes once active). */
  private retryHalted(): void {
    if (this.stopping || this.busy > 0) return;
    const due = this.assigned.filter((p) => !this.tasks.has(p) && this.failing.has(p) && !this.inBackoff(p));
    // Filtered again when it runs: a rebalance queued before it may have moved or opened them.
    if (due.length) void this.enqueue(() => this.openTasks(due.filter((p) => this.assigned.includes(p) && !this.tasks.has(p)))).then(() => this.updateGauges());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.updateGauges();
    for (const t of this.timers) clearInterval(t);
  }

  /**
   * Before the consumer leaves the group (a clean stop): every open transaction is committed (after the
   * batch running on it), so the next owner starts after it. One that fails is aborted and redone there.
   */
  async commitAll(): Promise<void> {
    await Promise.all(
      [...this.tasks.values()].map((t) =>
        t.phase !== 'active'
          ? undefined
          : t.exclusive(() => t.commitOpen()).catch((err: unknown) => this.deps.log.warn({ err: (err as Error).message, partition: t.partition }, 'committing the open transaction before leaving failed; the next owner redoes it')),
      ),
    );
  }

  /** After the consumer left the group: pending ownership work done, every store written and closed. */
  async closeAll(): Promise<void> {
    await this.ownership.catch(() => undefined);
    for (const t of this.tasks.values()) await t.close({ flush: true });
    this.tasks.clear();
  }
}

/**
 * Whether this member missed a generation of the group between two joins (a new member id, or a
 * generation skipped: a member that stays in the group joins every one), so that partitions it owned
 * may have been processed by another member meanwhile.
 */
function membershipLost(before: GroupGeneration | undefined, now: GroupGeneration | undefined): { was: GroupGeneration; now: GroupGeneration } | undefined {
  if (!before || !now) return undefined;
  return now.memberId !== before.memberId || now.generationId > before.generationId + 1 ? { was: before, now } : undefined;
}

function levelCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
