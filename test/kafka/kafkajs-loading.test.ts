import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KAFKAJS_MAIN } from '../../src/kafka/kafkajs.ts';

// A built server runs the patched kafkajs it carries in dist/vendor/kafkajs and has no kafkajs in its
// dependencies (the image and an npm-installed risk-hub have none in node_modules). Any module that
// loads a kafkajs value by its bare name ('kafkajs', 'kafkajs/src/…') works in this checkout, where
// node_modules/kafkajs exists, and crashes the built server at start-up: the log classifier's
// `require('kafkajs/src/protocol/error.js')` did (MODULE_NOT_FOUND in the image's smoke test).
// Values come from src/kafka/kafkajs.ts, or from files beside KAFKAJS_MAIN; `import type` is free.

const ROOT = join(import.meta.dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Lines that load kafkajs by its bare name at run time: require(), import(), or a non-type import. */
function bareKafkajsLoads(text: string): string[] {
  const bare = `['"]kafkajs(?:/[^'"]*)?['"]`;
  const patterns = [new RegExp(`\\brequire(?:\\.resolve)?\\(\\s*${bare}`), new RegExp(`\\bimport\\(\\s*${bare}`), new RegExp(`^\\s*import\\s+(?!type\\b)[^;]*\\bfrom\\s+${bare}`), new RegExp(`^\\s*export\\s+(?!type\\b)[^;]*\\bfrom\\s+${bare}`)];
  return text.split('\n').filter((line) => !/^\s*(\/\/|\*)/.test(line) && patterns.some((p) => p.test(line)));
}

describe('kafkajs is loaded only through src/kafka/kafkajs.ts (the vendored copy when built)', () => {
  it('the checker sees bare loads and lets types and the loader through', () => {
    expect(bareKafkajsLoads("const { errorCodes } = require('kafkajs/src/protocol/error.js');")).toHaveLength(1);
    expect(bareKafkajsLoads("import { Kafka } from 'kafkajs';")).toHaveLength(1);
    expect(bareKafkajsLoads("const k = await import('kafkajs');")).toHaveLength(1);
    expect(bareKafkajsLoads("import type { Kafka } from 'kafkajs';")).toEqual([]);
    expect(bareKafkajsLoads("import kafkajs from './kafkajs.ts';")).toEqual([]);
    expect(bareKafkajsLoads("import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';")).toEqual([]);
    expect(bareKafkajsLoads("require(join(dirname(KAFKAJS_MAIN), 'src/protocol/error.js'))")).toEqual([]);
  });

  it('no module of the server loads kafkajs by its bare name', () => {
    const offenders = sources(join(ROOT, 'src'))
      .filter((f) => relative(ROOT, f) !== join('src', 'kafka', 'kafkajs.ts'))
      .flatMap((f) => bareKafkajsLoads(readFileSync(f, 'utf8')).map((line) => `${relative(ROOT, f)}: ${line.trim()}`));
    expect(offenders).toEqual([]);
  });

  it('the loader names the kafkajs whose files the classifier reads', () => {
    expect(KAFKAJS_MAIN).toMatch(/kafkajs[/\\]index\.js$/);
  });
});
