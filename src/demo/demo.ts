// `risk-hub demo`: the whole product on one machine, in one process, for a newcomer.
//
//   local stack (Kafka + Apicurio, Maven-resolved, reused when running) or KAFKA_BROKERS/SCHEMA_REGISTRY_URL
//   → topics applied, schemas registered (fresh names per run)
//   → loopback receivers: Slack stand-in, Standard Webhooks receiver, SMTP mailbox
//   → scorer (its own consumer group, exactly-once) and the three notifiers (one group per channel)
//   → traffic: the simulator (and, with --with-app, real HTTP attacks on the example Express app and on
//     its Python twin, examples/python-app, whose agent sends to a relay run in this process)
//   → live view from the changelog, risk-alerts, the delivery ledger and risk-decisions (the demo's
//     policy blocks the example app's attacker, whose next requests the app refuses with 403)
//   → on Ctrl-C or --duration: stop the traffic, let the last alerts be delivered (bounded), stop
//     everything, delete the run's topics, print a summary and where the messages are.

import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import type { Config } from '../config/schema.ts';
import { changelogTopic } from '../config/schema.ts';
import { userKey, type DecisionAction } from '../contracts.ts';
import { formatDuration } from '../decisions/index.ts';
import { ConfigError, RiskHubError } from '../errors.ts';
import { createKafka } from '../kafka/client.ts';
import { registerSchemas } from '../kafka/schemas.ts';
import { applyTopology } from '../kafka/topology.ts';
import { waitForBroker } from '../kafka/wait.ts';
import { alive, stackDown, stackUp } from '../local/stack.ts';
import { importExample, type ExampleServerModule } from './examples.ts';
import { createLogger, type Logger } from '../log.ts';
import * as metrics from '../metrics/index.ts';
import { startNotifier, type NotifierHandle } from '../notify/service.ts';
import { startScorer, type ScorerHandle } from '../scorer/scorer.ts';
import { defaultStart } from '../simulate/clock.ts';
import { attackersUntil, type AttackerIdentity } from '../simulate/generator.ts';
import { startSimulation, type SimulationHandle } from '../simulate/runner.ts';
import { APP_APPLICATION, APP_ENVIRONMENT, APP_ROLES, PERSISTENT_ATTACKER, startAppTraffic, type AppTraffic } from './app-traffic.ts';
import { demoNames, demoOverrides } from './config.ts';
import { findPython, PY_APPLICATION, PY_ENVIRONMENT, startPythonApp, type PythonApp } from './python-app.ts';
import { startMailReceiver, startSlackReceiver, startWebhookReceiver, type Receiver } from './receivers.ts';
import { clock, COLOR, decisionCounts, fit, PLAIN, renderDashboard, renderLine, type Snapshot } from './view.ts';
import { CHANNELS, DemoWatcher } from './watch.ts';

export interface DemoOptions {
  /** The user's configuration with `overrides` applied last (the CLI: --config, then the environment). */
  loadConfig: (overrides: Record<string, unknown>) => Config;
  env?: NodeJS.ProcessEnv;
  /** Where messages, alerts, logs and state go (default .risk-hub/demo). */
  outDir: string;
  /** Stop the traffic after this long (wall clock, ms); otherwise run until `stop` aborts. */
  durationMs?: number;
  /** Redraw a dashboard in place (a terminal) or print one line every `intervalMs`. */
  tty: boolean;
  color: boolean;
  intervalMs?: number;
  speed: number;
  rate: number;
  users: number;
  seed: string;
  start?: number;
  /** Drive the example Express app with real attack requests: on, off, or on when it loads. */
  withApp: 'on' | 'off' | 'auto';
  /** Beside the Express app, run the example Python app (examples/python-app) and its relay, when python3 is there (default true). */
  withPythonApp?: boolean;
  /** Leave a local stack this run started running afterwards. */
  keepStack: boolean;
  /** Keep the run's topics (and state directory) afterwards. */
  keepTopics: boolean;
  /** First abort: stop cleanly (Ctrl-C). */
  stop: AbortSignal;
  /** Second abort: skip waiting for the last deliveries. */
  hurry?: AbortSignal;
  write?: (text: string) => void;
}

export interface DemoSummary {
  runId: string;
  startupMs: number;
  runMs: number;
  produced: number;
  scored: number;
  users: number;
  alerts: Array<{ user: string; tier: number; increase: number; alertId: string; deliveries: Record<string, string> }>;
  attackers: Array<{ user: string; role: string; alerted: boolean }>;
  benignAlerted: string[];
  deliveries: Record<string, { delivered: number; retrying: number; dead_lettered: number; received: number }>;
  /** Every decision record the scorer published in this run, in order (LIFTs included). */
  decisions: Array<{
    user: string;
    action: DecisionAction;
    source: string;
    tier: number | null;
    offense: number;
    /** Its length (ms): until − made_at. */
    durationMs: number;
    madeAt: number;
    until: number;
    simulated: boolean;
    decisionId: string;
    alertId: string | null;
  }>;
  /** The example app's traffic: requests sent and the app's 403 answers by user key. */
  app?: { requests: number; refused: Record<string, number> } | undefined;
  /** The same for the example Python app (application demo-shop-py), when it ran. */
  pythonApp?: { requests: number; refused: Record<string, number> } | undefined;
  outDir: string;
  stack: 'started' | 'reused' | 'external';
  stackStopped: boolean;
}

