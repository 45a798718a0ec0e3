import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Every metric Risk Hub exports, in one place, so the Helm dashboard and alert rules can be checked
// against the real names (test/deploy). Names follow Prometheus conventions: `risk_hub_` prefix, base
// units in the name (`_seconds`, `_bytes`), `_total` on counters. Consumer lag is our own name, not
// kafka_exporter's `kafka_consumergroup_lag`: scraped beside kafka_exporter, that name counted twice.

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'risk_hub_' });

const seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const consumerLag = new Gauge({
  name: 'risk_hub_consumer_lag_records',
  help: 'Records between the committed offset of a consumer group and the partition end',
  labelNames: ['consumergroup', 'topic', 'partition'],
  registers: [registry],
});

// -- scorer ------------------------------------------------------------------------------------
export const scorerEvents = new Counter({
  name: 'risk_hub_scorer_events_total',
  help: 'Attack events processed by the scorer, by outcome (scored, duplicate, late)',
  labelNames: ['outcome'],
  registers: [registry],
});
export const scorerClamped = new Counter({
  name: 'risk_hub_scorer_events_clamped_total',
  help: 'Events whose time was too far in the future of the processing clock and was clamped',
  registers: [registry],
});
export const scorerWrongPartition = new Counter({
  name: 'risk_hub_scorer_wrong_partition_total',
  help: 'Events that arrived on a partition other than the murmur2 partition of their key (misconfigured agent partitioner)',
  registers: [registry],
});
export const scorerStateUndecodable = new Counter({
  name: 'risk_hub_scorer_state_undecodable_total',
  help: 'Stored user states (LevelDB) that could not be decoded; the user started again from an empty state',
  registers: [registry],
});
export const scorerPoints = new Counter({
  name: 'risk_hub_scorer_points_total',
  help: 'Risk points added to user scores',
  registers: [registry],
});
export const scorerAlerts = new Counter({
  name: 'risk_hub_scorer_alerts_total',
  help: 'Alerts published to risk-alerts, by tier',
  labelNames: ['tier'],
  registers: [registry],
});
export const scorerDeadLettered = new Counter({
  name: 'risk_hub_scorer_dead_lettered_total',
  help: 'Input records sent to the attacks dead-letter topic, by reason',
  labelNames: ['reason'],
  registers: [registry],
});
export const scorerBatchDuration = new Histogram({
  name: 'risk_hub_scorer_batch_duration_seconds',
  help: 'Time to process one input batch, from fetch to LevelDB checkpoint',
  buckets: seconds,
  registers: [registry],
});
export const scorerCommitDuration = new Histogram({
  name: 'risk_hub_scorer_commit_duration_seconds',
  help: 'Time to commit one Kafka transaction (changelog, alerts, offsets)',
  buckets: seconds,
  registers: [registry],
});
export const scorerSharedTransactionParts = new Histogram({
  name: 'risk_hub_scorer_shared_transaction_partitions',
  help: 'Partition transactions committed together in one shared transaction (scorer.transactionScope process)',
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers: [registry],
});
export const scorerTransactionAborts = new Counter({
  name: 'risk_hub_scorer_transaction_aborts_total',
  help: 'Transactions aborted (the batch is retried from the last committed offset)',
  registers: [registry],
});
export const scorerRestoreRecords = new Counter({
  name: 'risk_hub_scorer_restore_records_total',
  help: 'Changelog records replayed into local stores',
  registers: [registry],
});
export const scorerRestoreRemaining = new Gauge({
  name: 'risk_hub_scorer_restore_remaining_records',
  help: 'Changelog records still to replay before the partition is ready',
  labelNames: ['partition'],
  registers: [registry],
});
export const scorerReady = new Gauge({
  name: 'risk_hub_scorer_ready',
  help: '1 when every owned partition is restored and processing, else 0',
  registers: [registry],
});
export const scorerAssignedPartitions = new Gauge({
  name: 'risk_hub_scorer_assigned_partitions',
  help: 'Input partitions owned by this instance',
  registers: [registry],
});
export const scorerUsersExpired = new Counter({
  name: 'risk_hub_scorer_users_expired_total',
  help: 'Users forgotten after scorer.idleUserTtlMs without an event (state deleted, changelog tombstoned)',
  registers: [registry],
});
export const scorerDecisionsEnded = new Counter({
  name: 'risk_hub_scorer_decisions_ended_total',
  help: 'Decision records tombstoned on the decisions topic because their time ran out',
  registers: [registry],
});
export const scorerDecisions = new Counter({
  name: 'risk_hub_scorer_decisions_total',
  help: 'Decisions published, by action and source (POLICY: with their alert; MANUAL: from a request); simulated ones included',
  labelNames: ['action', 'source'] as const,
  registers: [registry],
});
export const scorerUsers = new Gauge({
  name: 'risk_hub_scorer_users_tracked',
  help: 'Users with state in the local stores of this instance (approximate)',
  registers: [registry],
});
export const scorerHaltedPartitions = new Gauge({
  name: 'risk_hub_scorer_halted_partitions',
  help: 'Partitions this instance owns but does not process: a store that cannot be opened yet, a task dropped, or a batch failing again and again',
  registers: [registry],
});
export const scorerStoresRebuilt = new Counter({
  name: 'risk_hub_scorer_stores_rebuilt_total',
  help: 'LevelDB stores that could not be opened, moved aside (<dir>.broken-<ms>) and rebuilt from the changelog',
  registers: [registry],
});

