import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { LocalStackError } from '../errors.ts';
import { waitForBroker } from '../kafka/wait.ts';
import { findJava } from './java.ts';
import { resolveApicurio, resolveKafka, type Progress } from './maven.ts';
import { cacheDir, localPorts, runDir, type LocalPorts } from './paths.ts';

// The local stack: a real single-node KRaft Kafka broker and a real Apicurio Registry, both resolved
// from Maven Central and started in the background on 127.0.0.1. It is disposable: when either
// process is not running, both start afresh (the registry keeps schemas in memory, so a broker that
// outlived it would hold records nobody can decode).

export interface StackInfo {
  brokers: string[];
  registryUrl: string;
  kafkaPid: number;
  registryPid: number;
  /** true when this call started the processes, false when they were already running. */
  started: boolean;
  runDir: string;
}

interface StateFile {
  kafkaPid: number;
  registryPid: number;
  ports: LocalPorts;
  startedAt: string;
}

/** Bounded waits (ms): the broker formats and elects itself in ~5 s, Apicurio boots in ~10 s on 2 cores. */
const KAFKA_READY_MS = 90_000;
const REGISTRY_READY_MS = 120_000;

export async function stackUp(opts: { progress?: Progress; env?: NodeJS.ProcessEnv } = {}): Promise<StackInfo> {
  const env = opts.env ?? process.env;
  const progress = opts.progress ?? (() => undefined);
  const ports = localPorts(env);
  const dir = runDir(env);
  mkdirSync(dir, { recursive: true });
  const lock = acquireLock(dir);
  try {
    const running = await stackStatus(env);
    if (running.kafka && running.registry && running.state) {
      return info(ports, running.state, false, dir);
    }
    if (running.state) await stopProcesses(running.state);
    for (const [name, port] of Object.entries(ports)) {
      if (!(await portFree(port))) {
        throw new LocalStackError(
          `port ${port} (${name}) on 127.0.0.1 is taken by another process: stop it, or choose another port with RISK_HUB_LOCAL_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}_PORT`,
        );
      }
    }
    const cache = cacheDir(env);
    progress('resolving Kafka and Apicurio Registry (first run downloads ~200 MB from Maven Central)…');
    const [libs, apicurioDir] = await Promise.all([resolveKafka(cache, progress), resolveApicurio(cache, progress)]);
    const registryJava = findJava(21, env);
    const kafkaJava = findJava(17, env);

    progress('starting Kafka…');
    const kafkaPid = startKafka(kafkaJava, libs, dir, ports);
    progress('starting Apicurio Registry…');
    const registryPid = startRegistry(registryJava, apicurioDir, dir, ports);
    const state: StateFile = { kafkaPid, registryPid, ports, startedAt: new Date().toISOString() };
    writeFileSync(join(dir, 'stack.json'), JSON.stringify(state, null, 2));
    try {
      await Promise.all([
        waitForKafka(ports, KAFKA_READY_MS, () => alive(kafkaPid), join(dir, 'kafka.log')).catch((err) => {
          throw new LocalStackError(`Kafka did not become ready: ${(err as Error).message}. See ${join(dir, 'kafka.log')}`, { cause: err });
        }),
        waitForRegistry(registryUrl(ports), REGISTRY_READY_MS, () => alive(registryPid)).catch((err) => {
          throw new LocalStackError(`Apicurio Registry did not become ready: ${(err as Error).message}. See ${join(dir, 'registry.log')}`, { cause: err });
        }),
      ]);
    } catch (err) {
      await stopProcesses(state);
      throw err;
    }
    progress('local stack ready');
    return info(ports, state, true, dir);
  } finally {
    lock();
  }
}

export async function stackDown(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const dir = runDir(env);
  const state = readState(dir);
  if (!state) return false;
  await stopProcesses(state);
  rmSync(join(dir, 'stack.json'), { force: true });
  return true;
}

export async function stackStatus(env: NodeJS.ProcessEnv = process.env): Promise<{ kafka: boolean; registry: boolean; state: StateFile | undefined; brokers: string; registryUrl: string }> {
  const state = readState(runDir(env));
  const ports = state?.ports ?? localPorts(env);
  const kafka = Boolean(state && alive(state.kafkaPid)) && (await brokerAnswers(ports));
  const registry = Boolean(state && alive(state.registryPid)) && (await registryAnswers(registryUrl(ports)));
  return { kafka, registry, state, brokers: `127.0.0.1:${ports.kafka}`, registryUrl: registryUrl(ports) };
}

