import { hostname } from 'node:os';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { CHANNELS, maxInFlight, retryPolicy, type Channel } from '../config/notify.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError, isRetriable, SchemaError } from '../errors.ts';
import { startHttp, type HttpHandle } from '../http.ts';
import { createKafka } from '../kafka/client.ts';
import { AvroSerde, subjectFor } from '../kafka/serde.ts';
import { delayUnlessAborted, waitForBroker, waitForBrokerForever } from '../kafka/wait.ts';
import type { Logger } from '../log.ts';
import { consumerLag } from '../metrics/index.ts';
import { EmailSender } from './channels/email.ts';
import { SlackSender } from './channels/slack.ts';
import { WebhookSender } from './channels/webhook.ts';
import { ChannelConsumer, groupIdFor } from './consumer.ts';
import { dlqTopic, KafkaDeadLetters } from './dead-letter.ts';
import { DeliveryCache } from './delivery-cache.ts';
import { createSafeAgent } from './egress.ts';
import { KafkaLedger, LedgerTail } from './ledger.ts';
import { ChannelProcessor } from './processor.ts';
import { renderers } from './render/index.ts';
import { resolveTargets, Scrubber } from './secrets.ts';
import type { ChannelSender, ResolvedTargets } from './types.ts';

// Composition of a notifier process: one consumer group per target of each requested channel (its
// delivery lane, reading risk-alerts and the decisions topic; all in one process with --channel all,
// still separate groups), one ledger tail and one producer shared by them.

export interface NotifierOptions {
  /** Channels to run; 'all' = every enabled channel. */
  channels: Channel[] | 'all';
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** Serve /metrics, /healthz, /readyz (default true). */
  http?: boolean;
  /**
   * Aborts the start (shutdown while Kafka or the registry is still awaited): startNotifier then
   * cleans up and rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/** How often (ms) a notifier waiting for Kafka or the registry at start says so again. */
const WAIT_LOG_INTERVAL_MS = 30_000;

export interface NotifierHandle {
  readonly channels: Channel[];
  readonly consumers: ChannelConsumer[];
  readonly http: HttpHandle | undefined;
  isReady(): boolean;
  stop(): Promise<void>;
}

/** Picks the channels to run; a channel asked for by name must be enabled. */
export function selectChannels(config: Config, wanted: Channel[] | 'all'): Channel[] {
  if (wanted === 'all') {
    const on = CHANNELS.filter((c) => config.notify[c].enabled);
    if (on.length === 0) throw new ConfigError('no notification channel is enabled: set notify.slack.enabled, notify.email.enabled or notify.webhook.enabled');
    return on;
  }
  for (const c of wanted) {
    if (!config.notify[c].enabled) throw new ConfigError(`notify.${c}.enabled is false: enable the channel (RISK_HUB_NOTIFY__${c.toUpperCase()}__ENABLED=true) to run its notifier`);
    if (Object.keys(config.notify[c].targets).length === 0) throw new ConfigError(`notify.${c}.targets is empty: configure at least one ${c} target`);
  }
  return [...new Set(wanted)];
}

/** Builds the transport of a channel (HTTP channels through the egress-checked agent). */
export function createSender(config: Config, channel: Channel, targets: ResolvedTargets, scrubber: Scrubber): ChannelSender {
  const n = config.notify;
  const render = renderers(n);
  // Keep-alive connections, bounded: each target's lane has at most maxInFlight requests in flight, so
  // this many connections per origin let targets that share an origin (Slack) never wait for each other.
  const connections = maxInFlight(n, channel) * Math.max(1, targets[channel].length);
  const agent = () =>
    createSafeAgent({ allow: n.egress.allow, connectTimeoutMs: n[channel].timeoutMs, headersTimeoutMs: n[channel].timeoutMs, bodyTimeoutMs: n[channel].timeoutMs, connections });
  switch (channel) {
    case 'slack':
      return new SlackSender({ dispatcher: agent(), render: render.slack }) as ChannelSender;
    case 'webhook':
      return new WebhookSender({ dispatcher: agent() }) as ChannelSender;
    case 'email':
      return new EmailSender({ config: n.email, password: targets.smtpPassword, render: render.email, scrub: (s) => scrubber.scrub(s) }) as ChannelSender;
  }
}

/** Kafka pieces shared by the notifier and `dlq redeliver`. */
export interface NotifyKafka {
  kafka: Kafka;
  admin: Admin;
  producer: Producer;
  serde: AvroSerde;
  close(): Promise<void>;
}

/**
 * Kafka clients for the notifier roles. Without `forever`, an unreachable broker gives up after
 * kafka.connectWaitMs (one-shot commands); with it, a broker or registry outage is waited out for as
 * long as it lasts, `onRetry` hearing of each failed attempt (long-running processes).
 */
export async function connectNotifyKafka(
  config: Config,
  log: Logger,
  role: string,
  channels: Channel[],
  forever?: { signal?: AbortSignal; onRetry: (err: unknown, attempt: number, delayMs: number) => void },
): Promise<NotifyKafka> {
  if (!forever) return connectOnce(config, log, role, channels);
  for (let attempt = 1; ; attempt++) {
    await waitForBrokerForever(config, forever);
    try {
      return await connectOnce(config, log, role, channels);
    } catch (err) {
      // Missing topics or schemas are configuration to fix; a broker or registry that went away
      // between the wait and here is waited for again.
      if (!isRetriable(err) || forever.signal?.aborted) throw err;
      const delayMs = Math.min(30_000, 500 * 2 ** Math.min(attempt - 1, 10));
      forever.onRetry(err, attempt, delayMs);
      await delayUnlessAborted(delayMs, forever.signal);
    }
  }
}

async function connectOnce(config: Config, log: Logger, role: string, channels: Channel[]): Promise<NotifyKafka> {
  await waitForBroker(config, config.kafka.connectWaitMs);
  const kafka = createKafka(config, { clientId: `${config.applicationId}-${role}-${hostname()}`, logger: log.child({ component: 'kafkajs' }) });
  const admin = kafka.admin();
  await admin.connect();
  const serde = new AvroSerde(config, { log: log.child({ component: 'schema-registry' }) });
  try {
    // Fail fast, with the fix, when the topology or the schemas are missing.
    // The decisions topic: a person's decisions are notified too (src/notify/consumer.ts).
    const needed = [config.topics.alerts, config.topics.decisions, config.topics.deliveries, ...channels.map((c) => dlqTopic(config, c))];
    const existing = new Set(await admin.listTopics());
    const missing = needed.filter((t) => !existing.has(t));
    if (missing.length) throw new ConfigError(`missing topics ${missing.join(', ')}: run risk-hub topics apply`);
    for (const subject of [subjectFor(config.topics.alerts), subjectFor(config.topics.deliveries)]) {
      await serde.latestId(subject).catch((err: unknown) => {
        throw err instanceof SchemaError ? err : new SchemaError(`${subject}: ${(err as Error).message}`, { cause: err });
      });
    }
  } catch (err) {
    await admin.disconnect().catch(() => undefined);
    throw err;
  }
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: { retries: 10 } });
  await producer.connect();
  return {
    kafka,
    admin,
    producer,
    serde,
    async close() {
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    },
  };
}

