import type { Channel, NotifyConfig, RetryConfig } from '../config/notify.ts';
import type { RiskAlert } from '../contracts.ts';
import type { Logger } from '../log.ts';
import { notificationAttemptDuration, notificationDeadLettered, notificationRetries, notifications } from '../metrics/index.ts';
import { deliverWithRetry, type AttemptInfo, type RetryOptions } from './retry.ts';
import { notificationFacts, notificationId, type Notification } from './notification.ts';
import { routeAlert, routeDecision } from './route.ts';
import type { Scrubber } from './secrets.ts';
import type { ChannelSender, ResolvedTargets, Target } from './types.ts';

// One channel's handling of one notification, free of Kafka: route → skip what the ledger says is done
// → deliver each target with budgeted retries → record every attempt → dead-letter what failed. The
// Kafka consumer of one target's lane (src/notify/consumer.ts) calls it in partition order with that
// lane, and commits the input offset only after it returned, i.e. after the target was delivered or
// dead-lettered AND recorded. A notification is an alert or a person's decision (src/notify/notification.ts):
// the same guarantees, the idempotency key being the alert id or the decision id.

export type DeliveryStatus = 'delivered' | 'retrying' | 'dead_lettered';
export type DeliverySource = 'live' | 'redeliver';

/** One attempt on the ledger topic (schemas/delivery.avsc). */
export interface DeliveryRecord {
  /** The notification's idempotency key: the alert id, or the decision id of a person's decision. */
  alert_id: string;
  channel: Channel;
  target_id: string;
  attempt: number;
  /** Status of the alert on this target after this attempt. */
  status: DeliveryStatus;
  /** Transport result: http_200, http_503, smtp_451, timeout, egress_refused, … */
  result: string;
  latency_ms: number;
  /** Scrubbed error message of a failed attempt. */
  error: string | null;
  next_delay_ms: number | null;
  application_id: string;
  environment: string;
  /** The alert's tier; a person's decision has none (0). */
  tier: number;
  attempted_at: number;
  source: DeliverySource;
  notifier: string;
}

export interface LedgerWriter {
  /** Resolves once the record is durably written (acks=all). */
  write(record: DeliveryRecord): Promise<void>;
}

/** Where an alert came from (the input record), carried into the dead letter. */
export interface RecordOrigin {
  topic: string;
  partition: number;
  offset: string;
  timestamp?: string;
  key: Buffer | string | null;
  value: Buffer | null;
  headers?: Record<string, string>;
}

export interface DeadLetter {
  origin?: RecordOrigin | undefined;
  channel: Channel;
  targetId: string;
  notification: Notification;
  reason: 'permanent' | 'exhausted';
  status: string;
  error: string;
  attempts: number;
}

export interface DeadLetterWriter {
  write(entry: DeadLetter): Promise<void>;
}

/** What the ledger says about (channel, target, alert): a terminal state, or nothing. */
export interface DeliveryIndex {
  get(channel: Channel, targetId: string, alertId: string): DeliveryStatus | undefined;
  set(channel: Channel, targetId: string, alertId: string, status: DeliveryStatus): void;
}

/**
 * One target's delivery lane (its own consumer group): the alert is routed as usual and delivered to
 * this target only. The primary lane (the channel's first target) also counts channel-level outcomes.
 */
export interface Lane {
  target: string;
  primary: boolean;
}

export type TargetOutcome = 'delivered' | 'dead_lettered' | 'duplicate';

export interface AlertOutcome {
  routed: number;
  targets: Array<{ targetId: string; outcome: TargetOutcome; attempts: number; status?: string }>;
}

export interface ProcessorDeps {
  channel: Channel;
  notify: NotifyConfig;
  targets: ResolvedTargets;
  sender: ChannelSender;
  retry: RetryConfig;
  ledger: LedgerWriter;
  deadLetters: DeadLetterWriter;
  index: DeliveryIndex;
  scrubber: Scrubber;
  log: Logger;
  notifierId: string;
  /** Test seams for the retry loop. */
  retryOverrides?: Pick<RetryOptions, 'now' | 'sleep' | 'random'>;
}

export interface HandleOptions {
  signal?: AbortSignal;
  source?: DeliverySource;
  /** Redelivery: this target only, no routing. */
  onlyTarget?: string;
  origin?: RecordOrigin;
  lane?: Lane;
}

export class ChannelProcessor {
  constructor(private readonly d: ProcessorDeps) {}

  get channel(): Channel {
    return this.d.channel;
  }

  /**
   * Delivers `alert` to every target of this channel it routes to (or only `onlyTarget`, for a
   * redelivery from the dead-letter topic). Throws ShutdownError if `signal` aborts mid-way: the
   * caller must then NOT commit the input offset.
   */
  async handle(alert: RiskAlert, opts: HandleOptions = {}): Promise<AlertOutcome> {
    return this.handleNotification({ kind: 'alert', alert }, opts);
  }

