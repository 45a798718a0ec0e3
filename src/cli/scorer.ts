import type { Command } from 'commander';
import { createLogger } from '../log.ts';
import { startScorer } from '../scorer/scorer.ts';
import { configFrom } from './context.ts';

export function register(program: Command): void {
  program
    .command('scorer')
    .description('run the scorer: consume attacks, keep 24-hour risk windows, publish alerts exactly once')
    .option('--port <port>', 'HTTP port for /metrics, /healthz, /readyz and the user-risk query')
    .action(async (opts: { port?: string }, cmd: Command) => {
      const config = configFrom(cmd, opts.port ? { http: { port: Number(opts.port) } } : undefined);
      const log = createLogger({ level: config.log.level, redactUsers: config.log.redactUsers, name: 'scorer' });
      const scorer = await startScorer(config, { log });
      log.info({ url: scorer.url, stateDir: config.scorer.stateDir }, 'scorer started');
      await untilSignal(log, config.scorer.shutdownTimeoutMs, () => scorer.stop());
    });
}

/** Waits for SIGTERM/SIGINT, then stops within `timeoutMs` (then exits anyway). */
export function untilSignal(log: { info: (o: object, m: string) => void; error: (o: object, m: string) => void }, timeoutMs: number, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal, timeoutMs }, 'shutting down');
      const timer = setTimeout(() => {
        log.error({ timeoutMs }, 'shutdown took too long; exiting');
        process.exit(1);
      }, timeoutMs);
      timer.unref();
      stop().then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
