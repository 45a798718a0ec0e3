import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import type { Config } from '../../src/config/schema.ts';
import { readAttacks, type ReadRecord } from '../agent/kafka-helpers.ts';
import { eventually, prepareTopics, testConfig } from '../integration/helpers.ts';

// The packages as users get them: `npm pack` of the server (risk-hub) and of the agent
// (@risk-hub/agent), installed from the tarballs into fresh projects OUTSIDE this repository (so
// nothing resolves through the checkout's node_modules), then:
// - a plain-JavaScript ESM Express app, a CommonJS app and a strict TypeScript app use the agent, and
//   the attack each sends itself is read back from the real broker;
// - invalid agent options give one ConfigError at start-up;
// - the agent's install tree holds none of the server's dependencies, and its size is reported;
// - the installed CLI answers --help, --version and `config print`, runs without tsx, talks to the
//   broker, and runs the patched kafkajs that it carries (dist/vendor/kafkajs).
// Apps and the CLI run on this process's Node.js (CI runs this file on Node.js 20 and 24); npm installs
// with --prefer-offline (its cache, else the registry).

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APPS = join(ROOT, 'test/packaging/apps');
const NODE = process.execPath;

/** Packages of the server that an application installing the agent must never get. */
const SERVER_ONLY = [
  'risk-hub',
  'classic-level',
  'level',
  'abstract-level',
  'nodemailer',
  'smtp-server',
  'commander',
  'tsx',
  'esbuild',
  'pino',
  'prom-client',
  'zod',
  'yaml',
  'undici',
  '@slack/webhook',
  'standardwebhooks',
  '@kafkajs/confluent-schema-registry',
  'patch-package',
];

/** npm's own variables of the `npm test` that runs this would leak into the projects' installs. */
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));

async function run(cmd: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}, timeout = 300_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(cmd, args, { cwd, env: { ...env, ...extra }, timeout, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** Runs and returns the exit code too (for commands expected to fail). */
async function attempt(cmd: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(cmd, args, { cwd, env: { ...env, ...extra }, timeout: 120_000 });
    return { code: 0, ...r };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function duBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += duBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Packages installed in a project (every node_modules entry npm lists) and their names. */
async function installed(project: string): Promise<{ count: number; names: Set<string>; mb: number }> {
  const { stdout } = await run('npm', ['ls', '--all', '--parseable'], project);
  const paths = stdout.split('\n').filter((p) => p.includes(`${sep}node_modules${sep}`));
  const names = new Set(paths.map((p) => p.slice(p.lastIndexOf(`node_modules${sep}`) + 'node_modules/'.length)));
  return { count: new Set(paths).size, names, mb: duBytes(join(project, 'node_modules')) / 1e6 };
}

interface Packed {
  filename: string;
  files: Array<{ path: string }>;
}

let tmp: string;
let agentTgz: Packed;
let serverTgz: Packed;
let config: Config;
let reader: { records: ReadRecord[]; stop: () => Promise<void> };
const builtHere: string[] = [];
const projects = { server: '', esm: '', cjs: '', ts: '' };

function project(name: keyof typeof projects, pkg: Record<string, unknown>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `packaging-${name}`, version: '1.0.0', private: true, ...pkg }, null, 2));
  projects[name] = dir;
  return dir;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'risk-hub-packaging-'));
  expect(relative(ROOT, tmp).startsWith('..')).toBe(true);
  for (const dir of ['dist', 'packages/agent/dist']) if (!existsSync(join(ROOT, dir))) builtHere.push(join(ROOT, dir));

  // what prepack runs before a publish: both packages (agent first), the patched kafkajs vendored
  await run('npm', ['run', 'build'], ROOT, {}, 600_000);
  const server = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], ROOT);
  serverTgz = (JSON.parse(server.stdout) as Packed[])[0]!;
  const agent = await run('npm', ['pack', '--json', '--ignore-scripts', '--workspace', '@risk-hub/agent', '--pack-destination', tmp], ROOT);
  agentTgz = (JSON.parse(agent.stdout) as Packed[])[0]!;
  const agentDep = `file:${join(tmp, agentTgz.filename)}`;

  project('server', { dependencies: { 'risk-hub': `file:${join(tmp, serverTgz.filename)}` } });
  project('esm', { type: 'module', dependencies: { '@risk-hub/agent': agentDep, express: '^5.1.0' } });
  project('cjs', { dependencies: { '@risk-hub/agent': agentDep } });
  project('ts', {
    type: 'module',
    dependencies: { '@risk-hub/agent': agentDep, express: '^5.1.0' },
    devDependencies: { typescript: '5.9', '@types/node': '^20.19.0', '@types/express': '^5.0.0' },
  });
  cpSync(join(APPS, 'esm-express.mjs'), join(projects.esm, 'app.mjs'));
  cpSync(join(APPS, 'invalid-options.mjs'), join(projects.esm, 'invalid-options.mjs'));
  cpSync(join(APPS, 'cjs-http.cjs'), join(projects.cjs, 'app.cjs'));
  cpSync(join(APPS, 'ts-app.ts'), join(projects.ts, 'ts-app.ts'));
  cpSync(join(APPS, 'tsconfig.json'), join(projects.ts, 'tsconfig.json'));
  // four installs at once: mostly waiting on the cache and the registry
  await Promise.all(Object.values(projects).map((dir) => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], dir, {}, 600_000)));

  config = testConfig();
  await prepareTopics(config);
  reader = await readAttacks(config);
}, 900_000);

