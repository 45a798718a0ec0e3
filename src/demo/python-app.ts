// The demo's non-Node application: examples/python-app/server.py (standard library WSGI, the Python
// agent's middleware imported from packages/agent-python/src through PYTHONPATH: nothing to install),
// run as a child process beside the Express app, and the `risk-hub relay` its agent sends to, run in
// this process on loopback with a random token for this run only. The relay turns the Python agent's
// events into `attacks` records with the Node agent's engine and producer (docs/agents.md, "Why a
// relay") and serves the run's decisions, so the policy that blocks the Express app's attacker blocks
// the Python app's too. Without python3 the demo says so in one line and runs without it.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { RiskHubError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { PACKAGE_ROOT } from '../paths.ts';

/** The Python app's application id (its own, so the view tells its users from the Express app's). */
export const PY_APPLICATION = 'demo-shop-py';
export const PY_ENVIRONMENT = 'production';
/** The environment variable the relay reads this run's token from (relay.applications.*.tokenEnv). */
export const PY_TOKEN_ENV = 'RISK_HUB_DEMO_RELAY_TOKEN';
/** How long the Python app may take to print its address (python3 start-up and the agent's import: well under a second). */
const START_TIMEOUT_MS = 15_000;
/** The app's bounded flush on SIGTERM is 2 s; a little more before SIGKILL. */
const STOP_TIMEOUT_MS = 4000;

export interface PythonApp {
  url: string;
  /** The relay's address (the agent's RISK_HUB_RELAY_URL). */
  relayUrl: string;
  /** What the relay's Node agent for this app produced and found (the Python agent's events, as records). */
  stats(): { sent: number; detections: number };
  close(): Promise<void>;
}

/** `relay` overrides for the demo's configuration: loopback, a free port, this app alone. */
export function pythonRelayOverrides(): Record<string, unknown> {
  return { host: '127.0.0.1', port: 0, applications: { [PY_APPLICATION]: { tokenEnv: PY_TOKEN_ENV, environments: [PY_ENVIRONMENT] } } };
}

/** The python3 to run (PYTHON, else python3 on the PATH), or undefined when there is none. */
export function findPython(env: NodeJS.ProcessEnv): string | undefined {
  const exe = env.PYTHON || 'python3';
  const r = spawnSync(exe, ['-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 8) else 1)'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 ? exe : undefined;
}

export async function startPythonApp(cfg: Config, o: { python: string; log: Logger; env: NodeJS.ProcessEnv }): Promise<PythonApp> {
  const script = join(PACKAGE_ROOT, 'examples', 'python-app', 'server.py');
  const agentSrc = join(PACKAGE_ROOT, 'packages', 'agent-python', 'src');
  if (!existsSync(script) || !existsSync(agentSrc)) {
    throw new RiskHubError('RH_DEMO_APP', `the Python example app (${script}) ships in source checkouts only`);
  }
  const token = randomBytes(24).toString('base64url');
  // loaded here only, as `risk-hub relay` does: it needs the Node agent package
  const { startRelay } = await import('../relay/server.ts');
  const relay = await startRelay({ config: cfg, log: o.log.child({ role: 'relay' }), env: { [PY_TOKEN_ENV]: token } });
  const relayUrl = `http://127.0.0.1:${relay.port}`;
  let child: ChildProcess;
  try {
    child = spawn(o.python, ['-u', script, '--host', '127.0.0.1', '--port', '0'], {
      env: {
        ...o.env,
        PYTHONPATH: [agentSrc, o.env.PYTHONPATH].filter(Boolean).join(':'),
        PYTHONDONTWRITEBYTECODE: '1',
        RISK_HUB_APPLICATION: PY_APPLICATION,
        RISK_HUB_ENVIRONMENT: PY_ENVIRONMENT,
        RISK_HUB_RELAY_URL: relayUrl,
        RISK_HUB_RELAY_TOKEN: token,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    await relay.close(2000);
    throw err;
  }
  const pyLog = o.log.child({ role: 'python-app' });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    const text = d.toString();
    stderr = (stderr + text).slice(-2000); // the end is what explains a failed start
    for (const line of text.split('\n')) if (line.trim()) pyLog.info({ line: line.slice(0, 500) }, 'python app');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stopChild = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(killer);
  };
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new RiskHubError('RH_DEMO_APP', `the Python app did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      child.stdout!.on('data', (d: Buffer) => {
        out = (out + d.toString()).slice(-4000);
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('error', (err) => (clearTimeout(timer), reject(err)));
      void exited.then((code) => (clearTimeout(timer), reject(new RiskHubError('RH_DEMO_APP', `the Python app exited (${code}) at start-up: ${stderr.trim().split('\n').pop() ?? ''}`))));
    });
  } catch (err) {
    await stopChild();
    await relay.close(2000);
    throw err;
  }
  let closed = false;
  return {
    url,
    relayUrl,
    stats() {
      let sent = 0;
      let detections = 0;
      for (const a of relay.pool.all()) {
        const s = a.stats();
        sent += s.sent;
        detections += s.detections;
      }
      return { sent, detections };
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopChild(); // its agent flushes to the relay first (bounded), then the relay flushes to Kafka
      await relay.close(5000);
    },
  };
}
