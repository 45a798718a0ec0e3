// The per-user rate limit on reported events: a scanner hammering the application must not flood the
// topic (dd-trace-js limits its appsec reports the same way, apart from the reporter).

/** At most `limit` events per user key per one-minute window; the rest are refused. */
export class PerUserRateLimiter {
  private windowStart = 0;
  private readonly counts = new Map<string, number>();

  /**
   * @param limit events per user key per window
   * @param windowMs window length (one minute)
   * @param maxKeys keys counted at most: beyond, the window restarts early (memory stays bounded)
   */
  constructor(
    readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 50_000,
  ) {}

  /** Counts one event of `key` at `now` (ms); false when it is over the limit. */
  allow(key: string, now: number): boolean {
    if (now - this.windowStart >= this.windowMs || this.counts.size > this.maxKeys) {
      this.counts.clear();
      this.windowStart = now;
    }
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n <= this.limit;
  }
}
