// Durations as people write them in configuration and on the command line: "90s", "15m", "1h", "7d".

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d{1,6})(s|m|h|d)$/;

/** Shortest decision (ms): below a minute it would expire before the agents hear of it. */
export const MIN_DECISION_MS = 60_000;
/** Longest decision (ms): a year; longer ones are a permanent ban in disguise, which a person should own. */
export const MAX_DECISION_MS = 365 * 86_400_000;

/** "15m" → 900000; undefined when `text` is not a whole number followed by s, m, h or d. */
export function parseDuration(text: string): number | undefined {
  const m = PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** 900000 → "15m", 5400000 → "1h 30m": the largest units, at most two, for messages. */
export function formatDuration(ms: number): string {
  if (!(ms > 0)) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms / 1000) * 1000;
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    } else if (parts.length) break;
  }
  return parts.join(' ') || '0s';
}
