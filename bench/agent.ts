// Agent overhead: requests/s of the example app without and with the Risk Hub agent, in the same run.
//
//   node --import tsx bench/agent.ts [--seconds 8] [--rounds 3] [--connections 32] [--attack-ratio 0.02]
//
// The app runs in a child process (one per variant, started once) and the load generator (undici Pool,
// keep-alive, fixed concurrency) in this process, so on a 2-core machine each gets about a core. Rounds
// alternate without/with so drift on a shared machine hits both. Traffic: browser-like benign requests
// (search, file download, profile, home page; cookies on half) plus a small share of attacks (SQLi, XSS,
// traversal). The agent's events go to a discarding transport by default (the request path is what the
// application pays for; production to Kafka is a background batch); BENCH_KAFKA=1 with KAFKA_BROKERS and
// SCHEMA_REGISTRY_URL sends them to a real broker (topic BENCH_TOPIC, default "attacks", must exist).

import { fork, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const argv = process.argv.slice(2);
function arg(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
}

const BENIGN = [
  '/search?q=wool+socks',
  '/search?q=espresso',
  '/files?name=readme.txt',
  '/users/u-1001',
  '/',
  '/search?q=red+running+shoes',
];
const ATTACKS = ["/search?q=1'%20OR%20'1'%3D'1", '/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E', '/files?name=..%2F..%2Fetc%2Fpasswd'];
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';

async function serve(withAgent: boolean): Promise<void> {
  const { startExampleApp } = await import('../examples/express-app/server.ts');
  let agent = null;
  if (withAgent) {
    const { createAgent } = await import('../src/agent/index.ts');
    const discard = { send: async () => ({ rejected: [] }), close: async () => undefined };
    agent =
      process.env.BENCH_KAFKA === '1'
        ? createAgent({ application: 'bench', brokers: process.env.KAFKA_BROKERS ?? '', schemaRegistry: process.env.SCHEMA_REGISTRY_URL ?? '', topic: process.env.BENCH_TOPIC ?? 'attacks', logger: null })
        : createAgent({ application: 'bench', transport: discard, logger: null, maxEventsPerUserPerMinute: 1_000_000 });
  }
  const app = await startExampleApp({ agent, port: 0 });
  process.send?.({ url: app.url });
  process.on('message', (m: unknown) => {
    if (m === 'stats') process.send?.({ stats: agent?.stats() ?? null });
    if (m === 'stop') {
      void app.close().then(async () => {
        await agent?.close({ timeoutMs: 2000 });
        process.exit(0);
      });
    }
  });
}

function startChild(withAgent: boolean): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', withAgent ? 'with' : 'without'], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('app child did not start in 30 s')), 30_000);
    child.once('message', (m: { url: string }) => {
      clearTimeout(t);
      resolve({ child, url: m.url });
    });
    child.once('exit', (code) => reject(new Error(`app child exited with ${code}`)));
  });
}

async function load(url: string, seconds: number, connections: number, attackRatio: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const lat: number[] = [];
  let seq = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const n = seq++;
      const attack = attackRatio > 0 && n % Math.round(1 / attackRatio) === 0;
      const path = attack ? ATTACKS[n % ATTACKS.length]! : BENIGN[n % BENIGN.length]!;
      const headers: Record<string, string> = { 'user-agent': BROWSER_UA, accept: 'text/html,application/xhtml+xml', 'accept-language': 'en-US,en;q=0.9', referer: `${url}/` };
      if (n % 2 === 0) headers.cookie = 'theme=dark; consent=yes';
      const t0 = performance.now();
      try {
        const res = await pool.request({ path, method: 'GET', headers });
        await res.body.dump();
        if (res.statusCode >= 500) errors++;
      } catch {
        errors++;
      }
      lat.push(performance.now() - t0);
      done++;
    }
  };
  const t0 = Date.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (Date.now() - t0) / 1000;
  await pool.close();
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  return { rps: done / elapsed, p50: q(0.5), p99: q(0.99), errors };
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 8);
  const rounds = arg('rounds', 3);
  const connections = arg('connections', 32);
  const attackRatio = arg('attack-ratio', 0.02);
  const without = await startChild(false);
  const withA = await startChild(true);
  const results: Record<'without' | 'with', Array<{ rps: number; p50: number; p99: number; errors: number }>> = { without: [], with: [] };
  // warm-up (JIT, connection setup)
  await load(without.url, 2, connections, attackRatio);
  await load(withA.url, 2, connections, attackRatio);
  for (let r = 0; r < rounds; r++) {
    for (const [name, target] of [['without', without], ['with', withA]] as const) {
      const res = await load(target.url, seconds, connections, attackRatio);
      results[name].push(res);
      console.log(`round ${r + 1} ${name.padEnd(7)} ${res.rps.toFixed(0)} req/s  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  errors ${res.errors}`);
    }
  }
  const stats = await new Promise<unknown>((resolve) => {
    withA.child.once('message', (m: { stats: unknown }) => resolve(m.stats));
    withA.child.send('stats');
  });
  without.child.send('stop');
  withA.child.send('stop');
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const w = median(results.without.map((r) => r.rps));
  const a = median(results.with.map((r) => r.rps));
  console.log(
    JSON.stringify(
      {
        machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`,
        seconds,
        rounds,
        connections,
        attackRatio,
        withoutRps: Math.round(w),
        withRps: Math.round(a),
        ratio: Number((a / w).toFixed(3)),
        costPercent: Number(((1 - a / w) * 100).toFixed(1)),
        p99WithoutMs: Number(median(results.without.map((r) => r.p99)).toFixed(2)),
        p99WithMs: Number(median(results.with.map((r) => r.p99)).toFixed(2)),
        agent: stats,
      },
      null,
      2,
    ),
  );
}

if (argv[0] === '--serve') {
  void serve(argv[1] === 'with');
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