afterAll(async () => {
  await reader?.stop();
  for (const dir of builtHere) rmSync(dir, { recursive: true, force: true });
  if (tmp && process.env.RISK_HUB_KEEP_PACKAGING !== '1') rmSync(tmp, { recursive: true, force: true });
});

function appEnv(app: string): NodeJS.ProcessEnv {
  return { BROKERS: config.kafka.brokers.join(','), REGISTRY: config.schemaRegistry.url, TOPIC: config.topics.attacks, APP: app };
}

async function produced(app: string, n: number): Promise<ReadRecord[]> {
  return eventually(() => {
    const mine = reader.records.filter((r) => r.value.application_id === app);
    return mine.length >= n ? mine : undefined;
  }, 30_000, `${n} record(s) of ${app} on ${config.topics.attacks}`);
}

describe('@risk-hub/agent as an application installs it', () => {
  it('the tarball holds compiled ESM and CommonJS with their type declarations, a LICENSE, and no sources', () => {
    const files = agentTgz.files.map((f) => f.path).sort();
    for (const f of ['package.json', 'LICENSE', 'README.md', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts']) expect(files).toContain(f);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.d.cts'))).toEqual([]);
    expect(files.filter((f) => !f.startsWith('dist/') && !['package.json', 'LICENSE', 'README.md'].includes(f))).toEqual([]);
  });

  it("installs without any of the server's dependencies; reports the install size", async () => {
    const alone = await installed(projects.cjs);
    const withExpress = await installed(projects.esm);
    expect([...alone.names].filter((n) => SERVER_ONLY.includes(n))).toEqual([]);
    expect([...withExpress.names].filter((n) => SERVER_ONLY.includes(n))).toEqual([]);
    expect(alone.names).toContain('@datadog/native-appsec');
    expect(alone.names).toContain('kafkajs');
    console.log(
      `[packaging] install size: @risk-hub/agent alone ${alone.count} packages, ${alone.mb.toFixed(1)} MB; ` +
        `an Express 5 app with the agent ${withExpress.count} packages, ${withExpress.mb.toFixed(1)} MB`,
    );
  });

  it('a plain-JavaScript ESM Express app detects an attack and produces it to the broker', async () => {
    const app = `pkg-esm-${Date.now()}`;
    const { stdout } = await run(NODE, ['app.mjs'], projects.esm, appEnv(app), 120_000);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ flushed: true, detections: 1, sent: 1, errors: 0 });
    const [record] = await produced(app, 1);
    expect(record!.value).toMatchObject({ attack_type: 'sql_injection', severity: 'HIGH', user: { key: 'esm-user', identifiers: { email: 'esm@example.com' } } });
    expect(record!.key).toBe(`${app}/packaging/esm-user`);
  });

  it('a CommonJS app (require) detects an attack and produces it to the broker', async () => {
    const app = `pkg-cjs-${Date.now()}`;
    const { stdout } = await run(NODE, ['app.cjs'], projects.cjs, appEnv(app), 120_000);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ flushed: true, detections: 1, sent: 1, errors: 0 });
    const [record] = await produced(app, 1);
    expect(record!.value).toMatchObject({ attack_type: 'path_traversal', severity: 'HIGH', user: { key: 'cjs-user' } });
  });

  it('a strict TypeScript app compiles against the declarations (tsc --strict, no skipLibCheck) and produces to the broker', async () => {
    await run(NODE, [join(projects.ts, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--strict'], projects.ts);
    const app = `pkg-ts-${Date.now()}`;
    const { stdout } = await run(NODE, ['dist/ts-app.js'], projects.ts, appEnv(app), 120_000);
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ flushed: true, detections: 1, sent: 2 });
    const records = await produced(app, 2);
    expect(records.map((r) => `${r.value.user.key} ${r.value.attack_type}`).sort()).toEqual(['ts-user custom_probe', 'ts-user xss']);
  });

  it('invalid options give one clear ConfigError at start-up', async () => {
    const r = await attempt(NODE, ['invalid-options.mjs'], projects.esm);
    expect(r.code).toBe(3);
    const error = JSON.parse(r.stdout.trim()) as { name: string; code: string; message: string };
    expect(error).toEqual({ name: 'ConfigError', code: 'RH_CONFIG', message: 'risk-hub agent: option maxQueue must be a positive integer, got -5' });
  });
});

