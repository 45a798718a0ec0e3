import { z } from 'zod';
import { ScoringSchema } from './scoring.ts';
import { NotifySchema } from './notify.ts';
import { DecisionsSchema } from './decisions.ts';
import { RelaySchema } from './relay.ts';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port');

export const KafkaSchema = z.strictObject({
  /** Bootstrap brokers. Env: KAFKA_BROKERS (comma separated). */
  brokers: z.array(hostPort).min(1).default(['127.0.0.1:9092']),
  clientId: z.string().min(1).default('risk-hub'),
  /** TLS: true for the system CAs, or file paths (PEM). */
  ssl: z
    .union([
      z.boolean(),
      z.strictObject({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional(), rejectUnauthorized: z.boolean().default(true) }),
    ])
    .default(false),
  /** SASL; the password comes from the environment (RISK_HUB_KAFKA__SASL__PASSWORD). */
  sasl: z
    .strictObject({
      mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
      username: z.string().min(1),
      password: z.string().min(1),
    })
    .optional(),
  /** Time to establish a connection (ms). */
  connectionTimeoutMs: z.number().int().positive().default(3000),
  /** Time for a request to answer (ms). */
  requestTimeoutMs: z.number().int().positive().default(30000),
  /** How long commands wait for an unreachable broker before giving up (ms). */
  connectWaitMs: z.number().int().positive().default(15000),
});

export const RegistrySchema = z
  .strictObject({
    /** Confluent-compatible API base. Env: SCHEMA_REGISTRY_URL. For Apicurio: http://host:port/apis/ccompat/v7 */
    url: z.url().default('http://127.0.0.1:8081/apis/ccompat/v7'),
    username: z.string().optional(),
    password: z.string().optional(),
    /** Per-request timeout (ms), for every registry call of every process (a hung registry is an outage, retried). */
    timeoutMs: z.number().int().positive().default(5000),
  })
  .transform(moveUrlCredentials);

/**
 * `http://user:pass@host/…` (the usual way to hand a secret to SCHEMA_REGISTRY_URL): the credentials
 * move to username/password (explicit fields win) and leave the URL, so that no log line, error
 * message or `config print` that shows the URL can show them.
 */
function moveUrlCredentials<R extends { url: string; username?: string | undefined; password?: string | undefined }>(r: R): R {
  const u = new URL(r.url);
  if (!u.username && !u.password) return r;
  const username = r.username ?? decodeURIComponent(u.username);
  const password = r.password ?? decodeURIComponent(u.password);
  u.username = '';
  u.password = '';
  return { ...r, url: u.toString(), username, password };
}

export const TopicsSchema = z.strictObject({
  attacks: z.string().default('attacks'),
  alerts: z.string().default('risk-alerts'),
  deliveries: z.string().default('risk-alert-deliveries'),
  attacksDlq: z.string().default('attacks.dlq'),
  /** Compacted: each user's current decision (schemas/decision.avsc), written by the scorer, read by the agents. */
  decisions: z.string().default('risk-decisions'),
  /** People's decision requests (`risk-hub decisions add | remove`), read by the scorer. */
  decisionRequests: z.string().default('risk-decision-requests'),
});

export const TopologySchema = z.strictObject({
  /** Topic declarations applied by `risk-hub topics apply`. */
  file: z.string().default('topology/topics.yaml'),
  /** Replication factor for created topics; -1 takes the broker default. */
  replicationFactor: z.number().int().min(-1).max(16).default(-1),
});

