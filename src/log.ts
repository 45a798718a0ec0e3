import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino replaces with "[redacted]" whatever the configuration: secrets never reach a log line. */
const SECRET_PATHS = [
  '*.password',
  '*.secret',
  '*.secrets',
  '*.token',
  '*.webhookUrl',
  '*.authorization',
  'headers.authorization',
  'config.kafka.sasl.password',
];
const USER_PATHS = ['user', 'userKey', 'identifiers', '*.user', '*.userKey', '*.identifiers'];

export interface LogOptions {
  level?: string;
  redactUsers?: boolean;
  name?: string;
  /** Destination stream; defaults to stdout. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  const options = {
    level,
    name: opts.name ?? 'risk-hub',
    base: { pid: process.pid },
    redact: { paths: opts.redactUsers ? [...SECRET_PATHS, ...USER_PATHS] : SECRET_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination as never) : pino(options);
}
