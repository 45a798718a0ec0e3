import type { Command } from 'commander';
import { stackDown, stackStatus, stackUp } from '../local/stack.ts';

export function register(program: Command): void {
  const local = program.command('local').description('the local Kafka broker and schema registry (resolved from Maven Central)');
  local
    .command('up')
    .description('start the local stack in the background (a no-op when it already runs)')
    .action(async () => {
      const t0 = Date.now();
      const info = await stackUp({ progress: (m) => console.error(`… ${m}`) });
      const s = ((Date.now() - t0) / 1000).toFixed(1);
      console.log(info.started ? `local stack started in ${s} s` : 'local stack already running');
      console.log(`KAFKA_BROKERS=${info.brokers.join(',')}`);
      console.log(`SCHEMA_REGISTRY_URL=${info.registryUrl}`);
      console.log(`logs: ${info.runDir}`);
    });
  local
    .command('down')
    .description('stop the local stack')
    .action(async () => {
      console.log((await stackDown()) ? 'local stack stopped' : 'local stack was not running');
    });
  local
    .command('status')
    .description('show whether the local broker and registry answer')
    .action(async () => {
      const s = await stackStatus();
      console.log(`kafka     ${s.kafka ? 'up  ' : 'down'}  ${s.brokers}`);
      console.log(`registry  ${s.registry ? 'up  ' : 'down'}  ${s.registryUrl}`);
      if (!s.kafka || !s.registry) process.exitCode = 3;
    });
}
