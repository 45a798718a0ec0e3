import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { parseSampleAlert, previewAlert } from '../notify/preview.ts';
import { configFrom } from './context.ts';

export function register(program: Command): void {
  const config = program.commands.find((c) => c.name() === 'config') ?? program.command('config').description('configuration');
  config
    .command('test')
    .description('show where an alert would be notified and each rendered message; sends nothing')
    .requiredOption('--alert <file>', 'a RiskAlert as JSON (e.g. test/notify/fixtures/alert.json)')
    .option('--json', 'print the result as JSON')
    .action((opts: { alert: string; json?: boolean }, cmd: Command) => {
      const cfg = configFrom(cmd);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(opts.alert, 'utf8'));
      } catch (err) {
        throw new ConfigError(`${opts.alert}: ${(err as Error).message}`, { cause: err });
      }
      const alert = parseSampleAlert(raw, opts.alert);
      const preview = previewAlert(cfg, alert);
      if (opts.json) {
        process.stdout.write(JSON.stringify(preview, null, 2) + '\n');
        return;
      }
      console.log(`alert ${alert.alert_id}: ${alert.application_id}/${alert.environment}, user ${alert.user.key}, tier ${alert.tier}`);
      for (const c of preview) {
        console.log(`\n== ${c.channel} (${c.enabled ? 'enabled' : 'disabled'})`);
        if (c.dropped) console.log(`   not sent: ${c.dropped}`);
        if (!c.routes.length && !c.dropped) console.log('   no target matches');
        for (const r of c.routes) {
          console.log(`   → ${r.target}: ${r.destination}\n     because ${r.reason}`);
          if (r.egress) console.log(`     WARNING: ${r.egress}`);
        }
        if (c.message) console.log(indent(JSON.stringify(c.message, null, 2)));
      }
    });
}

function indent(s: string): string {
  return s.split('\n').map((l) => `   ${l}`).join('\n');
}