  /** The same for any notification: an alert, or a person's decision (routed by routeDecision). */
  async handleNotification(n: Notification, opts: HandleOptions = {}): Promise<AlertOutcome> {
    const { channel, log } = this.d;
    const source = opts.source ?? 'live';
    let targets: Target[];
    if (opts.onlyTarget !== undefined) {
      const t = this.d.targets[channel].find((x) => x.id === opts.onlyTarget);
      targets = t ? [t] : [];
    } else {
      const decision = n.kind === 'alert' ? routeAlert(n.alert, channel, this.d.notify, this.d.targets) : routeDecision(n.decision, channel, this.d.notify, this.d.targets);
      targets = decision.routed.map((r) => r.target);
      if (opts.lane) {
        const routedAnywhere = targets.length > 0;
        targets = targets.filter((t) => t.id === opts.lane!.target);
        // Another lane of this channel delivers it; "not routed on this channel" is counted once, by the primary lane.
        if (targets.length === 0 && (routedAnywhere || !opts.lane.primary)) return { routed: 0, targets: [] };
      }
    }
    if (targets.length === 0) {
      notifications.labels(channel, 'not_routed').inc();
      log.debug({ [n.kind === 'alert' ? 'alertId' : 'decisionId']: notificationId(n), channel }, `${n.kind} not routed on this channel`);
      return { routed: 0, targets: [] };
    }
    const results = await Promise.all(targets.map((t) => this.deliverOne(n, t, source, opts.signal, opts.origin)));
    return { routed: targets.length, targets: results };
  }

  private async deliverOne(
    n: Notification,
    target: Target,
    source: DeliverySource,
    signal: AbortSignal | undefined,
    origin: RecordOrigin | undefined,
  ): Promise<AlertOutcome['targets'][number]> {
    const { channel, index, ledger, log, scrubber } = this.d;
    const id = notificationId(n);
    const facts = notificationFacts(n);
    const what = n.kind; // "alert" or "decision", in log messages
    // Log fields as before decisions existed (alertId), decisionId for a person's decision.
    const logId = n.kind === 'alert' ? { alertId: id } : { decisionId: id };
    const known = index.get(channel, target.id, id);
    // Live: delivered or dead-lettered before (restart, rebalance) → done. Redelivery: only delivered.
    if (known === 'delivered' || (known === 'dead_lettered' && source === 'live')) {
      notifications.labels(channel, 'duplicate').inc();
      log.info({ ...logId, channel, target: target.id, known }, `${what} already handled on this target: skipped`);
      return { targetId: target.id, outcome: 'duplicate', attempts: 0 };
    }

    const record = (info: AttemptInfo, status: DeliveryStatus): DeliveryRecord => ({
      alert_id: id,
      channel,
      target_id: target.id,
      attempt: info.attempt,
      status,
      result: info.status,
      latency_ms: Math.round(info.latencyMs),
      error: info.error ? scrubber.scrub(info.error).slice(0, 1000) : null,
      next_delay_ms: info.nextDelayMs ?? null,
      application_id: facts.application_id,
      environment: facts.environment,
      tier: facts.tier,
      attempted_at: Date.now(),
      source,
      notifier: this.d.notifierId,
    });

    const onAttempt = async (info: AttemptInfo) => {
      notificationAttemptDuration.labels(channel, info.status).observe(info.latencyMs / 1000);
      if (info.ok) {
        await ledger.write(record(info, 'delivered'));
        return;
      }
      const error = scrubber.scrub(info.error ?? info.status);
      if (info.final) {
        // Dead letter first, ledger second: a crash in between re-sends to the DLQ (harmless) rather
        // than leaving a ledger entry that says "dead-lettered" for an alert missing from the DLQ.
        await this.d.deadLetters.write({ origin, channel, targetId: target.id, notification: n, reason: info.final, status: info.status, error, attempts: info.attempt });
        await ledger.write(record(info, 'dead_lettered'));
        return;
      }
      notificationRetries.labels(channel).inc();
      log.warn({ ...logId, channel, target: target.id, attempt: info.attempt, status: info.status, error, retryInMs: info.nextDelayMs }, 'delivery attempt failed, will retry');
      await ledger.write(record(info, 'retrying'));
    };

    const outcome = await deliverWithRetry((_attempt, timeoutMs, attemptSignal) => this.d.sender.send(target, { notification: n, attempt: _attempt, timeoutMs, signal: attemptSignal }), {
      policy: this.d.retry,
      timeoutMs: this.d.notify[channel].timeoutMs,
      onAttempt,
      ...(signal ? { signal } : {}),
      ...(this.d.retryOverrides ?? {}),
    });

    if (outcome.delivered) {
      index.set(channel, target.id, id, 'delivered');
      notifications.labels(channel, 'delivered').inc();
      log.info({ ...logId, channel, target: target.id, attempts: outcome.attempts, status: outcome.result?.status, detail: outcome.result?.detail, source }, `${what} delivered`);
      return { targetId: target.id, outcome: 'delivered', attempts: outcome.attempts, status: outcome.result?.status ?? 'ok' };
    }
    index.set(channel, target.id, id, 'dead_lettered');
    notifications.labels(channel, 'dead_lettered').inc();
    notificationDeadLettered.labels(channel, outcome.reason ?? 'exhausted').inc();
    log.error(
      { ...logId, channel, target: target.id, attempts: outcome.attempts, reason: outcome.reason, status: outcome.error?.status, error: scrubber.scrub(outcome.error?.message ?? ''), source },
      `${what} dead-lettered`,
    );
    return { targetId: target.id, outcome: 'dead_lettered', attempts: outcome.attempts, status: outcome.error?.status ?? 'error' };
  }
}
