import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KAFKAJS_MAIN } from './kafkajs.ts';

// Which kafkajs log lines an operator must act on. kafkajs logs at ERROR many errors that it then
// retries by itself and that end well: a transaction coordinator still finishing the previous
// transaction (CONCURRENT_TRANSACTIONS), a coordinator loading or moving (COORDINATOR_LOAD_IN_PROGRESS,
// NOT_COORDINATOR), a rebalance, a broker connection that drops and comes back. A healthy scorer wrote
// ~30 such ERROR lines a minute: anyone alerting on ERROR was paged all day. Those lines are counted
// (risk_hub_kafka_retried_errors_total{client,error}) and logged at WARN once per error and client per
// interval, at DEBUG otherwise. ERROR stays for what does not heal by itself (authorization, a fenced
// producer, a crashed consumer that gives up, an unknown error).

const require = createRequire(import.meta.url);
// kafkajs' own protocol error table (type, code, retriable, message): the log entries carry only the
// message, so this maps it back to the stable type. A deep import, kept inside src/kafka/, from the
// kafkajs the server runs (src/kafka/kafkajs.ts): a built server carries it in dist/vendor/kafkajs and
// has no kafkajs in its dependencies, so a bare 'kafkajs/…' would not resolve there.
const { errorCodes } = require(join(dirname(KAFKAJS_MAIN), 'src/protocol/error.js')) as { errorCodes: Array<{ type: string; retriable: boolean; message: string }> };

/** kafkajs still uses the pre-2.0 names of these codes; the label uses Kafka's current ones. */
const CURRENT_NAME: Record<string, string> = {
  GROUP_LOAD_IN_PROGRESS: 'COORDINATOR_LOAD_IN_PROGRESS',
  GROUP_COORDINATOR_NOT_AVAILABLE: 'COORDINATOR_NOT_AVAILABLE',
  NOT_COORDINATOR_FOR_GROUP: 'NOT_COORDINATOR',
};
/** Not retriable in kafkajs' table, but its consumer group recovers from them by rejoining. */
const REJOINED = new Set(['REBALANCE_IN_PROGRESS', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION']);
const RETRIABLE_BY_MESSAGE = new Map(errorCodes.filter((e) => e.retriable || REJOINED.has(e.type)).map((e) => [e.message, CURRENT_NAME[e.type] ?? e.type]));

/** kafkajs messages (not protocol errors) that describe something kafkajs retries or recovers from. */
const RETRIED_MESSAGES: Array<[RegExp, string]> = [
  [/^Connection error:|^Connection timeout|^Closed connection|^Connection closed|^Failed to connect to (seed )?broker/i, 'CONNECTION_ERROR'],
  [/^Request .* timed out/i, 'REQUEST_TIMEOUT'],
  [/^The coordinator is not aware of this member, re-joining/i, 'UNKNOWN_MEMBER_ID'],
  [/^The group is rebalancing, re-joining/i, 'REBALANCE_IN_PROGRESS'],
  [/^Failed to find group coordinator/i, 'GROUP_COORDINATOR_NOT_FOUND'],
  [/^Restarting the consumer in/i, 'CONSUMER_RESTART'],
  [/^Consumer is not aware of all assigned partitions, refreshing metadata/i, 'METADATA_REFRESH'],
];

/** Messages kafkajs logs at WARN that are expected here and say nothing to an operator. */
const NOISE = [/^Limiting retries for the idempotent producer/];

export type KafkaLogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface KafkaLogVerdict {
  /** Where the line goes; 'drop' = nowhere. */
  level: KafkaLogLevel | 'drop';
  /** Set when the line reports an error kafkajs retries by itself: the `error` label of the counter. */
  retried?: string;
  /** With a WARN of a retried error: how many of them went to DEBUG since the previous WARN. */
  suppressed?: number;
}

/**
 * The stable name of a retried error in a kafkajs log entry, or undefined when the entry reports
 * something that does not heal by itself (or no error at all).
 */
export function retriedError(message: string, fields: Record<string, unknown>): string | undefined {
  const err = fields.error;
  // "Error when calling eachBatch": our own handler threw; kafkajs retries the batch. A Risk Hub error
  // says itself whether it is retriable (a registry or broker outage) and carries a stable code.
  if (err && typeof err === 'object') {
    const e = err as { retriable?: unknown; code?: unknown; type?: unknown; name?: unknown; message?: unknown };
    if (e.retriable !== true) return undefined;
    const name = typeof e.code === 'string' ? e.code : typeof e.type === 'string' ? e.type : typeof e.name === 'string' ? e.name : 'error';
    return name.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 64);
  }
  const text = typeof err === 'string' ? err : message;
  const stripped = text.replace(/^Failed to send messages: /, '').replace(/, resync group$/, '');
  const type = RETRIABLE_BY_MESSAGE.get(stripped) ?? RETRIABLE_BY_MESSAGE.get(message.replace(/, resync group$/, ''));
  if (type) return type;
  for (const [re, name] of RETRIED_MESSAGES) if (re.test(message)) return name;
  return undefined;
}

/**
 * Rate limiter of the WARN line per (client, error): the first occurrence in an interval is a WARN
 * (with how many were only at DEBUG since the previous WARN), the others DEBUG.
 */
export class RetriedErrorLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether this occurrence is logged at WARN, and how many were suppressed before it. */
  admit(client: string, error: string): { warn: boolean; suppressed: number } {
    const key = `${client}\u0000${error}`;
    const t = this.now();
    const seen = this.last.get(key);
    if (!seen || t - seen.at >= this.intervalMs) {
      const suppressed = seen?.suppressed ?? 0;
      this.last.set(key, { at: t, suppressed: 0 });
      // Bounded: error names are a finite set, clients a handful per process.
      if (this.last.size > 1000) this.last.delete(this.last.keys().next().value as string);
      return { warn: true, suppressed };
    }
    seen.suppressed++;
    return { warn: false, suppressed: seen.suppressed };
  }
}

/** The verdict for one kafkajs log entry at kafkajs level `level` (the first matching rule wins). */
export function classifyKafkaLog(level: KafkaLogLevel, message: string, fields: Record<string, unknown>, client: string, limiter: RetriedErrorLimiter): KafkaLogVerdict {
  if (NOISE.some((re) => re.test(message))) return { level: 'drop' };
  if (level !== 'error' && level !== 'warn') return { level };
  const retried = retriedError(message, fields);
  if (!retried) return { level };
  const { warn, suppressed } = limiter.admit(client, retried);
  return warn ? { level: 'warn', retried, suppressed } : { level: 'debug', retried };
}