const STATE_FILE = 'run.json';
/** The run's CLI configuration (broker, registry, topics, scorer), for `risk-hub -c <file> decisions …`. */
const CLI_CONFIG_FILE = 'cli.yaml';
const READY_TIMEOUT_MS = 120_000;

/** A free TCP port on 127.0.0.1, preferring `preferred`. */
export async function freePort(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((res) => {
      const srv = createServer();
      srv.once('error', () => res(undefined));
      srv.listen(port, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => res(p));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0))!;
}


async function waitUntil(what: string, check: () => boolean, timeoutMs: number, stop: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (stop.aborted) throw new DemoInterrupted();
    if (Date.now() > deadline) throw new RiskHubError('RH_DEMO_TIMEOUT', `${what} did not happen within ${Math.round(timeoutMs / 1000)} s: see the log for why`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export class DemoInterrupted extends RiskHubError {
  constructor() {
    super('RH_INTERRUPTED', 'demo interrupted during start-up');
    this.name = 'DemoInterrupted';
  }
}

async function counterTotal(c: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await c.get()).values.reduce((s, v) => s + v.value, 0);
}

/** Start-up progress: a spinner on a terminal, plain lines otherwise. */
class Progress {
  private frame = 0;
  private timer: NodeJS.Timeout | undefined;
  private label = '';
  private detail = '';
  private since = Date.now();
  constructor(
    private readonly tty: boolean,
    private readonly write: (s: string) => void,
    private readonly st: typeof COLOR,
  ) {}
  step(label: string): void {
    this.finish();
    this.label = label;
    this.detail = '';
    this.since = Date.now();
    if (!this.tty) {
      this.write(`… ${label}\n`);
      return;
    }
    this.draw();
    this.timer = setInterval(() => this.draw(), 100);
  }
  note(detail: string): void {
    this.detail = detail;
    if (!this.tty) this.write(`  ${detail}\n`);
  }
  private draw(): void {
    const frames = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏';
    const s = ((Date.now() - this.since) / 1000).toFixed(0);
    this.write(`\r\x1b[K${this.st.cyan(frames[this.frame++ % frames.length]!)} ${this.label} ${this.st.dim(`${s} s${this.detail ? ` · ${this.detail}` : ''}`)}`);
  }
  finish(): void {
    if (!this.label) return;
    const s = ((Date.now() - this.since) / 1000).toFixed(1);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.write(`\r\x1b[K${this.st.green('✓')} ${this.label} ${this.st.dim(`${s} s`)}\n`);
    this.label = '';
  }
  fail(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty && this.label) this.write(`\r\x1b[K${this.st.red('✗')} ${this.label}\n`);
    this.label = '';
  }
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const env = o.env ?? process.env;
  const write = o.write ?? ((s: string) => void process.stdout.write(s));
  const st = o.color ? COLOR : PLAIN;
  const t0 = Date.now();
  const runId = randomBytes(3).toString('hex');
  const names = demoNames(runId);
  const outDir = resolve(o.outDir);
  const rel = relative(process.cwd(), outDir);
  const shownDir = rel === '' ? '.' : rel.startsWith('..') ? outDir : rel;
  const cleanup: Array<[string, () => Promise<unknown> | unknown]> = [];
  const progress = new Progress(o.tty, write, st);

  // Fresh output for this run (only the demo's own entries are removed).
  mkdirSync(outDir, { recursive: true });
  const previous = readPrevious(outDir);
  for (const entry of ['slack', 'mail', 'webhook', 'state', 'alerts.jsonl', 'decisions.jsonl', CLI_CONFIG_FILE, 'summary.json', 'demo.log']) rmSync(join(outDir, entry), { recursive: true, force: true });
  const logStream = createWriteStream(join(outDir, 'demo.log'));
  const log: Logger = createLogger({ level: env.LOG_LEVEL ?? 'info', name: 'demo', destination: logStream });
  cleanup.push(['log', () => new Promise<void>((r) => logStream.end(r))]);

  let stackInfo: 'started' | 'reused' | 'external' = 'external';
  let stackStopped = false;
  let cluster: { brokers: string[]; registryUrl: string } | undefined;
  let scorer: ScorerHandle | undefined;
  let notifier: NotifierHandle | undefined;
  let sim: SimulationHandle | undefined;
  let appTraffic: AppTraffic | undefined;
  let watcher: DemoWatcher | undefined;
  let config: Config | undefined;
  let topics: string[] = [];
  const receivers: Receiver[] = [];
  const roles = new Map<string, string>();
  let appHandle: ExampleAppHandle | undefined;
  let pyApp: PythonApp | undefined;
  let pyTraffic: AppTraffic | undefined;

  const runCleanup = async () => {
    for (const [what, f] of cleanup.splice(0).reverse()) {
      try {
        await f();
      } catch (err) {
        log.warn({ err, what }, 'clean-up step failed');
      }
    }
  };

  try {
    // -- 1. the cluster ----------------------------------------------------------------------------
    const external = Boolean(env.KAFKA_BROKERS || env.SCHEMA_REGISTRY_URL);
    if (external && !(env.KAFKA_BROKERS && env.SCHEMA_REGISTRY_URL)) {
      throw new ConfigError('KAFKA_BROKERS and SCHEMA_REGISTRY_URL go together: set both to use an existing cluster, or neither to run the local stack');
    }
    if (!external) {
      progress.step('starting the local Kafka broker and schema registry');
      const info = await stackUp({ env, progress: (m) => (log.info({ step: m }, 'local stack'), progress.note(m)) });
      stackInfo = info.started ? 'started' : 'reused';
      cluster = { brokers: info.brokers, registryUrl: info.registryUrl };
      progress.note(info.started ? `started: ${info.brokers.join(',')}, ${info.registryUrl}` : 'already running: reused');
      if (info.started && !o.keepStack) {
        cleanup.push([
          'local stack',
          async () => {
            stackStopped = await stackDown(env);
          },
        ]);
      }
    }
    if (o.stop.aborted) throw new DemoInterrupted();

    // -- 2. receivers and configuration --------------------------------------------------------------
    progress.step('starting the Slack, webhook and mail receivers on 127.0.0.1');
    const webhookSecret = env.DEMO_WEBHOOK_SECRET ?? `whsec_${randomBytes(32).toString('base64')}`;
    const slack = await startSlackReceiver(outDir);
    receivers.push(slack);
    const webhook = await startWebhookReceiver(outDir, webhookSecret);
    receivers.push(webhook);
    const mail = await startMailReceiver(outDir);
    receivers.push(mail);
    for (const r of receivers) cleanup.push([`${r.name} receiver`, () => r.close()]);
    const httpPort = await freePort(9464);
    config = o.loadConfig(
      demoOverrides(names, { slackUrl: slack.url, webhookUrl: webhook.url, webhookSecret, smtpPort: mail.port }, { stateDir: join(outDir, 'state'), httpPort, cluster }),
    );
    const cfg = config;
    log.info({ runId, applicationId: cfg.applicationId, brokers: cfg.kafka.brokers, registry: cfg.schemaRegistry.url }, 'demo configuration');

    // -- 3. topics and schemas -------------------------------------------------------------------------
    progress.step(`creating this run's topics (${names.applicationId}-*) and registering the schemas`);
    await waitForBroker(cfg, cfg.kafka.connectWaitMs);
    const admin = createKafka(cfg, { clientId: `${cfg.applicationId}-demo-admin`, logger: log.child({ component: 'kafkajs' }) }).admin();
    await admin.connect().catch((err: unknown) => {
      throw new RiskHubError('RH_CONNECTION', `Kafka at ${cfg.kafka.brokers.join(',')} is unreachable: ${(err as Error).message}. Start it or fix KAFKA_BROKERS.`, { retriable: true, cause: err });
    });
    cleanup.push(['admin', () => admin.disconnect()]);
    if (previous && !previous.cleaned && !previous.keep && !alive(previous.pid) && previous.topics.length && previous.brokers === cfg.kafka.brokers.join(',')) {
      // An earlier run in this directory died without cleaning up: remove its topics now.
      await admin.deleteTopics({ topics: previous.topics, timeout: 10_000 }).catch((err: unknown) => log.warn({ err }, 'could not delete an earlier run'));
    }
    const report = await applyTopology(cfg, { admin });
    topics = [...report.created, ...report.unchanged];
    writeRunState(outDir, { runId, pid: process.pid, topics, brokers: cfg.kafka.brokers.join(','), cleaned: false, keep: o.keepTopics });
    if (!o.keepTopics) {
      cleanup.push([
        'topics',
        async () => {
          await admin.deleteTopics({ topics, timeout: 15_000 });
          rmSync(cfg.scorer.stateDir, { recursive: true, force: true });
          writeRunState(outDir, { runId, pid: process.pid, topics, brokers: cfg.kafka.brokers.join(','), cleaned: true, keep: false });
        },
      ]);
    }
    await registerSchemas(cfg);
    writeCliConfig(join(outDir, CLI_CONFIG_FILE), cfg, runId);
    if (o.stop.aborted) throw new DemoInterrupted();

    // -- 4. scorer and notifiers ------------------------------------------------------------------------
    progress.step('starting the scorer (exactly-once, one LevelDB store per partition)');
    const base = { events: await counterTotal(metrics.scorerEvents), dlq: await counterTotal(metrics.scorerDeadLettered) };
    scorer = await startScorer(cfg, { log: log.child({ role: 'scorer' }) });
    const sc = scorer;
    cleanup.push(['scorer', () => sc.stop()]);
    await waitUntil('the scorer becoming ready', () => sc.isReady(), READY_TIMEOUT_MS, o.stop);
    progress.note(`query endpoint ${sc.url}`);

    progress.step('starting the Slack, email and webhook notifiers (one consumer group each)');
    notifier = await startNotifier(cfg, { channels: [...CHANNELS], log: log.child({ role: 'notifier' }), env, http: false });
    const nt = notifier;
    cleanup.push(['notifiers', () => nt.stop()]);
    await waitUntil('the notifiers joining their groups', () => nt.isReady(), READY_TIMEOUT_MS, o.stop);

    watcher = new DemoWatcher(cfg, log.child({ role: 'view' }), join(outDir, 'alerts.jsonl'), join(outDir, 'decisions.jsonl'));
    const w = watcher;
    cleanup.push(['view', () => w.stop()]);
    await w.start();

    // -- 5. traffic ------------------------------------------------------------------------------------------
    if (o.withApp !== 'off') {
      progress.step('starting the example Express app with the Risk Hub agent');
      try {
        appHandle = await startExampleApp(cfg, log, cleanup);
        appTraffic = await startAppTraffic(appHandle.url, { log: log.child({ role: 'app-traffic' }) });
        const at = appTraffic;
        cleanup.push(['example app traffic', () => at.stop()]);
        progress.note(`${appHandle.url} (application ${APP_APPLICATION})`);
      } catch (err) {
        if (o.withApp === 'on') throw err;
        log.warn({ err }, 'example app not started');
        progress.note(`skipped: ${(err as Error).message}`);
      }
    }
    if (o.withApp !== 'off' && o.withPythonApp !== false) {
      const python = findPython(env);
      if (python === undefined) {
        progress.finish();
        write(`python3 not found: the demo runs without the example Python app (examples/python-app)\n`);
        log.warn({}, 'python3 not found: the example Python app is not started');
      } else {
        progress.step('starting the example Python app (WSGI, the Python agent) and its relay');
        try {
          const py = await startPythonApp(cfg, { python, log, env });
          pyApp = py;
          cleanup.push(['python app and relay', () => py.close()]);
          pyTraffic = await startAppTraffic(py.url, { log: log.child({ role: 'python-app-traffic' }) });
          const pt = pyTraffic;
          cleanup.push(['python app traffic', () => pt.stop()]);
          progress.note(`${py.url} (application ${PY_APPLICATION}, relay ${py.relayUrl})`);
        } catch (err) {
          if (o.withApp === 'on') throw err;
          log.warn({ err }, 'example Python app not started');
          progress.note(`skipped: ${(err as Error).message}`);
        }
      }
    }

    progress.step('starting the traffic simulator');
    const start = o.start ?? defaultStart(Date.now(), o.speed, o.durationMs);
    sim = await startSimulation(cfg, {
      seed: o.seed,
      start,
      speed: o.speed,
      rate: o.rate,
      users: o.users,
      ...(o.durationMs !== undefined ? { durationMs: o.durationMs } : {}),
      log: log.child({ role: 'simulator' }),
      onEvent: (e) => {
        if (e.actor !== 'benign') roles.set(userKey(e.attack.application_id, e.attack.environment, e.attack.user.key), e.actor.replace('_', ' '));
      },
    });
    const simulation = sim;
    cleanup.push(['simulator', () => simulation.stop()]);
    progress.finish();
    const startupMs = Date.now() - t0;
    log.info({ startupMs, seed: o.seed, start }, 'demo running');
    if (!o.tty) {
      write(`ready in ${(startupMs / 1000).toFixed(1)} s: scorer ${sc.url} · seed ${o.seed} · event time from ${new Date(start).toISOString()} at ×${o.speed}\n`);
      write(`receivers: slack ${slack.url} · webhook ${webhook.url} · mail ${mail.url} · output ${shownDir}\n`);
      if (appHandle || pyApp) write(`apps:${appHandle ? ` express ${appHandle.url} (${APP_APPLICATION})` : ''}${pyApp ? ` · python ${pyApp.url} (${PY_APPLICATION}, relay ${pyApp.relayUrl})` : ''}\n`);
      if (appHandle) {
        const cli = `risk-hub -c ${join(shownDir, CLI_CONFIG_FILE)} decisions`;
        write(`decisions: ${cli} list --app ${APP_APPLICATION} · lift: ${cli} remove --app ${APP_APPLICATION} --user ${PERSISTENT_ATTACKER.user} --reason "demo: lifted by hand"\n`);
      }
    }

    // -- 6. the live view --------------------------------------------------------------------------------
    let phase: Snapshot['phase'] = 'running';
    let last = { t: Date.now(), produced: 0, scored: 0 };
    let rates = { produced: 0, scored: 0 };
    const produced = () => simulation.stats().sent + (appHandle ? appHandle.agent.stats().sent : 0) + (pyApp ? pyApp.stats().sent : 0);
    const scored = async () => (await counterTotal(metrics.scorerEvents)) - base.events + (await counterTotal(metrics.scorerDeadLettered)) - base.dlq;
    const snapshot = async (): Promise<Snapshot> => {
      const now = Date.now();
      const p = produced();
      const s = await scored();
      if (now - last.t >= 900) {
        rates = { produced: ((p - last.produced) * 1000) / (now - last.t), scored: ((s - last.scored) * 1000) / (now - last.t) };
        last = { t: now, produced: p, scored: s };
      }
      const ss = simulation.stats();
      const received = { slack: slack.stats.received, email: mail.stats.received, webhook: webhook.stats.received };
      return {
        runId,
        elapsedMs: now - ss.startedAt,
        phase,
        produced: p,
        producedPerSec: rates.produced,
        scoredPerSec: rates.scored,
        eventTime: ss.eventTime,
        speed: o.speed,
        caughtUp: ss.caughtUp,
        usersTracked: w.users.size,
        top: w.top(8).map((u) => ({
          ...u,
          role: roles.get(u.key) ?? appRole(u.application, u.user) ?? 'benign',
          decision: w.decisionFor(u.key, now),
        })),
        threshold: cfg.scoring.threshold,
        tierBounds: [...cfg.scoring.tiers],
        alerts: w.alerts,
        deliveries: {
          slack: { ...w.deliveries.slack, received: received.slack },
          email: { ...w.deliveries.email, received: received.email },
          webhook: { ...w.deliveries.webhook, received: received.webhook },
        },
        scorerUrl: sc.url,
        outDir: shownDir,
        app: appHandle
          ? { url: appHandle.url, requests: appTraffic?.requests ?? 0, detections: appHandle.agent.stats().detections, refused: refusedTotal(appTraffic) }
          : undefined,
        pythonApp: pyApp
          ? { url: pyApp.url, requests: pyTraffic?.requests ?? 0, detections: pyApp.stats().detections, refused: refusedTotal(pyTraffic) }
          : undefined,
        decisions: w.decisions,
        cliConfig: join(shownDir, CLI_CONFIG_FILE),
      };
    };

    const draw = async () => {
      const snap = await snapshot();
      if (o.tty) {
        const width = process.stdout.columns || 100;
        const lines = renderDashboard(snap, st, width).slice(0, Math.max(5, (process.stdout.rows || 50) - 1));
        write('\x1b[H' + lines.map((l) => fit(l, width - 1) + '\x1b[K').join('\n') + '\n\x1b[J');
      } else {
        write(renderLine(snap) + '\n');
      }
    };
    if (o.tty) write('\x1b[?1049h\x1b[?25l'); // alternate screen, hidden cursor
    let restored = false;
    const restoreScreen = () => {
      if (o.tty && !restored) {
        restored = true;
        write('\x1b[?25h\x1b[?1049l');
      }
    };
    cleanup.push(['screen', restoreScreen]);
    let drawing = Promise.resolve();
    const ticker = setInterval(() => void (drawing = drawing.then(draw).catch((err: unknown) => log.warn({ err }, 'view failed'))), o.tty ? 500 : (o.intervalMs ?? 5000));
    cleanup.push(['ticker', () => clearInterval(ticker)]);
    if (o.tty) await draw();

    let trafficError: unknown;
    await Promise.race([
      simulation.done.catch((err: unknown) => {
        trafficError = err;
        log.error({ err }, 'the simulator stopped');
      }),
      new Promise<void>((r) => (o.stop.aborted ? r() : o.stop.addEventListener('abort', () => r(), { once: true }))),
    ]);
    const runMs = Date.now() - simulation.stats().startedAt;

    // -- 7. stop the traffic, let the last alerts through (bounded), stop ---------------------------------
    phase = 'draining';
    await sim.stop();
    await appTraffic?.stop();
    await appHandle?.close();
    await pyTraffic?.stop();
    await pyApp?.close(); // the Python agent flushes to the relay, the relay to Kafka
    const drainMs = o.durationMs !== undefined ? 60_000 : 20_000;
    const drainDeadline = Date.now() + drainMs;
    const hurried = () => o.hurry?.aborted === true;
    let stable = 0;
    let lastAlerts = -1;
    while (Date.now() < drainDeadline && !hurried()) {
      const caughtUp = (await scored()) >= produced();
      const settled = w.pending(CHANNELS).length === 0 && w.alerts.length === lastAlerts;
      lastAlerts = w.alerts.length;
      stable = caughtUp && settled ? stable + 1 : 0;
      // Caught up, every alert delivered or dead-lettered, and nothing new for a second.
      if (stable >= 5) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (!o.tty) await draw();
    phase = 'stopping';
    clearInterval(ticker);
    await drawing;
    if (o.tty) await draw();
    restoreScreen();

    const final = await snapshot();
    const scoredTotal = await scored();
    const simStats = simulation.stats();
    const expected = attackersUntil({ start, attackers: true }, simStats.eventTime);
    const summary = buildSummary({
      runId,
      startupMs,
      runMs,
      produced: final.produced,
      scored: scoredTotal,
      watcher: w,
      roles,
      expected,
      receivers: { slack, mail, webhook },
      app: appTraffic ? { requests: appTraffic.requests, refused: refusedByKey(appTraffic, APP_APPLICATION, APP_ENVIRONMENT) } : undefined,
      pythonApp: pyTraffic ? { requests: pyTraffic.requests, refused: refusedByKey(pyTraffic, PY_APPLICATION, PY_ENVIRONMENT) } : undefined,
      outDir: shownDir,
      stack: stackInfo,
    });
    await runCleanup();
    summary.stackStopped = stackStopped;
    writeFileSync(join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    write(formatSummary(summary, st, { scorerUrl: sc.url, keepTopics: o.keepTopics, topicsPrefix: names.applicationId, changelog: changelogTopic(cfg) }));
    // The traffic stopped by itself because of an error (e.g. the broker went away): say so, and fail.
    if (trafficError) throw trafficError;
    return summary;
  } catch (err) {
    progress.fail();
    await runCleanup();
    throw err;
  }
}

interface ExampleAppHandle {
  url: string;
  agent: { stats(): { sent: number; detections: number } };
  close(): Promise<void>;
}

/** Starts examples/express-app with an agent producing to this run's attacks topic. */
async function startExampleApp(cfg: Config, log: Logger, cleanup: Array<[string, () => Promise<unknown> | unknown]>): Promise<ExampleAppHandle> {
  // the example first: outside a source checkout its clear error is the one to see
  const { startExampleApp: start } = await importExample<ExampleServerModule>('server.ts');
  const { createAgent } = await import('@risk-hub/agent');
  const agentLog = log.child({ role: 'agent' });
  const agent = createAgent({
    application: APP_APPLICATION,
    environment: APP_ENVIRONMENT,
    brokers: [...cfg.kafka.brokers],
    schemaRegistry: cfg.schemaRegistry.url,
    topic: cfg.topics.attacks,
    decisions: { topic: cfg.topics.decisions }, // this run's decisions: the example app enforces them
    logger: { warn: (obj, msg) => agentLog.warn(obj, msg), info: (obj, msg) => agentLog.info(obj, msg) },
  });
  let closed = false;
  const closeAgent = async () => {
    if (closed) return;
    closed = true;
    await agent.close({ timeoutMs: 5000 });
  };
  cleanup.push(['agent', closeAgent]);
  const app = await start({ port: 0, agent });
  let appClosed = false;
  const closeApp = async () => {
    if (appClosed) return;
    appClosed = true;
    await app.close();
    await closeAgent();
  };
  cleanup.push(['example app', closeApp]);
  return { url: app.url, agent, close: closeApp };
}

interface RunState {
  runId: string;
  pid: number;
  topics: string[];
  brokers: string;
  cleaned: boolean;
  /** --keep-topics: a later run leaves them alone. */
  keep: boolean;
}

function readPrevious(dir: string): RunState | undefined {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunState;
  } catch {
    return undefined;
  }
}

/** The example app's 403 answers in all. */
function refusedTotal(t: AppTraffic | undefined): number {
  return t ? Object.values(t.refused).reduce((a, b) => a + b, 0) : 0;
}

/** An example app's 403 answers by full user key (application/environment/user). */
function refusedByKey(t: AppTraffic, application: string, environment: string): Record<string, number> {
  return Object.fromEntries(Object.entries(t.refused).map(([user, n]) => [userKey(application, environment, user), n]));
}

/** The role of an example app's user (the Python app's marked "py"), or undefined for other users. */
function appRole(application: string, user: string): string | undefined {
  if (application === APP_APPLICATION) return APP_ROLES[user] ?? 'app';
  if (application === PY_APPLICATION) return (APP_ROLES[user] ?? 'app').replace(/^app/, 'py app');
  return undefined;
}

/** The user key belongs to one of the example apps (their users are not the simulator's). */
function isAppUser(key: string): boolean {
  return key.startsWith(`${APP_APPLICATION}/`) || key.startsWith(`${PY_APPLICATION}/`);
}

/**
 * What the CLI needs to reach this run (broker, registry, topics, scorer), so that the printed hints
 * (`risk-hub -c .risk-hub/demo/cli.yaml decisions list --app demo-shop`) work while the demo runs. No
 * secrets: only names and addresses. A --config given to the demo (TLS, SASL) is not carried over.
 */
function writeCliConfig(file: string, cfg: Config, runId: string): void {
  const cli = {
    applicationId: cfg.applicationId,
    kafka: { brokers: [...cfg.kafka.brokers] },
    schemaRegistry: { url: cfg.schemaRegistry.url },
    topics: { ...cfg.topics },
    scorer: { advertisedUrl: cfg.scorer.advertisedUrl },
  };
  writeFileSync(file, `# risk-hub demo run ${runId}: valid while it runs (its topics are deleted at the end unless --keep-topics)\n${toYaml(cli)}`);
}

function writeRunState(dir: string, s: RunState): void {
  writeFileSync(join(dir, STATE_FILE), JSON.stringify(s, null, 2) + '\n');
}

function buildSummary(p: {
  runId: string;
  startupMs: number;
  runMs: number;
  produced: number;
  scored: number;
  watcher: DemoWatcher;
  roles: Map<string, string>;
  expected: AttackerIdentity[];
  receivers: { slack: Receiver; mail: Receiver; webhook: Receiver };
  app: DemoSummary['app'];
  pythonApp: DemoSummary['pythonApp'];
  outDir: string;
  stack: DemoSummary['stack'];
}): DemoSummary {
  const w = p.watcher;
  const alerted = new Set(w.alerts.map((a) => userKey(a.alert.application_id, a.alert.environment, a.alert.user.key)));
  const attackerKeys = new Set(p.roles.keys());
  const benignAlerted = [...alerted].filter((k) => !attackerKeys.has(k) && !isAppUser(k));
  // Attackers whose attack began during the run (wave starts in event time) and the example app's.
  const attackers = new Map<string, string>();
  for (const a of p.expected) if (attackerKeys.has(userKey(a.application, a.environment, a.user))) attackers.set(userKey(a.application, a.environment, a.user), a.role.replace('_', ' '));
  for (const k of alerted) {
    const [application = '', , user = ''] = k.split('/');
    const role = appRole(application, user);
    if (role !== undefined) attackers.set(k, role);
  }
  return {
    runId: p.runId,
    startupMs: p.startupMs,
    runMs: p.runMs,
    produced: p.produced,
    scored: p.scored,
    users: w.users.size,
    alerts: w.alerts.map((a) => ({
      user: userKey(a.alert.application_id, a.alert.environment, a.alert.user.key),
      tier: a.alert.tier,
      increase: a.alert.increase_24h,
      alertId: a.alert.alert_id,
      deliveries: { ...a.deliveries },
    })),
    attackers: [...attackers].map(([user, role]) => ({ user, role, alerted: alerted.has(user) })),
    benignAlerted,
    deliveries: Object.fromEntries(
      CHANNELS.map((c) => [c, { ...w.deliveries[c], received: (c === 'email' ? p.receivers.mail : p.receivers[c]).stats.received }]),
    ) as DemoSummary['deliveries'],
    decisions: w.decisions.map((d) => ({
      user: userKey(d.application_id, d.environment, d.user.key),
      action: d.action,
      source: d.source,
      tier: d.tier,
      offense: d.offense,
      durationMs: d.until - d.made_at,
      madeAt: d.made_at,
      until: d.until,
      simulated: d.simulated,
      decisionId: d.decision_id,
      alertId: d.alert_id,
    })),
    ...(p.app ? { app: p.app } : {}),
    ...(p.pythonApp ? { pythonApp: p.pythonApp } : {}),
    outDir: p.outDir,
    stack: p.stack,
    stackStopped: false,
  };
}

export function formatSummary(s: DemoSummary, st: typeof COLOR, o: { scorerUrl: string; keepTopics: boolean; topicsPrefix: string; changelog: string }): string {
  const out: string[] = [];
  out.push('');
  out.push(`${st.bold('Risk Hub demo')} run ${s.runId}: ran ${clock(s.runMs)} after starting in ${(s.startupMs / 1000).toFixed(1)} s`);
  out.push(`  events      ${s.produced.toLocaleString('en-US')} produced, ${s.scored.toLocaleString('en-US')} scored, ${s.users} users tracked`);
  const byUser = new Map<string, { tier: number; increase: number }>();
  for (const a of s.alerts) {
    const prev = byUser.get(a.user);
    if (!prev || a.tier > prev.tier) byUser.set(a.user, { tier: a.tier, increase: a.increase });
  }
  out.push(`  alerts      ${s.alerts.length} fired for ${byUser.size} users${byUser.size ? ':' : ''}`);
  for (const [user, v] of byUser) {
    const role = s.attackers.find((a) => a.user === user)?.role ?? 'benign?!';
    out.push(`                ${user} (${role}): up to tier ${v.tier}, +${v.increase} points in 24 h`);
  }
  const missed = s.attackers.filter((a) => !a.alerted);
  if (missed.length) out.push(st.yellow(`  not alerted  ${missed.map((a) => `${a.user} (${a.role}: the run ended before it crossed)`).join(', ')}`));
  out.push(`  benign      ${s.benignAlerted.length === 0 ? st.green('no benign user was alerted') : st.red(`ALERTED: ${s.benignAlerted.join(', ')}`)}`);
  const d = s.deliveries;
  const chan = (c: string) => {
    const x = d[c]!;
    return `${c} ${x.delivered} delivered${x.dead_lettered ? st.red(`, ${x.dead_lettered} dead-lettered`) : ''}${x.retrying ? st.yellow(`, ${x.retrying} still retrying`) : ''}`;
  };
  out.push(`  deliveries  ${['slack', 'email', 'webhook'].map(chan).join(' · ')}`);
  out.push(...formatDecisions(s, st));
  out.push('');
  out.push(st.bold('Delivered messages'));
  out.push(`  Slack payloads  ${s.outDir}/slack/*.json     (${d.slack!.received})`);
  out.push(`  e-mails         ${s.outDir}/mail/*.eml       (${d.email!.received}, open them with any mail client)`);
  out.push(`  webhook bodies  ${s.outDir}/webhook/*.json   (${d.webhook!.received}, Standard Webhooks signatures verified on receipt)`);
  out.push(`  alerts          ${s.outDir}/alerts.jsonl    log ${s.outDir}/demo.log    summary ${s.outDir}/summary.json`);
  out.push(`  decisions       ${s.outDir}/decisions.jsonl (${s.decisions.length}, every record the scorer published on the decisions topic)`);
  out.push('');
  if (o.keepTopics) {
    out.push(`Topics kept: ${o.topicsPrefix}-* (state in ${s.outDir}/state).`);
    out.push(`  risk-hub -c ${s.outDir}/${CLI_CONFIG_FILE} decisions list --app ${APP_APPLICATION} --all   (the run's decisions, from its topic)`);
  }
  if (s.stack === 'started') out.push(s.stackStopped ? 'The local stack this demo started was stopped (the next run starts it again from the cache).' : 'The local stack was left running: `risk-hub local down` stops it.');
  else if (s.stack === 'reused') out.push('The local stack was already running and was left running (`risk-hub local down` stops it).');
  out.push('');
  return out.join('\n');
}

/** Summary lines: the decisions made (each user's strongest, bounded) and the example app's 403 answers. */
function formatDecisions(s: DemoSummary, st: typeof COLOR): string[] {
  const out: string[] = [];
  const made = s.decisions.filter((d) => d.action !== 'LIFT');
  out.push(`  decisions   ${decisionCounts(s.decisions)}${made.length ? ':' : ''}`);
  const rank: Record<string, number> = { MONITOR: 1, CHALLENGE: 2, BLOCK: 3 };
  const byUser = new Map<string, DemoSummary['decisions'][number]>();
  for (const d of made) {
    const prev = byUser.get(d.user);
    if (!prev || (rank[d.action] ?? 0) >= (rank[prev.action] ?? 0)) byUser.set(d.user, d);
  }
  // The user's latest record is a LIFT: a person lifted the decision (`risk-hub decisions remove`).
  const lifted = new Set<string>();
  for (const d of s.decisions) {
    if (d.action === 'LIFT') lifted.add(d.user);
    else lifted.delete(d.user);
  }
  const shown = [...byUser.values()].slice(0, 10);
  for (const d of shown) {
    const what = `${d.action.toLowerCase()} ${formatDuration(d.durationMs)}`;
    const refused = s.app?.refused[d.user] ?? s.pythonApp?.refused[d.user];
    out.push(
      `                ${d.user}: ${d.action === 'BLOCK' ? st.red(what) : what} (${d.source === 'POLICY' ? `tier ${d.tier ?? '?'}` : 'by hand'}${d.offense ? `, offense ${d.offense}` : ''})` +
        `${d.simulated ? ' (simulated: not enforced)' : ''}${refused ? `, then ${st.red(`refused ${refused} request${refused === 1 ? '' : 's'} (403)`)} by the app` : ''}` +
        `${lifted.has(d.user) ? ', lifted by hand' : ''}`,
    );
  }
  if (byUser.size > shown.length) out.push(st.dim(`                … and ${byUser.size - shown.length} more users (decisions.jsonl)`));
  if (s.app) {
    const total = Object.values(s.app.refused).reduce((a, b) => a + b, 0);
    out.push(`  demo app    ${s.app.requests.toLocaleString('en-US')} requests, ${total ? st.red(`${total} refused (403) by its agent's decisions`) : 'none refused (403)'}`);
  }
  if (s.pythonApp) {
    const total = Object.values(s.pythonApp.refused).reduce((a, b) => a + b, 0);
    out.push(`  python app  ${s.pythonApp.requests.toLocaleString('en-US')} requests, ${total ? st.red(`${total} refused (403) by the Python agent's decisions`) : 'none refused (403)'}`);
  }
  return out;
}
