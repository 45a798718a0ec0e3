import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// Whether npm's postinstall applied patches/kafkajs+2.2.4.patch (see patches/README.md). Risk Hub
// works without it, but the scorer's transactions encode their records several times slower.

const MARKER = 'Patched (risk-hub)';

export function kafkajsPatched(): boolean {
  try {
    const dir = dirname(createRequire(import.meta.url).resolve('kafkajs/package.json'));
    return readFileSync(join(dir, 'src/producer/groupMessagesPerPartition.js'), 'utf8').includes(MARKER);
  } catch {
    return false;
  }
}

export const KAFKAJS_UNPATCHED =
  'kafkajs is not patched (installed with --ignore-scripts?): the scorer works, but encodes its transactions several times slower; run `npx patch-package` in the Risk Hub directory (see patches/README.md)';
