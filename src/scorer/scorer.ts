import { hostname } from 'node:os';
import type { Admin, Batch, Consumer, Kafka, KafkaMessage, Transaction } from 'kafkajs';
import type { Config } from '../config/schema.ts';
import { changelogTopic, scorerGroupId } from '../config/schema.ts';
import { SCORER_SKIPPED_FIELDS, type ScoredAttack } from '../contracts.ts';
import { ConnectionError, isRetriable, PoisonRecordError } from '../errors.ts';
import { startHttp, type HttpHandle } from '../http.ts';
import { chunkTopicMessages, type OutMessage } from '../kafka/chunk.ts';
import { createKafka } from '../kafka/client.ts';
import { scorerCommitted } from '../kafka/offsets.ts';
import { AvroSerde, readerType, subjectFor } from '../kafka/serde.ts';
import { KAFKAJS_UNPATCHED, kafkajsPatched } from '../kafka/patched.ts';
import { waitForBroker } from '../kafka/wait.ts';
import type { Logger } from '../log.ts';
import * as m from '../metrics/index.ts';
import { restore, type RestoreTarget } from '../state/restore.ts';
import { PartitionStore } from '../state/store.ts';
import { urlAdvertisingAssigner } from './assigner.ts';
import { batchKeys, processBatch, type InputRecord } from './processor.ts';
import { isIdle, type UserState } from '../scoring/index.ts';
import { peekLast } from '../state/codec.ts';
import { alertRecord, changelogRecords, deadLetterRecord } from './records.ts';
import { queryRoute } from './query.ts';
import { PartitionTask } from './task.ts';

// The scorer: a consumer group on `attacks`. Per input batch of one partition, in this order:
//   decode → load states → score (pure) → ONE Kafka transaction (changelog records, alerts, dead
//   letters, input offsets) → commit → states + changelog checkpoint staged, and written to LevelDB
//   in ONE batch every scorer.storeFlushIntervalMs.
// A crash before the commit leaves nothing visible (the transaction aborts, the offsets stay); a
// crash after it leaves the old checkpoint, and restore replays the committed changelog tail.

export interface ScorerHandle {
  readonly http: HttpHandle;
  readonly url: string;
  isReady(): boolean;
  ownedPartitions(): number[];
  stop(): Promise<void>;
}

export interface ScorerOptions {
  log: Logger;
}

const RETRY_BASE_MS = 500;
/** Bytes of keys and values per produce request (below the broker's default message.max.bytes of 1 MiB). */
const MAX_REQUEST_BYTES = 512 * 1024;
const RETRY_MAX_MS = 10_000;
/** Users read per store per punctuation: a slice, so a large store is walked a little at a time. */
const IDLE_SCAN_KEYS = 1000;

