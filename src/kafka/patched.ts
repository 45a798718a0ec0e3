import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KAFKAJS_MAIN } from './kafkajs.ts';

// Whether the kafkajs the server runs (./kafkajs.ts) carries patches/kafkajs+2.2.4.patch (see
// patches/README.md). Risk Hub works without it, but the scorer's transactions encode their records
// several times slower.

const MARKER = 'Patched (risk-hub)';

export function kafkajsPatched(): boolean {
  try {
    return readFileSync(join(dirname(KAFKAJS_MAIN), 'src/producer/groupMessagesPerPartition.js'), 'utf8').includes(MARKER);
  } catch {
    return false;
  }
}

export const KAFKAJS_UNPATCHED =
  'kafkajs is not patched (a source checkout installed with --ignore-scripts?): the scorer works, but encodes its transactions several times slower; run `npx patch-package` in the Risk Hub directory (see patches/README.md)';
