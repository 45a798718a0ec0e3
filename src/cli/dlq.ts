import type { Command } from 'commander';
import { CHANNELS, type Channel } from '../config/notify.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { redeliver } from '../notify/redeliver.ts';
import { configFrom } from './context.ts';

export function register(program: Command): void {
  const dlq = program.commands.find((c) => c.name() === 'dlq') ?? program.command('dlq').description('dead-letter topics');
  dlq
    .command('redeliver')
    .description("deliver a notifier channel's dead letters again, from the group's committed position (every attempt is recorded)")
    .requiredOption('--channel <channel>', 'slack, email or webhook')
    .option('--limit <n>', 'at most this many dead letters')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { channel: string; limit?: string; json?: boolean }, cmd: Command) => {
      if (!(CHANNELS as readonly string[]).includes(opts.channel)) throw new ConfigError(`--channel: unknown channel "${opts.channel}" (slack, email or webhook)`);
      const limit = opts.limit === undefined ? undefined : Number(opts.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new ConfigError('--limit: expected a positive integer');
      const config = configFrom(cmd);
      const log = createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, redactUsers: config.log.redactUsers, name: 'dlq-redeliver' });
      const ac = new AbortController();
      const onSignal = () => ac.abort();
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      const r = await redeliver(config, { channel: opts.channel as Channel, limit, log, signal: ac.signal });
      if (opts.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      console.log(`${r.topic}: ${r.pendingAtStart} pending (group ${r.groupId})`);
      for (const e of r.entries) console.log(`  ${e.partition}@${e.offset} ${e.alertId ?? '?'} → ${e.target ?? '?'}: ${e.outcome}${e.note ? ` (${e.note})` : ''}`);
      console.log(`delivered ${r.delivered}, failed again ${r.failedAgain} (back in the DLQ), already delivered ${r.duplicates}, skipped ${r.skipped}`);
      if (r.failedAgain > 0 || r.skipped > 0) process.exitCode = 3;
    });
}
