// Concurrent handling of one fetched batch of a partition, in order per key, for a delivery lane
// (src/notify/consumer.ts). Kafka-free, so its failure modes are tested with fakes
// (test/notify/in-order.test.ts).
//
// - Records with different keys (users) are handled concurrently, at most `slots` at once across every
//   partition of the lane; records with the same key one after the other, in offset order.
// - The committable position is the contiguous prefix of handled records (`onHandled` is called as it
//   advances, in offset order): a record handled out of order, past one still in flight, is not committed
//   before it. After a crash it is found on the delivery ledger and skipped, so nothing is sent twice.
// - A record that is interrupted (handle returned false: shutdown) or failed (handle threw) halts the
//   batch: nothing new starts, what is in flight finishes, the prefix stops before that record, and
//   the first error is thrown once everything settled (kafkajs then fetches again from the prefix).

/** A FIFO counting semaphore: at most `max` holders. */
export class Slots {
  private used = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`slots must be a positive integer, got ${max}`);
  }
  get inUse(): number {
    return this.used;
  }
  /** Resolves with the release function once a slot is free. */
  async acquire(): Promise<() => void> {
    if (this.used < this.max) this.used++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the releaser hands its slot over
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.used--;
    };
  }
}

export interface BatchItem {
  /** Records with the same key are handled in order; null: no order constraint. */
  key: string | null;
  offset: string;
}

export interface InOrderOptions<T extends BatchItem> {
  slots: Slots;
  /** true: handled (delivered, dead-lettered or skipped, and recorded); false: interrupted, do not commit. */
  handle(item: T): Promise<boolean>;
  /** Checked before each record starts (not running, stale partition, shutdown). */
  stopped(): boolean;
  /** The contiguous prefix advanced to `item` (inclusive): its offset may be resolved. */
  onHandled(item: T, index: number): void;
}

export interface InOrderResult {
  /** Records of the prefix (handled, in offset order). */
  handled: number;
  /** Every record of the batch was handled. */
  complete: boolean;
}

type State = 'pending' | 'done' | 'halted';

export async function handleInOrderPerKey<T extends BatchItem>(items: readonly T[], opts: InOrderOptions<T>): Promise<InOrderResult> {
  const states: State[] = items.map(() => 'pending');
  const tails = new Map<string, Promise<void>>();
  let halted = false;
  let failure: { err: unknown } | undefined;
  let prefix = 0;
  const advance = () => {
    while (prefix < items.length && states[prefix] === 'done') {
      opts.onHandled(items[prefix]!, prefix);
      prefix++;
    }
  };
  const run = async (i: number): Promise<void> => {
    const item = items[i]!;
    if (halted || opts.stopped()) {
      states[i] = 'halted';
      return;
    }
    const release = await opts.slots.acquire();
    try {
      // Checked again: the wait for a slot may have been long (a slow receiver, a shutdown meanwhile).
      if (halted || opts.stopped()) {
        states[i] = 'halted';
        return;
      }
      const ok = await opts.handle(item);
      states[i] = ok ? 'done' : 'halted';
      if (!ok) halted = true;
    } catch (err) {
      states[i] = 'halted';
      halted = true;
      failure ??= { err };
    } finally {
      release();
    }
    advance();
  };
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < items.length; i++) {
    const key = items[i]!.key;
    // A key's next record starts only after the previous one settled (never rejects: run catches).
    const prev = key === null ? undefined : tails.get(key);
    const p = prev ? prev.then(() => run(i)) : run(i);
    if (key !== null) tails.set(key, p);
    all.push(p);
  }
  await Promise.all(all);
  if (failure) throw failure.err;
  return { handled: prefix, complete: prefix === items.length };
}
