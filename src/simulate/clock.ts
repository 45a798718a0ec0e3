// Event time of a simulation: it starts at `start` and runs `speed` times faster than the wall clock,
// but never ahead of the wall clock. The scorer clamps events from the future (scoring.maxFutureSkewMs),
// so a fast simulation starts in the past and, once it has caught up with the present, continues in
// real time. Pure: the wall time is always passed in.

import { ConfigError } from '../errors.ts';

export const DAY_MS = 86_400_000;
/** How far back an unbounded fast simulation starts: a week of attack waves before it reaches the present. */
export const UNBOUNDED_LOOKBACK_MS = 7 * DAY_MS;

export class SimClock {
  constructor(
    readonly start: number,
    readonly speed: number,
    readonly wallStart: number,
  ) {
    if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError('speed must be a positive number');
    // A start in the future was asked for explicitly: no cap then (the scorer may allow the skew).
    this.capped = start <= wallStart;
  }

  private readonly capped: boolean;

  /** Event time at wall time `wallNow`. */
  at(wallNow: number): number {
    const t = this.start + (wallNow - this.wallStart) * this.speed;
    return this.capped ? Math.min(t, wallNow) : t;
  }

  /** true once event time has reached the present (it then advances in real time). */
  caughtUp(wallNow: number): boolean {
    return this.capped && this.start + (wallNow - this.wallStart) * this.speed >= wallNow;
  }

  /** Wall time at which event time `t` is reached (for pacing). */
  wallFor(t: number, wallNow: number): number {
    if (this.caughtUp(wallNow)) return Math.max(wallNow, t);
    return this.wallStart + (t - this.start) / this.speed;
  }
}

/**
 * The default start: far enough in the past that a bounded run ends at the present (duration × speed
 * of event time), or a week back for an unbounded fast run. Never in the future.
 */
export function defaultStart(now: number, speed: number, durationMs?: number): number {
  if (speed <= 1 && durationMs === undefined) return now;
  const span = durationMs !== undefined ? durationMs * speed : UNBOUNDED_LOOKBACK_MS;
  return now - Math.min(span, 30 * DAY_MS);
}

/**
 * `--start`: an ISO 8601 time ("2026-11-20T08:00:00Z", "2026-11-20"), epoch milliseconds, "now", or
 * "now-<n><unit>" with unit s, m, h or d ("now-36h").
 */
export function parseStart(text: string, now: number): number {
  const s = text.trim();
  if (s === 'now') return now;
  const rel = /^now-(\d+(?:\.\d+)?)([smhd])$/.exec(s);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return Math.round(now - Number(rel[1]) * unit);
  }
  if (/^\d{10,}$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new ConfigError(`--start ${JSON.stringify(text)}: expected an ISO 8601 time (2026-11-20T08:00:00Z), epoch milliseconds, "now" or "now-36h"`);
  return t;
}