export const ScorerSchema = z.strictObject({
  /** One LevelDB store per owned partition lives below this directory. Env: STATE_DIR. */
  stateDir: z.string().default('.risk-hub/state'),
  /** Users kept decoded in memory per partition (hot-user cache); `cacheMaxBytes` bounds them too. */
  cacheUsers: z.number().int().min(0).default(50_000),
  /**
   * Heap bytes (estimated per state) the hot-user cache may take in the whole process, shared by the
   * owned partitions: the largest memory consumer, so it is bounded whatever the number of users or
   * partitions. 32 MiB holds about 22,000 typical users; a larger cache saves store reads but is marked
   * again by every full collection of the V8 heap (docs/kubernetes.md "Sizing").
   */
  cacheMaxBytes: z.number().int().min(0).default(32 * 1024 * 1024),
  /**
   * Bytes of committed changes (encoded states) waiting for the local stores in the whole process: the
   * stores are written when this is reached, even before storeFlushIntervalMs.
   */
  storeFlushMaxBytes: z.number().int().min(65_536).default(16 * 1024 * 1024),
  /**
   * Bytes of changelog a restore reads per chunk in the whole process (a partition's chunk at most a
   * quarter of it): a restore reads each partition backwards a chunk at a time and holds one chunk's
   * fetched records per partition until it is written.
   */
  restoreBufferBytes: z.number().int().min(1024 * 1024).default(16 * 1024 * 1024),
  /** LevelDB block cache of each owned partition's store (bytes; native memory, outside the heap). */
  storeCacheBytes: z.number().int().min(0).default(4 * 1024 * 1024),
  /** LevelDB memtable of each owned partition's store (bytes; up to two at a time while one is written out). */
  storeWriteBufferBytes: z.number().int().min(64 * 1024).default(2 * 1024 * 1024),
  /** How this instance is reached by peers and by `user-risk` (defaults to http://<hostname>:<port>). */
  advertisedUrl: z.string().optional(),
  /** Upper bound on a clean shutdown (ms). */
  shutdownTimeoutMs: z.number().int().positive().default(25_000),
  /** Consumer session timeout (ms): how long a crashed instance keeps its partitions before the group moves them. */
  sessionTimeoutMs: z.number().int().min(6000).default(30_000),
  /**
   * Owned partitions processed at the same time (each with its own transaction). With
   * fetchMaxBytesPerPartition it bounds the batches in flight, the largest memory consumer while
   * catching up (docs/kubernetes.md "Sizing").
   */
  concurrency: z.number().int().min(1).max(64).default(2),
  /** Bytes fetched per partition per request; bigger batches mean fewer transactions, and more memory in flight. */
  fetchMaxBytesPerPartition: z.number().int().min(65_536).default(512 * 1024),
  /**
   * Bytes a fetch waits for (across the instance's partitions) before the broker answers, at most
   * fetchMaxWaitMs: at a moderate rate fewer, larger batches cost the scorer and the broker less per
   * event (Kafka's fetch.min.bytes). 1 answers as soon as anything is there.
   */
  fetchMinBytes: z.number().int().min(1).max(16 * 1024 * 1024).default(1),
  /** The longest (ms) a fetch waits for fetchMinBytes (Kafka's fetch.max.wait.ms): the latency it may add. */
  fetchMaxWaitMs: z.number().int().min(0).max(5000).default(100),
  /** Consumer heartbeat interval (ms), well below the session timeout. */
  heartbeatIntervalMs: z.number().int().min(100).default(3000),
  /**
   * A user whose newest event is this much (ms) older than the newest event of their partition (stream
   * time, capped by the clock) is forgotten: the state is deleted from the store and tombstoned on the
   * changelog, so stores, changelogs and restores grow with the users active within the TTL, not with
   * every user ever seen. A forgotten user's next event starts afresh (lifetime risk_score from 0).
   * Must exceed scoring.windowMs + scoring.lateGraceMs; 0 = never.
   */
  idleUserTtlMs: z.number().int().min(0).default(7 * 24 * 3_600_000),
  /**
   * How often (ms) committed states are written to the local stores. Between two flushes a store lags
   * its changelog (restore replays the difference after a crash) and a user changed several times is
   * written once. 0 writes after every batch.
   */
  storeFlushIntervalMs: z.number().int().min(0).default(5000),
  /** How often (ms) each owned store is punctuated: its next 1,000 users are checked for idleness. */
  punctuateIntervalMs: z.number().int().min(100).default(10_000),
  /**
   * How long (ms) a partition's transaction stays open across fetched batches before it is committed
   * (Kafka Streams' commit.interval.ms): alerts become visible at the commit, so this bounds the latency
   * it adds (an alert waits half of it on average); fewer transactions cost the broker and the scorer
   * less. 0 commits every batch. At most 10 s, far below the producer's transaction timeout (60 s).
   */
  commitIntervalMs: z.number().int().min(0).max(10_000).default(50),
  /**
   * Input records a partition's open transaction holds at most: it is committed when it reaches this.
   * It bounds the decoded states the transaction holds apart (uncommitted, never evicted) and the work
   * redone after an abort.
   */
  commitMaxRecords: z.number().int().min(1).max(1_000_000).default(10_000),
  /**
   * What one transaction covers. `partition`: each owned input partition has its own transactional
   * producer and commits on its own (its transactional id fences a zombie owner). `process`: the
   * partitions of a process commit together through one producer, once per commitIntervalMs (Kafka
   * Streams' exactly_once_v2, KIP-447: the consumer group's generation fences a zombie): one transaction
   * per interval for all of them, so at a steady rate a shorter interval for the same broker load
   * (docs/benchmarks.md, "Scorer"). Switching between them needs every scorer of the application
   * stopped first: the group refuses a scorer of the other scope (docs/architecture.md "Transaction scope").
   */
  transactionScope: z.enum(['partition', 'process']).default('process'),
});

