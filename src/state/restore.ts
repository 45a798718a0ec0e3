import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { restoreGroupId } from '../kafka/names.ts';
import type { Logger } from '../log.ts';
import { KeySet } from './key-set.ts';
import type { PartitionStore } from './store.ts';

// Restore replays the committed changelog (read_committed) into the local stores, from each store's
// checkpoint to the end offset read when the restore began (after this instance fenced the previous
// owner, so no transaction is open and the end is stable).
//
// It reads each partition BACKWARDS, a chunk of offsets at a time, newest chunk first: a chunk is read
// forwards (as Kafka serves it), the latest version of each key in it kept, and a key already written
// from a newer chunk skipped. So each user is written to LevelDB once, at its newest version (a
// tombstone deletes it), and older versions cost only their decoding: a changelog not yet compacted
// holds many versions of each user (one per transaction that changed it), and writing them all, or a
// buffer-full of them at a time, made LevelDB's writes and compactions half of a restore.
//
// The checkpoint is written once, with the oldest chunk: a restore interrupted before that leaves
// some users at their newest state and the old checkpoint, and the next restore reads the same range
// again (writing the same values). A chunk is complete when the partition's position passes its last
// offset (transaction markers and aborted records count: a read_committed fetch never returns them but
// moves past them). The newest chunk may end in markers only, which no fetch reports: when fetches come
// back empty while it is still open, the rest is markers, and it is complete too.

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
  /** After each chunk applied and once when a partition is done: the offsets left to read, and the records just read. */
  onProgress?: (partition: number, remaining: bigint, records: number) => void;
  /** Consecutive empty fetches (each up to fetchWaitMs) that mean "only markers are left". */
  idleFetches?: number;
  fetchWaitMs?: number;
  /** Changelog bytes read per chunk in all partitions together (scorer.restoreBufferBytes); a partition's chunk is a quarter of it at most. */
  bufferBytes?: number;
}

/** Bytes per chunk in all partitions, when the caller gives no `bufferBytes` (scorer.restoreBufferBytes). */
const RESTORE_BUFFER_DEFAULT = 16 * 1024 * 1024;
/** Bytes of a changelog record beside its key and value (offset delta, timestamp, lengths, batch header share). */
const RECORD_OVERHEAD_BYTES = 24;
/** Bytes per offset assumed for a partition's first chunk, before any record of it was read. */
const FIRST_GUESS_BYTES_PER_OFFSET = 512;
/** The fewest offsets in a chunk (a chunk that small is one fetch whatever the record size). */
const MIN_CHUNK_OFFSETS = 64n;

/** The offsets [lo, hi) of one partition being read, and the latest value per key in it not yet written from a newer chunk. */
interface Chunk {
  lo: bigint;
  hi: bigint;
  latest: Map<string, Buffer | null>;
  /** Records read in it (every version), and their key and value bytes plus overhead. */
  records: number;
  bytes: number;
  /** The chunk is being applied: batches that arrive before the seek to the next one lands are ignored. */
  closing: boolean;
}

/** A partition being restored. */
interface Restoring {
  target: RestoreTarget;
  chunk: Chunk;
  /** Keys written from newer chunks: an older version of them is skipped. */
  seen: KeySet;
  /** Bytes per offset measured so far (chunk sizes follow it). */
  bytesPerOffset: number;
  /** The previous chunk's write (one in flight per partition while the next chunk is read). */
  writing: Promise<void>;
}

