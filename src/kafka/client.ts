import { readFileSync } from 'node:fs';
import type { Kafka, KafkaConfig, SASLOptions, logCreator } from 'kafkajs';
import kafkajs from './kafkajs.ts';

// kafkajs is CommonJS: its values come through the default export under native ESM.
const { logLevel } = kafkajs;

// We use the (Java-compatible murmur2) default partitioner on purpose; its v2 migration notice is noise.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
// Messages kafkajs logs at WARN that are expected here and say nothing to an operator.
const NOISE = [/^Limiting retries for the idempotent producer/];
// Errors kafkajs logs and then retries by itself (a transaction coordinator still finishing the
// previous transaction): debug, not error.
const RETRIED = [/another operation on the same transaction is ongoing/i, /CONCURRENT_TRANSACTIONS/];
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../log.ts';

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
    logCreator: pinoLogCreator(opts.logger ?? createLogger({ name: 'kafkajs', level: process.env.LOG_LEVEL ?? 'warn' })),
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

function pinoLogCreator(log: Logger): logCreator {
  return () =>
    ({ level, log: entry }) => {
      const { message, ...rest } = entry;
      if (NOISE.some((re) => re.test(message))) return;
      if (RETRIED.some((re) => re.test(`${message} ${String((rest as { error?: unknown }).error ?? '')}`))) return log.debug(rest, message);
      const fields = { ...rest, timestamp: undefined, logger: undefined };
      if (level === logLevel.ERROR) log.error(fields, message);
      else if (level === logLevel.WARN) log.warn(fields, message);
      else if (level === logLevel.INFO) log.info(fields, message);
      else log.debug(fields, message);
    };
}
