import type { TestProject } from 'vitest/node';
import { stackDown, stackUp } from '../../src/local/stack.ts';
import { BACKEND_VAR, TESTCONTAINERS, startContainerStack, type ContainerStack } from './testcontainers.ts';

// Starts the real local stack once per run (Maven-resolved Kafka + Apicurio), or uses the cluster
// named by KAFKA_BROKERS / SCHEMA_REGISTRY_URL. Without either, integration tests FAIL rather than
// skip: a skipped integration test must never read as a pass.
// RISK_HUB_TEST_BACKEND=testcontainers runs the same broker and registry as containers instead
// (test/integration/testcontainers.ts); it needs a Docker engine and ignores KAFKA_BROKERS.

declare module 'vitest' {
  export interface ProvidedContext {
    brokers: string;
    registryUrl: string;
  }
}

let startedHere = false;
let containers: ContainerStack | undefined;

export async function setup(project: TestProject): Promise<void> {
  let brokers = process.env.KAFKA_BROKERS;
  let registryUrl = process.env.SCHEMA_REGISTRY_URL;
  const backend = process.env[BACKEND_VAR];
  if (backend && backend !== TESTCONTAINERS && backend !== 'local') {
    throw new Error(`${BACKEND_VAR}=${backend}: expected "${TESTCONTAINERS}" or "local" (the default, the Maven-resolved local stack)`);
  }
  if (backend === TESTCONTAINERS) {
    const t0 = Date.now();
    containers = await startContainerStack((m) => console.log(`[testcontainers] ${m}`));
    brokers = containers.brokers;
    registryUrl = containers.registryUrl;
    console.log(`[testcontainers] Kafka and Apicurio Registry containers up in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${brokers}, ${registryUrl}`);
  } else if (!brokers || !registryUrl) {
    const t0 = Date.now();
    const info = await stackUp({ progress: (m) => console.log(`[local stack] ${m}`) });
    startedHere = info.started && process.env.RISK_HUB_KEEP_STACK !== '1';
    brokers = info.brokers.join(',');
    registryUrl = info.registryUrl;
    console.log(`[local stack] ${info.started ? 'started' : 'reused'} in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${brokers}, ${registryUrl}`);
  }
  process.env.KAFKA_BROKERS = brokers;
  process.env.SCHEMA_REGISTRY_URL = registryUrl;
  project.provide('brokers', brokers);
  project.provide('registryUrl', registryUrl);
}

export async function teardown(): Promise<void> {
  // A stack this run started is stopped; one that was already running (a developer's) is left alone.
  if (startedHere) await stackDown();
  await containers?.stop();
}
