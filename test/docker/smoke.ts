// Image smoke test: the built image, run the way a cluster runs it, turns an attack into a delivered
// alert. Run by CI after scripts/docker/build.sh; not a vitest file (it needs a Docker engine and an
// image, which the unit and integration runs do not).
//
//   node --import tsx test/docker/smoke.ts [--image risk-hub:ci]
//
// Two containers from the image, each as user 65532 with a read-only root filesystem, no capabilities,
// a tmpfs on /tmp and the configuration mounted read-only: `topics apply` and `schemas register` first,
// then the scorer (its state on a named volume) and the webhook notifier. They reach the broker and the
// registry of this machine (KAFKA_BROKERS / SCHEMA_REGISTRY_URL, else the local stack's, at RISK_HUB_LOCAL_*_PORT) over
// the host network. An attack of 15 points is produced; the alert must reach a Standard Webhooks
// receiver on the host with a valid signature. Then SIGTERM must stop both containers with exit code 0.
// First, the image's node_modules must hold no development-only or agent-only package.
// Every wait is bounded; containers, the volume and the topics are removed at the end, pass or fail.
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { parse, stringify } from 'yaml';
import { localPorts } from '../../src/local/paths.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { userKey, type Attack } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { AvroSerde, subjectFor } from '../../src/kafka/serde.ts';
import { waitForBroker } from '../../src/kafka/wait.ts';
import { freePort } from '../ports.ts';

/** Bounds (ms). Start-up and delivery take a few seconds here; the scorer's own shutdown bound is 25 s. */
const SETUP_MS = 90_000;
const READY_MS = 120_000;
const DELIVERY_MS = 90_000;
const STOP_MS = 30_000;

class SmokeFailure extends Error {}

