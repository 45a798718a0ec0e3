// What the demo shows comes from the same topics an operator would look at, not from the demo's own
// bookkeeping: a read_committed consumer (its own group) follows
//   - <applicationId>-user-risk-changelog: each user's committed state → users tracked, top risky
//     users with their 24-hour increase (the scorer's own riskView over the stored state);
//   - risk-alerts: the alerts fired;
//   - risk-alert-deliveries: every delivery attempt per channel and its status;
//   - risk-decisions: every decision record the scorer published (by policy with an alert, or by hand
//     through `risk-hub decisions add|remove`), and each user's latest one (tombstone: none).

import { appendFileSync } from 'node:fs';
import { changelogTopic, type Config } from '../config/schema.ts';
import { userKey, type Decision, type RiskAlert } from '../contracts.ts';
import { holds } from '../decisions/index.ts';
import { createKafka } from '../kafka/client.ts';
import { AvroSerde, readerType, retryWhileUnavailable } from '../kafka/serde.ts';
import type { Logger } from '../log.ts';
import { resolvePolicy, riskView } from '../scoring/index.ts';
import { decodeState } from '../state/codec.ts';

export const CHANNELS = ['slack', 'email', 'webhook'] as const;
export type DemoChannel = (typeof CHANNELS)[number];
export type DeliveryState = 'delivered' | 'retrying' | 'dead_lettered';

export interface UserRow {
  key: string;
  application: string;
  environment: string;
  user: string;
  increase: number;
  tier: number;
  score: number;
  /** Newest event time scored for the user. */
  lastEventAt: number | null;
}

export interface AlertRow {
  alert: RiskAlert;
  /** Latest delivery status per channel (absent: not attempted yet). */
  deliveries: Partial<Record<DemoChannel, DeliveryState>>;
}

export interface DeliveryCounts {
  delivered: number;
  retrying: number;
  dead_lettered: number;
  /** Attempts recorded (every retry counts). */
  attempts: number;
}

interface DeliveryRecord {
  alert_id: string;
  channel: string;
  target_id: string;
  status: DeliveryState;
  result: string;
}

const MAX_ALERTS = 10_000;
/** Decision records kept for the view and the summary (each user's latest is kept whatever the count). */
const MAX_DECISIONS = 10_000;

/** A user's decision if it holds at `nowMs` (not lifted, not expired), else undefined. */
export function activeDecision(d: Decision | null | undefined, nowMs: number): Decision | undefined {
  return d && holds({ id: d.decision_id, action: d.action, source: d.source, until: d.until }, nowMs) ? d : undefined;
}

