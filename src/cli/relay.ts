import type { Command } from 'commander';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { configFrom } from './context.ts';
import { untilSignal } from './scorer.ts';

/** Flushing the agents' queued events to Kafka on SIGTERM takes at most this long (ms). */
const RELAY_SHUTDOWN_MS = 5000;

export function register(program: Command): void {
  program
    .command('relay')
    .description('run the HTTP relay of the Python, Java, Ruby and PHP agents (docs/relay-protocol.md): the Node agent\'s engine, login tracker and producer for them')
    .option('--host <host>', 'listen address (default relay.host, 127.0.0.1)')
    .option('--port <port>', 'listen port (default relay.port, 8787)')
    .action(async (opts: { host?: string; port?: string }, cmd: Command) => {
      const relay: Record<string, unknown> = {};
      if (opts.host !== undefined) relay.host = opts.host;
      if (opts.port !== undefined) {
        const port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port: expected 0-65535, got "${opts.port}"`);
        relay.port = port;
      }
      const config = configFrom(cmd, Object.keys(relay).length ? { relay } : undefined);
      const log = createLogger({ level: config.log.level, redactUsers: config.log.redactUsers, name: 'relay' });
      if (Object.keys(config.relay.applications).length === 0) log.warn({}, 'relay.applications is empty: every request will be refused (401)');
      const { startRelay } = await loadRelay();
      const handle = await startRelay({ config, log });
      await untilSignal(log, RELAY_SHUTDOWN_MS + 2000, () => handle.close(RELAY_SHUTDOWN_MS));
    });
}

/**
 * The relay runs the Node agent (`@risk-hub/agent`) for the other languages. It is loaded only here, so
 * that an installed server without the agent package runs every other command; `relay` then says what
 * to install in one line.
 */
async function loadRelay(): Promise<typeof import('../relay/server.ts')> {
  try {
    return await import('../relay/server.ts');
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message?.includes('@risk-hub/agent')) {
      throw new ConfigError('risk-hub relay runs the Node agent for the other languages: install it beside the server (npm install @risk-hub/agent, the same version)');
    }
    throw err;
  }
}

