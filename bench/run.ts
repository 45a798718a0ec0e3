import { spawnSync } from 'node:child_process';
import { machine } from './lib.ts';

// `npm run bench [name...]`: runs the named benchmarks (default: all) one after another. The scorer
// prints a table of its figures; the notifier and agent benchmarks are their own scripts (their flags
// and environment variables are documented in docs/benchmarks.md). Timing goals live here, never in tests.

const BENCHES: Record<string, () => Promise<void>> = {
  async scorer() {
    const figures = await (await import('./scorer.ts')).run();
    console.log(`\n## scorer\n\n| figure | value |\n|---|---|`);
    for (const [k, v] of Object.entries(figures)) console.log(`| ${k} | ${v} |`);
  },
  // Side by side with the Kafka Streams reference (issue 17): prints its own table.
  async versus() {
    await (await import('./versus.ts')).run();
  },
  async notify() {
    script('bench/notify.ts');
  },
  async agent() {
    script('bench/agent.ts');
  },
  async 'agent-decisions'() {
    script('bench/agent-decisions.ts');
  },
  async decisions() {
    script('bench/decisions.ts');
  },
  async relay() {
    script('bench/relay.ts');
  },
};

function script(path: string): void {
  console.log(`\n## ${path}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${path} exited with ${r.status}`);
}

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(BENCHES);
console.log(`# Risk Hub benchmarks — ${new Date().toISOString()} — ${machine()}`);
for (const name of wanted) {
  const bench = BENCHES[name];
  if (!bench) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  await bench();
}
process.exit(0);
