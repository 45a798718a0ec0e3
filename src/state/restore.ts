import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { restoreGroupId } from '../kafka/names.ts';
import type { Logger } from '../log.ts';
import { entriesOf, type PartitionStore } from './store.ts';

// Restore replays the committed changelog (read_committed) into the local stores, from each store's
// checkpoint to the end offset read when the restore began (after this instance fenced the previous
// owner, so no transaction is open and the end is stable). A partition is done when its position
// reaches that end. The last offsets below the end can be transaction markers or aborted records,
// which a read_committed fetch never returns: when fetches come back empty while data is still
// "missing", the rest is markers, and the partition is done too (waiting for end - 1 would hang).
// Records are buffered per partition (the latest value per key) and written with the offset reached as
// the checkpoint, one LevelDB batch per buffer-full: an interrupted restore resumes from there.

export interface RestoreTarget {
  store: PartitionStore;
  /** First changelog offset to read (the store's checkpoint, or the log start for a rebuild). */
  from: bigint;
  /** End offset (exclusive) read before the restore started. */
  end: bigint;
}

export interface RestoreOptions {
  kafka: Kafka;
  topic: string;
  groupPrefix: string;
  targets: Map<number, RestoreTarget>;
  log: Logger;
  /** After each batch applied and once when a partition is done: the records left, and the records just applied. */
  onProgress?: (partition: number, remaining: bigint, records: number) => void;
  /** Consecutive empty fetches (each up to fetchWaitMs) that mean "only markers are left". */
  idleFetches?: number;
  fetchWaitMs?: number;
  /** Bytes buffered before a write, in all (scorer.restoreBufferBytes). */
  bufferBytes?: number;
}

/**
 * Bytes of changelog keys and values a restore holds before writing them to the stores, when the caller
 * gives no `bufferBytes` (scorer.restoreBufferBytes): a changelog not yet compacted holds many versions
 * of each user, and only the last one read is written. A partition takes at most a quarter of it.
 */
const RESTORE_BUFFER_DEFAULT = 32 * 1024 * 1024;
/** Heap bytes of a buffered entry beside its key and value (map entry, Buffer object). */
const BUFFERED_ENTRY_BYTES = 120;

/** A partition being restored: the next offset to read, and the latest value per key read but not yet written. */
interface Restoring {
  target: RestoreTarget;
  next: bigint;
  buffered: Map<string, Buffer | null>;
  /**
   * Bytes of the keys and values in `buffered`. A replaced version is subtracted: each value is a copy
   * of its own, so a replaced one is garbage, not memory held, and a changelog before compaction (many
   * versions of each user) fills the buffer with users, not versions.
   */
  bytes: number;
}

/** Replays changelog records into the stores; returns the number of records applied per partition. */
export async function restore(opts: RestoreOptions): Promise<Map<number, number>> {
  const applied = new Map<number, number>();
  const pending = new Map<number, Restoring>();
  for (const [p, t] of opts.targets) {
    applied.set(p, 0);
    if (t.from < t.end) pending.set(p, { target: t, next: t.from, buffered: new Map(), bytes: 0 });
    else opts.onProgress?.(p, 0n, 0);
  }
  if (pending.size === 0) return applied;
  const total = opts.bufferBytes ?? RESTORE_BUFFER_DEFAULT;
  const bufferBytes = Math.min(Math.floor(total / 4), Math.floor(total / pending.size));

  const consumer = opts.kafka.consumer({
    groupId: restoreGroupId(opts.groupPrefix, randomUUID()),
    readUncommitted: false,
    maxWaitTimeInMs: opts.fetchWaitMs ?? 100,
    sessionTimeout: 30_000,
    retry: { retries: 10 },
  });
  const idleLimit = opts.idleFetches ?? 5;
  // Empty fetches since a batch of a pending partition last arrived (even one skipped because the
  // seek had not landed yet), and when that was: both must pass before "only markers are left".
  let idle = 0;
  let lastActivity = Date.now();
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  /** Writes what a partition buffered, with the offset it reached as the store's checkpoint. */
  const flush = async (e: Restoring, checkpoint: bigint) => {
    const buffered = e.buffered;
    e.buffered = new Map();
    e.bytes = 0;
    await e.target.store.write(entriesOf(buffered), checkpoint);
  };
  const complete = async (p: number, checkpoint: bigint) => {
    const entry = pending.get(p);
    if (!entry) return;
    pending.delete(p);
    if (checkpoint > entry.next || entry.buffered.size) await flush(entry, checkpoint > entry.next ? checkpoint : entry.next);
    // Done: nothing left, no new records (each batch reported its own; reporting the partition's total
    // here counted every record twice in risk_hub_scorer_restore_records_total).
    opts.onProgress?.(p, 0n, 0);
    if (pending.size === 0) finish();
  };

  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [p, e] of pending) consumer.seek({ topic: opts.topic, partition: p, offset: e.next.toString() });
  });
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  consumer.on(consumer.events.FETCH, () => {
    if (++idle < idleLimit || Date.now() - lastActivity < 1000) return;
    // Nothing readable is left below the end offsets: only markers or aborted records remain.
    for (const [p, e] of [...pending]) void complete(p, e.target.end).catch(fail);
  });

  await consumer.connect();
  try {
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat }) => {
        const e = pending.get(batch.partition);
        if (!e || batch.messages.length === 0) return;
        idle = 0;
        lastActivity = Date.now();
        let last = -1n;
        let n = 0;
        const messages = batch.messages;
        // Offsets ascend within a batch: when its first and last are in [next, end), every record is,
        // and no record's offset needs parsing (a BigInt per record was ~5% of a restore's time).
        const whole = BigInt(messages[0]!.offset) >= e.next && BigInt(messages[messages.length - 1]!.offset) < e.target.end;
        for (let i = 0; i < messages.length; i++) {
          const m = messages[i]!;
          if (!whole) {
            const off = BigInt(m.offset);
            if (off < e.next || off >= e.target.end) continue; // before the seek landed, or written after we began
            last = off;
          }
          if (m.key) {
            const key = m.key.toString('utf8');
            // A copy: kafkajs' values are slices of the whole fetch response, which one kept value
            // would keep alive. A later version replaces an earlier one.
            const before = e.buffered.get(key);
            e.buffered.set(key, m.value && Buffer.from(m.value));
            e.bytes += before === undefined ? BUFFERED_ENTRY_BYTES + m.key.length + (m.value?.length ?? 0) : (m.value?.length ?? 0) - (before?.length ?? 0);
            n++;
          }
        }
        if (whole) last = BigInt(messages[messages.length - 1]!.offset);
        if (last < 0n) return;
        e.next = last + 1n;
        if (e.bytes >= bufferBytes) await flush(e, e.next);
        applied.set(batch.partition, (applied.get(batch.partition) ?? 0) + n);
        opts.onProgress?.(batch.partition, e.target.end - e.next, n);
        if (e.next >= e.target.end) await complete(batch.partition, e.next);
        await heartbeat();
      },
    });
    await done;
  } finally {
    await consumer.disconnect().catch((err: unknown) => opts.log.warn({ err }, 'restore consumer disconnect failed'));
  }
  return applied;
}
