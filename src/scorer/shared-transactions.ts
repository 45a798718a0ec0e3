import type { Producer } from 'kafkajs';
import { TransactionFencedByGroupError } from '../errors.ts';
import * as m from '../metrics/index.ts';
import { GroupCommit } from '../notify/group-commit.ts';
import { causes } from './failures.ts';
import { initTransactions, offsetTopics, sendInTransaction, type InputOffset, type SentRange, type TopicMessages, type TransactionalProducer } from './producer.ts';

// One transactional producer for every partition task of a process (scorer.transactionScope
// `process`; Kafka Streams' exactly_once_v2, KIP-447). The tasks keep their own transactions as far as
// they can tell (producer.ts's port): each `transact` joins the next shared transaction, and the
// transactions that arrive while one is in flight go out together in the following one (GroupCommit).
// Tasks whose commit timers share a grid (task.ts, `alignCommits`) commit together, so a process
// commits once per scorer.commitIntervalMs instead of once per partition.
//
// Fencing moves from the transactional id to the consumer group: the input offsets are committed with
// the group's generation and member id (TxnOffsetCommit v3), so a member the group has moved on from
// (a zombie) cannot commit; a punctuation's transaction carries its partition's committed offsets
// unchanged, so it meets that check too. A new owner reads the group's offsets
// with require_stable, which waits for a previous owner's transaction holding offsets to end. The
// transactional id is the process's own (persisted in the state directory): a restarted process aborts
// what its previous incarnation left open at once; the open transaction of a process that never comes
// back is aborted by the broker after SHARED_TRANSACTION_TIMEOUT_MS.
//
// One commit for many partitions means one failure for many: a failed shared transaction fails the
// `transact` of every task in it, and each rolls back as it would after its own failure.

/** The consumer group member the offsets are committed as (from the group's join). */
export interface GroupGeneration {
  generationId: number;
  memberId: string;
}

/** Tasks' transactions in one shared transaction at most (a process owns at most this many partitions' worth of work per commit). */
const MAX_PARTS = 1024;

interface Part {
  partition: number;
  records: TopicMessages[];
  offsets: InputOffset[];
}

export interface SharedTransactionsDeps {
  /** A new transactional producer (not connected); called again after a failure its abort could not settle. */
  createProducer: () => Producer;
  groupId: string;
  /**
   * Fences the partition's transactional id of the `partition` scope (`<app>-scorer-<p>`): a scorer of
   * that scope still running outside the group (frozen, partitioned away) could otherwise commit the
   * transaction it holds open after this process took the partition over. Absent: nothing to fence.
   */
  fencePartitionScope?: (partition: number) => Promise<void>;
}

export class SharedTransactions {
  private readonly deps: SharedTransactionsDeps;
  private producer: Producer | undefined;
  private initialised: Promise<Producer> | undefined;
  private generation: GroupGeneration | undefined;
  private readonly group: GroupCommit<Part, SentRange[]>;

  constructor(deps: SharedTransactionsDeps) {
    this.deps = deps;
    this.group = new GroupCommit((parts) => this.commit(parts), MAX_PARTS);
  }

  /** Shared transactions committed (one per GroupCommit flush), for tests and the benchmark. */
  get commits(): number {
    return this.group.flushes;
  }

  /**
   * The member the offsets are committed as from now on. Set it only once the tasks of partitions the
   * join took away are closed: a commit with the new generation must hold owned partitions only.
   */
  setGeneration(g: GroupGeneration): void {
    this.generation = { generationId: g.generationId, memberId: g.memberId };
  }

  /** The port a partition task commits through. */
  portFor(partition: number): TransactionalProducer {
    return {
      fence: async () => {
        await this.init();
        await this.deps.fencePartitionScope?.(partition);
      },
      transact: (records, offsets) => this.group.add({ partition, records, offsets }),
      // The producer is the process's: `close` disconnects it.
      disconnect: async () => undefined,
    };
  }

  async close(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    this.initialised = undefined;
    await p?.disconnect().catch(() => undefined);
  }