export function registryUrl(ports: LocalPorts): string {
  return `http://127.0.0.1:${ports.registry}/apis/ccompat/v7`;
}

function info(ports: LocalPorts, state: StateFile, started: boolean, dir: string): StackInfo {
  return { brokers: [`127.0.0.1:${ports.kafka}`], registryUrl: registryUrl(ports), kafkaPid: state.kafkaPid, registryPid: state.registryPid, started, runDir: dir };
}

function kafkaDefaults() {
  return { brokers: [] as string[], clientId: 'risk-hub-local', ssl: false as const, connectionTimeoutMs: 1000, requestTimeoutMs: 5000, connectWaitMs: 5000 };
}

function startKafka(java: string, libs: string, dir: string, ports: LocalPorts): number {
  const data = join(dir, 'kafka-data');
  // A fresh broker every time (see the note at the top): wipe, write properties, format, start.
  rmSync(data, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });
  const props = join(dir, 'server.properties');
  writeFileSync(props, kafkaServerProperties({ listenHost: '127.0.0.1', advertisedHost: '127.0.0.1', port: ports.kafka, controllerPort: ports.controller, logDirs: data }));
  const log4j = join(dir, 'log4j2.properties');
  writeFileSync(
    log4j,
    [
      'status = warn',
      'appender.file.type = File',
      'appender.file.name = FILE',
      `appender.file.fileName = ${join(dir, 'kafka.log')}`,
      'appender.file.layout.type = PatternLayout',
      'appender.file.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = info',
      'rootLogger.appenderRef.file.ref = FILE',
      'logger.kafka.name = kafka',
      'logger.kafka.level = warn',
      'logger.org.name = org.apache.kafka',
      'logger.org.level = warn',
      '',
    ].join('\n'),
  );
  const cp = `${libs}/*`;
  const jvm = [...KAFKA_JVM_FLAGS, `-Dlog4j2.configurationFile=${log4j}`, '-cp', cp];
  const fmt = spawnSync(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', props], { encoding: 'utf8', timeout: 60_000 });
  if (fmt.status !== 0) throw new LocalStackError(`formatting Kafka storage failed: ${(fmt.stderr || fmt.stdout || '').trim().slice(-2000)}`);
  return spawnDetached(java, [...jvm, 'kafka.Kafka', props], join(dir, 'kafka.out'));
}

/**
 * The single-node KRaft broker's server.properties, shared by the local stack (loopback) and the
 * testcontainers backend (listening on all interfaces inside a container, advertised as 127.0.0.1).
 */
export function kafkaServerProperties(o: { listenHost: string; advertisedHost: string; port: number; controllerPort: number; logDirs: string }): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${o.controllerPort}`,
    `listeners=PLAINTEXT://${o.listenHost}:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${o.advertisedHost}:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${o.logDirs}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=3',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=3',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // Small segments so compaction of the changelog is observable in tests and demos.
    'log.cleaner.backoff.ms=5000',
    'transaction.abort.timed.out.transaction.cleanup.interval.ms=10000',
    '',
  ].join('\n');
}

/** The JVM flags Kafka runs with (heap in MiB: ample for tests and demos on 2 cores). */
export const KAFKA_JVM_FLAGS = Object.freeze(['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC']);

/** Apicurio Registry's JVM flags (before `-jar quarkus-run.jar`), shared with the testcontainers backend. */
export function registryJvmFlags(o: { host: string; port: number; managementPort: number }): string[] {
  return [
    '-Xms128m',
    '-Xmx512m',
    '-XX:+UseSerialGC',
    `-Dquarkus.http.port=${o.port}`,
    `-Dquarkus.http.host=${o.host}`,
    // Quarkus also opens a management interface (health, metrics), by default on 0.0.0.0:9000:
    // loopback only, on a port of ours (it cannot be switched off at run time).
    '-Dquarkus.management.host=127.0.0.1',
    `-Dquarkus.management.port=${o.managementPort}`,
    '-Dquarkus.log.level=WARN',
    '-Dquarkus.http.access-log.enabled=false',
    // The ccompat API answers like Confluent: subjects named by the client, BACKWARD by default.
    '-Dapicurio.ccompat.use-canonical-hash=true',
  ];
}

