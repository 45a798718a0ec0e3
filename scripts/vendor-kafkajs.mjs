// Part of `npm run build`: copies the patched kafkajs of this checkout (patches/, applied by `npm ci`)
// into dist/vendor/kafkajs, which the built server loads (src/kafka/kafkajs.ts). An installed Risk Hub
// thus runs the same Kafka client code as the tests, whatever the application's node_modules hold;
// kafkajs has no dependencies of its own, and the patch's optional @node-rs/crc32 is one of Risk Hub's.
import console from 'node:console';
import process from 'node:process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const from = dirname(createRequire(import.meta.url).resolve('kafkajs/package.json'));
const marker = readFileSync(join(from, 'src/producer/groupMessagesPerPartition.js'), 'utf8').includes('Patched (risk-hub)');
if (!marker) {
  console.error(`vendor-kafkajs: ${from} is not patched; run \`npx patch-package\` (or npm ci) first: the build must ship the patched client`);
  process.exit(1);
}
// The patch's KIP-447 part (patches/README.md): a copy patched before it would drop consumer-group fencing silently
if (!existsSync(join(from, 'src/protocol/requests/txnOffsetCommit/v3/request.js'))) {
  console.error(`vendor-kafkajs: ${from} carries an older patch (no KIP-447); rm -rf node_modules/kafkajs && npm install`);
  process.exit(1);
}
const to = join(root, 'dist', 'vendor', 'kafkajs');
rmSync(to, { recursive: true, force: true });
mkdirSync(to, { recursive: true });
for (const entry of ['package.json', 'index.js', 'LICENSE', 'src']) {
  if (existsSync(join(from, entry))) cpSync(join(from, entry), join(to, entry), { recursive: true });
}
console.log(`vendor-kafkajs: patched kafkajs ${JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')).version} → dist/vendor/kafkajs`);
