import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { DemoInterrupted, runDemo } from '../demo/demo.ts';
import { parseStart } from '../simulate/clock.ts';
import { nonNegativeInt, positiveNumber, randomSeed } from './simulate.ts';

interface DemoOpts {
  duration?: number;
  tty: boolean;
  speed: number;
  seed?: string;
  rate: number;
  users: number;
  start?: string;
  withApp?: boolean;
  pythonApp: boolean;
  out: string;
  keepStack?: boolean;
  keepTopics?: boolean;
  interval: number;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run everything locally: broker and registry, scorer, notifiers, loopback Slack/webhook/mail receivers, simulated traffic, a live view')
    .option('--duration <seconds>', 'stop by itself after this many seconds of traffic (default: run until Ctrl-C)', positiveNumber('--duration'))
    .option('--no-tty', 'print one plain line every --interval seconds instead of the live view (the default when stdout is not a terminal)')
    .option('--speed <factor>', 'simulated event time runs this many times faster than the wall clock (1440 = a day per minute)', positiveNumber('--speed'), 1440)
    .option('--seed <seed>', 'seed of the traffic simulator (default: random, printed in the summary)')
    .option('--rate <n>', 'benign events per second (attackers come on top)', positiveNumber('--rate'), 40)
    .option('--users <n>', 'benign users', nonNegativeInt('--users'), 400)
    .option('--start <time>', 'event time of the first simulated event (default: so that the run ends at the present; a week back when unbounded)')
    .option('--with-app', 'also drive the example Express app (with the Risk Hub agent) with real HTTP attacks (default: on when it loads)')
    .option('--no-with-app', 'simulated traffic only')
    .option('--no-python-app', 'no example Python app beside the Express one (it runs when python3 is found)')
    .option('--out <dir>', 'where delivered messages, alerts, logs and state go', '.risk-hub/demo')
    .option('--keep-stack', 'leave a local stack this demo started running afterwards (the next demo then starts in seconds)')
    .option('--keep-topics', "keep this run's topics and state afterwards")
    .option('--interval <seconds>', 'seconds between two lines with --no-tty', positiveNumber('--interval'), 5)
    .addHelpText(
      'after',
      `
The first run resolves Kafka and Apicurio Registry from Maven Central (~200 MB, cached); later runs
start from the cache. With KAFKA_BROKERS and SCHEMA_REGISTRY_URL set, the demo uses that cluster
instead (it creates and, at the end, deletes topics named risk-hub-demo-<run>-*).

Ctrl-C stops the traffic, waits (at most 20 s) for the last alerts to be delivered, stops everything
and prints where the messages are; a second Ctrl-C skips the wait.

The webhook receiver verifies signatures with a random secret per run, or DEMO_WEBHOOK_SECRET
(whsec_<base64>) when set, so the stored bodies can be verified again afterwards.`,
    )
    .action(async (opts: DemoOpts, cmd: Command) => {
      const globals = cmd.optsWithGlobals<{ config?: string }>();
      const load = (overrides: Record<string, unknown>): Config => loadConfig({ file: globals.config, overrides }) as Config;
      load({}); // an invalid configuration stops the demo before anything starts
      const tty = opts.tty && Boolean(process.stdout.isTTY);
      const color = tty && !process.env.NO_COLOR;
      const stop = new AbortController();
      const hurry = new AbortController();
      let signals = 0;
      const onSignal = () => {
        signals++;
        if (signals === 1) stop.abort();
        else if (signals === 2) hurry.abort();
        else {
          if (tty) process.stdout.write('\x1b[?25h\x1b[?1049l');
          process.exit(130);
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        const summary = await runDemo({
          loadConfig: load,
          outDir: opts.out,
          ...(opts.duration !== undefined ? { durationMs: opts.duration * 1000 } : {}),
          tty,
          color,
          intervalMs: opts.interval * 1000,
          speed: opts.speed,
          rate: opts.rate,
          users: opts.users,
          seed: opts.seed ?? randomSeed(),
          ...(opts.start !== undefined ? { start: parseStart(opts.start, Date.now()) } : {}),
          withApp: opts.withApp === undefined ? 'auto' : opts.withApp ? 'on' : 'off',
          withPythonApp: opts.pythonApp,
          keepStack: Boolean(opts.keepStack),
          keepTopics: Boolean(opts.keepTopics),
          stop: stop.signal,
          hurry: hurry.signal,
        });
        if (summary.benignAlerted.length) process.exitCode = 4;
      } catch (err) {
        if (err instanceof DemoInterrupted) {
          console.error('risk-hub: demo interrupted during start-up; everything it started was stopped');
          process.exitCode = 130;
          return;
        }
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