/** The scorer's command in the chart's defaults: the Dockerfile's ENTRYPOINT with `scorer.v8Flags` before its script. */
const chartScorerCommand: string[] = (() => {
  const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync('Dockerfile', 'utf8'))![1]!) as string[];
  const v8Flags = (parse(readFileSync('deploy/helm/risk-hub/values.yaml', 'utf8')) as { scorer: { v8Flags?: string } }).scorer.v8Flags ?? '';
  return [...entrypoint.slice(0, -1), ...v8Flags.split(' ').filter(Boolean), entrypoint.at(-1)!];
})();

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** Runs the docker CLI, bounded; throws with the tail of its output when it fails. */
function docker(args: string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: timeoutMs, env });
  if (r.error) throw new SmokeFailure(`docker ${args[0]}: ${r.error.message}`);
  if (r.status !== 0) throw new SmokeFailure(`docker ${args.slice(0, 2).join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  return r.stdout.trim();
}

/** One line naming what to install or start when there is no usable engine. */
function requireDocker(): void {
  const r = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new SmokeFailure("no Docker engine: the 'docker' command is missing. Install one (Debian: apt-get install docker.io) and start it (as root: dockerd &), then retry.");
  }
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || '').trim().split('\n')[0]?.slice(0, 160);
    throw new SmokeFailure(`the Docker engine is not running (${why}): start it (as root: dockerd &, or systemctl start docker), then retry.`);
  }
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new SmokeFailure(`${what}: not within ${timeoutMs / 1000} s`);
}

async function httpOk(url: string): Promise<true | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok ? true : undefined;
  } catch {
    return undefined;
  }
}

interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
}

async function main(): Promise<void> {
  const image = arg('--image', 'risk-hub:ci');
  requireDocker();
  const inspect = spawnSync('docker', ['image', 'inspect', '--format', '{{.Size}}', image], { encoding: 'utf8', timeout: 20_000 });
  const size = inspect.status === 0 ? Number(inspect.stdout.trim()) : 0;
  if (!size) throw new SmokeFailure(`no image ${image}: build it first (scripts/docker/build.sh --local-bases -t ${image})`);
  console.log(`[smoke] image ${image}: ${(size / 1e6).toFixed(1)} MB`);
  checkContents(image);

  const id = randomBytes(4).toString('hex');
  // the local stack's ports follow RISK_HUB_LOCAL_*_PORT, as `local up` does
  const ports = localPorts();
  const brokers = process.env.KAFKA_BROKERS ?? `127.0.0.1:${ports.kafka}`;
  const registry = process.env.SCHEMA_REGISTRY_URL ?? `http://127.0.0.1:${ports.registry}/apis/ccompat/v7`;
  const [scorerPort, notifierPort] = [await freePort(), await freePort()];
  const secret = `whsec_${randomBytes(24).toString('base64')}`;

  // The webhook receiver, on the host's loopback: what a SOAR endpoint would be.
  const deliveries: Delivery[] = [];
  const receiver = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      if (body.length < 1 << 20) body += d; // 1 MiB is far more than an alert
    });
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hookPort = (receiver.address() as AddressInfo).port;

  const settings = {
    applicationId: `rh-smoke-${id}`,
    kafka: { brokers: brokers.split(','), connectWaitMs: 30_000 },
    schemaRegistry: { url: registry },
    topics: { attacks: `attacks-smoke-${id}`, alerts: `risk-alerts-smoke-${id}`, deliveries: `risk-alert-deliveries-smoke-${id}`, attacksDlq: `attacks-smoke-${id}.dlq`, decisions: `risk-decisions-smoke-${id}`, decisionRequests: `risk-decision-requests-smoke-${id}` },
    http: { host: '127.0.0.1' },
    log: { level: 'warn' },
    notify: {
      egress: { allow: ['127.0.0.1'] },
      webhook: { enabled: true, targets: { smoke: { url: `http://127.0.0.1:${hookPort}/hooks/risk`, secretsEnv: 'SMOKE_WEBHOOK_SECRETS' } } },
    },
  };
  const config = loadConfig({ env: { SMOKE_WEBHOOK_SECRETS: secret }, overrides: settings }) as Config;
  const dir = mkdtempSync(join(tmpdir(), 'risk-hub-smoke-'));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'config.yaml'), stringify(settings), { mode: 0o644 });

  const names = { scorer: `rh-smoke-scorer-${id}`, notifier: `rh-smoke-notifier-${id}` };
  const volume = `rh-smoke-state-${id}`;
  const hardened = [
    '--network', 'host', '--user', '65532:65532', '--read-only', '--tmpfs', '/tmp:rw,size=64m,mode=1777',
    '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
    '-v', `${dir}:/etc/risk-hub:ro`, '-e', 'RISK_HUB_CONFIG=/etc/risk-hub/config.yaml',
  ];
  const env = { ...process.env, SMOKE_WEBHOOK_SECRETS: secret };
  const started = Date.now();
  let ok = false;
  try {
    await waitForBroker(config, 30_000).catch((err: Error) => {
      throw new SmokeFailure(`no broker at ${brokers} (${err.message}): start the local stack (node bin/risk-hub.js local up) or set KAFKA_BROKERS`);
    });
    for (const cmd of [['topics', 'apply'], ['schemas', 'register']]) {
      docker(['run', '--rm', ...hardened, image, ...cmd], SETUP_MS);
    }
    console.log(`[smoke] topics applied and schemas registered by the image in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    docker(['volume', 'create', volume]);
    // The scorer as the chart starts it: the image's node, flags and script, with scorer.v8Flags between.
    docker(['run', '-d', '--name', names.scorer, ...hardened, '-v', `${volume}:/var/lib/risk-hub/state`, '--entrypoint', chartScorerCommand[0]!, image, ...chartScorerCommand.slice(1), 'scorer', '--port', String(scorerPort)]);
    docker(['run', '-d', '--name', names.notifier, ...hardened, '-e', 'SMOKE_WEBHOOK_SECRETS', image, 'notifier', '--channel', 'webhook', '--port', String(notifierPort)], 60_000, env);
    const t0 = Date.now();
    await until('scorer /readyz', READY_MS, () => (running(names.scorer), httpOk(`http://127.0.0.1:${scorerPort}/readyz`)));
    await until('notifier /readyz', READY_MS, () => (running(names.notifier), httpOk(`http://127.0.0.1:${notifierPort}/readyz`)));
    console.log(`[smoke] scorer and notifier ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // One attack worth 15 points: over the threshold of 10, so tier 1 fires.
    const attack: Attack = {
      event_id: randomUUID(),
      occurred_at: Date.now(),
      application_id: 'smoke-shop',
      environment: 'production',
      user: { key: `smoke-user-${id}`, identifiers: {} },
      attack_type: 'sql_injection',
      severity: 'CRITICAL',
      points: 15,
      blocked: false,
      request: null,
      agent: { name: 'smoke', version: '0', language: 'node' },
    };
    const producer = createKafka(config).producer({ idempotent: true });
    await producer.connect();
    try {
      const value = await new AvroSerde(config).encode(subjectFor(config.topics.attacks), attack);
      await producer.send({ topic: config.topics.attacks, messages: [{ key: userKey(attack.application_id, attack.environment, attack.user.key), value }] });
    } finally {
      await producer.disconnect();
    }
    const t1 = Date.now();
    const delivery = await until('the alert at the webhook receiver', DELIVERY_MS, () => (running(names.scorer), running(names.notifier), deliveries[0]));
    const payload = new Webhook(secret).verify(delivery.body, delivery.headers as Record<string, string>) as Record<string, unknown>;
    if (!delivery.body.includes(attack.user.key)) throw new SmokeFailure(`the delivered alert does not name ${attack.user.key}: ${delivery.body.slice(0, 300)}`);
    console.log(`[smoke] attack → signed webhook delivery in ${((Date.now() - t1) / 1000).toFixed(1)} s (webhook-id ${String(delivery.headers['webhook-id'])}, ${Object.keys(payload).length} fields)`);

    for (const name of [names.scorer, names.notifier]) {
      const t = Date.now();
      docker(['kill', '--signal', 'TERM', name]);
      const code = await until(`${name} to exit after SIGTERM`, STOP_MS, () => {
        const [state, exit] = docker(['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', name]).split(' ');
        return state === 'false' ? Number(exit) : undefined;
      });
      if (code !== 0) throw new SmokeFailure(`${name} exited with code ${code} after SIGTERM (expected 0)`);
      console.log(`[smoke] ${name.replace(`-${id}`, '')}: SIGTERM → exit 0 in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    if (deliveries.length !== 1) throw new SmokeFailure(`${deliveries.length} deliveries for one alert`);
    ok = true;
    console.log(`[smoke] passed in ${((Date.now() - started) / 1000).toFixed(1)} s; image ${image} ${(size / 1e6).toFixed(1)} MB`);
  } finally {
    if (!ok) {
      for (const name of Object.values(names)) {
        const logs = spawnSync('docker', ['logs', '--tail', '30', name], { encoding: 'utf8', timeout: 10_000 });
        if (logs.status === 0) console.error(`--- ${name} (last 30 lines)\n${(logs.stdout + logs.stderr).trim()}`);
      }
    }
    spawnSync('docker', ['rm', '-f', ...Object.values(names)], { stdio: 'ignore', timeout: 30_000 });
    spawnSync('docker', ['volume', 'rm', '-f', volume], { stdio: 'ignore', timeout: 30_000 });
    rmSync(dir, { recursive: true, force: true });
    receiver.close();
    await deleteTopics(config);
  }
}

/**
 * The runtime holds the server's production dependencies only: no build or test tooling, and none of
 * the agent workspace's (its engine, kafkajs: the server runs the patched copy in dist/vendor/kafkajs).
 */
const NOT_IN_IMAGE = ['tsx', 'esbuild', 'typescript', 'tsup', 'vitest', 'patch-package', 'smtp-server', 'express', 'kafkajs', '@datadog/native-appsec', '@risk-hub/agent'];
function checkContents(image: string): void {
  const probe = `const fs = require('node:fs');
    console.log(JSON.stringify({ present: ${JSON.stringify(NOT_IN_IMAGE)}.filter((p) => { try { fs.lstatSync('node_modules/' + p); return true; } catch { return false; } }),
      vendored: fs.existsSync('dist/vendor/kafkajs/index.js'), cli: fs.existsSync('dist/cli/main.js') && fs.existsSync('bin/risk-hub.js') }));`;
  const out = JSON.parse(docker(['run', '--rm', '--network', 'none', '--read-only', '--user', '65532:65532', '--entrypoint', '/nodejs/bin/node', image, '-e', probe])) as { present: string[]; vendored: boolean; cli: boolean };
  if (out.present.length) throw new SmokeFailure(`the image's node_modules holds packages the server does not run: ${out.present.join(', ')}`);
  if (!out.vendored || !out.cli) throw new SmokeFailure(`the image lacks ${!out.cli ? 'dist/cli/main.js or bin/risk-hub.js' : 'dist/vendor/kafkajs'}`);
  console.log(`[smoke] image contents: no development or agent-only packages in node_modules, dist/vendor/kafkajs present`);
}

/** Fails at once when a container has exited, instead of waiting out a bound. */
function running(name: string): void {
  const [state, exit] = docker(['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', name]).split(' ');
  if (state !== 'true') throw new SmokeFailure(`${name} exited (code ${exit}) before it was stopped`);
}

async function deleteTopics(config: Config): Promise<void> {
  const admin = createKafka(config).admin();
  try {
    await admin.connect();
    const mine = (await admin.listTopics()).filter((t) => t.includes(`smoke-${config.applicationId.slice('rh-smoke-'.length)}`) || t.startsWith(config.applicationId));
    if (mine.length) await admin.deleteTopics({ topics: mine, timeout: 10_000 });
  } catch {
    /* best effort: a shared broker keeps a few topics */
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    // Expected failures are one line; anything else keeps its stack for whoever debugs the script.
    console.error(err instanceof SmokeFailure ? `risk-hub smoke: ${err.message}` : err);
    process.exit(1);
  },
);
