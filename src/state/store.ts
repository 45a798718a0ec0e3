import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';

// One LevelDB store per owned input partition. Records: user key → the user's state as the same bytes
// the changelog carries (src/state/codec.ts), plus one meta record: the checkpoint, the changelog offset the store
// reflects (the next offset to read). State and checkpoint are always written in ONE atomic batch.

const CHECKPOINT = '\u0000checkpoint';
/** Records added to a LevelDB batch between two yields to the event loop (~5 ms of work). */
const YIELD_EVERY = 4096;

/** A Map of the latest value per key (null = delete) as the entries `PartitionStore.write` takes. */
export function* entriesOf(values: Map<string, Buffer | null>): Generator<{ key: string; value: Buffer | null }> {
  for (const [key, value] of values) yield { key, value };
}

/** LevelDB's native memory per store (bytes): its block cache, and a memtable (two while one is written out). */
export interface StoreMemory {
  cacheBytes: number;
  writeBufferBytes: number;
}
/** LevelDB's own defaults (8 MiB, 4 MiB), for tools and tests; the scorer passes scorer.storeCacheBytes / storeWriteBufferBytes. */
const STORE_MEMORY_DEFAULT: StoreMemory = { cacheBytes: 8 * 1024 * 1024, writeBufferBytes: 4 * 1024 * 1024 };

export class PartitionStore {
  readonly dir: string;
  private readonly db: ClassicLevel<string, Buffer>;
  /** Users stored, once counted (one key scan), then kept up to date by `write`; undefined = count again. */
  private users: number | undefined;
  /** Users added by writes since the running count's scan began; undefined = a write did not say. */
  private sinceScan: number | undefined;
  private counting: Promise<number> | undefined;

  private constructor(dir: string, memory: StoreMemory) {
    this.dir = dir;
    // Without Snappy: a state is a few hundred bytes of varints and event ids that compress little, and
    // compressing them cost the compactions and every read that decompressed a block for one user
    // (docs/benchmarks.md, "LevelDB without compression"). Blocks written compressed are still read.
    this.db = new ClassicLevel<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer', cacheSize: memory.cacheBytes, writeBufferSize: memory.writeBufferBytes, compression: false });
  }

  static dirFor(stateDir: string, changelog: string, partition: number): string {
    return join(stateDir, `${changelog}-${partition}`);
  }

  static async open(stateDir: string, changelog: string, partition: number, memory: StoreMemory = STORE_MEMORY_DEFAULT): Promise<PartitionStore> {
    const dir = PartitionStore.dirFor(stateDir, changelog, partition);
    mkdirSync(dir, { recursive: true });
    const store = new PartitionStore(dir, memory);
    await store.db.open();
    return store;
  }

  /** The changelog offset this store reflects, or undefined for a new (empty) store. */
  async checkpoint(): Promise<bigint | undefined> {
    const v = await this.db.get(CHECKPOINT);
    return v === undefined ? undefined : BigInt(v.toString('utf8'));
  }

  async getMany(keys: string[]): Promise<Array<Buffer | undefined>> {
    return keys.length ? this.db.getMany(keys) : [];
  }

  async get(key: string): Promise<Buffer | undefined> {
    return this.db.get(key);
  }

  /**
   * States and the new checkpoint, atomically: a crash leaves either the old store or the new one.
   * Without `checkpoint` the store's stays as it was (a restore's newer chunks, written before its oldest).
   * `userDelta`: users added (new keys) less users deleted, when the caller knows (the scorer does, from
   * its loads and its expiry); without it the user count is recounted when next asked for (restore).
   */
  async write(entries: Iterable<{ key: string; value: Buffer | null }>, checkpoint: bigint | undefined, userDelta?: number): Promise<void> {
    // The chained form: measured here, the array form spent ~2.5× as long on the main thread. A large
    // batch (a store flush holds seconds of changes) yields every few thousand records, so other
    // partitions' batches are not held up for its whole length; it is still written atomically.
    const batch = this.db.batch();
    let n = 0;
    for (const e of entries) {
      if (e.value === null) batch.del(e.key);
      else batch.put(e.key, e.value);
      if (++n % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (checkpoint !== undefined) batch.put(CHECKPOINT, Buffer.from(checkpoint.toString(), 'utf8'));
    await batch.write();
    this.users = userDelta === undefined || this.users === undefined ? undefined : this.users + userDelta;
    this.sinceScan = userDelta === undefined || this.sinceScan === undefined ? undefined : this.sinceScan + userDelta;
  }

  /**
   * Up to `limit` users (key and stored value) in key order after `after` (from the first when undefined):
   * one slice of a scan that walks the store a little at a time.
   */
  async scan(after: string | undefined, limit: number): Promise<Array<[string, Buffer]>> {
    const rows = await this.db.iterator({ gt: after ?? CHECKPOINT, limit }).all();
    return rows as Array<[string, Buffer]>;
  }

  /**
   * Users stored (keys minus the checkpoint), for the users-tracked gauge: one key scan after opening
   * or restoring, then kept by `write` (a scan every few seconds would read the whole store each time).
   */
  async countUsers(): Promise<number> {
    if (this.users !== undefined) return this.users;
    this.counting ??= this.scanUsers().finally(() => (this.counting = undefined));
    return this.counting;
  }

  private async scanUsers(): Promise<number> {
    // The scan reads a snapshot taken when it starts; writes that land meanwhile are added from what
    // they report (a write already under way when the scan starts may be counted twice: approximate).
    this.sinceScan = 0;
    let n = 0;
    // Keys only, as bytes (never decoded), a thousand per call: one promise per key made this scan of a
    // 100,000-user store ~5% of a busy scorer's allocations while it ran.
    const keys = this.db.keys({ gt: CHECKPOINT, keyEncoding: 'view' });
    try {
      for (let got = await keys.nextv(1000); got.length > 0; got = await keys.nextv(1000)) n += got.length;
    } finally {
      await keys.close();
    }
    if (this.sinceScan !== undefined) this.users = n + this.sinceScan;
    this.sinceScan = undefined;
    return this.users ?? n;
  }

  async clear(): Promise<void> {
    await this.db.clear();
    this.users = 0;
    this.sinceScan = undefined; // a scan under way saw keys that are gone
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /**
   * Moves a store that cannot be opened out of the way, to `<dir>.broken-<nowMs>` (kept for a post-mortem;
   * nothing reads it again), so a new store can be built in its place. Throws when it cannot be moved.
   */
  static moveAside(stateDir: string, changelog: string, partition: number, nowMs: number): string {
    const dir = PartitionStore.dirFor(stateDir, changelog, partition);
    const aside = `${dir}.broken-${nowMs}`;
    renameSync(dir, aside);
    return aside;
  }

  static destroy(stateDir: string, changelog: string, partition: number): void {
    rmSync(PartitionStore.dirFor(stateDir, changelog, partition), { recursive: true, force: true });
  }
}
