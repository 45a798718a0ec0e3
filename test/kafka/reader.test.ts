import { describe, expect, it } from 'vitest';
import { SCORER_SKIPPED_FIELDS, type Attack } from '../../src/contracts.ts';
import { readerType } from '../../src/kafka/serde.ts';

// The scorer reads attacks with a reader schema that leaves out the fields it never uses.

const attack: Attack = {
  event_id: 'e-1',
  occurred_at: 1_764_000_000_000,
  application_id: 'shop',
  environment: 'production',
  user: { key: 'u-1', identifiers: { email: 'u1@example.com' } },
  attack_type: 'sql_injection',
  severity: 'HIGH',
  points: null,
  blocked: false,
  request: { ip: '198.51.100.7', method: 'GET', path: '/search', user_agent: 'curl/8' },
  agent: { name: 'risk-hub-node', version: '0.1.0', language: 'node' },
};

describe('readerType with skipped fields', () => {
  it('reads records written with the full schema, every field but the skipped ones, exactly', () => {
    const writer = readerType('attack.avsc');
    const reader = readerType('attack.avsc', SCORER_SKIPPED_FIELDS);
    const value = reader.fromBuffer(writer.toBuffer(attack), reader.createResolver(writer)) as Record<string, unknown>;
    const { blocked: _b, request: _r, agent: _a, ...expected } = attack;
    expect({ ...value }).toEqual(expected);
    expect(Object.keys(value).sort()).toEqual(Object.keys(attack).filter((k) => !(SCORER_SKIPPED_FIELDS as readonly string[]).includes(k)).sort());
  });

  it('still rejects a truncated record', () => {
    const writer = readerType('attack.avsc');
    const reader = readerType('attack.avsc', SCORER_SKIPPED_FIELDS);
    const buf = writer.toBuffer(attack);
    expect(() => reader.fromBuffer(buf.subarray(0, buf.length - 3), reader.createResolver(writer))).toThrow(/truncated/);
  });
});
