import type { Command } from 'commander';
import { stringify } from 'yaml';
import { redactConfig } from '../config/redact.ts';
import { configFrom } from './context.ts';

export function register(program: Command): void {
  const config = program.command('config').description('configuration');
  config
    .command('print')
    .description('print the effective configuration (defaults, file, environment) with secrets redacted')
    .action((_opts: unknown, cmd: Command) => {
      process.stdout.write(stringify(redactConfig(configFrom(cmd))));
    });
}
