// Agent overhead: requests/s of the example app without and with the Risk Hub agent, in the same run.
//
//   node --import tsx bench/agent.ts [--seconds 4] [--rounds 8] [--warmup 8] [--connections 32] [--attack-ratio 0.02] [--variety high|typical] [--decisions 0]
//
// The app runs in a child process (one per variant, started once) and the load generator (undici Pool,
// keep-alive, fixed concurrency) in this process, so on a 2-core machine each gets about a core. Rounds
// alternate without/with (and which goes first) so drift on a shared machine hits both. Besides req/s,
// the app child reports its CPU time per request served: on a shared machine that is the steadier
// estimate of what the agent costs (single-threaded app: throughput at saturation = 1 / CPU per
// request). Traffic: browser-like benign requests (search, file download, profile, home page) plus a
// small share of attacks (SQLi, XSS, traversal), see below. The agent's events go to a discarding transport by default (the request path is what the
// application pays for; production to Kafka is a background batch); BENCH_KAFKA=1 with KAFKA_BROKERS and
// SCHEMA_REGISTRY_URL sends them to a real broker (topic BENCH_TOPIC, default "attacks", must exist).

import { fork, type ChildProcess } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const argv = process.argv.slice(2);
function arg(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
}

// Traffic with the variety of real traffic, so that the agent's clean-value cache does not make it look
// free: search terms combined at random, half of them with a number from a large range (new query
// values, judged by the WAF), profile ids from a large range (new paths), 12 browser
// user agents, a session cookie that changes every 25 requests, cookies on 2 requests in 3.
const WORDS = ['red', 'blue', 'running', 'shoes', 'wool', 'socks', 'espresso', 'machine', 'tea', 'jacket', 'lamp', 'keyboard', 'yoga', 'mat', 'bottle', 'charger', 'skillet', 'backpack', 'hobbit', 'grinder'];
const UAS = Array.from({ length: 12 }, (_, i) => `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${110 + i}.0.${i * 37}.0 Safari/537.36`);
const ATTACKS = ["/search?q=1'%20OR%20'1'%3D'1", '/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E', '/files?name=..%2F..%2Fetc%2Fpasswd'];

function rnd(n: number): number {
  return Math.floor(Math.random() * n);
}

/**
 * `high` variety (default): half the searches carry a number from a large range and profile ids come
 * from 5,000 users, so about half the requests bring a value the WAF has never judged. `typical`: searches
 * are two words out of 20 (400 phrases) and profiles 200 users, so values repeat as they do on most sites.
 */
const VARIETY = process.argv.includes('--variety') ? process.argv[process.argv.indexOf('--variety') + 1] : 'high';

function benignPath(n: number): string {
  const high = VARIETY !== 'typical';
  switch (n % 5) {
    case 0:
    case 1:
      return `/search?q=${WORDS[rnd(WORDS.length)]}+${high && n % 2 === 0 ? rnd(1_000_000) : WORDS[rnd(WORDS.length)]}${n % 3 === 0 ? `&page=${1 + rnd(9)}` : ''}`;
    case 2:
      return `/files?name=${['readme.txt', 'report.pdf', 'price-list.csv'][rnd(3)]}`;
    case 3:
      return `/users/u-${1000 + rnd(high ? 5000 : 200)}`;
    default:
      return '/';
  }
}

async function serve(withAgent: boolean): Promise<void> {
  const { startExampleApp } = await import('../examples/express-app/server.ts');
  let agent = null;
  if (withAgent) {
    const { createAgent } = await import('@risk-hub/agent');
    const discard = { send: async () => ({ rejected: [] }), close: async () => undefined };
    agent =
      process.env.BENCH_KAFKA === '1'
        ? createAgent({ application: 'bench', brokers: process.env.KAFKA_BROKERS ?? '', schemaRegistry: process.env.SCHEMA_REGISTRY_URL ?? '', topic: process.env.BENCH_TOPIC ?? 'attacks', logger: null })
        : createAgent({ application: 'bench', transport: discard, logger: null, maxEventsPerUserPerMinute: 1_000_000 });
  }
  // --decisions N: the agent holds N decisions (none about the benchmark's clients; 5% about anonymous
  // users, so every anonymous request also looks up its `anon:<ip>` key): what enforcement costs at scale
  const decisions = Number(process.env.BENCH_DECISIONS ?? 0);
  if (agent && decisions > 0) (await import('./decisions-fill.ts')).fillDecisions(agent, decisions);
  const app = await startExampleApp({ agent, port: 0 });
  let served = 0;
  app.server.on('request', () => {
    served++;
  });
  process.send?.({ url: app.url });
  process.on('message', (m: unknown) => {
    if (m === 'stats') {
      // engine runs (and of which batched) next to requests inspected: how well batching amortizes a run
      const detector = (agent as unknown as { detector?: { engineRuns: number; batchedRuns: number } } | null)?.detector;
      process.send?.({ stats: agent ? { ...agent.stats(), engineRuns: detector?.engineRuns, batchedRuns: detector?.batchedRuns } : null });
    }
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send?.({ cpu: { micros: u.user + u.system, served } });
    }
    if (m === 'stop') {
      void app.close().then(async () => {
        await agent?.close({ timeoutMs: 2000 });
        process.exit(0);
      });
    }
  });
}

