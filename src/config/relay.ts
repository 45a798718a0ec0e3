import { z } from 'zod';

// `risk-hub relay` (src/relay): the HTTP relay the Python, Java, Ruby and PHP agents send to
// (docs/relay-protocol.md). Each application has its own bearer token, read from the environment
// variable named here (never from the file), and the environments it may report.

/** application_id and environment: the identity rules of src/identity.ts (IDENTIFIER_PATTERN). */
const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");

export const RelayApplicationSchema = z.strictObject({
  /** NAME of the environment variable holding this application's bearer token (the token itself never sits in a file). */
  tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name'),
  /** Environments this application may report (one Node agent each, created on first use). */
  environments: z.array(identifier).min(1).max(16).default(['production']),
});

export const RelayQueueSchema = z.strictObject({
  /** Events waiting for Kafka per (application, environment) beyond which POST /v1/events answers 503. */
  maxEvents: z.number().int().min(1000).max(1_000_000).default(50_000),
  /** Requests being read or handled at once beyond which the relay answers 503 (bounds memory: each body is at most 1 MiB). */
  maxRequests: z.number().int().min(1).max(4096).default(64),
});

export const RelaySchema = z.strictObject({
  /** Listen address: loopback by default (the agents run beside the relay). */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port; 0 picks a free one. */
  port: z.number().int().min(0).max(65535).default(8787),
  /** Applications allowed to send, keyed by application_id. */
  applications: z
    .record(identifier, RelayApplicationSchema)
    .default({}),
  queue: RelayQueueSchema.default(RelayQueueSchema.parse({})),
  /** Per-request WAF budget (µs) of the relay's engine, as the Node agent's wafBudgetMicros. */
  wafBudgetMicros: z.number().int().min(100).max(1_000_000).default(5000),
});

export type RelayConfig = z.infer<typeof RelaySchema>;
