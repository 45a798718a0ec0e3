import { setMaxListeners } from 'node:events';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { maxInFlight, type Channel } from '../config/notify.ts';
import type { Config } from '../config/schema.ts';
import type { Decision, RiskAlert } from '../contracts.ts';
import { PoisonRecordError } from '../errors.ts';
import { retryWhileUnavailable, type AvroSerde } from '../kafka/serde.ts';
import { notifierGroupId, notifierLaneGroupId } from '../kafka/names.ts';
import { isNotifiedDecision, type Notification } from './notification.ts';
import { alertReader, decisionReader } from './readers.ts';
import type { Logger } from '../log.ts';
import { consumerLag, notificationDeadLettered, notificationOffsetCommits, notifications } from '../metrics/index.ts';
import type { KafkaDeadLetters } from './dead-letter.ts';
import { stringHeaders } from './dead-letter.ts';
import { faultPoint } from './faults.ts';
import type { LedgerTail } from './ledger.ts';
import type { ChannelProcessor, Lane, RecordOrigin } from './processor.ts';
import { handleInOrderPerKey, Slots } from './in-order.ts';
import { ShutdownError } from './retry.ts';

// One consumer group per target of a channel on risk-alerts — its delivery lane,
// `<applicationId>-notifier-<channel>-<target>` — read_committed (the scorer writes alerts in
// transactions). A lane handles the alerts of different users concurrently (up to maxInFlight across
// its partitions) and one user's alerts one after the other, in order (per-user order per target;
// src/notify/in-order.ts). The offset of an alert is resolved only once it and every alert before it
// in its partition were delivered or dead-lettered and their ledger records acknowledged; offsets are
// committed every commitIntervalMs and at the end of each batch. A hanging target holds up only its
// own lane: the channel's other targets, and every other channel, go on at their own pace.
//
// The same lane also subscribes to the decisions topic (a second subscription, same group, same ledger
// gate): a person's decision (source MANUAL: block, challenge, monitor, lift) is handled like an alert —
// routed, delivered with retries, recorded on the ledger under its decision_id, dead-lettered — in
// partition order, so one user's manual decisions reach each target in order. Automatic (POLICY)
// decisions are passed over (their alert carries them) and tombstones too; their offsets are committed.

/** The consumer group of one target's delivery lane. */
export function laneGroupId(config: Pick<Config, 'applicationId'>, channel: Channel, target: string): string {
  return notifierLaneGroupId(config, channel, target);
}

/**
 * The group of a whole channel before targets had their own lanes (Risk Hub ≤ 0.1): a new lane starts
 * from its committed offsets, so an upgrade neither skips nor repeats alerts (src/notify/service.ts).
 */
export function groupIdFor(config: Pick<Config, 'applicationId'>, channel: Channel): string {
  return notifierGroupId(config, channel);
}

export interface ChannelConsumerDeps {
  config: Config;
  kafka: Kafka;
  serde: AvroSerde;
  processor: ChannelProcessor;
  /** This lane's target, and whether it is the channel's primary lane (channel-level outcomes: poison, expired, not routed). */
  lane: Lane;
  tail: LedgerTail;
  deadLetters: KafkaDeadLetters;
  log: Logger;
}

export class ChannelConsumer {
  readonly channel: Channel;
  readonly target: string;
  readonly groupId: string;
  private consumer: Consumer | undefined;
  private readonly abort = new AbortController();
  private ledgerGate: Promise<void> = Promise.resolve();
  private readonly reader = alertReader();
  private readonly decisions = decisionReader();
  /** Deliveries in flight on this lane, across its partitions. */
  private readonly slots: Slots;
  joined = false;
  handled = 0;

  constructor(private readonly d: ChannelConsumerDeps) {
    this.channel = d.processor.channel;
    this.target = d.lane.target;
    this.groupId = laneGroupId(d.config, this.channel, this.target);
    this.slots = new Slots(maxInFlight(d.config.notify, this.channel));
    // Every delivery in flight listens to the lane's shutdown signal (its attempt, its backoff sleep, a registry wait).
    setMaxListeners(10 + 4 * this.slots.max, this.abort.signal);
  }

