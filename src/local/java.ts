import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LocalStackError } from '../errors.ts';

/** Major version of a java binary (`java -version` prints on stderr), or 0 if it does not run. */
export function javaMajor(javaBin: string): number {
  const r = spawnSync(javaBin, ['-version'], { encoding: 'utf8', timeout: 15_000 });
  const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr ?? ''}${r.stdout ?? ''}`);
  if (!m) return 0;
  return Number(m[1]) === 1 ? Number(m[2]) : Number(m[1]);
}

/**
 * A java binary of at least version `min`: RISK_HUB_JAVA_HOME, JAVA_HOME, `java` on PATH, then the
 * JDKs under /usr/lib/jvm. Kafka 4.1 runs on 17; Apicurio Registry 3.3 needs 21+.
 */
export function findJava(min: number, env: NodeJS.ProcessEnv = process.env): string {
  const candidates: string[] = [];
  for (const home of [env.RISK_HUB_JAVA_HOME, env.JAVA_HOME]) if (home) candidates.push(join(home, 'bin', 'java'));
  candidates.push('java');
  const jvm = '/usr/lib/jvm';
  if (existsSync(jvm)) for (const d of readdirSync(jvm).sort().reverse()) candidates.push(join(jvm, d, 'bin', 'java'));
  const seen: string[] = [];
  for (const c of candidates) {
    const v = javaMajor(c);
    if (v >= min) return c;
    if (v > 0) seen.push(`${c} is ${v}`);
  }
  throw new LocalStackError(
    `Java ${min} or newer is needed (${seen.join(', ') || 'no java found'}). Install a JDK ${min}+ (e.g. Temurin) and set RISK_HUB_JAVA_HOME to it.`,
  );
}
