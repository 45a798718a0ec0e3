#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { RiskHubError } from '../errors.ts';
import { COMMANDS } from './commands.ts';

// Thin by design: each command lives in its own file under src/cli/ and exports `register(program)`.
// Errors end as one line naming the problem and what to do; `--verbose` adds the stack.

const program = new Command('risk-hub')
  .description('Real-time per-user risk scoring on Apache Kafka')
  .option('-c, --config <file>', 'YAML configuration file (also RISK_HUB_CONFIG)')
  .option('--verbose', 'print stack traces on errors')
  .showHelpAfterError('(run risk-hub --help for the list of commands)')
  .exitOverride();

for (const register of COMMANDS) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const verbose = program.opts().verbose || process.argv.includes('--verbose');
  const e = err as Error;
  const code = err instanceof RiskHubError ? ` [${err.code}]` : '';
  console.error(`risk-hub: ${e.message}${code}`);
  if (verbose && e.stack) console.error(e.stack);
  process.exit(1);
}
