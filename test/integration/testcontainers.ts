// The integration tests' testcontainers backend (RISK_HUB_TEST_BACKEND=testcontainers): Kafka and
// Apicurio Registry as containers from images built here (scripts/docker/test-images.sh) out of the
// same Maven-resolved jars as the default backend, the local stack, and configured by the same code
// (kafkaServerProperties, registryJvmFlags). No image is pulled: Ryuk, testcontainers' reaper, is an
// image from Docker Hub, so it is disabled and the global teardown stops the containers itself.
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { waitForBroker } from '../../src/kafka/wait.ts';
import { resolveApicurio, resolveKafka } from '../../src/local/maven.ts';
import { LOCAL_VERSIONS, cacheDir } from '../../src/local/paths.ts';
import { KAFKA_JVM_FLAGS, kafkaServerProperties, newClusterId, registryJvmFlags } from '../../src/local/stack.ts';
import { freePort } from '../ports.ts';

/** The name of the variable that selects this backend, and its value. */
export const BACKEND_VAR = 'RISK_HUB_TEST_BACKEND';
export const TESTCONTAINERS = 'testcontainers';

/** Bounds (ms): the broker is ready in ~10 s, Apicurio in ~15 s on 2 cores; image builds ~1 min once. */
const START_MS = 180_000;
const BUILD_MS = 10 * 60_000;
const ROOT = join(import.meta.dirname, '..', '..');

/** Thrown for the expected failures: its message is one line and is all that needs showing. */
export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
    this.stack = `${this.name}: ${message}`;
  }
}

/** The parts of the testcontainers API used here (the package is imported by name at run time). */
interface Container {
  withExposedPorts(...ports: Array<number | { container: number; host: number }>): this;
  withEnvironment(env: Record<string, string>): this;
  withCopyContentToContainer(contents: Array<{ content: string; target: string }>): this;
  withEntrypoint(entrypoint: string[]): this;
  withCommand(command: string[]): this;
  withWorkingDir(dir: string): this;
  withLabels(labels: Record<string, string>): this;
  withWaitStrategy(strategy: unknown): this;
  withStartupTimeout(ms: number): this;
  start(): Promise<StartedContainer>;
}
interface StartedContainer {
  getHost(): string;
  getMappedPort(port: number): number;
  stop(opts?: { timeout?: number; remove?: boolean }): Promise<unknown>;
}
interface Testcontainers {
  GenericContainer: new (image: string) => Container;
  Wait: { forListeningPorts(): unknown; forHttp(path: string, port: number): { forStatusCode(code: number): unknown } };
}

/**
 * Why the Docker engine testcontainers would use cannot serve (one line naming what to install or start,
 * and the default backend), or undefined when it answers. Asks the engine's API (/_ping) where
 * testcontainers would: DOCKER_HOST, else /var/run/docker.sock.
 */
