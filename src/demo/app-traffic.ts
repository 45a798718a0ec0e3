// Real HTTP traffic against the example Express application (examples/express-app), whose Risk Hub
// agent detects attacks in the requests (libddwaf) and reports them to Kafka with the signed-in user.
// The requests come from the example's own traffic driver (examples/express-app/attack.ts):
//   - benign visitors (bob signed in, an anonymous visitor) browse, over and over;
//   - once per run, a few seconds in: alice's account probes the app (SQL injection, XSS, path
//     traversal, command injection, SSRF), an anonymous scanner passes by, and carol's account is
//     credential-stuffed (10 wrong passwords: auth_failure, then credential_stuffing MEDIUM and HIGH).
// These events carry wall-clock time (they are real requests), unlike the simulator's fast clock.

import type { Logger } from '../log.ts';
import { importExample, type ExampleTrafficModule } from './examples.ts';

export const APP_APPLICATION = 'demo-shop';
export const APP_ENVIRONMENT = 'production';
/** What each user of the example app does in the demo, by user key. */
export const APP_ROLES: Record<string, string> = {
  'u-1001': 'app: hijacked',
  'u-1002': 'app: benign',
  'u-1003': 'app: cred. stuffed',
  'anon:127.0.0.1': 'app: scanner',
};

export interface AppTraffic {
  readonly requests: number;
  readonly errors: number;
  stop(): Promise<void>;
}

export async function startAppTraffic(baseUrl: string, opts: { log: Logger; attackDelayMs?: number; paceMs?: number }): Promise<AppTraffic> {
  const { driveTraffic } = await importExample<ExampleTrafficModule>('attack.ts');
  const abort = new AbortController();
  const signal = abort.signal;
  let requests = 0;
  let errors = 0;
  // Each pause removes its abort listener when it ends: the loop pauses every second for the demo's
  // whole run, and the listeners piled up (Node.js warned of a leak after ten).
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const onAbort = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  const count = (r: { requests: number; errors: number }) => {
    requests += r.requests;
    errors += r.errors;
  };

  async function visitors(): Promise<void> {
    while (!signal.aborted) {
      count(await driveTraffic({ url: baseUrl, attacks: false, delayMs: opts.paceMs ?? 400, signal }));
      await pause(1000);
    }
  }
  async function attackers(): Promise<void> {
    await pause(opts.attackDelayMs ?? 5000);
    if (signal.aborted) return;
    // Paced so the climb is visible: about 20 requests over 30 s.
    count(await driveTraffic({ url: baseUrl, benign: false, delayMs: (opts.paceMs ?? 400) * 4, signal }));
  }

  const loops = Promise.all([visitors(), attackers()]).catch((err: unknown) => opts.log.warn({ err }, 'example app traffic stopped'));
  return {
    get requests() {
      return requests;
    },
    get errors() {
      return errors;
    },
    async stop() {
      abort.abort();
      await Promise.race([loops, new Promise((r) => setTimeout(r, 6000).unref())]);
    },
  };
}
