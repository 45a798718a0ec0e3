import { hostname } from 'node:os';
import type { Config } from '../config/schema.ts';
import { retryPolicy, type Channel } from '../config/notify.ts';
import type { Decision, RiskAlert } from '../contracts.ts';
import { ConnectionError, PoisonRecordError } from '../errors.ts';
import { redeliverGroupId as groupOfRedelivery } from '../kafka/names.ts';
import type { Notification } from './notification.ts';
import { alertReader, decisionReader } from './readers.ts';
import type { Logger } from '../log.ts';
import { DLQ_HEADERS, dlqTopic, KafkaDeadLetters, stringHeaders } from './dead-letter.ts';
import { DeliveryCache } from './delivery-cache.ts';
import { KafkaLedger, LedgerTail } from './ledger.ts';
import { ChannelProcessor, type RecordOrigin } from './processor.ts';
import { ShutdownError } from './retry.ts';
import { resolveTargets, Scrubber } from './secrets.ts';
import { connectNotifyKafka, createSender } from './service.ts';

// `risk-hub dlq redeliver --channel X [--limit N]`: reads the channel's dead-letter topic from the
// committed position of group `<applicationId>-dlq-redeliver-<channel>` up to the end offsets seen at
// start, and delivers each entry again to the target named in its headers, with the usual retries,
// every attempt on the ledger (source "redeliver"). An entry that fails again goes back to the same
// dead-letter topic (x-risk-hub-redeliveries + 1, after the end offsets: not retried in this run).
// An alert the ledger knows as delivered is skipped. Offsets are committed entry by entry. An entry
// whose x-risk-hub-notification header says `decision` holds a person's decision (decisions topic
// value) and is delivered again as such.

export interface RedeliverOptions {
  channel: Channel;
  limit?: number | undefined;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Gives up when no entry completes for this long (ms); default: the channel's retry budget + 60 s. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface RedeliverEntry {
  offset: string;
  partition: number;
  /** The alert id, or the decision id of a person's decision. */
  alertId?: string;
  target?: string;
  outcome: 'delivered' | 'dead_lettered' | 'duplicate' | 'skipped';
  note?: string;
}

export interface RedeliverReport {
  topic: string;
  groupId: string;
  pendingAtStart: number;
  entries: RedeliverEntry[];
  delivered: number;
  failedAgain: number;
  duplicates: number;
  skipped: number;
}

export function redeliverGroupId(config: Pick<Config, 'applicationId'>, channel: Channel): string {
  return groupOfRedelivery(config, channel);
}