export const HttpSchema = z.strictObject({
  host: z.string().default('0.0.0.0'),
  /** 0 picks a free port. */
  port: z.number().int().min(0).max(65535).default(9464),
});

export const LogSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Redact user identifiers (user.key, identifiers) from logs. */
  redactUsers: z.boolean().default(false),
});

export const ConfigSchema = z.strictObject({
  /** Names the scorer's changelog topic (<applicationId>-user-risk-changelog), consumer groups and transactional ids. */
  applicationId: z.string().regex(/^[a-zA-Z0-9._-]+$/).default('risk-hub'),
  kafka: KafkaSchema.default(KafkaSchema.parse({})),
  schemaRegistry: RegistrySchema.default(RegistrySchema.parse({})),
  topics: TopicsSchema.default(TopicsSchema.parse({})),
  topology: TopologySchema.default(TopologySchema.parse({})),
  scoring: ScoringSchema.default(ScoringSchema.parse({})),
  /** Counter-measures: which tier leads to which decision (src/config/decisions.ts). */
  decisions: DecisionsSchema.default(DecisionsSchema.parse({})),
  scorer: ScorerSchema.default(ScorerSchema.parse({})),
  notify: NotifySchema.prefault({}),
  http: HttpSchema.default(HttpSchema.parse({})),
  /** `risk-hub relay`: the HTTP relay of the Python, Java, Ruby and PHP agents (src/config/relay.ts, docs/relay-protocol.md). */
  relay: RelaySchema.default(RelaySchema.parse({})),
  log: LogSchema.default(LogSchema.parse({})),
}).superRefine((c, ctx) => {
  const keep = c.scoring.windowMs + c.scoring.lateGraceMs;
  if (c.scorer.idleUserTtlMs > 0 && c.scorer.idleUserTtlMs <= keep) {
    ctx.addIssue({
      code: 'custom',
      path: ['scorer', 'idleUserTtlMs'],
      message: `must be 0 (never forget users) or greater than scoring.windowMs + scoring.lateGraceMs (${keep} ms): a user's window would be forgotten while it can still count`,
    });
  }
  if (c.scorer.transactionScope === 'process' && c.scorer.commitIntervalMs > MAX_SHARED_COMMIT_INTERVAL_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['scorer', 'commitIntervalMs'],
      message: `must be at most ${MAX_SHARED_COMMIT_INTERVAL_MS} ms with transactionScope process: a shared transaction must commit well within its ${SHARED_TRANSACTION_TIMEOUT_MS} ms timeout`,
    });
  }
});

export type Config = z.infer<typeof ConfigSchema>;

/** A shared (scorer.transactionScope process) transaction's timeout (ms): how long the broker keeps a dead process's transaction open (Kafka Streams' default under exactly-once). */
export const SHARED_TRANSACTION_TIMEOUT_MS = 10_000;
/** The longest commitIntervalMs a shared transaction may be open for by design: half its timeout. */
const MAX_SHARED_COMMIT_INTERVAL_MS = SHARED_TRANSACTION_TIMEOUT_MS / 2;

// Names derived from the configuration live in src/kafka/names.ts; re-exported for existing callers.
export { changelogTopic, scorerGroupId } from '../kafka/names.ts';