/** Replays changelog records into the stores; returns the number of records read per partition. */
export async function restore(opts: RestoreOptions): Promise<Map<number, number>> {
  const applied = new Map<number, number>();
  const pending = new Map<number, Restoring>();
  const total = opts.bufferBytes ?? RESTORE_BUFFER_DEFAULT;
  const started = [...opts.targets.values()].filter((t) => t.from < t.end).length;
  const chunkBytes = started ? Math.min(Math.floor(total / 4), Math.floor(total / started)) : 0;
  const chunkBelow = (hi: bigint, from: bigint, bytesPerOffset: number): Chunk => {
    const span = BigInt(Math.max(Number(MIN_CHUNK_OFFSETS), Math.floor(chunkBytes / bytesPerOffset)));
    return { lo: hi - span > from ? hi - span : from, hi, latest: new Map(), records: 0, bytes: 0, closing: false };
  };
  for (const [p, t] of opts.targets) {
    applied.set(p, 0);
    if (t.from < t.end) pending.set(p, { target: t, chunk: chunkBelow(t.end, t.from, FIRST_GUESS_BYTES_PER_OFFSET), seen: new KeySet(), bytesPerOffset: FIRST_GUESS_BYTES_PER_OFFSET, writing: Promise.resolve() });
    else opts.onProgress?.(p, 0n, 0);
  }
  if (pending.size === 0) return applied;

  const consumer = opts.kafka.consumer({
    groupId: restoreGroupId(opts.groupPrefix, randomUUID()),
    readUncommitted: false,
    maxWaitTimeInMs: opts.fetchWaitMs ?? 100,
    sessionTimeout: 30_000,
    retry: { retries: 10 },
  });
  const idleLimit = opts.idleFetches ?? 5;
  // Empty fetches since a batch of a pending partition last arrived, and when that was: both must pass
  // before "only markers are left" in a newest chunk.
  let idle = 0;
  let lastActivity = Date.now();
  let finish!: () => void;
  let fail!: (err: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });

  /**
   * Applies a partition's complete chunk: its keys not written from a newer chunk are written (after the
   * previous chunk's write), and the partition seeks to the chunk below, or is done with the oldest.
   */
  const closeChunk = (p: number, e: Restoring): void => {
    const c = e.chunk;
    c.closing = true;
    const entries: Array<{ key: string; value: Buffer | null }> = [];
    for (const [key, value] of c.latest) {
      // The scorer writes changelog keys from strings (valid UTF-8, user keys within src/identity.ts'
      // limits), so these bytes are the records' own.
      e.seen.addString(key);
      entries.push({ key, value });
    }
    c.latest.clear();
    if (c.records > 0) e.bytesPerOffset = Math.max(1, c.bytes / Number(c.hi - c.lo));
    applied.set(p, (applied.get(p) ?? 0) + c.records);
    const last = c.lo <= e.target.from;
    const store = e.target.store;
    // The oldest chunk carries the checkpoint: only then does the store reflect every offset below the end.
    if (entries.length || last) {
      e.writing = e.writing.then(() => store.write(entries, last ? e.target.end : undefined));
      e.writing.catch(fail);
    }
    opts.onProgress?.(p, c.lo - e.target.from, c.records);
    if (!last) {
      e.chunk = chunkBelow(c.lo, e.target.from, e.bytesPerOffset);
      consumer.seek({ topic: opts.topic, partition: p, offset: e.chunk.lo.toString() });
      return;
    }
    pending.delete(p);
    e.seen.clear();
    // Done: no more fetches of it (they would read the newer chunks again).
    consumer.pause([{ topic: opts.topic, partitions: [p] }]);
    void e.writing.then(() => {
      if (pending.size === 0) finish();
    }, fail);
  };
  /** The partition's position passed `last`: its chunk is complete when that is at or past its last offset. */
  const reached = (p: number, e: Restoring, last: bigint): void => {
    if (!e.chunk.closing && last >= e.chunk.hi - 1n) closeChunk(p, e);
  };

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [p, e] of pending) consumer.seek({ topic: opts.topic, partition: p, offset: e.chunk.lo.toString() });
    // Every partition of the changelog is this consumer's: those not restored here are never fetched.
    const others = (payload.memberAssignment[opts.topic] ?? []).filter((p) => !pending.has(p));
    if (others.length) consumer.pause([{ topic: opts.topic, partitions: others }]);
  });
  consumer.on(consumer.events.CRASH, (e) => fail(e.payload.error));
  // A fetch of only markers or aborted records calls no eachBatch, but moves the position past them.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const e = pending.get(payload.partition);
    const first = payload.firstOffset as string | null;
    if (!e || payload.batchSize > 0 || first === null) return;
    if (BigInt(first) >= e.chunk.lo) reached(payload.partition, e, BigInt(payload.lastOffset));
  });
  consumer.on(consumer.events.FETCH, () => {
    if (++idle < idleLimit || Date.now() - lastActivity < 1000) return;
    // Nothing readable is left below the end offsets of the newest chunks: only markers or aborted records.
    for (const [p, e] of [...pending]) if (e.chunk.hi === e.target.end) reached(p, e, e.target.end);
  });

  await consumer.connect();
  try {
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, heartbeat }) => {
        const e = pending.get(batch.partition);
        const c = e?.chunk;
        // Fetched below the chunk: before the first seek landed (kafkajs drops what was fetched before a later one).
        const fetched = (batch as { fetchedOffset?: string }).fetchedOffset;
        if (!e || !c || c.closing || (fetched !== undefined && BigInt(fetched) < c.lo)) return;
        idle = 0;
        lastActivity = Date.now();
        const messages = batch.messages;
        // Offsets ascend within a batch: when its first and last are in [lo, hi), every record is, and
        // no record's offset needs parsing (a BigInt per record was ~5% of a restore's time).
        const whole = messages.length > 0 && BigInt(messages[0]!.offset) >= c.lo && BigInt(messages[messages.length - 1]!.offset) < c.hi;
        const seen = e.seen;
        const latest = c.latest;
        for (let i = 0; i < messages.length; i++) {
          const m = messages[i]!;
          if (!whole) {
            const off = BigInt(m.offset);
            if (off < c.lo || off >= c.hi) continue;
          }
          c.records++;
          if (!m.key) continue;
          c.bytes += RECORD_OVERHEAD_BYTES + m.key.length + (m.value?.length ?? 0);
          // A newer chunk wrote this user: this version is older. Within the chunk a later one replaces
          // an earlier one. A copy: kafkajs' values are slices of the whole fetch response (all
          // partitions' records), which one kept value would keep alive until its chunk is written.
          if (!seen.has(m.key)) latest.set(m.key.toString('utf8'), m.value && Buffer.from(m.value));
        }
        reached(batch.partition, e, BigInt(batch.lastOffset()));
        await heartbeat();
      },
    });
    await done;
  } finally {
    await consumer.disconnect().catch((err: unknown) => opts.log.warn({ err }, 'restore consumer disconnect failed'));
  }
  return applied;
}
