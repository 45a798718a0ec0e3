import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// The alert's optional `decision` field carries the decisions topic's record: the two schema files must
// say the same thing, or a notifier would read an alert's decision differently from an agent.

const read = (f: string) => JSON.parse(readFileSync(new URL(`../../schemas/${f}`, import.meta.url), 'utf8')) as { fields: Array<{ name: string; type: unknown; default?: unknown }> };

describe('schemas/risk-alert.avsc decision field', () => {
  it('is schemas/decision.avsc, optional with a null default (older alerts read as null)', () => {
    const field = read('risk-alert.avsc').fields.find((f) => f.name === 'decision')!;
    expect(field.default).toBeNull();
    expect(field.type).toEqual(['null', read('decision.avsc')]);
  });
});
