// npm `prepare` (runs after `npm install` / `npm ci` in this checkout, never when the package is
// installed as a dependency): applies patches/ (kafkajs 2.2.4 is unmaintained; see patches/README.md)
// with patch-package, to the checkout's node_modules that the tests and the source CLI run. The
// published package does not need it: `npm run build` copies the patched kafkajs into dist/vendor/.
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
if (!existsSync(join(root, 'patches'))) process.exit(0);
const require = createRequire(import.meta.url);
const resolve = (id) => {
  try {
    return require.resolve(id);
  } catch {
    return undefined;
  }
};
const kafkajs = resolve('kafkajs/package.json');
// already applied (`npm pack` runs prepare again): patch-package would fail on a patched file
if (kafkajs && readFileSync(join(dirname(kafkajs), 'src/producer/groupMessagesPerPartition.js'), 'utf8').includes('Patched (risk-hub)')) {
  // patched before the patch gained KIP-447 (TxnOffsetCommit v3): patch-package cannot re-apply over it
  if (!existsSync(join(dirname(kafkajs), 'src/protocol/requests/txnOffsetCommit/v3/request.js'))) {
    console.warn('node_modules/kafkajs carries an older patches/kafkajs+2.2.4.patch: rm -rf node_modules/kafkajs && npm install');
  }
  process.exit(0);
}
const patchPackage = resolve('patch-package/package.json');
if (!patchPackage) {
  // a production-only install (`npm ci --omit=dev`): nothing runs the checkout's kafkajs
  console.log('patches/ not applied: patch-package is not installed (production install)');
  process.exit(0);
}
const r = spawnSync(process.execPath, [join(dirname(patchPackage), 'index.js'), '--error-on-fail'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
