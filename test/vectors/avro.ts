// Avro bytes of sample attack events (test/vectors/avro.json): each event as JSON and its Confluent
// wire-format value (0x00, the schema id as a big-endian int32, the Avro binary of schemas/attack.avsc)
// for the schema id AVRO_SCHEMA_ID, encoded by the Node agent's producer (packages/agent transport.ts
// encodeWire: what the relay produces for the Python, Java, Ruby and PHP agents, which never encode Avro
// themselves). `relay` is the relay event (docs/relay-protocol.md) that makes the relay produce exactly
// that record: test/integration/avro-vectors.test.ts posts it and compares the bytes on the topic.

import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { AGENT_LANGUAGE, AGENT_NAME, AGENT_VERSION, type Attack } from '@risk-hub/agent';
import { encodeWire } from '../../packages/agent/src/transport.ts';

/** Any id: the registry assigns the real one; only bytes 1-4 of the value depend on it. */
export const AVRO_SCHEMA_ID = 7;
const SCHEMA_FILE = new URL('../../schemas/attack.avsc', import.meta.url);

export interface AvroCase {
  name: string;
  /** The record as JSON (occurred_at: epoch ms). */
  event: Attack;
  /** The relay event that makes the relay produce `event` (application shop, environment production). */
  relay: Record<string, unknown>;
}

export interface AvroVectors {
  schema: string;
  /** SHA-256 (hex) of avsc's canonical form of the schema (Parsing Canonical Form): a schema change shows here. */
  schema_fingerprint_sha256: string;
  schema_id: number;
  events: Array<{ name: string; event: Attack; relay: Record<string, unknown>; hex: string }>;
}

const AT = Date.UTC(2026, 11, 3, 12, 0, 0);
const agent = { name: AGENT_NAME, version: AGENT_VERSION, language: AGENT_LANGUAGE };
const base = { application_id: 'shop', environment: 'production', points: null, blocked: false, agent };
const UA = 'Mozilla/5.0 (risk-hub-vectors)';

export const AVRO_CASES: AvroCase[] = [
  {
    name: 'sqli-request',
    event: {
      ...base,
      event_id: 'vec-req-1',
      occurred_at: AT,
      user: { key: 'u-1001', identifiers: { email: 'alice@example.com' } },
      attack_type: 'sql_injection',
      severity: 'HIGH',
      // the request target as the Node agent records it (query included)
      request: { ip: '203.0.113.9', method: 'GET', path: "/search?q='%20OR%201%3D1--", user_agent: UA },
    },
    relay: {
      kind: 'request',
      id: 'vec-req-1',
      at: AT,
      user: { key: 'u-1001', identifiers: { email: 'alice@example.com' } },
      request: { method: 'GET', uri: "/search?q='%20OR%201%3D1--", ip: '203.0.113.9', headers: { 'user-agent': UA }, query: { q: ["' OR 1=1--"] } },
    },
  },
  {
    name: 'login-failure',
    event: {
      ...base,
      event_id: 'vec-login-1',
      occurred_at: AT + 1,
      user: { key: 'alice@example.com', identifiers: {} },
      attack_type: 'auth_failure',
      severity: 'LOW',
      request: { ip: '198.51.100.7', method: 'POST', path: '/login', user_agent: UA },
    },
    relay: {
      kind: 'login',
      id: 'vec-login-1',
      at: AT + 1,
      success: false,
      user: { key: 'alice@example.com', identifiers: {} },
      request: { method: 'POST', uri: '/login', ip: '198.51.100.7', headers: { 'user-agent': UA } },
    },
  },
  {
    name: 'custom-unicode-points-blocked',
    event: {
      ...base,
      event_id: 'vec-custom-1',
      occurred_at: AT + 2,
      user: { key: 'Zoë 日本語 🙂', identifiers: { tenant: 'eu-1', login: 'zoë' } },
      attack_type: 'payment_fraud',
      severity: 'CRITICAL',
      points: 25,
      blocked: true,
      request: null,
    },
    relay: {
      kind: 'custom',
      id: 'vec-custom-1',
      at: AT + 2,
      user: { key: 'Zoë 日本語 🙂', identifiers: { tenant: 'eu-1', login: 'zoë' } },
      type: 'payment_fraud',
      severity: 'CRITICAL',
      points: 25,
      blocked: true,
    },
  },
];

export function attackType(): avro.Type {
  return avro.Type.forSchema(JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as avro.Schema);
}

export function avroVectors(): AvroVectors {
  const type = attackType();
  return {
    schema: 'schemas/attack.avsc',
    schema_fingerprint_sha256: type.fingerprint('sha256').toString('hex'),
    schema_id: AVRO_SCHEMA_ID,
    events: AVRO_CASES.map((c) => ({ name: c.name, event: c.event, relay: c.relay, hex: encodeWire({ id: AVRO_SCHEMA_ID, type }, c.event).toString('hex') })),
  };
}
