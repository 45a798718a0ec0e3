import { hostname } from 'node:os';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { SHARED_TRANSACTION_TIMEOUT_MS, type Config } from '../config/schema.ts';
import { SCORER_SKIPPED_FIELDS, type Decision, type RiskAlert, type ScoredAttack } from '../contracts.ts';
import { ConsumerStoppedError, isRetriable, PoisonRecordError } from '../errors.ts';
import { startHttp, type HttpHandle, type Route } from '../http.ts';
import { createKafka } from '../kafka/client.ts';
import { changelogTopic, scorerClientId, scorerGroupId, scorerProcessTransactionalId, scorerTransactionalId } from '../kafka/names.ts';
import { KAFKAJS_UNPATCHED, kafkajsPatched } from '../kafka/patched.ts';
import { AvroSerde, readerType, subjectFor } from '../kafka/serde.ts';
import { waitForBrokerForever, withTimeout } from '../kafka/wait.ts';
import type { Logger } from '../log.ts';
import { memberView, urlAdvertisingAssigner } from './assigner.ts';
import { BatchLoop } from './batch-loop.ts';
import type { InputRecord } from './processor.ts';
import { processId } from './process-id.ts';
import { fencePartitionTransactionalId, partitionTransactionalProducer, transactionalKafkaProducer } from './producer.ts';
import { SharedTransactions } from './shared-transactions.ts';
import { queryRoute } from './query.ts';
import { TaskManager } from './task-manager.ts';
import type { TaskCodec, TaskNames } from './task.ts';

// The scorer's composition root: HTTP first (live at once, not ready until every owned partition is
// active), then Kafka, waited for as long as it takes; then the task manager (assignment, fencing,
// restore, readiness, timers) and the batch loop (fetch, hand each batch to its partition's task).
// The exactly-once protocol itself lives in the partition task (task.ts), behind a producer port.

export interface ScorerHandle {
  readonly http: HttpHandle;
  readonly url: string;
  isReady(): boolean;
  ownedPartitions(): number[];
  stop(): Promise<void>;
}

export interface ScorerOptions {
  log: Logger;
  /** Repair is impossible (a broken store that cannot be moved aside): by default logs and exits 1. */
  onFatal?: (err: unknown) => void;
}

/** While Kafka or the registry is unreachable at start, one log line per this interval. */
const WAIT_LOG_EVERY_MS = 30_000;

export async function startScorer(config: Config, opts: ScorerOptions): Promise<ScorerHandle> {
  const log = opts.log;
  if (!kafkajsPatched()) log.warn(KAFKAJS_UNPATCHED);
  let manager: TaskManager | undefined;
  let query: Route | undefined;
  let waiting = 'waiting for Kafka';
  const http = await startHttp({
    host: config.http.host,
    port: config.http.port,
    log,
    ready: () => manager?.readiness() ?? { ready: false, detail: { starting: waiting } },
    routes: [async (req, url) => (query ? query(req, url) : url.pathname.startsWith('/v1/') ? { status: 503, body: { error: `the scorer is starting (${waiting})` } } : undefined)],
  });
  const url = config.scorer.advertisedUrl ?? `http://${config.http.host === '0.0.0.0' ? hostname() : config.http.host}:${http.port}`;
  try {
    await waitForBrokerForever(config, { onRetry: rateLimited(log, 'Kafka is not reachable; waiting for it (not ready, still live)') });
    const kafka = createKafka(config, { clientId: scorerClientId(config, hostname()), logger: log.child({ component: 'kafkajs' }) });
    const admin = kafka.admin();
    await admin.connect();
    waiting = 'waiting for the schema registry';
    const { codec, partitions } = await prepare(config, admin, log);
    const started = startProcessing(config, { kafka, admin, codec, partitions, url, log, onFatal: opts.onFatal ?? exitOnFatal(log) });
    manager = started.manager;
    query = queryRoute({ config, partitions, task: (p) => manager?.task(p), owners: async () => describeOwners(admin, scorerGroupId(config)) });
    await started.running;
    return handle(http, url, started, admin, log);
  } catch (err) {
    await http.close();
    throw err;
  }
}

