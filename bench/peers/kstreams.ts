import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

// The Kafka Streams reference scorer (issue 17, ../shared/peers/kstreams-ref: Java 17 + Maven), built in
// a copy (the peers directory is read-only) and run as a whole process. It prints one line per event the
// harness needs: "STATE <state> <ms>", "COMMITS <total> <ms>" (stream-thread commit-total, once a second),
// "RESTORED <partitions ended> <records so far> <ms>".

/** Where the reference's sources are: BENCH_KSTREAMS_REF, else the shared peers directory beside the checkout. */
function sourceDir(): string {
  const candidates = [process.env.BENCH_KSTREAMS_REF, resolve('../shared/peers/kstreams-ref'), resolve('../../shared/peers/kstreams-ref'), '/work/shared/peers/kstreams-ref'];
  const dir = candidates.find((d): d is string => Boolean(d) && existsSync(join(d!, 'pom.xml')));
  if (!dir) throw new Error('the Kafka Streams reference was not found: set BENCH_KSTREAMS_REF to the kstreams-ref directory (with pom.xml)');
  return dir;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * Builds the reference in ~/.cache/risk-hub/kstreams-ref (BENCH_KSTREAMS_BUILD overrides), reusing the
 * build while pom.xml and src/ are unchanged (a digest of them is kept beside the build). Returns the
 * directory to run it from. Maven needs the network (or a warm ~/.m2) the first time only.
 */
export function buildReference(): string {
  const src = sourceDir();
  const out = process.env.BENCH_KSTREAMS_BUILD ?? join(homedir(), '.cache/risk-hub/kstreams-ref');
  const files = [join(src, 'pom.xml'), ...filesUnder(join(src, 'src'))];
  const digest = createHash('sha256');
  for (const f of files) digest.update(f.slice(src.length)).update(readFileSync(f));
  const stamp = digest.digest('hex');
  const stampFile = join(out, '.source-digest');
  if (existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp && existsSync(join(out, 'target/classes/ref/RefScorer.class'))) return out;
  console.error(`building the Kafka Streams reference in ${out} (mvn package)…`);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  cpSync(join(src, 'pom.xml'), join(out, 'pom.xml'));
  cpSync(join(src, 'src'), join(out, 'src'), { recursive: true });
  const b = spawnSync('mvn', ['-q', '-f', join(out, 'pom.xml'), 'package'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 });
  if (b.status !== 0) throw new Error(`mvn package of the Kafka Streams reference failed (${b.error?.message ?? `exit ${b.status}`}); it needs Java 17 and Maven`);
  writeFileSync(stampFile, stamp);
  return out;
}

/** What the reference is run with (RefScorer's key=value arguments). */
export interface ReferenceArgs {
  bootstrap: string;
  input: string;
  alerts: string;
  appId: string;
  stateDir: string;
  attackSchema: string;
  alertSchema: string;
  attackSchemaId: number;
  alertSchemaId: number;
  partitions: number;
  maxFutureSkewMs: number;
  /** The peers README's tuned best exactly-once settings: exactly_once_v2, 2 threads, no record cache. */
  commitMs: number;
  guarantee?: string;
  threads?: number;
  cacheBytes?: number;
}

export interface Reference {
  child: ChildProcess;
  /** Wall-clock ms (Date.now()) just before the process was spawned. */
  spawnedAt: number;
  /** Resolves with the process's own timestamp of its first "STATE RUNNING". */
  running: Promise<number>;
  /** The last "COMMITS" figure printed (stream threads' commits = transactions under exactly-once). */
  commits(): number;
  /** Changelog records restored so far (the last "RESTORED" line). */
  restored(): number;
  /** The process's own timestamp of its first input record ("FIRST"), once it has printed it. */
  first(): number | undefined;
}

/**
 * Starts the reference. Its stdout is parsed and copied, with its stderr, to `log`. Logging at WARN (the
 * Risk Hub scorer runs the bench at `warn` too). BENCH_KSTREAMS_JAVA_OPTS adds JVM flags (none by default:
 * the JVM's own heap sizing, as the issue's figures were taken).
 */
export function startReference(dir: string, args: ReferenceArgs, log: string): Reference {
  const kv: Record<string, string | number> = {
    guarantee: 'exactly_once_v2',
    threads: 2,
    cacheBytes: 0,
    ...args,
  };
  const fd = openSync(log, 'a');
  const jvm = [...(process.env.BENCH_KSTREAMS_JAVA_OPTS ?? '').split(' ').filter(Boolean), '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn'];
  const spawnedAt = Date.now();
  const child = spawn('java', [...jvm, '-cp', 'target/lib/*:target/classes', 'ref.RefScorer', ...Object.entries(kv).map(([k, v]) => `${k}=${v}`)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', fd],
  });
  let commits = NaN;
  let restored = 0;
  let first: number | undefined;
  let onRunning!: (ms: number) => void;
  let onExit!: (err: Error) => void;
  const running = new Promise<number>((res, rej) => {
    onRunning = res;
    onExit = rej;
  });
  running.catch(() => undefined); // a caller that stopped waiting must not see an unhandled rejection
  createInterface({ input: child.stdout! }).on('line', (line) => {
    writeSync(fd, `${line}\n`);
    const [what, a, b] = line.split(' ');
    if (what === 'STATE' && a === 'RUNNING') onRunning(Number(b));
    else if (what === 'COMMITS') commits = Number(a);
    else if (what === 'RESTORED') restored = Number(b);
    else if (what === 'FIRST') first = Number(a);
  });
  child.once('exit', (code, signal) => onExit(new Error(`the Kafka Streams reference exited (${signal ?? code}) before it was running; see ${log}`)));
  return { child, spawnedAt, running, commits: () => commits, restored: () => restored, first: () => first };
}

/** Waits (bounded) for "STATE RUNNING"; returns the milliseconds from spawn to it. */
export async function referenceReady(ref: Reference, timeoutMs = 600_000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`the Kafka Streams reference was not RUNNING within ${timeoutMs / 1000} s`)), timeoutMs)));
  try {
    return (await Promise.race([ref.running, timeout])) - ref.spawnedAt;
  } finally {
    clearTimeout(timer);
  }
}

/** The reference's changelog topic (Kafka Streams names it <appId>-<store>-changelog). */
export function referenceChangelog(appId: string): string {
  return `${appId}-user-risk-changelog`;
}