export async function startScorer(config: Config, opts: ScorerOptions): Promise<ScorerHandle> {
  const log = opts.log;
  const changelog = changelogTopic(config);
  const groupId = scorerGroupId(config);
  const inputTopic = config.topics.attacks;
  const tasks = new Map<number, PartitionTask>();
  let assigned: number[] = [];
  let joined = false;
  let stopping = false;

  if (!kafkajsPatched()) log.warn(KAFKAJS_UNPATCHED);
  await waitForBroker(config, config.kafka.connectWaitMs);
  const kafka: Kafka = createKafka(config, { clientId: `${config.applicationId}-scorer-${hostname()}`, logger: log.child({ component: 'kafkajs' }) });
  const admin: Admin = kafka.admin();
  await admin.connect();
  const serde = new AvroSerde(config);
  const attackReader = readerType('attack.avsc', SCORER_SKIPPED_FIELDS);
  const alertSubject = subjectFor(config.topics.alerts);
  await serde.latestId(alertSubject); // fail fast when schemas were never registered

  const md = await admin.fetchTopicMetadata({ topics: [inputTopic, changelog] });
  const inputPartitions = md.topics.find((t) => t.name === inputTopic)!.partitions.length;
  const changelogPartitions = md.topics.find((t) => t.name === changelog)!.partitions.length;
  if (changelogPartitions !== inputPartitions) {
    throw new Error(`${changelog} has ${changelogPartitions} partitions but ${inputTopic} has ${inputPartitions}: they must be co-partitioned (recreate the changelog with ${inputPartitions})`);
  }

  const http = await startHttp({
    host: config.http.host,
    port: config.http.port,
    log,
    ready: () => ({ ready: isReady(), detail: { joined, partitions: Object.fromEntries([...tasks].map(([p, t]) => [p, t.phase])) } }),
    routes: [
      queryRoute({
        config,
        partitions: inputPartitions,
        task: (p) => tasks.get(p),
        owners: async () => describeOwners(admin, groupId),
      }),
    ],
  });
  const url = config.scorer.advertisedUrl ?? `http://${config.http.host === '0.0.0.0' ? hostname() : config.http.host}:${http.port}`;

  const consumer: Consumer = kafka.consumer({
    groupId,
    readUncommitted: false,
    maxWaitTimeInMs: 100,
    // Larger fetches amortise each transaction (~5 broker round trips) over more events.
    maxBytesPerPartition: config.scorer.fetchMaxBytesPerPartition,
    maxBytes: config.scorer.fetchMaxBytesPerPartition * 4,
    sessionTimeout: config.scorer.sessionTimeoutMs,
    rebalanceTimeout: 60_000,
    heartbeatInterval: config.scorer.heartbeatIntervalMs,
    partitionAssigners: [urlAdvertisingAssigner(url)],
    retry: { retries: 10 },
  });

  function isReady(): boolean {
    return joined && !stopping && assigned.every((p) => tasks.get(p)?.phase === 'active');
  }
  const updateReady = () => {
    m.scorerReady.set(isReady() ? 1 : 0);
    m.scorerAssignedPartitions.set(assigned.length);
  };

  // Ownership is learned from GROUP_JOIN (kafkajs has no revoke callback): close what we lost, open and
  // restore what we gained. Serialised, so two quick rebalances never race on a store.
  let ownership = Promise.resolve();
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    const mine = (e.payload.memberAssignment[inputTopic] ?? []).slice().sort((a, b) => a - b);
    void enqueue(() => onAssignment(mine));
  });
  consumer.on(consumer.events.REBALANCING, () => {
    joined = false;
    updateReady();
  });

  async function onAssignment(mine: number[]): Promise<void> {
    assigned = mine;
    joined = true;
    log.info({ partitions: mine }, 'partitions assigned');
    for (const [p, t] of [...tasks]) {
      if (!mine.includes(p)) {
        tasks.delete(p);
        await closeTask(t, true);
        m.scorerRestoreRemaining.remove(String(p));
        log.info({ partition: p }, 'partition revoked, store closed');
      }
    }
    const fresh = mine.filter((p) => !tasks.has(p));
    updateReady();
    if (fresh.length) await openTasks(fresh);
    updateReady();
  }

  async function openTasks(partitions: number[]): Promise<void> {
    const opened: PartitionTask[] = [];
    for (const p of partitions) {
      const store = await PartitionStore.open(config.scorer.stateDir, changelog, p);
      const producer = kafka.producer({
        transactionalId: `${config.applicationId}-scorer-${p}`,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: 60_000,
      });
      const task = new PartitionTask(p, store, producer, config.scorer.cacheUsers);
      tasks.set(p, task);
      opened.push(task);
    }
    try {
      // Fence any previous owner first: initialising our transactional id aborts its open
      // transaction, so the changelog end read next is stable.
      for (const t of opened) {
        await t.producer.connect();
        const tx = await t.producer.transaction();
        await tx.abort();
      }
      const offsets = await admin.fetchTopicOffsets(changelog);
      const targets = new Map<number, RestoreTarget>();
      for (const t of opened) {
        const o = offsets.find((x) => x.partition === t.partition)!;
        const end = BigInt(o.high);
        const low = BigInt(o.low);
        let from = (await t.store.checkpoint()) ?? low;
        if (from > end || from < low) {
          log.warn({ partition: t.partition, checkpoint: from.toString(), low: low.toString(), end: end.toString() }, 'store checkpoint outside the changelog: rebuilding the store from the changelog');
          await t.store.clear();
          from = low;
        }
        targets.set(t.partition, { store: t.store, from, end });
        m.scorerRestoreRemaining.set({ partition: String(t.partition) }, Number(end - from));
      }
      const t0 = Date.now();
      const applied = await restore({
        kafka,
        topic: changelog,
        groupPrefix: config.applicationId,
        targets,
        log,
        onProgress: (p, remaining, n) => {
          m.scorerRestoreRemaining.set({ partition: String(p) }, Number(remaining));
          m.scorerRestoreRecords.inc(n);
        },
      });
      for (const t of opened) {
        if (t.phase === 'closed') continue;
        t.markActive();
      }
      log.info({ partitions, records: Object.fromEntries(applied), ms: Date.now() - t0 }, 'partitions restored');
    } catch (err) {
      log.error({ err, partitions }, 'restore failed; the partitions will be reopened');
      for (const t of opened) {
        t.markFailed(err);
        if (tasks.get(t.partition) === t) tasks.delete(t.partition);
        await t.close();
      }
    }
  }

  /** The scorer group's committed offset of an input partition (-1 when none). */
  async function committedOffset(p: number): Promise<bigint> {
    return (await scorerCommitted(admin, config)).get(p) ?? -1n;
  }

  /** Runs ownership changes one at a time; `busy` tells a waiting batch that one is under way. */
  let busy = 0;
  function enqueue(fn: () => Promise<void>): Promise<void> {
    busy++;
    ownership = ownership.then(fn).catch((err: unknown) => log.error({ err }, 'assignment handling failed')).finally(() => busy--);
    return ownership;
  }

  /**
   * The active task of partition `p`, waiting (with heartbeats, so a long restore never costs the
   * group membership) while it restores, and opening it if no task exists (a missed GROUP_JOIN, or a
   * task closed after an error).
   */
  async function taskFor(p: number, heartbeat: () => Promise<void>, isRunning: () => boolean): Promise<PartitionTask | undefined> {
    while (isRunning() && !stopping) {
      const t = tasks.get(p);
      if (t?.phase === 'active') return t;
      if (t) await Promise.race([t.ready.catch(() => undefined), sleep(1000)]);
      else if (busy > 0) await Promise.race([ownership, sleep(1000)]);
      else await Promise.race([enqueue(() => (tasks.has(p) ? Promise.resolve() : openTasks([p]))), sleep(1000)]);
      await heartbeat();
    }
    return undefined;
  }

  async function decode(messages: KafkaMessage[]): Promise<InputRecord[]> {
    const out: InputRecord[] = [];
    for (const msg of messages) {
      try {
        const buf = msg.value;
        const { value } = serde.decodeCached<ScoredAttack>(buf, attackReader) ?? (await serde.decode<ScoredAttack>(buf, attackReader));
        out.push({ offset: msg.offset, recordKey: msg.key ? msg.key.toString('utf8') : null, attack: value });
      } catch (err) {
        if (err instanceof PoisonRecordError) {
          const schemaId = msg.value && msg.value.length >= 5 && msg.value[0] === 0 ? msg.value.readInt32BE(1) : undefined;
          out.push({ offset: msg.offset, recordKey: null, poison: { reason: err.reason, message: err.message, schemaId } });
        } else throw err;
      }
    }
    return out;
  }

  /**
   * One batch, exactly once. Before the commit any error leaves nothing behind: the transaction is
   * aborted and the cache (whose states scoring mutated in place) dropped, so the batch can be retried.
   * After the commit the batch is done whatever happens: a failed LevelDB write closes the task, whose
   * store is then brought up to date from the committed changelog, and the batch is never re-scored.
   */
  async function handleBatch(task: PartitionTask, batch: Batch): Promise<void> {
    const t0 = process.hrtime.bigint();
    let outcome: Committed;
    try {
      outcome = await scoreAndCommit(task, batch);
    } catch (err) {
      task.cache.clear();
      throw err;
    }
    const { result, states, changelogMessages, checkpoint } = outcome;
    try {
      if (checkpoint !== undefined) task.stage(changelogMessages as Array<{ key: string; value: Buffer }>, checkpoint, result.counts.newUsers);
      if (flushDue(task)) await task.flush();
      if (result.streamTime > task.streamTime) task.streamTime = result.streamTime;
      // forEach: no [key, value] array per entry, on the hot path.
      result.dirty.forEach((s, k) => task.cache.set(k, s));
      states.forEach((s, k) => {
        if (!result.dirty.has(k)) task.cache.set(k, s);
      });
    } catch (err) {
      await dropAfterStoreFailure(task, err);
    }
    recordMetrics(batch, result, t0);
  }

  interface Committed {
    result: ReturnType<typeof processBatch>;
    states: Map<string, UserState>;
    changelogMessages: OutMessage[];
    checkpoint: bigint | undefined;
  }

  async function scoreAndCommit(task: PartitionTask, batch: Batch): Promise<Committed> {
    const p = batch.partition;
    const records = await decode(batch.messages);
    const states = await task.load(batchKeys(records));
    const result = processBatch(records, states, config.scoring, { partition: p, partitions: inputPartitions, nowMs: Date.now() });
    // Only batches with dead letters need their records by offset (most have none).
    const byOffset = new Map(result.deadLetters.length ? batch.messages.map((msg) => [msg.offset, msg]) : []);
    const changelogMessages = changelogRecords(result.dirty, p);
    const alertMessages = await Promise.all(result.alerts.map(async (a) => alertRecord(a, await serde.encode(alertSubject, a), p)));
    const dlqMessages = result.deadLetters.map((d) => deadLetterRecord(byOffset.get(d.offset)!, d, { topic: batch.topic, partition: p }));
    const topicMessages = [
      ...(changelogMessages.length ? [{ topic: changelog, messages: changelogMessages }] : []),
      ...(alertMessages.length ? [{ topic: config.topics.alerts, messages: alertMessages }] : []),
      ...(dlqMessages.length ? [{ topic: config.topics.attacksDlq, messages: dlqMessages }] : []),
    ];
    const nextOffset = (BigInt(batch.lastOffset()) + 1n).toString();
    const c0 = process.hrtime.bigint();
    const checkpoint = await inTransaction(task, async (tx) => {
      const end = await sendAll(tx, topicMessages, p);
      await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: p, offset: nextOffset }] }] });
      return end;
    });
    m.scorerCommitDuration.observe(Number(process.hrtime.bigint() - c0) / 1e9);
    return { result, states, changelogMessages, checkpoint };
  }

  /**
   * Sends `topicMessages` in `tx`, in several requests when they are many (one produce request must stay
   * below the broker's message.max.bytes, 1 MiB by default); returns the end offset of what was written
   * to partition `p` of the changelog (the store's next checkpoint), undefined when nothing was.
   */
  async function sendAll(tx: Transaction, topicMessages: Array<{ topic: string; messages: OutMessage[] }>, p: number): Promise<bigint | undefined> {
    let checkpoint: bigint | undefined;
    for (const chunk of chunkTopicMessages(topicMessages, MAX_REQUEST_BYTES)) {
      const meta = await tx.sendBatch({ topicMessages: chunk, acks: -1 });
      for (const r of meta) {
        if (r.topicName !== changelog || r.partition !== p || r.baseOffset === undefined) continue;
        const n = chunk.find((c) => c.topic === changelog)!.messages.length;
        const end = BigInt(r.baseOffset) + BigInt(n);
        if (checkpoint === undefined || end > checkpoint) checkpoint = end;
      }
    }
    return checkpoint;
  }

  /** Runs `send` in a transaction of the task's producer and commits it; any error aborts it (counted) and is rethrown. */
  async function inTransaction<T>(task: PartitionTask, send: (tx: Transaction) => Promise<T>): Promise<T> {
    const tx = await task.producer.transaction();
    try {
      const out = await send(tx);
      await tx.commit();
      return out;
    } catch (err) {
      m.scorerTransactionAborts.inc();
      await tx.abort().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Writes a task's committed changes to its store when they are due (run through `task.exclusive`); a
   * failed write drops the task, whose store the next restore brings up to the changelog.
   */
  async function flushIfDue(task: PartitionTask): Promise<void> {
    if (task.phase !== 'active' || !flushDue(task)) return;
    await task.flush().catch((err: unknown) => dropAfterStoreFailure(task, err));
  }

  /** Whether a task's committed changes are due to be written to its store (scorer.storeFlushIntervalMs). */
  function flushDue(task: PartitionTask): boolean {
    return Date.now() - task.flushedAt >= config.scorer.storeFlushIntervalMs;
  }

  /**
   * Closes a task; with `flush`, first writes its committed changes to the store, which a restore would
   * otherwise replay from the changelog. Never with `flush` from inside the task's `exclusive` section.
   */
  async function closeTask(task: PartitionTask, flush: boolean): Promise<void> {
    if (flush && task.phase === 'active') {
      await task
        .exclusive(() => task.flush())
        .catch((err: unknown) => log.warn({ err, partition: task.partition }, 'writing the store before closing it failed; the next restore replays the changelog'));
    }
    await task.close();
  }

  /**
   * A store write failed after its changes were committed: the task is closed (not flushed again) and
   * reopened by the next batch, whose restore brings the store up to the changelog.
   */
  async function dropAfterStoreFailure(task: PartitionTask, err: unknown): Promise<void> {
    log.error({ err, partition: task.partition }, 'writing the local store failed after the commit; the store will be restored from the changelog');
    if (tasks.get(task.partition) === task) tasks.delete(task.partition);
    await closeTask(task, false);
  }

  /**
   * Punctuation of one task (run through `task.exclusive`, never during its batch): the next slice of
   * its store is checked for users idle longer than scorer.idleUserTtlMs (by the task's stream time),
   * who are tombstoned on the changelog in one transaction, then deleted from the cache and staged for
   * the store like a batch's changes: a crash in between is repaired by restore.
   */
  async function punctuate(task: PartitionTask): Promise<void> {
    if (task.phase !== 'active') return;
    // Idle by stream time, capped by the clock (a clamped future event must not age everyone): a replay
    // of old events, or a backlog after an outage, forgets no user between two of their events.
    const horizon = Math.min(Date.now(), task.streamTime);
    if (!Number.isFinite(horizon)) return; // no batch since the task opened: time has not moved
    const rows = await task.store.scan(task.scanCursor, IDLE_SCAN_KEYS);
    task.scanCursor = rows.length < IDLE_SCAN_KEYS ? undefined : rows[rows.length - 1]![0];
    const idle: string[] = [];
    for (const [key, stored] of rows) {
      // A committed change not yet flushed is newer than the store's value (null: already forgotten).
      const value = task.pending.has(key) ? task.pending.get(key) : stored;
      if (!value) continue;
      const last = peekLast(value);
      if (last !== undefined && isIdle(last, horizon, config.scorer.idleUserTtlMs)) idle.push(key);
    }
    if (!idle.length || task.phase !== 'active') return;
    const checkpoint = await inTransaction(task, (tx) =>
      sendAll(tx, [{ topic: changelog, messages: idle.map((key) => ({ key, value: null, partition: task.partition })) }], task.partition),
    );
    for (const key of idle) task.cache.delete(key);
    if (checkpoint !== undefined) task.stage(idle.map((key) => ({ key, value: null })), checkpoint, -idle.length);
    await flushIfDue(task);
    m.scorerUsersExpired.inc(idle.length);
    log.debug({ partition: task.partition, users: idle.length }, 'idle users forgotten');
  }

  function recordMetrics(batch: Batch, result: ReturnType<typeof processBatch>, t0: bigint): void {
    const p = batch.partition;
    const nextOffset = BigInt(batch.lastOffset()) + 1n;
    const c = result.counts;
    m.scorerEvents.inc({ outcome: 'scored' }, c.scored);
    if (c.duplicate) m.scorerEvents.inc({ outcome: 'duplicate' }, c.duplicate);
    if (c.late) m.scorerEvents.inc({ outcome: 'late' }, c.late);
    if (c.clamped) m.scorerClamped.inc(c.clamped);
    if (c.wrongPartition) m.scorerWrongPartition.inc(c.wrongPartition);
    m.scorerPoints.inc(c.points);
    for (const a of result.alerts) m.scorerAlerts.inc({ tier: String(a.tier) });
    for (const d of result.deadLetters) m.scorerDeadLettered.inc({ reason: d.reason });
    if (result.deadLetters.length) log.warn({ partition: p, deadLetters: result.deadLetters.map((d) => ({ offset: d.offset, reason: d.reason })) }, 'records dead-lettered');
    m.consumerLag.set({ consumergroup: groupId, topic: batch.topic, partition: String(p) }, Math.max(0, Number(BigInt(batch.highWatermark) - nextOffset)));
    m.scorerBatchDuration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  await consumer.connect();
  await consumer.subscribe({ topic: inputTopic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    // Each partition has its own producer, transaction, store and cache, so partitions are processed
    // concurrently: one partition's CPU work overlaps another's transaction round trips.
    partitionsConsumedConcurrently: config.scorer.concurrency,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
      if (batch.isEmpty()) return;
      for (let attempt = 0; isRunning() && !isStale() && !stopping; attempt++) {
        const task = await taskFor(batch.partition, heartbeat, isRunning);
        if (!task || isStale()) return;
        // A failed commit can be ambiguous (the broker may have committed before the answer was
        // lost). The task was reopened since, which settled that transaction: if the group's offset
        // now covers this batch, it was committed and its state restored, so it must not be scored again.
        if (attempt > 0 && (await committedOffset(batch.partition)) > BigInt(batch.lastOffset())) {
          log.warn({ partition: batch.partition, lastOffset: batch.lastOffset() }, 'the failed commit had in fact succeeded; batch not scored again');
          resolveOffset(batch.lastOffset());
          return;
        }
        try {
          await task.exclusive(() => handleBatch(task, batch));
          resolveOffset(batch.lastOffset());
          return;
        } catch (err) {
          // Broker or registry trouble before the commit: pause and retry the whole batch. Fenced, a
          // failed commit, or anything else: close the task too; it is reopened (fencing, restoring
          // the committed changelog tail) before the retry.
          const retriable = isRetriable(err) || (err as { retriable?: boolean }).retriable === true;
          // Transient trouble repeats every few seconds while it lasts: one line, no stack.
          log.warn({ err: retriable ? (err as Error).message : err, partition: batch.partition, attempt, retriable }, 'batch failed; retrying');
          if (!(err instanceof ConnectionError)) {
            if (tasks.get(batch.partition) === task) tasks.delete(batch.partition);
            await closeTask(task, true); // what it committed before this batch is written, not replayed
          }
          await sleep(Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 5)));
          await heartbeat().catch(() => undefined);
        }
      }
    },
  });

  // Committed changes of partitions that received no batch since they became due reach the store too.
  const flushTimer = setInterval(
    () => {
      for (const t of tasks.values()) {
        if (t.phase !== 'active' || t.pendingCheckpoint === undefined || !flushDue(t)) continue;
        void t.exclusive(() => flushIfDue(t));
      }
    },
    Math.max(100, config.scorer.storeFlushIntervalMs),
  );
  flushTimer.unref();

  // Punctuation: each active store, one slice at a time, queued behind its partition's running batch.
  const punctuating = new Set<PartitionTask>();
  const punctuateTimer = setInterval(() => {
    if (config.scorer.idleUserTtlMs === 0 || stopping) return;
    for (const t of tasks.values()) {
      if (t.phase !== 'active' || punctuating.has(t)) continue;
      punctuating.add(t);
      void t
        .exclusive(() => punctuate(t))
        .catch((err: unknown) => log.warn({ err: (err as Error).message, partition: t.partition }, 'forgetting idle users failed; retried at the next punctuation'))
        .finally(() => punctuating.delete(t));
    }
  }, config.scorer.punctuateIntervalMs);
  punctuateTimer.unref();

  // Counted once per opened store (a key scan), then kept by each write: cheap enough for every 10 s.
  const usersTimer = setInterval(() => {
    void Promise.all([...tasks.values()].filter((t) => t.phase === 'active').map((t) => t.store.countUsers().catch(() => 0))).then((n) =>
      m.scorerUsers.set(n.reduce((a, b) => a + b, 0)),
    );
  }, 10_000);
  usersTimer.unref();

  return {
    http,
    url,
    isReady,
    ownedPartitions: () => [...assigned],
    async stop() {
      if (stopping) return;
      stopping = true;
      updateReady();
      clearInterval(usersTimer);
      clearInterval(punctuateTimer);
      clearInterval(flushTimer);
      // kafkajs lets the running batch finish (its transaction and LevelDB write) before leaving the group.
      await consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'consumer disconnect failed'));
      await ownership.catch(() => undefined);
      for (const t of tasks.values()) await closeTask(t, true);
      tasks.clear();
      await admin.disconnect().catch(() => undefined);
      await http.close();
    },
  };
}

async function describeOwners(admin: Admin, groupId: string) {
  const { memberView } = await import('./assigner.ts');
  const d = await admin.describeGroups([groupId]);
  return (d.groups[0]?.members ?? []).map((mm) => memberView(mm));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