function startChild(withAgent: boolean): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', withAgent ? 'with' : 'without'], {
    // BENCH_CPU_PROF=<dir>: both app children write a V8 CPU profile there when they stop (node --cpu-prof)
    env: { ...process.env, BENCH_DECISIONS: String(arg('decisions', 0)) },
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}/${withAgent ? 'with' : 'without'}`] : [])],
    stdio: 'inherit',
  });
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
      const path = attack ? ATTACKS[n % ATTACKS.length]! : benignPath(n);
      const headers: Record<string, string> = { 'user-agent': UAS[n % UAS.length]!, accept: 'text/html,application/xhtml+xml', 'accept-language': 'en-US,en;q=0.9', referer: `${url}/` };
      if (n % 3 !== 0) headers.cookie = `theme=dark; sid=s${Math.floor(n / 25)}x${(Math.floor(n / 25) * 7919) % 100_000}`;
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

function ask<T>(child: ChildProcess, message: string, field: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${field} from app child`)), 10_000);
    const on = (m: Record<string, unknown>): void => {
      if (!(field in m)) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m[field] as T);
    };
    child.on('message', on);
    child.send(message);
  });
}

interface Round {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the app process per request served (user + system), µs. */
  cpuPerRequest: number;
}

async function measure(target: { child: ChildProcess; url: string }, seconds: number, connections: number, attackRatio: number): Promise<Round> {
  const before = await ask<{ micros: number; served: number }>(target.child, 'cpu', 'cpu');
  const r = await load(target.url, seconds, connections, attackRatio);
  const after = await ask<{ micros: number; served: number }>(target.child, 'cpu', 'cpu');
  return { ...r, cpuPerRequest: (after.micros - before.micros) / Math.max(1, after.served - before.served) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

async function main(): Promise<void> {
  const seconds = arg('seconds', 4);
  const rounds = arg('rounds', 8);
  const connections = arg('connections', 32);
  const attackRatio = arg('attack-ratio', 0.02);
  const without = await startChild(false);
  const withA = await startChild(true);
  const results: Record<'without' | 'with', Round[]> = { without: [], with: [] };
  // Warm-up, not measured: JIT, connections, and the agent's clean-value caches, which on high-variety
  // traffic take ~20,000 requests to reach their steady state (the first rounds after a 2 s warm-up
  // measured the agent ~10% dearer than the later ones).
  const warmup = arg('warmup', 8);
  await load(without.url, warmup, connections, attackRatio);
  await load(withA.url, warmup, connections, attackRatio);
  for (let r = 0; r < rounds; r++) {
    // alternate which variant goes first, so a slow patch of the shared machine hits both
    const order = r % 2 === 0 ? (['without', 'with'] as const) : (['with', 'without'] as const);
    for (const name of order) {
      const res = await measure(name === 'with' ? withA : without, seconds, connections, attackRatio);
      results[name].push(res);
      console.log(
        `round ${r + 1} ${name.padEnd(7)} ${res.rps.toFixed(0).padStart(5)} req/s  cpu ${res.cpuPerRequest.toFixed(0).padStart(4)} µs/req  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  errors ${res.errors}`,
      );
    }
  }
  const stats = await ask<unknown>(withA.child, 'stats', 'stats');
  without.child.send('stop');
  withA.child.send('stop');
  const w = median(results.without.map((r) => r.rps));
  const a = median(results.with.map((r) => r.rps));
  const pairRatios = results.with.map((r, i) => r.rps / results.without[i]!.rps);
  const cw = median(results.without.map((r) => r.cpuPerRequest));
  const ca = median(results.with.map((r) => r.cpuPerRequest));
  console.log(
    JSON.stringify(
      {
        machine: `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`,
        seconds,
        rounds,
        connections,
        attackRatio,
        variety: VARIETY,
        decisions: arg('decisions', 0),
        withoutRps: Math.round(w),
        withRps: Math.round(a),
        ratioOfMedians: Number((a / w).toFixed(3)),
        medianPairRatio: Number(median(pairRatios).toFixed(3)),
        throughputCostPercent: Number(((1 - median(pairRatios)) * 100).toFixed(1)),
        cpuPerRequestWithoutMicros: Math.round(cw),
        cpuPerRequestWithMicros: Math.round(ca),
        cpuCostPercent: Number(((ca / cw - 1) * 100).toFixed(1)),
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
