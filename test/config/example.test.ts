import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/config/schema.ts';

// config/risk-hub.example.yaml documents every key: this test walks the zod schema and fails when a
// key is missing from the file (active, or commented out as "# key: value"), when the file does not
// load, or when an active value differs from the default it claims to show.

const FILE = new URL('../../config/risk-hub.example.yaml', import.meta.url).pathname;
const TEXT = readFileSync(FILE, 'utf8');

/** The example with its commented-out settings ("# key: value", indentation kept) made active. */
export function uncomment(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^(\s*)# (?=\s*[A-Za-z_][\w-]*:(\s|$))/, '$1'))
    .join('\n');
}

type JsonSchema = {
  type?: string;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: { enum?: string[] };
  anyOf?: JsonSchema[];
};

/** Every path of the schema missing from `doc`. Records need at least one entry; their entries together must show every field. */
function missing(schema: JsonSchema, doc: unknown, path: string[] = []): string[] {
  const out: string[] = [];
  const obj = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
  const objectVariants = (schema.anyOf ?? []).filter((v) => v.type === 'object' || v.properties);
  if (objectVariants.length && obj) for (const v of objectVariants) out.push(...missing(v, obj, path));
  if (schema.properties) {
    if (!obj) return [path.join('.') + ' (expected a mapping)'];
    for (const [k, sub] of Object.entries(schema.properties)) {
      if (!(k in obj)) out.push([...path, k].join('.'));
      else out.push(...missing(sub, obj[k], [...path, k]));
    }
  }
  const ap = schema.additionalProperties;
  if (ap && typeof ap === 'object' && !schema.properties) {
    const keys = obj ? Object.keys(obj) : [];
    if (keys.length === 0) out.push([...path, '<example entry>'].join('.'));
    const allowed = schema.propertyNames?.enum;
    if (allowed) for (const k of keys) if (!allowed.includes(k)) out.push(`${[...path, k].join('.')} (not a valid key)`);
    // Entries of a record together must show every field of the entry schema.
    if (ap.properties && obj) {
      const merged: Record<string, unknown> = {};
      for (const k of keys) Object.assign(merged, obj[k]);
      out.push(...missing(ap, merged, [...path, '*']));
    }
  }
  return out;
}

describe('config/risk-hub.example.yaml', () => {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

  it('loads without error and, as written, equals the defaults', () => {
    const fromFile = loadConfig({ file: FILE, env: {} });
    expect(fromFile).toEqual(loadConfig({ env: {} }));
  });

  it('documents every key of the schema', () => {
    const doc: unknown = parse(uncomment(TEXT), { uniqueKeys: false });
    expect(missing(schema, doc)).toEqual([]);
  });

  it('gives every key a comment (its meaning, unit or default) on the lines just above or on the same line', () => {
    const lines = TEXT.split('\n');
    const undocumented: string[] = [];
    lines.forEach((line, i) => {
      const m = /^(\s*)(?:# )?(\s*)([A-Za-z_][\w-]*):(\s|$)/.exec(line);
      if (!m) return;
      const value = line.slice(line.indexOf(':') + 1).trim();
      const isSection = value === '' || value === '{}';
      if (isSection) return; // sections are described by their keys
      const prev = lines[i - 1] ?? '';
      if (line.includes(' # ') || /^\s*#/.test(prev) || /^\s*#/.test(line)) return;
      undocumented.push(`${i + 1}: ${line.trim()}`);
    });
    expect(undocumented).toEqual([]);
  });

  it('the walker notices a missing key (the test can fail)', () => {
    const doc = parse(uncomment(TEXT), { uniqueKeys: false }) as { scoring: Record<string, unknown>; notify: { email: { smtp: Record<string, unknown> } } };
    delete doc.scoring.lateGraceMs;
    delete doc.notify.email.smtp.passwordEnv;
    expect(missing(schema, doc)).toEqual(['scoring.lateGraceMs', 'notify.email.smtp.passwordEnv']);
  });

  it('commented-out settings are valid configuration once uncommented, one alternative at a time', () => {
    // The SASL block and a Slack target, uncommented, pass validation (secrets through the environment).
    const doc = parse(uncomment(TEXT), { uniqueKeys: false }) as Record<string, Record<string, unknown>>;
    const kafka = doc.kafka!;
    expect(() => loadConfig({ env: {}, overrides: { kafka: { sasl: kafka.sasl, ssl: kafka.ssl } } })).not.toThrow();
    const scoring = doc.scoring!;
    expect(() => loadConfig({ env: {}, overrides: { scoring: { applications: scoring.applications, attackTypePoints: scoring.attackTypePoints } } })).not.toThrow();
    const notify = doc.notify as { applications: unknown; slack: { targets: Record<string, unknown> }; email: { targets: unknown }; webhook: { targets: unknown } };
    expect(() =>
      loadConfig({
        env: {},
        overrides: { notify: { applications: notify.applications, slack: { targets: notify.slack.targets }, email: { targets: notify.email.targets }, webhook: { targets: notify.webhook.targets } } },
      }),
    ).not.toThrow();
  });
});
