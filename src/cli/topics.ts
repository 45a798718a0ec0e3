import type { Command } from 'commander';
import { applyTopology } from '../kafka/topology.ts';
import { configFrom } from './context.ts';

export function register(program: Command): void {
  const topics = program.command('topics').description('topics declared in topology/');
  topics
    .command('apply')
    .description('create missing topics; report drift without changing existing topics')
    .option('--dry-run', 'show what would be created, change nothing')
    .option('--strict', 'exit with status 3 when drift is found')
    .action(async (opts: { dryRun?: boolean; strict?: boolean }, cmd: Command) => {
      const config = configFrom(cmd);
      const r = await applyTopology(config, { dryRun: Boolean(opts.dryRun) });
      const verb = r.dryRun ? 'would create' : 'created';
      for (const t of r.created) console.log(`${verb}  ${t}`);
      for (const t of r.unchanged) console.log(`ok       ${t}`);
      for (const d of r.drift) console.log(`drift    ${d}`);
      if (opts.strict && r.drift.length) process.exitCode = 3;
    });
}
