import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStackError } from '../errors.ts';
import { LOCAL_VERSIONS } from './paths.ts';

export type Progress = (message: string) => void;

/** Runs mvn quietly; its output goes to `logFile` so a failure can point at it. */
function mvn(args: string[], cwd: string, progress: Progress, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('mvn', ['-B', '-q', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()).length > 20_000 && (out = out.slice(-10_000)));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()).length > 20_000 && (out = out.slice(-10_000)));
    const tick = setInterval(() => progress(`resolving ${what} from Maven Central… ${Math.round((Date.now() - started) / 1000)} s`), 5000);
    child.on('error', (err) => {
      clearInterval(tick);
      reject(new LocalStackError(`cannot run mvn (${err.message}): install Apache Maven 3.8+ or point KAFKA_BROKERS / SCHEMA_REGISTRY_URL at an existing cluster`, { cause: err }));
    });
    child.on('close', (code) => {
      clearInterval(tick);
      if (code === 0) resolve();
      else reject(new LocalStackError(`mvn failed to resolve ${what} (exit ${code}):\n${out.trim().split('\n').slice(-15).join('\n')}`));
    });
  });
}

/** Kafka broker jars plus a log4j2 backend, resolved once into `<cache>/kafka-<version>/libs`. */
export async function resolveKafka(cache: string, progress: Progress): Promise<string> {
  const dir = join(cache, `kafka-${LOCAL_VERSIONS.kafka}`);
  const libs = join(dir, 'libs');
  if (existsSync(join(libs, '.complete'))) return libs;
  mkdirSync(dir, { recursive: true });
  const dep = (g: string, a: string, v: string) => `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>io.riskhub.local</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
<dependencies>
${dep('org.apache.kafka', 'kafka_2.13', LOCAL_VERSIONS.kafka)}
${dep('org.slf4j', 'slf4j-api', LOCAL_VERSIONS.slf4j)}
${dep('org.apache.logging.log4j', 'log4j-slf4j2-impl', LOCAL_VERSIONS.log4j)}
${dep('org.apache.logging.log4j', 'log4j-core', LOCAL_VERSIONS.log4j)}
</dependencies></project>\n`,
  );
  const tmp = `${libs}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  await mvn(['dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime'], dir, progress, `Kafka ${LOCAL_VERSIONS.kafka}`);
  writeFileSync(join(tmp, '.complete'), new Date().toISOString());
  rmSync(libs, { recursive: true, force: true });
  renameSync(tmp, libs);
  return libs;
}

/** Apicurio Registry's Quarkus distribution (`-all.tar.gz`), unpacked once; returns the dir holding quarkus-run.jar. */
export async function resolveApicurio(cache: string, progress: Progress): Promise<string> {
  const dir = join(cache, `apicurio-${LOCAL_VERSIONS.apicurio}`);
  const app = join(dir, 'app');
  if (existsSync(join(app, '.complete'))) return findRunJarDir(app);
  mkdirSync(dir, { recursive: true });
  await mvn(
    ['dependency:copy', `-Dartifact=io.apicurio:apicurio-registry-app:${LOCAL_VERSIONS.apicurio}:tar.gz:all`, `-DoutputDirectory=${dir}`],
    dir,
    progress,
    `Apicurio Registry ${LOCAL_VERSIONS.apicurio}`,
  );
  const tarball = join(dir, `apicurio-registry-app-${LOCAL_VERSIONS.apicurio}-all.tar.gz`);
  const tmp = `${app}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  progress('unpacking Apicurio Registry…');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('tar', ['xzf', tarball, '-C', tmp], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new LocalStackError(`tar failed to unpack ${tarball} (exit ${code})`))));
  });
  writeFileSync(join(tmp, '.complete'), new Date().toISOString());
  rmSync(app, { recursive: true, force: true });
  renameSync(tmp, app);
  rmSync(tarball, { force: true });
  return findRunJarDir(app);
}

function findRunJarDir(root: string, depth = 0): string {
  if (existsSync(join(root, 'quarkus-run.jar'))) return root;
  if (depth < 3) {
    for (const d of readdirSync(root, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      try {
        return findRunJarDir(join(root, d.name), depth + 1);
      } catch {
        /* keep looking */
      }
    }
  }
  throw new LocalStackError(`no quarkus-run.jar below ${root}; delete that directory so it is resolved again`);
}
