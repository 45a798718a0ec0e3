// Real HTTP traffic against the example Express application (examples/express-app), whose Risk Hub
// agent detects attacks in the requests (libddwaf) and reports them to Kafka with the signed-in user.
// The requests come from the example's own traffic driver (examples/express-app/attack.ts):
//   - benign visitors (bob signed in, an anonymous visitor) browse, over and over;
//   - once per run, a few seconds in: alice's account probes the app (SQL injection, XSS, path
//     traversal, command injection, SSRF), an anonymous scanner passes by, and carol's account is
//     credential-stuffed (10 wrong passwords: auth_failure, then credential_stuffing MEDIUM and HIGH);
//   - alice's account keeps attacking after that first probe, until the app has refused her a few
//     times (the demo's decisions policy blocks her at tier 3, see config.ts) or a bound is reached:
//     the app's 403 answers are counted by user, so the live view and the summary show the block.
// These events carry wall-clock time (they are real requests), unlike the simulator's fast clock.
// The demo plays the same script against the example Python app (python-app.ts), which has the same
// routes and accounts under its own application id.

import type { Logger } from '../log.ts';
import { importExample, type ExampleServerModule, type ExampleTrafficModule } from './examples.ts';

export const APP_APPLICATION = 'demo-shop';
export const APP_ENVIRONMENT = 'production';
/** What each user of the example app does in the demo, by user key. */
export const APP_ROLES: Record<string, string> = {
  'u-1001': 'app: hijacked',
  'u-1002': 'app: benign',
  'u-1003': 'app: cred. stuffed',
  'anon:127.0.0.1': 'app: scanner',
};

/** The hijacked account that keeps attacking: its login (example app) and its user key. */
export const PERSISTENT_ATTACKER = { login: 'alice', user: 'u-1001' } as const;
/** After its first 403, the attacker sends this many more requests (so the refusals show), then stops. */
export const ATTACKS_AFTER_REFUSAL = 5;
/** Bound on the attacker's requests after the first probe, refused or not (about 40 s at the demo's pace). */
export const MAX_PERSISTENT_ATTACKS = 24;
/** A browser's user agent, like the example's driver: the attacks, not the client, are what is detected. */
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';

export interface AppTraffic {
  readonly requests: number;
  readonly errors: number;
  /** 403 answers of the example app, by user key (only identified users can be refused). */
  readonly refused: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

export async function startAppTraffic(baseUrl: string, opts: { log: Logger; attackDelayMs?: number; paceMs?: number }): Promise<AppTraffic> {
  const { driveTraffic, ATTACKS } = await importExample<ExampleTrafficModule>('attack.ts');
  const { DEMO_PASSWORDS } = await importExample<ExampleServerModule>('server.ts');
  const abort = new AbortController();
  const signal = abort.signal;
  let requests = 0;
  let errors = 0;
  const refused: Record<string, number> = {};
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
    const pace = (opts.paceMs ?? 400) * 4;
    // Paced so the climb is visible: about 20 requests over 30 s. alice's probe comes first in that
    // script (a sign-in and one request per attack); she keeps going once it is over, alongside the
    // scanner and carol's stuffing.
    await Promise.all([
      driveTraffic({ url: baseUrl, benign: false, delayMs: pace, signal }).then(count),
      pause(pace * (ATTACKS.length + 1)).then(() => persistentAttacker(pace)),
    ]);
  }

  /** alice's account attacks on until it has sent ATTACKS_AFTER_REFUSAL requests after its first 403, at most MAX_PERSISTENT_ATTACKS. */
  async function persistentAttacker(pace: number): Promise<void> {
    const { login, user } = PERSISTENT_ATTACKER;
    const auth = await signIn(login, DEMO_PASSWORDS[login] ?? '');
    if (!auth) return;
    let sinceRefused = -1; // requests after the first 403; -1: not refused yet
    for (let i = 0; i < MAX_PERSISTENT_ATTACKS && sinceRefused < ATTACKS_AFTER_REFUSAL && !signal.aborted; i++) {
      const status = await get(ATTACKS[i % ATTACKS.length]!.path, auth);
      if (status === 403) refused[user] = (refused[user] ?? 0) + 1;
      if (sinceRefused >= 0) sinceRefused++;
      else if (status === 403) sinceRefused = 0;
      await pause(pace);
    }
  }

  /** One request; its status, or undefined when it failed (counted as an error). */
  async function get(path: string, headers: Record<string, string>): Promise<number | undefined> {
    requests++;
    try {
      const res = await fetch(`${baseUrl}${path}`, { headers: { 'user-agent': BROWSER, ...headers }, signal: AbortSignal.any([AbortSignal.timeout(5000), signal]) });
      await res.arrayBuffer();
      return res.status;
    } catch {
      errors++;
      return undefined;
    }
  }

  async function signIn(login: string, password: string): Promise<Record<string, string> | undefined> {
    requests++;
    try {
      const res = await fetch(`${baseUrl}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': BROWSER },
        body: JSON.stringify({ username: login, password }),
        signal: AbortSignal.any([AbortSignal.timeout(5000), signal]),
      });
      const body = (await res.json()) as { token?: unknown };
      return typeof body.token === 'string' ? { authorization: `Bearer ${body.token}` } : undefined;
    } catch {
      errors++;
      return undefined;
    }
  }

  const loops = Promise.all([visitors(), attackers()]).catch((err: unknown) => opts.log.warn({ err }, 'example app traffic stopped'));
  return {
    get requests() {
      return requests;
    },
    get errors() {
      return errors;
    },
    get refused() {
      return refused;
    },
    async stop() {
      abort.abort();
      await Promise.race([loops, new Promise((r) => setTimeout(r, 6000).unref())]);
    },
  };
}
