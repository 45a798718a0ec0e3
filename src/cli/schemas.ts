import type { Command } from 'commander';
import { registerSchemas } from '../kafka/schemas.ts';
import { configFrom } from './context.ts';

export function register(program: Command): void {
  const schemas = program.command('schemas').description('Avro schemas in schemas/');
  schemas
    .command('register')
    .description('register every schema under <topic>-value with BACKWARD compatibility')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = configFrom(cmd);
      for (const r of await registerSchemas(config)) console.log(`registered  ${r.subject}  id ${r.id}  (${r.file})`);
    });
}
