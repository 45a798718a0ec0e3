// Failed logins. Every failure is an `auth_failure` (LOW). Repeated failures for one user inside a
// sliding window (default one minute) are credential stuffing / brute force: one `credential_stuffing`
// MEDIUM when the window holds `mediumAt` failures (default 5), one HIGH when it holds `highAt` (default
// 10), and another HIGH at most once per window while the failures go on. When the window falls back
// under `mediumAt` the user starts from scratch. Memory is bounded: at most `maxUsers` users (the least
// recently failing are forgotten first), the last `highAt` failure times per user.

import type { Severity } from './contracts.ts';

export interface AuthTrackerOptions {
  windowMs?: number;
  mediumAt?: number;
  highAt?: number;
  maxUsers?: number;
}

interface Entry {
  times: number[];
  level: 0 | 1 | 2;
  lastHighAt: number;
}

export class AuthFailureTracker {
  readonly windowMs: number;
  readonly mediumAt: number;
  readonly highAt: number;
  readonly maxUsers: number;
  private readonly users = new Map<string, Entry>();

  constructor(opts: AuthTrackerOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.mediumAt = opts.mediumAt ?? 5;
    this.highAt = opts.highAt ?? 10;
    this.maxUsers = opts.maxUsers ?? 10_000;
    if (!(Number.isInteger(this.mediumAt) && this.mediumAt >= 1 && this.highAt > this.mediumAt)) {
      throw new RangeError('auth tracker: need integers 1 <= mediumAt < highAt');
    }
  }

  get trackedUsers(): number {
    return this.users.size;
  }

  /** Records a failure for `userKey` at `now`. Returns the failures inside the window and the severity of a credential_stuffing event to report, if any. */
  failure(userKey: string, now: number): { count: number; stuffing: Severity | null } {
    let entry = this.users.get(userKey);
    if (entry) {
      this.users.delete(userKey); // re-inserted below: Map order = least recently failing first
    } else {
      entry = { times: [], level: 0, lastHighAt: 0 };
      if (this.users.size >= this.maxUsers) {
        const oldest = this.users.keys().next().value;
        if (oldest !== undefined) this.users.delete(oldest);
      }
    }
    this.users.set(userKey, entry);
    const from = now - this.windowMs;
    const before = entry.times.filter((t) => t > from);
    if (before.length < this.mediumAt) entry.level = 0; // quiet long enough: start from scratch
    before.push(now);
    if (before.length > this.highAt) before.splice(0, before.length - this.highAt);
    entry.times = before;
    const count = before.length;
    let stuffing: Severity | null = null;
    if (count >= this.highAt && (entry.level < 2 || now - entry.lastHighAt >= this.windowMs)) {
      stuffing = 'HIGH';
      entry.level = 2;
      entry.lastHighAt = now;
    } else if (count >= this.mediumAt && entry.level < 1) {
      stuffing = 'MEDIUM';
      entry.level = 1;
    }
    return { count, stuffing };
  }
}
