import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import { createLogger } from '../log.ts';
import { defaultStart, parseStart } from '../simulate/clock.ts';
import { attackersUntil, generateTraffic, trafficDefaults } from '../simulate/generator.ts';
import { noisePerDay, startSimulation, type SimulationStats } from '../simulate/runner.ts';
import { configFrom } from './context.ts';
import { untilSignal } from './scorer.ts';

/** commander argument parsers: a bad value is one line naming the option (exit 2). */
export function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number (got ${JSON.stringify(value)})`);
    return n;
  };
}

export function positiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive whole number (got ${JSON.stringify(value)})`);
    return n;
  };
}

export function nonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number >= 0 (got ${JSON.stringify(value)})`);
    return n;
  };
}

export function randomSeed(): string {
  return randomBytes(4).toString('hex');
}

export function formatTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/:\d\d\.\d{3}Z$/, 'Z');
}

interface SimulateOpts {
  speed: number;
  start?: string;
  rate: number;
  users: number;
  duration?: number;
  events?: number;
  seed?: string;
  attackers: boolean;
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('produce realistic attack traffic to the attacks topic: benign users with low-severity noise, waves of escalating attackers')
    .option('--speed <factor>', 'event time runs this many times faster than the wall clock (1440 = a day per minute); it never runs ahead of the present', positiveNumber('--speed'), 1440)
    .option('--start <time>', 'event time of the first event: ISO 8601, epoch ms, "now" or "now-36h" (default: so that the run ends at the present; a week back when unbounded)')
    .option('--rate <n>', 'benign events per second of wall-clock time (attackers come on top)', positiveNumber('--rate'), 40)
    .option('--users <n>', 'benign users', nonNegativeInt('--users'), 400)
    .option('--duration <seconds>', 'stop after this many seconds', positiveNumber('--duration'))
    .option('--events <n>', 'stop after this many events', positiveInt('--events'))
    .option('--seed <seed>', 'seed of the generator: the same seed and start give the same events (default: random, printed)')
    .option('--no-attackers', 'benign traffic only')
    .option('--dry-run', 'print the events as JSON lines {actor, wave, expected_points, attack} instead of producing them (no broker, no pacing; default 50 events)')
    .addHelpText(
      'after',
      `
Benign users never gather more than 70 % of the threshold in any window (they never alert); each
simulated day brings a wave of three attackers: a scanner (eve), a credential-stuffing target (trudy)
and an injection attacker (mallory), then eve-2, trudy-2, mallory-2 the next day, and so on.

Examples:
  risk-hub simulate --duration 60                 a day of traffic in a minute, ending now
  risk-hub simulate --seed 42 --start 2026-11-20T00:00:00Z --events 5000
  risk-hub simulate --dry-run --events 20 --seed 42`,
    )
    .action(async (opts: SimulateOpts, cmd: Command) => {
      const config = configFrom(cmd);
      const seed = opts.seed ?? randomSeed();
      const now = Date.now();
      const durationMs = opts.duration !== undefined ? opts.duration * 1000 : opts.events !== undefined ? (opts.events / opts.rate) * 1000 : undefined;
      const start = opts.start !== undefined ? parseStart(opts.start, now) : defaultStart(now, opts.speed, durationMs);

      if (opts.dryRun) {
        const limit = opts.events ?? 50;
        let n = 0;
        const traffic = trafficDefaults({ seed, start, scoring: config.scoring, users: opts.users, attackers: opts.attackers, noisePerDay: noisePerDay(opts.rate, opts.speed) });
        for (const e of generateTraffic(traffic)) {
          if (n++ >= limit) break;
          process.stdout.write(JSON.stringify({ actor: e.actor, wave: e.wave, expected_points: e.points, attack: e.attack }) + '\n');
        }
        return;
      }

      const log = createLogger({ level: config.log.level, redactUsers: config.log.redactUsers, name: 'simulate' });
      console.error(
        `simulating into ${config.topics.attacks} on ${config.kafka.brokers.join(',')}: seed ${seed}, start ${formatTime(start)}, ×${opts.speed}, ${opts.rate} benign events/s, ${opts.users} users` +
          ` (replay: --seed ${seed} --start ${new Date(start).toISOString()})`,
      );
      const sim = await startSimulation(config, {
        seed,
        start,
        speed: opts.speed,
        rate: opts.rate,
        users: opts.users,
        attackers: opts.attackers,
        ...(opts.duration !== undefined ? { durationMs: opts.duration * 1000 } : {}),
        ...(opts.events !== undefined ? { maxEvents: opts.events } : {}),
        log,
      });
      let last = { t: Date.now(), sent: 0 };
      const tick = setInterval(() => {
        const s = sim.stats();
        const t = Date.now();
        const rate = ((s.sent - last.sent) * 1000) / Math.max(1, t - last.t);
        last = { t, sent: s.sent };
        console.error(`sent ${s.sent} events (${rate.toFixed(0)}/s), ${s.users} users, event time ${formatTime(s.eventTime)}${s.caughtUp ? ' (caught up: real time)' : ` (×${s.speed})`}`);
      }, 5000);
      tick.unref();
      const stopped = Promise.race([sim.done, untilSignal(log, config.scorer.shutdownTimeoutMs, async () => void (await sim.stop()))]);
      await stopped;
      clearInterval(tick);
      const s: SimulationStats = await sim.stop();
      printSummary(s, { seed, start, attackers: opts.attackers });
    });
}

function printSummary(s: SimulationStats, o: { seed: string; start: number; attackers: boolean }): void {
  const end = s.eventTime;
  console.log(`produced ${s.sent} events for ${s.users} users, event time ${formatTime(s.start)} → ${formatTime(end)}`);
  console.log(`  benign ${s.byActor.benign}, scanner ${s.byActor.scanner}, credential stuffer ${s.byActor.credential_stuffer}, injection ${s.byActor.injection}`);
  const attackers = attackersUntil({ start: o.start, attackers: o.attackers }, end);
  if (attackers.length) console.log(`  attackers: ${attackers.map((a) => `${a.application}/${a.environment}/${a.user} (${a.role.replace('_', ' ')})`).join(', ')}`);
  console.log(`  replay: risk-hub simulate --seed ${o.seed} --start ${new Date(o.start).toISOString()}`);
}