describe('risk-hub (the server) as an operator installs it', () => {
  const cli = (): string => join(projects.server, 'node_modules/risk-hub/bin/risk-hub.js');

  it('the installed CLI answers --help, --version and config print, from dist/ and without tsx', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect((await run(NODE, [cli(), '--version'], projects.server)).stdout.trim()).toBe(version);
    expect((await run(NODE, [cli(), '--help'], projects.server)).stdout).toMatch(/^Usage: risk-hub \[options\] \[command\]/);
    const printed = await run(NODE, [cli(), 'config', 'print'], projects.server, { KAFKA_BROKERS: 'kafka-1:9092' });
    expect(printed.stdout).toMatch(/^applicationId: risk-hub$/m);
    expect(printed.stdout).toContain('kafka-1:9092');
    // `relay` runs the Node agent, which the server alone does not install: one line says what to add.
    const relay = await exec(NODE, [cli(), 'relay', '--port', '0'], { cwd: projects.server }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(relay?.code).not.toBe(0);
    expect(relay?.stderr?.trim().split('\n')).toEqual([expect.stringContaining('npm install @risk-hub/agent')]);
    const names = (await installed(projects.server)).names;
    for (const dev of ['tsx', 'esbuild', 'typescript', 'patch-package', 'smtp-server', 'express', 'vitest']) expect(names.has(dev), dev).toBe(false);
    const files = serverTgz.files.map((f) => f.path);
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('LICENSE');
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  });

  it('runs the patched kafkajs it carries (dist/vendor/kafkajs), against the real broker', async () => {
    const probe = `
      const { KAFKAJS_MAIN } = await import(${JSON.stringify(join(projects.server, 'node_modules/risk-hub/dist/kafka/kafkajs.js'))});
      const { kafkajsPatched } = await import(${JSON.stringify(join(projects.server, 'node_modules/risk-hub/dist/kafka/patched.js'))});
      console.log(JSON.stringify({ main: KAFKAJS_MAIN, patched: kafkajsPatched() }));`;
    const { stdout } = await run(NODE, ['--input-type=module', '-e', probe], projects.server);
    const { main, patched } = JSON.parse(stdout) as { main: string; patched: boolean };
    expect(main).toBe(join(projects.server, 'node_modules/risk-hub/dist/vendor/kafkajs/index.js'));
    expect(patched).toBe(true);
    // and it speaks to the broker: the installed CLI checks this test's topics (created above)
    const file = join(projects.server, 'risk-hub.yaml');
    writeFileSync(file, toYaml(JSON.parse(JSON.stringify(config)) as unknown));
    const applied = await run(NODE, [cli(), '--config', file, 'topics', 'apply'], projects.server);
    expect(`${applied.stdout}${applied.stderr}`).toContain(config.topics.attacks);
  });
});
