import type { Config } from '../config/schema.ts';

// Every Kafka name Risk Hub derives from its configuration, in one place: topics, consumer groups,
// transactional ids, client ids and the header names of dead letters (shared by the scorer's
// `attacks.dlq` and the notifiers' `risk-alerts.dlq.<channel>`). A name changed here changes for every
// process at once; a name derived twice could drift apart and split a group or unfence a zombie.

type AppId = Pick<Config, 'applicationId'>;
type Topics = Pick<Config, 'topics'>;

/** The scorer's consumer group (its committed offsets on `attacks` are part of each transaction). */
export function scorerGroupId(config: AppId): string {
  return `${config.applicationId}-scorer`;
}

/** The compacted changelog of the scorer's per-user state, co-partitioned with `attacks`. */
export function changelogTopic(config: AppId): string {
  return `${config.applicationId}-user-risk-changelog`;
}

/**
 * The transactional id of the producer of input partition `partition`: the same for every owner of the
 * partition, so a new owner's initialisation fences the previous (zombie) one.
 */
export function scorerTransactionalId(config: AppId, partition: number): string {
  return `${config.applicationId}-scorer-${partition}`;
}

/**
 * The transactional id of a scorer process whose partitions share one producer (scorer.transactionScope
 * `process`): the process's own, kept in its state directory, so a restarted process fences what its
 * previous incarnation left open. Never equal to a partition's id.
 */
export function scorerProcessTransactionalId(config: AppId, processId: string): string {
  return `${config.applicationId}-scorer-process-${processId}`;
}

/** The scorer's Kafka client id on host `host` (shows in broker logs and describeGroups). */
export function scorerClientId(config: AppId, host: string): string {
  return `${config.applicationId}-scorer-${host}`;
}

/** A throwaway group of one restore (`unique` makes it new each time; no offsets are committed). */
export function restoreGroupId(groupPrefix: string, unique: string): string {
  return `${groupPrefix}-restore-${unique}`;
}

/** One consumer group per notifier channel on `risk-alerts`. */
export function notifierGroupId(config: AppId, channel: string): string {
  return `${config.applicationId}-notifier-${channel}`;
}

/** The consumer group of one target's delivery lane: `<app>-notifier-<channel>-<target>` (a hanging target holds up only its own lane). */
export function notifierLaneGroupId(config: AppId, channel: string, target: string): string {
  return `${notifierGroupId(config, channel)}-${target}`;
}

/** The group `dlq redeliver` reads a channel's dead-letter topic with. */
export function redeliverGroupId(config: AppId, channel: string): string {
  return `${config.applicationId}-dlq-redeliver-${channel}`;
}

/** A notifier channel's dead-letter topic (declared in topology/topics.yaml). */
export function alertsDlqTopic(config: Topics, channel: string): string {
  return `${config.topics.alerts}.dlq.${channel}`;
}

/** Header names of dead letters (scorer and notifiers). */
export const DLQ_HEADERS = {
  reason: 'x-risk-hub-error',
  message: 'x-risk-hub-error-message',
  status: 'x-risk-hub-status',
  channel: 'x-risk-hub-channel',
  target: 'x-risk-hub-target',
  attempts: 'x-risk-hub-attempts',
  alertId: 'x-risk-hub-alert-id',
  /** Notifier DLQs: what the value is, `alert` (risk-alerts) or `decision` (a person's decision, decisions topic); absent = alert. */
  notification: 'x-risk-hub-notification',
  deadLetteredAt: 'x-risk-hub-dead-lettered-at',
  redeliveries: 'x-risk-hub-redeliveries',
  originalTopic: 'x-risk-hub-original-topic',
  originalPartition: 'x-risk-hub-original-partition',
  originalOffset: 'x-risk-hub-original-offset',
  originalTimestamp: 'x-risk-hub-original-timestamp',
  schemaId: 'x-risk-hub-schema-id',
  /** Set ("true") when the dead letter carries less than the original record (it would not fit). */
  truncated: 'x-risk-hub-dlq-truncated',
  /** Bytes of the original key and value, when truncated. */
  originalKeyBytes: 'x-risk-hub-original-key-bytes',
  originalValueBytes: 'x-risk-hub-original-value-bytes',
} as const;
