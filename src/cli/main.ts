#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { RiskHubError } from '../errors.ts';
import { PACKAGE_ROOT } from '../paths.ts';
import { COMMANDS } from './commands.ts';

// Thin by design: each command lives in its own file under src/cli/ and exports `register(program)`.
// Errors end as one line naming the problem and what to do; `--verbose` adds the stack.

const program = new Command('risk-hub')
  .description('Real-time per-user risk scoring on Apache Kafka')
  .option('-c, --config <file>', 'YAML configuration file (also RISK_HUB_CONFIG)')
  .option('--verbose', 'print stack traces on errors')
  .version(packageVersion(), '-V, --version', 'print the version of risk-hub')
  .showHelpAfterError('(run risk-hub --help for the list of commands)')
  .exitOverride();

for (const register of COMMANDS) register(program);

/** The version in package.json (beside src/ and dist/ alike). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

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
