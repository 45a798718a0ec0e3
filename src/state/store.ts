import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';

// One LevelDB store per owned input partition. Records: user key → the user's state as the same bytes
// the changelog carries (src/state/codec.ts), plus one meta record: the checkpoint, the changelog offset the store
// reflects (the next offset to read). State and checkpoint are always written in ONE atomic batch.

const CHECKPOINT = '\u0000checkpoint';

export class PartitionStore {
  readonly dir: string;
  private readonly db: ClassicLevel<string, Buffer>;

  private constructor(dir: string) {
    this.dir = dir;
    this.db = new ClassicLevel<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  }

  static dirFor(stateDir: string, changelog: string, partition: number): string {
    return join(stateDir, `${changelog}-${partition}`);
  }

  static async open(stateDir: string, changelog: string, partition: number): Promise<PartitionStore> {
    const dir = PartitionStore.dirFor(stateDir, changelog, partition);
    mkdirSync(dir, { recursive: true });
    const store = new PartitionStore(dir);
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

  /** States and the new checkpoint, atomically: a crash leaves either the old store or the new one. */
  async write(entries: Iterable<[string, Buffer | null]>, checkpoint: bigint): Promise<void> {
    const batch = this.db.batch();
    for (const [k, v] of entries) {
      if (v === null) batch.del(k);
      else batch.put(k, v);
    }
    batch.put(CHECKPOINT, Buffer.from(checkpoint.toString(), 'utf8'));
    await batch.write();
  }

  /** Approximate number of users (keys minus the checkpoint), for the users-tracked gauge. */
  async countKeys(limit = 10_000_000): Promise<number> {
    let n = 0;
    for await (const _ of this.db.keys({ limit })) n++;
    return Math.max(0, n - 1);
  }

  async clear(): Promise<void> {
    await this.db.clear();
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  static destroy(stateDir: string, changelog: string, partition: number): void {
    rmSync(PartitionStore.dirFor(stateDir, changelog, partition), { recursive: true, force: true });
  }
}
