import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { DAY_MS, defaultStart, parseStart, SimClock, UNBOUNDED_LOOKBACK_MS } from '../../src/simulate/clock.ts';

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0);

describe('simulation clock', () => {
  it('runs speed times faster than the wall clock from the start', () => {
    const c = new SimClock(NOW - DAY_MS, 1440, NOW);
    expect(c.at(NOW)).toBe(NOW - DAY_MS);
    expect(c.at(NOW + 30_000)).toBe(NOW - DAY_MS / 2);
    expect(c.caughtUp(NOW + 30_000)).toBe(false);
  });

  it('never runs ahead of the wall clock: once caught up it continues in real time', () => {
    const c = new SimClock(NOW - DAY_MS, 1440, NOW);
    expect(c.at(NOW + 120_000)).toBe(NOW + 120_000);
    expect(c.caughtUp(NOW + 120_000)).toBe(true);
    expect(c.wallFor(NOW + 125_000, NOW + 120_000)).toBe(NOW + 125_000);
  });

  it('maps an event time back to the wall time it is due', () => {
    const c = new SimClock(NOW - DAY_MS, 1440, NOW);
    expect(c.wallFor(NOW - DAY_MS + 1440 * 1000, NOW)).toBe(NOW + 1000);
  });

  it('a start in the future is taken as asked (no cap)', () => {
    const c = new SimClock(NOW + DAY_MS, 2, NOW);
    expect(c.at(NOW + 1000)).toBe(NOW + DAY_MS + 2000);
  });

  it('defaults the start so a bounded run ends at the present, an unbounded one a week back', () => {
    expect(defaultStart(NOW, 1440, 60_000)).toBe(NOW - DAY_MS);
    expect(defaultStart(NOW, 1440)).toBe(NOW - UNBOUNDED_LOOKBACK_MS);
    expect(defaultStart(NOW, 1)).toBe(NOW);
    expect(defaultStart(NOW, 100_000, 3_600_000)).toBe(NOW - 30 * DAY_MS);
  });

  it('parses --start', () => {
    expect(parseStart('now', NOW)).toBe(NOW);
    expect(parseStart('now-36h', NOW)).toBe(NOW - 36 * 3_600_000);
    expect(parseStart('now-2d', NOW)).toBe(NOW - 2 * DAY_MS);
    expect(parseStart('2026-11-20T08:00:00Z', NOW)).toBe(Date.UTC(2026, 10, 20, 8));
    expect(parseStart(String(NOW), NOW)).toBe(NOW);
    expect(() => parseStart('yesterday', NOW)).toThrow(ConfigError);
    expect(() => parseStart('yesterday', NOW)).toThrow(/--start "yesterday": expected an ISO 8601 time/);
  });
});