  async start(): Promise<void> {
    const { config, log } = this.d;
    const n = config.notify;
    const budget = Math.max(n.retry.budgetMs, n[this.channel].retry?.budgetMs ?? 0);
    const consumer = this.d.kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 250,
      sessionTimeout: n.consumer.sessionTimeoutMs,
      // A member finishing an alert that is still being retried must be able to rejoin.
      rebalanceTimeout: Math.max(60_000, budget + n[this.channel].timeoutMs + 10_000),
      heartbeatInterval: Math.min(3000, Math.floor(n.consumer.sessionTimeoutMs / 3)),
      retry: { retries: 10 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      this.joined = true;
      const assigned = e.payload.memberAssignment;
      log.info(
        { channel: this.channel, target: this.target, groupId: this.groupId, partitions: assigned[config.topics.alerts] ?? [], decisionPartitions: assigned[config.topics.decisions] ?? [] },
        'notifier partitions assigned',
      );
      // New generation: read the ledger up to now before handling anything (rebalance, restart).
      this.ledgerGate = this.d.tail.catchUp();
      this.ledgerGate.catch(() => undefined);
    });
    consumer.on(consumer.events.COMMIT_OFFSETS, () => notificationOffsetCommits.labels(this.channel).inc());
    consumer.on(consumer.events.REBALANCING, () => {
      this.joined = false;
    });
    consumer.on(consumer.events.CRASH, (e) => {
      // kafkajs restarts a consumer that crashed on a retriable error by itself: ERROR only when it gives up.
      this.joined = false; // not ready until it has joined again (a restart does; a stop never does)
      const fields = { channel: this.channel, target: this.target, err: e.payload.error, restart: e.payload.restart };
      if (e.payload.restart) log.warn(fields, 'notifier consumer crashed; kafkajs restarts it');
      else log.error(fields, 'notifier consumer crashed and stopped: restart the notifier');
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [config.topics.alerts, config.topics.decisions], fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      ...(n.consumer.commitIntervalMs > 0 ? { autoCommitInterval: n.consumer.commitIntervalMs } : { autoCommitThreshold: 1 }),
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: n.consumer.partitionsConsumedConcurrently,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        await this.awaitLedger(heartbeat);
        const lagOf = (offset: string) => {
          const lag = BigInt(batch.highWatermark) - BigInt(offset) - 1n;
          consumerLag.labels(this.groupId, batch.topic, String(batch.partition)).set(Number(lag < 0n ? 0n : lag));
        };
        // One commit request at a time; kafkajs commits only when commitIntervalMs has passed (or, with 0, when anything new is resolved).
        let committing: Promise<void> | undefined;
        const items = batch.messages.map((m) => ({ key: m.key === null ? null : m.key.toString('latin1'), offset: m.offset, m }));
        await handleInOrderPerKey(items, {
          slots: this.slots,
          stopped: () => !isRunning() || isStale() || this.abort.signal.aborted,
          handle: async ({ m }) => {
            const done = await this.handleMessage(batch.topic, batch.partition, m, heartbeat);
            if (done) await faultPoint('notifier.before-commit', log);
            return done; // false: shutdown mid-delivery, the offset stays uncommitted
          },
          onHandled: ({ offset }) => {
            resolveOffset(offset);
            this.handled++;
            lagOf(offset);
            // Keeps the membership alive through a long batch (kafkajs sends one only when the heartbeat interval has passed).
            heartbeat().catch(() => undefined);
            committing ??= commitOffsetsIfNecessary()
              .catch((err: unknown) => log.debug({ channel: this.channel, target: this.target, err: (err as Error).message }, 'offset commit failed; retried at the end of the batch'))
              .finally(() => {
                committing = undefined;
              });
          },
        }).finally(() => committing);
        if (batch.messages.length === 0) consumerLag.labels(this.groupId, batch.topic, String(batch.partition)).set(Math.max(0, Number(batch.offsetLag())));
      },
    });
  }

  /** Waits for the ledger read-back of this generation, heart-beating; a failed read-back is retried on the next batch. */
  private async awaitLedger(heartbeat: () => Promise<void>): Promise<void> {
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 2000);
    try {
      await this.ledgerGate;
    } catch (err) {
      this.ledgerGate = this.d.tail.catchUp();
      this.ledgerGate.catch(() => undefined);
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  /** Returns false when interrupted by shutdown (the record must not be committed). */
  private async handleMessage(topic: string, partition: number, m: KafkaMessage, heartbeat: () => Promise<void>): Promise<boolean> {
    const { log, config } = this.d;
    const isDecision = topic === config.topics.decisions;
    // A tombstone on the decisions topic: a decision ended (expired or cleared); nothing to say.
    if (isDecision && m.value === null) return true;
    const origin: RecordOrigin = { topic, partition, offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value, headers: stringHeaders(m.headers) };
    let n: Notification;
    try {
      // A registry outage (RegistryUnavailableError after schemaRegistry.timeoutMs) is waited out
      // here, heart-beating: the member stays in its group, keeps its partitions, and resumes with
      // this very record when the registry answers (the serde logs the outage once).
      const signal = this.abort.signal;
      if (isDecision) {
        const decision = (await retryWhileUnavailable(() => this.d.serde.decode<Decision>(m.value, this.decisions), { signal, heartbeat })).value;
        // An automatic decision was notified with its alert.
        if (!isNotifiedDecision(decision)) return true;
        n = { kind: 'decision', decision };
      } else {
        n = { kind: 'alert', alert: (await retryWhileUnavailable(() => this.d.serde.decode<RiskAlert>(m.value, this.reader), { signal, heartbeat })).value };
      }
    } catch (err) {
      if (this.abort.signal.aborted) return false; // shutdown while waiting: leave the offset uncommitted
      if (!(err instanceof PoisonRecordError)) throw err;
      // Every lane of the channel sees the record; the primary lane dead-letters it, once.
      if (!this.d.lane.primary) return true;
      log.error({ channel: this.channel, topic, partition, offset: m.offset, reason: err.reason, err: err.message }, `undecodable ${isDecision ? 'decision' : 'alert'} dead-lettered`);
      await this.d.deadLetters.writePoison(this.channel, origin, err.reason, err.message);
      notifications.labels(this.channel, 'dead_lettered').inc();
      notificationDeadLettered.labels(this.channel, 'poison').inc();
      return true;
    }
    const logId = n.kind === 'alert' ? { alertId: n.alert.alert_id } : { decisionId: n.decision.decision_id };
    // The same bound for both kinds: within the ledger's look-back, so nothing old is sent twice.
    const age = Date.now() - Number(m.timestamp);
    if (age > config.notify.consumer.maxAlertAgeMs) {
      if (this.d.lane.primary) {
        notifications.labels(this.channel, 'expired').inc();
        log.warn({ channel: this.channel, ...logId, ageMs: age }, `${n.kind} older than notify.consumer.maxAlertAgeMs: skipped`);
      }
      return true;
    }
    // Keep the group membership alive while an alert is retried for up to the budget.
    const beat = setInterval(() => {
      heartbeat().catch((err: unknown) => log.debug({ channel: this.channel, err: (err as Error).message }, 'heartbeat during delivery failed'));
    }, 2000);
    try {
      await this.d.processor.handleNotification(n, { signal: this.abort.signal, origin, lane: this.d.lane });
      return true;
    } catch (err) {
      if (err instanceof ShutdownError) {
        log.info({ channel: this.channel, target: this.target, ...logId }, `delivery interrupted by shutdown; the ${n.kind} will be handled again`);
        return false;
      }
      throw err;
    } finally {
      clearInterval(beat);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.consumer?.disconnect().catch(() => undefined);
  }
}
