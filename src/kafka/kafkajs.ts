import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The kafkajs the server runs. A built Risk Hub carries the patched kafkajs in dist/vendor/kafkajs
// (scripts/vendor-kafkajs.mjs; patches/README.md says why), so that an installed package runs the
// code the tests run, whatever kafkajs the surrounding node_modules hold; a source checkout runs its
// node_modules/kafkajs, patched by `npm ci`. Every other module takes kafkajs's values from here and
// only its types from 'kafkajs'.

const require = createRequire(import.meta.url);
const vendored = fileURLToPath(new URL('../vendor/kafkajs/index.js', import.meta.url));

/** The file kafkajs is loaded from. */
export const KAFKAJS_MAIN: string = existsSync(vendored) ? vendored : require.resolve('kafkajs');

const kafkajs = require(KAFKAJS_MAIN) as typeof import('kafkajs');
export default kafkajs;
