import type { Command } from 'commander';
import { CHANNELS, type Channel } from '../config/notify.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { ShutdownError } from '../notify/retry.ts';
import { startNotifier } from '../notify/service.ts';
import { configFrom } from './context.ts';
import { untilSignal } from './scorer.ts';

export function parseChannels(value: string): Channel[] | 'all' {
  if (value === 'all') return 'all';
  const list = value.split(',').map((s) => s.trim());
  for (const c of list) if (!(CHANNELS as readonly string[]).includes(c)) throw new ConfigError(`--channel: unknown channel "${c}" (slack, email, webhook or all)`);
  return list as Channel[];
}

export function register(program: Command): void {
  program
    .command('notifier')
    .description('run notifier consumer groups on risk-alerts: Slack, e-mail, signed webhooks (one group per channel)')
    .option('--channel <channel>', 'slack, email, webhook, a comma-separated list, or all (every enabled channel)', 'all')
    .option('--port <port>', 'HTTP port for /metrics, /healthz, /readyz')
    .action(async (opts: { channel: string; port?: string }, cmd: Command) => {
      const config = configFrom(cmd, opts.port ? { http: { port: Number(opts.port) } } : undefined);
      const log = createLogger({ level: config.log.level, redactUsers: config.log.redactUsers, name: 'notifier' });
      // Kafka may be down at start: the notifier then waits (live, not ready) for as long as it takes,
      // and SIGTERM during that wait ends it cleanly.
      const starting = new AbortController();
      const onSignal = (signal: string) => {
        log.info({ signal }, 'shutting down while starting');
        starting.abort(new ShutdownError());
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      let notifier;
      try {
        notifier = await startNotifier(config, { channels: parseChannels(opts.channel), log, signal: starting.signal });
      } catch (err) {
        if (starting.signal.aborted) return;
        throw err;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      const running = notifier;
      log.info({ channels: running.channels, port: running.http?.port }, 'notifier running');
      await untilSignal(log, config.scorer.shutdownTimeoutMs, () => running.stop());
    });
}