export class DemoWatcher {
  readonly users = new Map<string, UserRow>();
  readonly alerts: AlertRow[] = [];
  /** Every decision record read, in order (LIFTs included), at most MAX_DECISIONS. */
  readonly decisions: Decision[] = [];
  /** Each user key's latest decision record (null: a tombstone, the decision ended). */
  readonly latestDecision = new Map<string, Decision | null>();
  private readonly decisionIds = new Set<string>();
  private readonly byId = new Map<string, AlertRow>();
  /** Deliveries recorded before their alert was read (topics are read concurrently). */
  private readonly early = new Map<string, Partial<Record<DemoChannel, DeliveryState>>>();
  readonly deliveries: Record<DemoChannel, DeliveryCounts> = {
    slack: { delivered: 0, retrying: 0, dead_lettered: 0, attempts: 0 },
    email: { delivered: 0, retrying: 0, dead_lettered: 0, attempts: 0 },
    webhook: { delivered: 0, retrying: 0, dead_lettered: 0, attempts: 0 },
  };
  private consumer: ReturnType<ReturnType<typeof createKafka>['consumer']> | undefined;
  private readonly changelog: string;
  private readonly abort = new AbortController();

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    /** Each alert is appended here as one JSON line. */
    private readonly alertsFile?: string,
    /** Each decision record is appended here as one JSON line. */
    private readonly decisionsFile?: string,
  ) {
    this.changelog = changelogTopic(config);
  }

  async start(): Promise<void> {
    const kafka = createKafka(this.config, { clientId: `${this.config.applicationId}-demo-view`, logger: this.log.child({ component: 'kafkajs' }) });
    const consumer = kafka.consumer({ groupId: `${this.config.applicationId}-demo-view`, readUncommitted: false, maxWaitTimeInMs: 200 });
    this.consumer = consumer;
    const serde = new AvroSerde(this.config, { log: this.log.child({ component: 'schema-registry' }) });
    const alertReader = readerType('risk-alert.avsc');
    const deliveryReader = readerType('delivery.avsc');
    const decisionReader = readerType('decision.avsc');
    await consumer.connect();
    const topics = [this.changelog, this.config.topics.alerts, this.config.topics.deliveries, this.config.topics.decisions];
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ topic, message, heartbeat }) => {
        try {
          // A registry outage (bounded by schemaRegistry.timeoutMs, logged once by the serde) is waited out.
          const decode = <T>(reader: typeof alertReader) => retryWhileUnavailable(() => serde.decode<T>(message.value, reader), { heartbeat, signal: this.abort.signal });
          if (topic === this.changelog) this.onState(message.key?.toString() ?? '', message.value);
          else if (topic === this.config.topics.alerts) this.onAlert((await decode<RiskAlert>(alertReader)).value);
          else if (topic === this.config.topics.decisions) this.onDecision(message.key?.toString() ?? '', message.value ? (await decode<Decision>(decisionReader)).value : null);
          else this.onDelivery((await decode<DeliveryRecord>(deliveryReader)).value);
        } catch (err) {
          this.log.warn({ err, topic }, 'demo view could not read a record');
        }
      },
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.consumer?.disconnect().catch(() => undefined);
  }

  private onState(key: string, value: Buffer | null): void {
    const [application = '', environment = '', ...rest] = key.split('/');
    const user = rest.join('/');
    if (!value) {
      this.users.delete(key);
      return;
    }
    const state = decodeState(value);
    if (!state) return;
    const view = riskView(state, resolvePolicy(this.config.scoring, application), { application_id: application, environment, user });
    this.users.set(key, { key, application, environment, user, increase: view.increase_24h, tier: view.tier, score: view.risk_score, lastEventAt: view.last_event_at });
  }

  private onAlert(alert: RiskAlert): void {
    if (this.byId.has(alert.alert_id) || this.alerts.length >= MAX_ALERTS) return;
    const row: AlertRow = { alert, deliveries: this.early.get(alert.alert_id) ?? {} };
    this.early.delete(alert.alert_id);
    this.alerts.push(row);
    this.byId.set(alert.alert_id, row);
    if (this.alertsFile) appendFileSync(this.alertsFile, JSON.stringify(alert) + '\n');
  }

  onDecision(key: string, d: Decision | null): void {
    if (!d) {
      if (this.latestDecision.has(key)) this.latestDecision.set(key, null);
      return;
    }
    this.latestDecision.set(userKey(d.application_id, d.environment, d.user.key), d);
    // The topic is compacted and read from the start: a record is counted once, by its id.
    if (this.decisionIds.has(d.decision_id) || this.decisions.length >= MAX_DECISIONS) return;
    this.decisionIds.add(d.decision_id);
    this.decisions.push(d);
    if (this.decisionsFile) appendFileSync(this.decisionsFile, JSON.stringify(d) + '\n');
  }

  /** The decision holding `key` (application/environment/user) at `nowMs`, if any. */
  decisionFor(key: string, nowMs: number): Decision | undefined {
    return activeDecision(this.latestDecision.get(key), nowMs);
  }

  private onDelivery(r: DeliveryRecord): void {
    if (!(CHANNELS as readonly string[]).includes(r.channel)) return;
    const channel = r.channel as DemoChannel;
    const counts = this.deliveries[channel];
    counts.attempts++;
    const row = this.byId.get(r.alert_id);
    const map = row ? row.deliveries : (this.early.get(r.alert_id) ?? {});
    if (!row) this.early.set(r.alert_id, map);
    const prev = map[channel];
    if (prev === 'delivered' || (prev === 'dead_lettered' && r.status !== 'delivered')) return;
    if (prev) counts[prev]--;
    counts[r.status]++;
    map[channel] = r.status;
  }

  /** Users by 24-hour increase, highest first. */
  top(n: number): UserRow[] {
    return [...this.users.values()].sort((a, b) => b.increase - a.increase || a.key.localeCompare(b.key)).slice(0, n);
  }

  /** Alerts not yet delivered or dead-lettered on every channel in `channels`. */
  pending(channels: readonly DemoChannel[]): AlertRow[] {
    return this.alerts.filter((a) => channels.some((c) => a.deliveries[c] !== 'delivered' && a.deliveries[c] !== 'dead_lettered'));
  }
}
