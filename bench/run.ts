import { machine } from './lib.ts';

// `npm run bench [name...]`: runs the named benchmarks (default: all) one after another and prints
// each one's figures as a table. Timing goals live here, never in tests.

const BENCHES: Record<string, () => Promise<{ run: () => Promise<Record<string, string | number>> }>> = {
  scorer: () => import('./scorer.ts'),
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(BENCHES);
console.log(`# Risk Hub benchmarks — ${new Date().toISOString()} — ${machine()}`);
for (const name of wanted) {
  const load = BENCHES[name];
  if (!load) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    process.exit(2);
  }
  const figures = await (await load()).run();
  console.log(`\n## ${name}\n\n| figure | value |\n|---|---|`);
  for (const [k, v] of Object.entries(figures)) console.log(`| ${k} | ${v} |`);
}
process.exit(0);
