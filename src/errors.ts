// Every error Risk Hub raises on purpose, in one hierarchy. `code` is stable (documented, greppable),
// `retriable` says whether the operation may succeed if tried again (broker or registry down), and the
// message tells the operator what to do.

export class RiskHubError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(code: string, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RiskHubError';
    this.code = code;
    this.retriable = opts.retriable ?? false;
  }
}

/** Invalid configuration, topology or schema file: names the file, the field and the reason. */
export class ConfigError extends RiskHubError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('RH_CONFIG', message, opts);
    this.name = 'ConfigError';
  }
}

/** The broker or the schema registry could not be reached within the bounded wait. */
export class ConnectionError extends RiskHubError {
  constructor(message: string, opts: { cause?: unknown; code?: string } = {}) {
    super(opts.code ?? 'RH_CONNECTION', message, { cause: opts.cause, retriable: true });
    this.name = 'ConnectionError';
  }
}

/**
 * The schema registry did not answer within `schemaRegistry.timeoutMs` (hung, overloaded) or could not
 * be reached. Retriable: the caller pauses and retries the same record; it never dead-letters it.
 * `url` is the registry's address without credentials.
 */
export class RegistryUnavailableError extends ConnectionError {
  readonly url: string;
  constructor(url: string, message: string, opts: { cause?: unknown } = {}) {
    super(message, { ...opts, code: 'RH_REGISTRY_UNAVAILABLE' });
    this.name = 'RegistryUnavailableError';
    this.url = url;
  }
}

/**
 * The scorer's consumer stopped and kafkajs will not restart it: the group refused this member (its
 * transaction scope differs from the running members', `RH_SCOPE_MISMATCH`) or another error it does
 * not retry (`RH_CONSUMER_STOPPED`). The process exits so the orchestrator shows it.
 */
export class ConsumerStoppedError extends RiskHubError {
  constructor(code: 'RH_SCOPE_MISMATCH' | 'RH_CONSUMER_STOPPED', message: string, opts: { cause?: unknown } = {}) {
    super(code, message, opts);
    this.name = 'ConsumerStoppedError';
  }
}

/** The local stack (Maven-resolved broker and registry) could not start. */
export class LocalStackError extends RiskHubError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('RH_LOCAL_STACK', message, opts);
    this.name = 'LocalStackError';
  }
}

/** A schema change the registry refused (BACKWARD compatibility) or a schema file that is invalid. */
export class SchemaError extends RiskHubError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('RH_SCHEMA', message, opts);
    this.name = 'SchemaError';
  }
}

/** A record that can never be processed (poison): it goes to a dead-letter topic, not retried. */
export class PoisonRecordError extends RiskHubError {
  readonly reason: string;
  constructor(reason: string, message: string, opts: { cause?: unknown } = {}) {
    super('RH_POISON', message, opts);
    this.name = 'PoisonRecordError';
    this.reason = reason;
  }
}

/** Topology drift that apply will not fix by itself (it never destroys data). */
export class TopologyDriftError extends RiskHubError {
  constructor(message: string) {
    super('RH_TOPOLOGY_DRIFT', message);
    this.name = 'TopologyDriftError';
  }
}

/**
 * A shared transaction the consumer group refused (this member's generation is over: a rebalance) and
 * that was aborted: nothing of it was committed, so its records can be scored again as they are, once
 * the member has rejoined. Retriable: the tasks in it stay open.
 */
export class TransactionFencedByGroupError extends RiskHubError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super('RH_TXN_GROUP_FENCED', message, { ...opts, retriable: true });
    this.name = 'TransactionFencedByGroupError';
  }
}

/** A notification that failed; `retriable` separates transient from permanent failures. */
export class DeliveryError extends RiskHubError {
  readonly status: string;
  readonly retryAfterMs: number | undefined;
  constructor(status: string, message: string, opts: { retriable: boolean; retryAfterMs?: number; cause?: unknown }) {
    super('RH_DELIVERY', message, opts);
    this.name = 'DeliveryError';
    this.status = status;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export function isRetriable(err: unknown): boolean {
  if (err instanceof RiskHubError) return err.retriable;
  const e = err as { retriable?: unknown; name?: unknown } | null;
  return Boolean(e && e.retriable === true);
}