function startRegistry(java: string, appDir: string, dir: string, ports: LocalPorts): number {
  const flags = registryJvmFlags({ host: '127.0.0.1', port: ports.registry, managementPort: ports.registryManagement });
  return spawnDetached(java, [...flags, '-jar', join(appDir, 'quarkus-run.jar')], join(dir, 'registry.log'), appDir);
}

function spawnDetached(cmd: string, args: string[], logFile: string, cwd?: string): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], ...(cwd ? { cwd } : {}) });
    child.unref();
    if (!child.pid) throw new LocalStackError(`could not start ${cmd}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * A Kafka cluster id: 16 random bytes in base64url, never starting with '-', which the storage tool's
 * argument parser takes for an option ("expected one argument": one start in 64 failed). Kafka's own
 * Uuid.randomUuid avoids it the same way.
 */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** A client configuration for the local broker. */
function localKafka(ports: LocalPorts) {
  return { kafka: { ...kafkaDefaults(), brokers: [`127.0.0.1:${ports.kafka}`] } };
}

/** Waits for the broker to answer; fails at once, saying why, if the Kafka process exits first. */
async function waitForKafka(ports: LocalPorts, timeoutMs: number, isAlive: () => boolean, logFile: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new LocalStackError(`the Kafka process exited: ${kafkaStartFailure(readTail(logFile))}`);
    try {
      await waitForBroker(localKafka(ports), Math.min(3000, Math.max(500, deadline - Date.now())));
      return;
    } catch (err) {
      last = err;
    }
  }
  throw new LocalStackError(`no answer from 127.0.0.1:${ports.kafka} within ${timeoutMs / 1000} s (${(last as Error | undefined)?.message ?? 'no attempt'})`, { cause: last });
}

function readTail(file: string, bytes = 64 * 1024): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '';
  }
}

/**
 * What a Kafka log says about a failed start, for the operator: a port another process holds (which
 * variable moves it), else the last error line.
 */
export function kafkaStartFailure(log: string): string {
  const bind = /failed to bind to [^:\s]+:(\d+)/.exec(log);
  if (bind) {
    return (
      `port ${bind[1]} was taken when Kafka tried to bind it (another process, or an outgoing connection: Linux lends ports ` +
      `from ${ephemeralRange()} to those); choose another with RISK_HUB_LOCAL_KAFKA_PORT or RISK_HUB_LOCAL_CONTROLLER_PORT, outside that range`
    );
  }
  const lines = log.split('\n').filter((l) => /ERROR|Exception|Caused by/.test(l));
  return lines.at(-1)?.trim().slice(0, 500) ?? 'no error in its log';
}

function ephemeralRange(): string {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    return `${lo}–${hi}`;
  } catch {
    return 'the ephemeral range';
  }
}

async function waitForRegistry(url: string, timeoutMs: number, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new LocalStackError('the registry process exited');
    if (await registryAnswers(url)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new LocalStackError(`no answer from ${url} within ${timeoutMs / 1000} s`);
}

async function registryAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function brokerAnswers(ports: LocalPorts): Promise<boolean> {
  try {
    await waitForBroker(localKafka(ports), 3000);
    return true;
  } catch {
    return false;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopProcesses(state: StateFile): Promise<void> {
  for (const pid of [state.registryPid, state.kafkaPid]) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  // A clean broker shutdown takes a few seconds; after 20 s, kill.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && (alive(state.kafkaPid) || alive(state.registryPid))) await new Promise((r) => setTimeout(r, 200));
  for (const pid of [state.registryPid, state.kafkaPid]) {
    try {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

function readState(dir: string): StateFile | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')) as StateFile;
  } catch {
    return undefined;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A lock file so two `local up` (e.g. two test runs) do not start two stacks at once. */
function acquireLock(dir: string): () => void {
  const file = join(dir, 'up.lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch {
      const holder = Number.parseInt(safeRead(file), 10);
      if (!holder || !alive(holder)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new LocalStackError(`another process (pid ${holder}) has held ${file} for 10 minutes`);
      spawnSync('sleep', ['0.5']);
    }
  }
}

function safeRead(file: string): string {
  try {
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  } catch {
    return '';
  }
}