export async function redeliver(config: Config, opts: RedeliverOptions): Promise<RedeliverReport> {
  const { channel, log } = opts;
  const topic = dlqTopic(config, channel);
  const groupId = redeliverGroupId(config, channel);
  // The targets of the channel, even if the channel's notifier is disabled here.
  const targets = resolveTargets({ ...config.notify, [channel]: { ...config.notify[channel], enabled: true } }, opts.env ?? process.env);
  const scrubber = new Scrubber(targets.secrets);
  const report: RedeliverReport = { topic, groupId, pendingAtStart: 0, entries: [], delivered: 0, failedAgain: 0, duplicates: 0, skipped: 0 };

  const k = await connectNotifyKafka(config, log, 'dlq-redeliver', [channel]);
  const sender = createSender(config, channel, targets, scrubber);
  const cache = new DeliveryCache(config.notify.ledger.cacheSize);
  const tail = new LedgerTail(k.kafka, k.admin, k.serde, config, cache, log);
  const consumer = k.kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 250, sessionTimeout: 30_000, rebalanceTimeout: 60_000 });
  try {
    // What is pending: from the committed offset (or the log start) to the end offsets of now.
    const ends = await k.admin.fetchTopicOffsets(topic);
    const committed = await k.admin.fetchOffsets({ groupId, topics: [topic] });
    const committedOf = (p: number) => BigInt(committed[0]?.partitions.find((x) => x.partition === p)?.offset ?? '-1');
    const end = new Map<number, bigint>();
    for (const e of ends) {
      const from = committedOf(e.partition) >= 0n ? committedOf(e.partition) : BigInt(e.low);
      const high = BigInt(e.high);
      end.set(e.partition, high);
      if (high > from) report.pendingAtStart += Number(high - from);
    }
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    if (report.pendingAtStart === 0 || limit <= 0) return report;

    await tail.startReading();
    await tail.catchUp();
    const processor = new ChannelProcessor({
      channel,
      notify: config.notify,
      targets,
      sender,
      retry: retryPolicy(config.notify, channel),
      ledger: new KafkaLedger(k.producer, k.serde, config.topics.deliveries),
      deadLetters: new KafkaDeadLetters(k.producer, k.serde, config),
      index: cache,
      scrubber,
      log: log.child({ channel, redeliver: true }),
      notifierId: `${hostname()}/${process.pid}/redeliver`,
    });
    const reader = alertReader();
    const decisions = decisionReader();
    const abort = new AbortController();
    opts.signal?.addEventListener('abort', () => abort.abort(), { once: true });
    const reachedEnd = new Set<number>([...end].filter(([p, high]) => (committedOf(p) >= 0n ? committedOf(p) : BigInt(ends.find((e) => e.partition === p)!.low)) >= high).map(([p]) => p));
    let handled = 0;
    let lastProgress = Date.now();
    let finish!: () => void;
    let fail!: (err: Error) => void;
    const finished = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    const checkDone = () => {
      if (handled >= limit || reachedEnd.size >= end.size) finish();
    };
    checkDone();

    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      autoCommitThreshold: 1,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale }) => {
        const p = batch.partition;
        const high = end.get(p) ?? 0n;
        for (const m of batch.messages) {
          if (!isRunning() || isStale() || abort.signal.aborted) return;
          if (BigInt(m.offset) >= high) {
            reachedEnd.add(p);
            checkDone();
            return;
          }
          if (handled >= limit) return;
          const headers = stringHeaders(m.headers);
          const entry: RedeliverEntry = { offset: m.offset, partition: p, outcome: 'skipped' };
          const target = headers[DLQ_HEADERS.target];
          if (target !== undefined) entry.target = target;
          let notification: Notification | undefined;
          const kind = headers[DLQ_HEADERS.notification] === 'decision' ? 'decision' : 'alert';
          try {
            if (kind === 'decision') {
              const decision = (await k.serde.decode<Decision>(m.value, decisions)).value;
              notification = { kind, decision };
              entry.alertId = decision.decision_id;
            } else {
              const a = (await k.serde.decode<RiskAlert>(m.value, reader)).value;
              notification = { kind, alert: a };
              entry.alertId = a.alert_id;
            }
          } catch (err) {
            if (!(err instanceof PoisonRecordError)) throw err;
            entry.note = `not a decodable ${kind} (${err.reason}): left behind`;
          }
          if (notification && target === undefined) entry.note = 'no target header: left behind';
          if (notification && target !== undefined) {
            if (!targets[channel].some((t) => t.id === target)) entry.note = `target ${target} is no longer configured: left behind`;
            else {
              const origin: RecordOrigin = { topic, partition: p, offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value, headers };
              const beat = setInterval(() => void heartbeat().catch(() => undefined), 2000);
              try {
                const out = await processor.handleNotification(notification, { source: 'redeliver', onlyTarget: target, origin, signal: abort.signal });
                entry.outcome = out.targets[0]?.outcome ?? 'skipped';
              } catch (err) {
                if (err instanceof ShutdownError) return;
                throw err;
              } finally {
                clearInterval(beat);
              }
            }
          }
          report.entries.push(entry);
          if (entry.outcome === 'delivered') report.delivered++;
          else if (entry.outcome === 'dead_lettered') report.failedAgain++;
          else if (entry.outcome === 'duplicate') report.duplicates++;
          else {
            report.skipped++;
            log.warn({ offset: m.offset, partition: p, note: entry.note }, 'dead letter skipped');
          }
          resolveOffset(m.offset);
          await commitOffsetsIfNecessary();
          handled++;
          lastProgress = Date.now();
          if (BigInt(m.offset) + 1n >= high) reachedEnd.add(p);
          checkDone();
        }
      },
    });
    const idle = opts.idleTimeoutMs ?? retryPolicy(config.notify, channel).budgetMs + 60_000;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > idle) fail(new ConnectionError(`dlq redeliver made no progress for ${idle} ms (broker or group coordinator unreachable?)`));
    }, 500);
    try {
      await finished;
    } finally {
      clearInterval(watchdog);
    }
    return report;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await tail.stop();
    await sender.close();
    await k.close();
  }
}
