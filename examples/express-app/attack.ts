// Traffic driver for the example app: benign visitors plus attackers, with real HTTP requests, so that
// the agent detects attacks in real requests (used by `risk-hub demo` and by hand).
//
//   node --import tsx examples/express-app/attack.ts --url http://127.0.0.1:3000 [--rounds 3] [--delay-ms 50]
//
// Bounded: `rounds` rounds of a fixed script, each request with a timeout. Returns what it sent.

import { pathToFileURL } from 'node:url';
import { DEMO_PASSWORDS } from './server.ts';

export interface DriveOptions {
  /** Base URL of the example app. */
  url: string;
  /** Rounds of the script (default 1). */
  rounds?: number;
  /** Pause between requests (default 0). */
  delayMs?: number;
  /** Per-request timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Which parts to play (default all). */
  benign?: boolean;
  attacks?: boolean;
  signal?: AbortSignal;
}

export interface DriveResult {
  requests: number;
  benign: number;
  attacks: number;
  failedLogins: number;
  errors: number;
  /** Expected detections by attacker login (anonymous attackers under "anonymous"). */
  expected: Record<string, string[]>;
}

const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';

/** The attacks each signed-in attacker tries (path, expected attack type). */
export const ATTACKS: Array<{ path: string; type: string }> = [
  { path: `/search?q=${encodeURIComponent("1' OR '1'='1")}`, type: 'sql_injection' },
  { path: `/search?q=${encodeURIComponent("' UNION SELECT username, password FROM users--")}`, type: 'sql_injection' },
  { path: `/search?q=${encodeURIComponent('<script>alert(document.cookie)</script>')}`, type: 'xss' },
  { path: `/files?name=${encodeURIComponent('../../etc/passwd')}`, type: 'path_traversal' },
  { path: `/files?name=${encodeURIComponent('report.pdf; cat /etc/shadow')}`, type: 'command_injection' },
  { path: `/search?q=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`, type: 'ssrf' },
];

export async function driveTraffic(opts: DriveOptions): Promise<DriveResult> {
  const rounds = Math.max(1, Math.min(opts.rounds ?? 1, 1000));
  const base = opts.url.replace(/\/+$/, '');
  const result: DriveResult = { requests: 0, benign: 0, attacks: 0, failedLogins: 0, errors: 0, expected: {} };
  const pause = (): Promise<void> => (opts.delayMs ? new Promise((r) => setTimeout(r, opts.delayMs)) : Promise.resolve());
  const send = async (path: string, init: RequestInit = {}, ua = BROWSER): Promise<Response | undefined> => {
    if (opts.signal?.aborted) return undefined;
    result.requests++;
    try {
      const res = await fetch(`${base}${path}`, {
        ...init,
        headers: { 'user-agent': ua, ...(init.headers as Record<string, string> | undefined) },
        signal: AbortSignal.any([AbortSignal.timeout(opts.timeoutMs ?? 5000), ...(opts.signal ? [opts.signal] : [])]),
      });
      await res.arrayBuffer();
      await pause();
      return res;
    } catch {
      result.errors++;
      return undefined;
    }
  };
  const signIn = async (username: string): Promise<Record<string, string> | undefined> => {
    if (opts.signal?.aborted) return undefined;
    result.requests++;
    try {
      const res = await fetch(`${base}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': BROWSER },
        body: JSON.stringify({ username, password: DEMO_PASSWORDS[username] }),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5000),
      });
      const body = (await res.json()) as { token?: string };
      return body.token ? { authorization: `Bearer ${body.token}` } : undefined;
    } catch {
      result.errors++;
      return undefined;
    }
  };
  const expect = (who: string, type: string): void => {
    (result.expected[who] ??= []).push(type);
  };

  for (let round = 0; round < rounds && !opts.signal?.aborted; round++) {
    if (opts.benign !== false) {
      // bob and an anonymous visitor browse normally
      const bob = await signIn('bob');
      for (const path of ['/', '/search?q=wool+socks', '/search?q=espresso+machine', '/files?name=readme.txt', '/users/u-1002']) {
        await send(path, { headers: bob ?? {} });
        await send(path);
        result.benign += 2;
      }
    }
    if (opts.attacks !== false) {
      // alice's account is used to probe the app
      const alice = await signIn('alice');
      for (const a of ATTACKS) {
        await send(a.path, { headers: alice ?? {} });
        result.attacks++;
        expect('alice', a.type);
      }
      // an anonymous scanner
      await send('/search?q=test', {}, 'sqlmap/1.7.2#stable (https://sqlmap.org)');
      await send(`/files?name=${encodeURIComponent('..%2F..%2Fetc%2Fpasswd')}`, {}, 'Mozilla/5.00 (Nikto/2.1.6) (Evasions:None)');
      result.attacks += 2;
      expect('anonymous', 'scanner');
      expect('anonymous', 'path_traversal');
      // credential stuffing against carol: 10 wrong passwords in a few seconds
      for (let i = 0; i < 10; i++) {
        await send('/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `username=carol&password=guess-${round}-${i}` });
        result.failedLogins++;
      }
      expect('carol', 'auth_failure');
      expect('carol', 'credential_stuffing');
    }
  }
  return result;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  driveTraffic({ url: arg('url') ?? 'http://127.0.0.1:3000', rounds: Number(arg('rounds') ?? 1), delayMs: Number(arg('delay-ms') ?? 0) })
    .then((r) => console.log(JSON.stringify(r, null, 2)))
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