// -- notifiers ---------------------------------------------------------------------------------
export const notifications = new Counter({
  name: 'risk_hub_notifications_total',
  help: 'Alerts handled by a notifier channel, by outcome (delivered, dead_lettered, duplicate, not_routed, expired)',
  labelNames: ['channel', 'outcome'],
  registers: [registry],
});
export const notificationAttemptDuration = new Histogram({
  name: 'risk_hub_notification_attempt_duration_seconds',
  help: 'Duration of one delivery attempt, by channel and status',
  labelNames: ['channel', 'status'],
  buckets: seconds,
  registers: [registry],
});
export const notificationRetries = new Counter({
  name: 'risk_hub_notification_retries_total',
  help: 'Delivery attempts retried after a transient failure',
  labelNames: ['channel'],
  registers: [registry],
});
export const notificationDeadLettered = new Counter({
  name: 'risk_hub_notification_dead_lettered_total',
  help: 'Alerts sent to a channel dead-letter topic, by reason (permanent, exhausted)',
  labelNames: ['channel', 'reason'],
  registers: [registry],
});
export const notificationLedgerWrites = new Counter({
  name: 'risk_hub_notification_ledger_writes_total',
  help: 'Produce requests to the delivery ledger (each carries the records of the deliveries waiting: see risk_hub_notification_ledger_records_total)',
  registers: [registry],
});
export const notificationLedgerRecords = new Counter({
  name: 'risk_hub_notification_ledger_records_total',
  help: 'Records written to the delivery ledger (one per delivery attempt)',
  registers: [registry],
});
export const notificationOffsetCommits = new Counter({
  name: 'risk_hub_notification_offset_commits_total',
  help: 'Offset commits of the notifier lanes (every notify.consumer.commitIntervalMs and at the end of each batch)',
  labelNames: ['channel'],
  registers: [registry],
});

// -- Kafka clients -----------------------------------------------------------------------------
export const kafkaRetriedErrors = new Counter({
  name: 'risk_hub_kafka_retried_errors_total',
  help: 'Errors the Kafka client retried by itself (CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, connection errors…), by client and error; logged at WARN at most once a minute each',
  labelNames: ['client', 'error'],
  registers: [registry],
});

// -- relay (src/relay) ---------------------------------------------------------------------------
export const relayRequests = new Counter({
  name: 'risk_hub_relay_requests_total',
  help: 'HTTP requests answered by the relay, by route and status',
  labelNames: ['route', 'status'],
  registers: [registry],
});
export const relayEvents = new Counter({
  name: 'risk_hub_relay_events_total',
  help: 'Events received by the relay, by kind and outcome (accepted, rejected)',
  labelNames: ['kind', 'outcome'],
  registers: [registry],
});
export const relayRejections = new Counter({
  name: 'risk_hub_relay_rejected_events_total',
  help: 'Events the relay refused, by the rule they broke',
  labelNames: ['reason'],
  registers: [registry],
});
export const relayDetections = new Counter({
  name: 'risk_hub_relay_detections_total',
  help: 'Attacks the relay found in request events, by attack type',
  labelNames: ['attack_type'],
  registers: [registry],
});
export const relayWafTimeouts = new Counter({
  name: 'risk_hub_relay_waf_timeouts_total',
  help: 'Engine runs of the relay that used up relay.wafBudgetMicros and kept what they had found (fail open: a detection may be missed)',
  registers: [registry],
});
export const relayQueued = new Gauge({
  name: 'risk_hub_relay_queued_events',
  help: 'Events waiting for Kafka in the relay, all applications',
  registers: [registry],
});
export const relayAgents = new Gauge({
  name: 'risk_hub_relay_agents',
  help: 'Node agents the relay runs (one per application and environment that sent something)',
  registers: [registry],
});
export const relayHandleDuration = new Histogram({
  name: 'risk_hub_relay_request_duration_seconds',
  help: 'Time to read, check and process one relay request (without the Kafka send, which is in the background)',
  labelNames: ['route'],
  buckets: seconds,
  registers: [registry],
});