  /** The connected producer, its transactional id initialised (once; again after a failure dropped it). */
  private init(): Promise<Producer> {
    this.initialised ??= (async () => {
      const producer = this.deps.createProducer();
      this.producer = producer;
      try {
        await initTransactions(producer);
        return producer;
      } catch (err) {
        await this.close(); // the next transaction connects a new producer, whose initialisation settles what this one left
        throw err;
      }
    })();
    return this.initialised;
  }

  /**
   * One shared transaction for `parts`, tried again (a few times, shortly) when it was certainly aborted
   * for a passing reason: the broker answers CONCURRENT_TRANSACTIONS while the markers of the previous
   * transaction are still being written, which kafkajs does not retry when adding the offsets.
   */
  private async commit(parts: Part[]): Promise<SentRange[][]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.commitOnce(parts);
      } catch (err) {
        if (!(err instanceof CertainAbort)) throw err;
        if (attempt >= PASSING_RETRIES || !passing(err.reason)) throw err.reason;
        await new Promise((r) => setTimeout(r, PASSING_RETRY_MS * 2 ** attempt));
      }
    }
  }

  /**
   * 1. begin; 2. every part's records in one send (a few requests for large ones); 3. every part's input
   * offsets in one TxnOffsetCommit, as this member of this generation; 4. commit. Any failure aborts it
   * and fails every part (a CertainAbort when it failed before the commit was asked and the abort
   * succeeded); an abort that fails drops the producer.
   */
  private async commitOnce(parts: Part[]): Promise<SentRange[][]> {
    const producer = await this.init();
    const g = this.generation;
    const offsets = parts.flatMap((p) => p.offsets);
    if (offsets.length && !g) throw new Error('no consumer group generation yet: offsets cannot be committed');
    const tx = await producer.transaction();
    let committing = false;
    try {
      const sent = await sendInTransaction(
        tx,
        parts.flatMap((p) => p.records),
      );
      if (offsets.length) await tx.sendOffsets({ consumerGroupId: this.deps.groupId, topics: offsetTopics(offsets), consumerGroupMetadata: g! });
      committing = true;
      await tx.commit();
      m.scorerSharedTransactionParts.observe(parts.length);
      return parts.map((p) => sent.filter((r) => r.partition === p.partition));
    } catch (err) {
      const aborted = await tx.abort().then(
        () => true,
        async () => {
          await this.close(); // the next transaction connects a new producer, whose initialisation settles what this one left
          return false;
        },
      );
      // Refused by the group (a rebalance moved on), and aborted: certainly not committed.
      if (aborted && refusedByGroup(err)) {
        throw new TransactionFencedByGroupError(`the consumer group refused the transaction's offsets (${(err as Error).message}): aborted, its records are scored again after the rejoin`, { cause: err });
      }
      if (aborted && !committing) throw new CertainAbort(err);
      throw err;
    }
  }
}

/** Attempts of a shared transaction aborted for a passing reason, after the first, and the first wait (ms, doubling). */
const PASSING_RETRIES = 3;
const PASSING_RETRY_MS = 20;

/** A shared transaction that failed before its commit was asked and was aborted: nothing of it is in doubt. */
class CertainAbort extends Error {
  constructor(readonly reason: unknown) {
    super('aborted');
  }
}

/** Whether a certainly aborted transaction may succeed at once if tried again (kafkajs marks such broker errors retriable). */
function passing(err: unknown): boolean {
  const e = err as { retriable?: unknown; type?: unknown } | null;
  return e?.type === 'CONCURRENT_TRANSACTIONS' || (e?.retriable === true && typeof e.type === 'string');
}

/** TxnOffsetCommit errors that mean this member's generation is over (the group rebalanced), not that anything is in doubt. */
const GROUP_FENCING = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID', 'REBALANCE_IN_PROGRESS']);

/** Whether `err`, or what it wraps (kafkajs' retrier wraps the broker's error), is a group-fencing error. */
function refusedByGroup(err: unknown): boolean {
  for (const e of causes(err)) {
    const type = (e as { type?: unknown }).type;
    if (typeof type === 'string' && GROUP_FENCING.has(type)) return true;
  }
  return false;
}