export async function startNotifier(config: Config, opts: NotifierOptions): Promise<NotifierHandle> {
  const log = opts.log;
  const channels = selectChannels(config, opts.channels);
  const targets = resolveTargets(config.notify, opts.env ?? process.env);
  const scrubber = new Scrubber(targets.secrets);
  for (const t of targets.webhook) if (!t.url.startsWith('https:')) log.warn({ target: t.id }, 'webhook target is not https: the alert travels in clear');

  const senders = new Map<Channel, ChannelSender>();
  const cleanup: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const f of cleanup.reverse()) await f().catch((err: unknown) => log.warn({ err: scrubber.scrub((err as Error).message) }, 'shutdown step failed'));
  };
  const consumers: ChannelConsumer[] = [];
  // Until every channel's group is joined the notifier is live (/healthz) but not ready (/readyz),
  // with the reason: waiting for Kafka or the registry is an outage to ride out, not a crash.
  let waiting: { for: string; since: string; attempts: number; reason: string } | undefined = { for: 'Kafka', since: new Date().toISOString(), attempts: 0, reason: 'starting' };
  const lanes = channels.reduce((n, c) => n + targets[c].length, 0);
  const isReady = () => consumers.length === lanes && consumers.every((c) => c.joined);
  let http: HttpHandle | undefined;
  try {
    if (opts.http !== false) {
      http = await startHttp({
        host: config.http.host,
        port: config.http.port,
        log,
        ready: () => ({ ready: isReady(), detail: waiting ? { waiting } : Object.fromEntries(consumers.map((c) => [`${c.channel}/${c.target}`, { joined: c.joined, handled: c.handled }])) }),
      });
      const h = http;
      cleanup.push(() => h.close());
    }
    for (const c of channels) {
      const s = createSender(config, c, targets, scrubber);
      senders.set(c, s);
      cleanup.push(() => s.close());
      if (c === 'email' && config.notify.email.verifyOnStart) await s.verify?.();
    }
    let lastLog = 0;
    const onRetry = (err: unknown, attempt: number, delayMs: number) => {
      const reason = scrubber.scrub((err as Error)?.message ?? String(err));
      const what = err instanceof Error && err.name === 'RegistryUnavailableError' ? 'the schema registry' : 'Kafka';
      waiting = { for: what, since: waiting?.since ?? new Date().toISOString(), attempts: attempt, reason };
      if (Date.now() - lastLog >= WAIT_LOG_INTERVAL_MS) {
        lastLog = Date.now();
        log.warn({ brokers: config.kafka.brokers, attempt, retryInMs: delayMs, reason }, `waiting for ${what} (not ready; logged at most every ${WAIT_LOG_INTERVAL_MS / 1000} s)`);
      }
    };
    const k = await connectNotifyKafka(config, log, 'notifier', channels, { onRetry, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (waiting && waiting.attempts > 0) log.info({ waitedSince: waiting.since, attempts: waiting.attempts }, 'Kafka reached; starting');
    waiting = undefined;
    cleanup.push(() => k.close());
    const cache = new DeliveryCache(config.notify.ledger.cacheSize);
    const tail = new LedgerTail(k.kafka, k.admin, k.serde, config, cache, log.child({ component: 'ledger' }));
    cleanup.push(() => tail.stop());
    await tail.startReading();
    await tail.catchUp();
    const ledger = new KafkaLedger(k.producer, k.serde, config.topics.deliveries);
    const deadLetters = new KafkaDeadLetters(k.producer, k.serde, config);
    const notifierId = `${hostname()}/${process.pid}`;
    for (const c of channels) {
      const processor = new ChannelProcessor({
        channel: c,
        notify: config.notify,
        targets,
        sender: senders.get(c) as ChannelSender,
        retry: retryPolicy(config.notify, c),
        ledger,
        deadLetters,
        index: cache,
        scrubber,
        log: log.child({ channel: c }),
        notifierId,
      });
      // One delivery lane (consumer group) per target: a hanging target holds up only its own lane.
      for (const [i, t] of targets[c].entries()) {
        const lane = { target: t.id, primary: i === 0 };
        const consumer = new ChannelConsumer({ config, kafka: k.kafka, serde: k.serde, processor, lane, tail, deadLetters, log });
        await seedLaneFromChannelGroup(k.admin, config, c, consumer.groupId, log);
        consumers.push(consumer);
        // Consumers stop first (in-flight deliveries are interrupted, their offsets stay uncommitted).
        cleanup.push(() => consumer.stop());
        await consumer.start();
      }
    }
    // Lag from the broker's view (end offset − committed offset), also while a channel is stuck
    // retrying and handles nothing: the figure an alert on "notifier falling behind" needs.
    const pollLag = async () => {
      for (const topic of [config.topics.alerts, config.topics.decisions]) {
        const ends = await k.admin.fetchTopicOffsets(topic);
        for (const c of consumers) {
          const committed = await k.admin.fetchOffsets({ groupId: c.groupId, topics: [topic] });
          for (const e of ends) {
            const off = BigInt(committed[0]?.partitions.find((x) => x.partition === e.partition)?.offset ?? '-1');
            const from = off >= 0n ? off : BigInt(e.low);
            const lag = BigInt(e.high) - from;
            consumerLag.labels(c.groupId, topic, String(e.partition)).set(Number(lag > 0n ? lag : 0n));
          }
        }
      }
    };
    const lagTimer = setInterval(() => void pollLag().catch((err: unknown) => log.debug({ err: (err as Error).message }, 'lag poll failed')), config.notify.consumer.lagIntervalMs);
    lagTimer.unref();
    cleanup.push(async () => clearInterval(lagTimer));
    log.info({ channels, targets: Object.fromEntries(channels.map((c) => [c, targets[c].map((t) => t.id)])), ledgerRecords: tail.records }, 'notifier started');
    let stopped: Promise<void> | undefined;
    return {
      channels,
      consumers,
      http,
      isReady,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * A lane's group that has never committed starts where the channel's former single group stood
 * (Risk Hub ≤ 0.1 had one group per channel), so an upgrade neither skips nor repeats alerts. Only
 * while the lane group is empty and has no member (two replicas starting together: the second finds
 * offsets already set, or a member, and leaves it alone).
 */
export async function seedLaneFromChannelGroup(admin: Admin, config: Config, channel: Channel, laneGroup: string, log: Logger): Promise<void> {
  const topic = config.topics.alerts;
  try {
    const mine = await admin.fetchOffsets({ groupId: laneGroup, topics: [topic] });
    if ((mine[0]?.partitions ?? []).some((p) => BigInt(p.offset) >= 0n)) return;
    const old = await admin.fetchOffsets({ groupId: groupIdFor(config, channel), topics: [topic] });
    const partitions = (old[0]?.partitions ?? []).filter((p) => BigInt(p.offset) >= 0n).map((p) => ({ partition: p.partition, offset: p.offset }));
    if (partitions.length === 0) return;
    await admin.setOffsets({ groupId: laneGroup, topic, partitions });
    log.info({ channel, groupId: laneGroup, from: groupIdFor(config, channel), partitions: partitions.length }, 'new delivery lane starts at the offsets of the former channel group');
  } catch (err) {
    log.warn({ channel, groupId: laneGroup, err: (err as Error).message }, 'could not seed the lane from the former channel group; it starts from its own position');
  }
}
