// A bounded FIFO (ring buffer) that makes room by dropping its OLDEST entries: when Kafka is unreachable
// the agent keeps the most recent events and counts what it lost, and memory never grows past `capacity`.

export class BoundedQueue<T> {
  private readonly items: Array<T | undefined>;
  private head = 0;
  private size = 0;
  /** Entries dropped to make room since creation. */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** Appends at the tail; when full, drops the oldest entry first. Returns the number dropped (0 or 1). */
  push(item: T): number {
    let dropped = 0;
    if (this.size === this.capacity) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      dropped = 1;
      this.dropped++;
    }
    this.items[(this.head + this.size) % this.capacity] = item;
    this.size++;
    return dropped;
  }

  /** Removes and returns up to `max` entries from the head (oldest first). */
  take(max: number): T[] {
    const n = Math.min(max, this.size);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.items[this.head] as T;
      this.items[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
    }
    this.size -= n;
    return out;
  }

  /**
   * Puts entries back at the head (a batch that failed to send), keeping their order. They are older than
   * everything queued, so if there is not room for all of them the oldest of them are the ones dropped.
   * Returns the number dropped.
   */
  requeue(items: readonly T[]): number {
    const room = this.capacity - this.size;
    const keep = items.length > room ? items.slice(items.length - room) : items;
    const dropped = items.length - keep.length;
    for (let i = keep.length - 1; i >= 0; i--) {
      this.head = (this.head - 1 + this.capacity) % this.capacity;
      this.items[this.head] = keep[i];
      this.size++;
    }
    this.dropped += dropped;
    return dropped;
  }

  /** Empties the queue, returning what it held (oldest first). */
  drain(): T[] {
    return this.take(this.size);
  }
}
