import { homedir } from 'node:os';
import { join } from 'node:path';

// Versions of the local stack, in one place. Kafka 4.1 runs on Java 17; Apicurio Registry 3.3 needs
// Java 21+ (class file 65), found by src/local/java.ts.
export const LOCAL_VERSIONS = Object.freeze({
  kafka: '4.1.1',
  log4j: '2.25.3',
  slf4j: '2.0.17',
  apicurio: '3.3.3',
});

export interface LocalPorts {
  kafka: number;
  controller: number;
  registry: number;
  /** Apicurio's Quarkus management interface. */
  registryManagement: number;
}

export function localPorts(env: NodeJS.ProcessEnv = process.env): LocalPorts {
  const n = (v: string | undefined, d: number) => (v ? Number.parseInt(v, 10) : d);
  return {
    kafka: n(env.RISK_HUB_LOCAL_KAFKA_PORT, 9092),
    controller: n(env.RISK_HUB_LOCAL_CONTROLLER_PORT, 9093),
    registry: n(env.RISK_HUB_LOCAL_REGISTRY_PORT, 8081),
    registryManagement: n(env.RISK_HUB_LOCAL_REGISTRY_MANAGEMENT_PORT, n(env.RISK_HUB_LOCAL_REGISTRY_PORT, 8081) + 1),
  };
}

/** Downloaded jars live here, outside the repository (RISK_HUB_CACHE, else ~/.cache/risk-hub). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RISK_HUB_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'risk-hub');
}

/** Runtime data (broker log dirs, pid files, logs) of the running local stack. */
export function runDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RISK_HUB_LOCAL_DIR ?? join(cacheDir(env), 'run');
}
