import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { deepMerge } from '../../src/config/load.ts';
import { applyTopology } from '../../src/kafka/topology.ts';
import { registerSchemas } from '../../src/kafka/schemas.ts';

/** A short random suffix so tests sharing one broker never share a topic, group or transactional id. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

/**
 * A validated, frozen configuration pointing at the test cluster, with topic names, application id and
 * state dir unique to this call.
 */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  const id = uniqueSuffix();
  const brokers = inject('brokers') ?? process.env.KAFKA_BROKERS;
  const registryUrl = inject('registryUrl') ?? process.env.SCHEMA_REGISTRY_URL;
  if (!brokers || !registryUrl) throw new Error('integration tests need the global setup (no broker or registry known)');
  const base = {
    applicationId: `rh-test-${id}`,
    kafka: { brokers: brokers.split(','), connectWaitMs: 30_000 },
    schemaRegistry: { url: registryUrl },
    topics: {
      attacks: `attacks-${id}`,
      alerts: `risk-alerts-${id}`,
      deliveries: `risk-alert-deliveries-${id}`,
      attacksDlq: `attacks-${id}.dlq`,
      decisions: `risk-decisions-${id}`,
      decisionRequests: `risk-decision-requests-${id}`,
    },
    scorer: { stateDir: `/tmp/risk-hub-test/${id}/state` },
    http: { host: '127.0.0.1', port: 0 },
    log: { level: process.env.LOG_LEVEL ?? 'warn' },
  };
  return loadConfig({ env: {}, overrides: deepMerge(base, overrides) }) as Config;
}

/** Applies the topology and registers the schemas for this configuration's topic names. */
export async function prepareTopics(config: Config): Promise<void> {
  await applyTopology(config);
  await registerSchemas(config);
}

/** Polls `check` until it returns a value other than undefined, at most `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}
