// values.schema.json (and the chart's own cross-field checks) must refuse bad values before
// anything reaches a cluster: every file in test/deploy/bad-values/ makes `helm template` fail
// with a message naming the field (the file's `# expect: <regex>` line).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHART, ROOT, helm } from './helm.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'bad-values');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

function expectation(file: string): RegExp {
  const m = /^# expect: (.+)$/m.exec(readFileSync(join(dir, file), 'utf8'));
  if (!m) throw new Error(`${file}: no "# expect: <regex>" line`);
  return new RegExp(m[1]!.trim());
}

describe('values.schema.json', () => {
  it('is valid JSON Schema draft-07 that closes every object the chart reads', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as { $schema: string; additionalProperties: boolean; properties: Record<string, { additionalProperties?: unknown }> };
    expect(schema.$schema).toMatch(/draft-07/);
    expect(schema.additionalProperties).toBe(false);
    for (const key of ['image', 'kafka', 'schemaRegistry', 'scorer', 'notifiers', 'setup', 'metrics']) {
      expect(schema.properties[key]?.additionalProperties, key).toBe(false);
    }
  });

  it('has bad values files to try', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it.each(files)('refuses %s', (file) => {
    const expected = expectation(file);
    const r = helm(['template', 'rh', relative(ROOT, CHART), '-f', relative(ROOT, join(dir, file))]);
    expect(r.status, `helm template accepted ${file}`).not.toBe(0);
    expect(r.stderr).toMatch(expected);
  });
});
