import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Kafka, KafkaConfig, SASLOptions, logCreator } from 'kafkajs';
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../log.ts';
import { kafkaRetriedErrors } from '../metrics/index.ts';
import kafkajs from './kafkajs.ts';
import { classifyKafkaLog, RetriedErrorLimiter, type KafkaLogLevel } from './log-classify.ts';

// kafkajs is CommonJS: its values come through the default export under native ESM.
const { logLevel } = kafkajs;

// We use the (Java-compatible murmur2) default partitioner on purpose; its v2 migration notice is noise.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

// The one place a kafkajs client is built: brokers, TLS, SASL and timeouts from the validated
// configuration, kafkajs logs routed into pino.

export interface ClientOptions {
  clientId?: string;
  logger?: Logger;
  /** Retries of kafkajs' own retrier for connection-level failures (default kafkajs: 5). */
  retries?: number;
  /** No kafkajs log lines at all (readiness probes, where refused connections are expected). */
  quiet?: boolean;
}

export function createKafka(config: Pick<Config, 'kafka'>, opts: ClientOptions = {}): Kafka {
  const k = config.kafka;
  const kc: KafkaConfig = {
    clientId: opts.clientId ?? k.clientId,
    brokers: [...k.brokers],
    connectionTimeout: k.connectionTimeoutMs,
    requestTimeout: k.requestTimeoutMs,
    logLevel: opts.quiet ? logLevel.NOTHING : logLevel.WARN,
    logCreator: pinoLogCreator(opts.logger ?? createLogger({ name: 'kafkajs', level: process.env.LOG_LEVEL ?? 'warn' }), clientLabel(opts.clientId ?? k.clientId)),
    retry: { retries: opts.retries ?? 5, initialRetryTime: 300, maxRetryTime: 10_000 },
  };
  if (k.ssl === true) kc.ssl = true;
  else if (k.ssl) {
    kc.ssl = {
      rejectUnauthorized: k.ssl.rejectUnauthorized,
      ...(k.ssl.caFile ? { ca: [readFileSync(k.ssl.caFile, 'utf8')] } : {}),
      ...(k.ssl.certFile ? { cert: readFileSync(k.ssl.certFile, 'utf8') } : {}),
      ...(k.ssl.keyFile ? { key: readFileSync(k.ssl.keyFile, 'utf8') } : {}),
    };
  }
  if (k.sasl) kc.sasl = { mechanism: k.sasl.mechanism, username: k.sasl.username, password: k.sasl.password } as SASLOptions;
  return new kafkajs.Kafka(kc);
}

/** One limiter per process: the WARN line of a retried error is rate-limited across all clients' loggers. */
const limiter = new RetriedErrorLimiter(60_000);

/** The `client` label: the client id without this host's name (bounded, the same on every replica). */
export function clientLabel(clientId: string): string {
  return clientId.replace(`-${hostname()}`, '').slice(0, 64);
}

export function pinoLogCreator(log: Logger, client: string): logCreator {
  return () =>
    ({ level, log: entry }) => {
      const { message: raw, timestamp: _t, logger: _l, ...fields } = entry;
      // kafkajs sometimes logs an Error object as the message (cluster/brokerPool.js).
      const message = typeof raw === 'string' ? raw : String((raw as unknown as Error | undefined)?.message ?? raw);
      const name: KafkaLogLevel = level === logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : level === logLevel.INFO ? 'info' : 'debug';
      const verdict = classifyKafkaLog(name, message, fields, client, limiter);
      if (verdict.retried) kafkaRetriedErrors.labels(client, verdict.retried).inc();
      switch (verdict.level) {
        case 'drop':
          return;
        case 'error':
          return log.error(fields, message);
        case 'warn':
          return verdict.retried
            ? log.warn({ ...fields, retried: verdict.retried, suppressed: verdict.suppressed }, `${message} (retried by the Kafka client; repeats within 60 s are logged at debug and counted in risk_hub_kafka_retried_errors_total)`)
            : log.warn(fields, message);
        case 'info':
          return log.info(fields, message);
        default:
          return log.debug(verdict.retried ? { ...fields, retried: verdict.retried } : fields, message);
      }
    };
}