export async function dockerEngineProblem(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const host = env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  const fallback = `unset ${BACKEND_VAR} to use the default backend, the Maven-resolved local stack`;
  let target: { socketPath: string } | { host: string; port: number };
  if (host.startsWith('unix://')) target = { socketPath: host.slice('unix://'.length) };
  else if (host.startsWith('tcp://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    target = { host: u.hostname, port: Number(u.port || 2375) };
  } else return `${BACKEND_VAR}=${TESTCONTAINERS}: DOCKER_HOST=${host} is not a unix:// or tcp:// address this setup can check; ${fallback}`;
  const answer = await new Promise<string>((resolve) => {
    const req = request({ ...target, path: '/_ping', timeout: 3000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? 'ok' : `HTTP ${res.statusCode}`);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
  if (answer === 'ok') return undefined;
  const where = 'socketPath' in target ? target.socketPath : `${target.host}:${target.port}`;
  const missing = answer === 'ENOENT' && spawnSync('sh', ['-c', 'command -v dockerd || command -v docker'], { encoding: 'utf8' }).stdout.trim() === '';
  const what = missing
    ? 'no Docker engine is installed: install one (Debian: apt-get install docker.io) and start it (as root: dockerd &)'
    : `no Docker engine answers at ${where} (${answer}): start it (as root: dockerd &, or systemctl start docker)`;
  return `${BACKEND_VAR}=${TESTCONTAINERS}: ${what}, or ${fallback}.`;
}

async function loadTestcontainers(): Promise<Testcontainers> {
  // Ryuk would be pulled from Docker Hub, which is not reachable here: the teardown stops what we start.
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  const name = 'testcontainers';
  try {
    return (await import(name)) as Testcontainers;
  } catch (err) {
    throw new BackendError(`${BACKEND_VAR}=${TESTCONTAINERS}: the testcontainers package is not installed (${(err as Error).message.split('\n')[0]}): npm install, or unset ${BACKEND_VAR} to use the Maven-resolved local stack.`);
  }
}

export interface ContainerStack {
  brokers: string;
  registryUrl: string;
  stop(): Promise<void>;
}

/** Builds the images when needed, starts Kafka and the registry, and waits until both answer. */
export async function startContainerStack(progress: (m: string) => void): Promise<ContainerStack> {
  const problem = await dockerEngineProblem();
  if (problem) throw new BackendError(problem);
  const tc = await loadTestcontainers();

  const cache = cacheDir();
  const [libs, apicurioDir] = await Promise.all([resolveKafka(cache, progress), resolveApicurio(cache, progress)]);
  progress('building the Kafka and Apicurio images if needed (scripts/docker/test-images.sh)…');
  const build = spawnSync('bash', [join(ROOT, 'scripts/docker/test-images.sh'), LOCAL_VERSIONS.kafka, libs, LOCAL_VERSIONS.apicurio, apicurioDir], {
    encoding: 'utf8',
    timeout: BUILD_MS,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (build.status !== 0) throw new BackendError(`${BACKEND_VAR}=${TESTCONTAINERS}: building the test images failed (exit ${build.status ?? build.signal}; its output is above).`);

  // The broker advertises 127.0.0.1:<port>, so the container port and the host port must be the same
  // number: a free one is chosen here and published as itself.
  const kafkaPort = await freePort();
  const labels = { 'io.riskhub.test-backend': TESTCONTAINERS, 'io.riskhub.test-pid': String(process.pid) };
  const started: StartedContainer[] = [];
  const stop = async () => {
    await Promise.all(started.map((c) => c.stop({ timeout: 10_000, remove: true }).catch(() => undefined)));
  };
  try {
    const kafkaStart = new tc.GenericContainer(`risk-hub-local/kafka:${LOCAL_VERSIONS.kafka}`)
      .withExposedPorts({ container: kafkaPort, host: kafkaPort })
      .withCopyContentToContainer([
        {
          content: kafkaServerProperties({ listenHost: '0.0.0.0', advertisedHost: '127.0.0.1', port: kafkaPort, controllerPort: 9093, logDirs: '/var/lib/kafka/data' }),
          target: '/etc/kafka/server.properties',
        },
      ])
      .withEnvironment({ KAFKA_JVM_FLAGS: KAFKA_JVM_FLAGS.join(' ') })
      .withCommand([newClusterId()])
      .withLabels(labels)
      .withWaitStrategy(tc.Wait.forListeningPorts())
      .withStartupTimeout(START_MS)
      .start();
    const registryStart = new tc.GenericContainer(`risk-hub-local/apicurio:${LOCAL_VERSIONS.apicurio}`)
      .withExposedPorts(8080)
      .withCommand([...registryJvmFlags({ host: '0.0.0.0', port: 8080, managementPort: 9000 }), '-jar', 'quarkus-run.jar'])
      .withLabels(labels)
      .withWaitStrategy(tc.Wait.forHttp('/apis/ccompat/v7/subjects', 8080).forStatusCode(200))
      .withStartupTimeout(START_MS)
      .start();
    const t0 = Date.now();
    const took = (what: string) => (c: StartedContainer) => (progress(`${what} container started in ${((Date.now() - t0) / 1000).toFixed(1)} s`), c);
    const results = await Promise.allSettled([kafkaStart.then(took('Kafka')), registryStart.then(took('Apicurio Registry'))]);
    for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw new BackendError(`${BACKEND_VAR}=${TESTCONTAINERS}: a container did not start: ${String((failed.reason as Error)?.message ?? failed.reason).split('\n')[0]}`);
    const registry = started[1]!;
    const brokers = `127.0.0.1:${kafkaPort}`;
    const kafka = { brokers: [brokers], clientId: 'risk-hub-test-setup', ssl: false as const, connectionTimeoutMs: 1000, requestTimeoutMs: 5000, connectWaitMs: 5000 };
    await waitForBroker({ kafka }, START_MS);
    // Docker publishes on every interface; 'localhost' may resolve to ::1 first.
    const host = registry.getHost() === 'localhost' ? '127.0.0.1' : registry.getHost();
    return { brokers, registryUrl: `http://${host}:${registry.getMappedPort(8080)}/apis/ccompat/v7`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
