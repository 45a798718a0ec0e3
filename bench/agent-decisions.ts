// The agent's decisions (issue 15 item 4): what enforcement costs per request, and what 1,000,000
// active decisions cost in memory and in rebuild time.
//
//   node --import tsx bench/agent-decisions.ts [--decisions 1000000] [--rounds 7] [--ops 2000000]
//
// No Kafka: the agent's store is filled through the decisions reader's record path (DecisionFeed.handle:
// Confluent wire format, Avro decode, apply), as a start-up rebuild does, from records encoded in memory.
// Figures (medians over the rounds):
// - rebuild: records/s and µs per record through handle(), the agent's CPU cost of reading the topic;
// - memory: V8 heap and RSS after a full GC, with the store full, minus before (bytes per decision);
// - lookup: ns per decisionFor(userKey) (hit and miss) and per decisionFor(req) of an identified request,
//   and ns per agent.enforce() of a request without a decision: what riskHubEnforce adds to EVERY request.
// The HTTP view (requests/s and CPU per request of the example app with 1,000,000 decisions held) is
// bench/agent.ts --decisions 1000000, compared with its run without.

import { spawnSync } from 'node:child_process';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { createAgent } from '@risk-hub/agent';
import type { DecisionStore } from '../packages/agent/src/decisions.ts';
import { fillDecisions } from './decisions-fill.ts';
import { machine, median } from './lib.ts';

if (typeof globalThis.gc !== 'function') {
  // memory figures need a full GC: run again with --expose-gc
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=2048', '--import', 'tsx', ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
const gc = globalThis.gc as () => void;

const argv = process.argv.slice(2);
function arg(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
}
const N = arg('decisions', 1_000_000);
const ROUNDS = arg('rounds', 7);
const OPS = arg('ops', 2_000_000);

const APP = 'bench';
const ENV = 'production';

function heap(): { heap: number; rss: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

const discard = { send: async () => ({ rejected: [] }), close: async () => undefined };
const agent = createAgent({ application: APP, environment: ENV, transport: discard, logger: null, detect: false, maxEventsPerUserPerMinute: 1_000_000 });
const store = (agent as unknown as { decisionStore: DecisionStore }).decisionStore;

const before = heap();
const handleNs = fillDecisions(agent, N);
const after = heap();
if (store.size !== N) throw new Error(`store holds ${store.size}, expected ${N}`);

// lookups
const sink: unknown[] = [];
function timeOps(fn: (i: number) => unknown): number {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let hits = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < OPS; i++) if (fn(i) !== null) hits++;
    rounds.push(Number(process.hrtime.bigint() - t0) / OPS);
    sink.push(hits);
  }
  return median(rounds);
}
const hitKeys = Array.from({ length: 4096 }, (_, i) => {
  const k = 1 + ((i * 7919) % (N - 1));
  return `u-${k % 20 === 0 ? k + 1 : k}`; // every 20th decision is an anonymous user's
});
const missKeys = Array.from({ length: 4096 }, (_, i) => `x-${i}`);
const hitNs = timeOps((i) => agent.decisionFor(hitKeys[i & 4095]!));
const missNs = timeOps((i) => agent.decisionFor(missKeys[i & 4095]!));

function request(): { req: IncomingMessage; res: ServerResponse } {
  const socket = new Socket();
  const req = new IncomingMessage(socket);
  req.headers = {};
  return { req, res: new ServerResponse(req) };
}
const identified = Array.from({ length: 1024 }, (_, i) => {
  const r = request();
  agent.identify(r.req, `free-${i}`); // identified users without a decision: what most requests are
  return r;
});
const reqNs = timeOps((i) => agent.decisionFor(identified[i & 1023]!.req));
let passed = 0;
const done = (handled: boolean): void => {
  if (!handled) passed++;
};
const enforceNs = timeOps((i) => {
  const r = identified[i & 1023]!;
  agent.enforce(r.req, r.res, done);
  return null;
});
if (passed !== ROUNDS * OPS) throw new Error('a request without a decision was refused');

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(`# agent decisions — ${new Date().toISOString()} — ${machine()} — node ${process.version}\n`);
console.log('| figure | value |\n|---|---|');
console.log(`| decisions held | ${fmt(store.size)} (70% BLOCK, 20% CHALLENGE, 10% MONITOR, 5% anonymous users) |`);
console.log(`| rebuild (decode + apply, no Kafka) | ${fmt(N / (handleNs / 1e9))} records/s, ${fmt(handleNs / 1e3 / N, 2)} µs per record |`);
console.log(`| V8 heap with the store full, minus before | ${fmt((after.heap - before.heap) / 2 ** 20, 1)} MiB (${fmt((after.heap - before.heap) / N)} bytes per decision) |`);
console.log(`| RSS with the store full, minus before | ${fmt((after.rss - before.rss) / 2 ** 20, 1)} MiB; process RSS ${fmt(after.rss / 2 ** 20, 1)} MiB |`);
console.log(`| decisionFor(userKey), a user with a decision (median of ${ROUNDS} × ${fmt(OPS)}) | ${fmt(hitNs, 1)} ns |`);
console.log(`| decisionFor(userKey), a user without | ${fmt(missNs, 1)} ns |`);
console.log(`| decisionFor(req), an identified request without a decision | ${fmt(reqNs, 1)} ns |`);
console.log(`| agent.enforce(req, res), a request without a decision (what riskHubEnforce adds to every request) | ${fmt(enforceNs, 1)} ns |`);
await agent.close();
process.exit(0);