/** The decoding port, after checking the schemas are registered and the topics co-partitioned. */
async function prepare(config: Config, admin: Admin, log: Logger): Promise<{ codec: TaskCodec; partitions: number }> {
  const serde = new AvroSerde(config);
  const alertSubject = subjectFor(config.topics.alerts);
  const decisionSubject = subjectFor(config.topics.decisions);
  const onRetry = rateLimited(log, 'the schema registry is not reachable; waiting for it (not ready, still live)');
  for (let attempt = 1; ; attempt++) {
    try {
      // fails fast (SchemaError) when schemas were never registered
      await withTimeout(serde.latestId(alertSubject), config.schemaRegistry.timeoutMs, 'asking the schema registry');
      await withTimeout(serde.latestId(decisionSubject), config.schemaRegistry.timeoutMs, 'asking the schema registry');
      break;
    } catch (err) {
      if (!isRetriable(err)) throw err;
      onRetry(err, attempt, 2000);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  const inputTopic = config.topics.attacks;
  const changelog = changelogTopic(config);
  const coPartitioned = [changelog, config.topics.decisions, config.topics.decisionRequests];
  const md = await admin.fetchTopicMetadata({ topics: [inputTopic, ...coPartitioned] });
  const partitions = md.topics.find((t) => t.name === inputTopic)!.partitions.length;
  for (const topic of coPartitioned) {
    const n = md.topics.find((t) => t.name === topic)!.partitions.length;
    if (n !== partitions) throw new Error(`${topic} has ${n} partitions but ${inputTopic} has ${partitions}: they must be co-partitioned (recreate it with ${partitions})`);
  }
  const attackReader = readerType('attack.avsc', SCORER_SKIPPED_FIELDS);
  // Every registry call is bounded (schemaRegistry.timeoutMs): a registry that hangs is an outage
  // (ConnectionError, retriable), which the batch loop retries while staying in the group.
  const ms = config.schemaRegistry.timeoutMs;
  const codec: TaskCodec = {
    decode: (messages) => withTimeout(decodeAll(serde, attackReader, messages), ms, 'decoding a batch (schema registry)'),
    encodeAlert: (alert: RiskAlert) => withTimeout(serde.encode(alertSubject, alert), ms, 'encoding an alert (schema registry)'),
    encodeDecision: (decision: Decision) => withTimeout(serde.encode(decisionSubject, decision), ms, 'encoding a decision (schema registry)'),
  };
  return { codec, partitions };
}

/** Decodes a batch's values; poison becomes a record with its reason, a registry outage throws (retriable). */
async function decodeAll(serde: AvroSerde, reader: ReturnType<typeof readerType>, messages: KafkaMessage[]): Promise<InputRecord[]> {
  const out: InputRecord[] = [];
  for (const msg of messages) {
    try {
      const buf = msg.value;
      const { value } = serde.decodeCached<ScoredAttack>(buf, reader) ?? (await serde.decode<ScoredAttack>(buf, reader));
      out.push({ offset: msg.offset, recordKey: msg.key ? msg.key.toString('utf8') : null, attack: value });
    } catch (err) {
      if (!(err instanceof PoisonRecordError)) throw err;
      const schemaId = msg.value && msg.value.length >= 5 && msg.value[0] === 0 ? msg.value.readInt32BE(1) : undefined;
      out.push({ offset: msg.offset, recordKey: null, poison: { reason: err.reason, message: err.message, schemaId } });
    }
  }
  return out;
}

interface Processing {
  manager: TaskManager;
  /** The process's shared producer (scorer.transactionScope process). */
  shared?: SharedTransactions;
  loop: BatchLoop;
  consumer: ReturnType<Kafka['consumer']>;
  running: Promise<void>;
}

function startProcessing(
  config: Config,
  deps: { kafka: Kafka; admin: Admin; codec: TaskCodec; partitions: number; url: string; log: Logger; onFatal: (err: unknown) => void },
): Processing {
  const names: TaskNames = {
    input: config.topics.attacks,
    changelog: changelogTopic(config),
    alerts: config.topics.alerts,
    deadLetters: config.topics.attacksDlq,
    groupId: scorerGroupId(config),
    decisions: config.topics.decisions,
    requests: config.topics.decisionRequests,
  };
  const consumer = deps.kafka.consumer({
    groupId: names.groupId,
    readUncommitted: false,
    minBytes: config.scorer.fetchMinBytes,
    maxWaitTimeInMs: config.scorer.fetchMaxWaitMs,
    // Larger fetches amortise each transaction (~5 broker round trips) over more events.
    maxBytesPerPartition: config.scorer.fetchMaxBytesPerPartition,
    maxBytes: config.scorer.fetchMaxBytesPerPartition * 4,
    sessionTimeout: config.scorer.sessionTimeoutMs,
    rebalanceTimeout: 60_000,
    heartbeatInterval: config.scorer.heartbeatIntervalMs,
    partitionAssigners: [urlAdvertisingAssigner(deps.url, config.scorer.transactionScope)],
    retry: { retries: 10 },
  });
  const shared =
    config.scorer.transactionScope === 'process'
      ? new SharedTransactions({
          groupId: names.groupId,
          createProducer: () => transactionalKafkaProducer(deps.kafka, scorerProcessTransactionalId(config, processId(config.scorer.stateDir)), SHARED_TRANSACTION_TIMEOUT_MS),
          fencePartitionScope: (p) => fencePartitionTransactionalId(deps.kafka, scorerTransactionalId(config, p)),
        })
      : undefined;
  const manager = new TaskManager({
    config,
    kafka: deps.kafka,
    admin: deps.admin,
    log: deps.log,
    names,
    partitions: deps.partitions,
    codec: deps.codec,
    producerFor: (p) => shared?.portFor(p) ?? partitionTransactionalProducer(deps.kafka, scorerTransactionalId(config, p), names.groupId),
    onGeneration: (g) => shared?.setGeneration(g),
    pause: (p) => consumer.pause([{ topic: names.input, partitions: [p] }, { topic: names.requests, partitions: [p] }]),
    resume: (p) => consumer.resume([{ topic: names.input, partitions: [p] }, { topic: names.requests, partitions: [p] }]),
    seek: (topic, p, offset) => consumer.seek({ topic, partition: p, offset: offset.toString() }),
    onFatal: deps.onFatal,
  });
  const loop = new BatchLoop({
    consumer,
    manager,
    log: deps.log,
    inputTopic: names.input,
    requestsTopic: names.requests,
    concurrency: config.scorer.concurrency,
    onStopped: (err) => deps.onFatal(consumerStopped(err, config)),
  });
  manager.start();
  return { manager, shared, loop, consumer, running: loop.run() };
}

function handle(http: HttpHandle, url: string, p: Processing, admin: Admin, log: Logger): ScorerHandle {
  let stopped = false;
  return {
    http,
    url,
    isReady: () => p.manager.isReady(),
    ownedPartitions: () => p.manager.ownedPartitions(),
    async stop() {
      if (stopped) return;
      stopped = true;
      await p.manager.stop();
      p.loop.stop();
      // The open transactions are committed before leaving the group (the running batch first), so the
      // next owner starts after them; kafkajs lets a batch still running finish before it leaves.
      await p.manager.commitAll();
      await p.consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'consumer disconnect failed'));
      await p.manager.closeAll();
      await p.shared?.close();
      await admin.disconnect().catch(() => undefined);
      await http.close();
    },
  };
}

