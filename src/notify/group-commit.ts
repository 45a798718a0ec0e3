// Group commit for the delivery ledger (src/notify/ledger.ts): every write waits for its record to be
// durably written, but the writes that arrive while one produce request is in flight go out together
// in the next one (at most `maxItems` each). With many deliveries in flight this is one broker round
// trip for many records instead of one each, and a single delivery still goes out at once (no linger).
// Kafka-free (test/notify/group-commit.test.ts).

interface Waiter<T, R> {
  item: T;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit<T, R = void> {
  private readonly queue: Array<Waiter<T, R>> = [];
  private draining = false;
  /** Flushes made (one sink call each), for tests and the benchmark. */
  flushes = 0;

  constructor(
    /**
     * Writes the items durably, in order, and returns each item's result (in the same order); a
     * rejection fails exactly the writes of that call.
     */
    private readonly sink: (items: T[]) => Promise<R[] | void>,
    private readonly maxItems = 500,
  ) {
    if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError(`maxItems must be a positive integer, got ${maxItems}`);
  }

  /** Resolves once `item` was written (in a group with whatever else was waiting). */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      // One turn of the event loop first: the writes made in the same tick (deliveries completing
      // together) join the first request too.
      await new Promise<void>((r) => setImmediate(r));
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, this.maxItems);
        this.flushes++;
        try {
          const results = await this.sink(group.map((w) => w.item));
          group.forEach((w, i) => w.resolve(results?.[i] as R));
        } catch (err) {
          for (const w of group) w.reject(err);
        }
      }
    } finally {
      this.draining = false;
    }
  }
}
