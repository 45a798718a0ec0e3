import type { Command } from 'commander';
import { CHANNELS, type Channel } from '../config/notify.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../log.ts';
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
      const notifier = await startNotifier(config, { channels: parseChannels(opts.channel), log });
      log.info({ channels: notifier.channels, port: notifier.http?.port }, 'notifier running');
      await untilSignal(log, config.scorer.shutdownTimeoutMs, () => notifier.stop());
    });
}