/** An onRetry that logs the first failure and then one line per WAIT_LOG_EVERY_MS. */
function rateLimited(log: Logger, msg: string): (err: unknown, attempt: number, delayMs: number) => void {
  let loggedAt = -Infinity;
  return (err, attempt, delayMs) => {
    if (Date.now() - loggedAt < WAIT_LOG_EVERY_MS) return;
    loggedAt = Date.now();
    log.warn({ err: (err as Error).message, attempt, retryInMs: delayMs }, msg);
  };
}

/** Why the consumer stopped for good, said so that an operator knows what to do. */
export function consumerStopped(err: unknown, config: Config): ConsumerStoppedError {
  const cause = { cause: err };
  if ((err as { type?: string } | undefined)?.type !== 'INCONSISTENT_GROUP_PROTOCOL') {
    return new ConsumerStoppedError('RH_CONSUMER_STOPPED', `the scorer's consumer stopped after an error it does not retry: ${err instanceof Error ? err.message : String(err)}`, cause);
  }
  const scope = config.scorer.transactionScope;
  const others = scope === 'process' ? 'scorer.transactionScope partition (or are of a version before transaction scopes were checked)' : 'scorer.transactionScope process';
  return new ConsumerStoppedError(
    'RH_SCOPE_MISMATCH',
    `consumer group ${scorerGroupId(config)} refused this scorer (scorer.transactionScope ${scope}): the scorers running in it have ${others}, ` +
      'whose zombies this one could not fence. Stop every scorer of the application before changing the scope, or give them all the same one (docs/architecture.md "Transaction scope").',
    cause,
  );
}

function exitOnFatal(log: Logger): (err: unknown) => void {
  return (err) => {
    log.fatal({ err }, 'the scorer cannot repair its state; exiting so the orchestrator replaces it');
    process.exit(1);
  };
}

async function describeOwners(admin: Admin, groupId: string) {
  const d = await admin.describeGroups([groupId]);
  return (d.groups[0]?.members ?? []).map((mm) => memberView(mm));
}
