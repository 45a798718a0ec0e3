import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { identityProblem } from '../../src/identity.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { readerType } from '../../src/kafka/serde.ts';
import { ScoringSchema } from '../../src/config/scoring.ts';
import type { Severity } from '../../src/contracts.ts';
import { pointsFor, resolvePolicy, tierFor } from '../../src/scoring/policy.ts';
import { attackType, avroVectors, type AvroVectors } from './avro.ts';
import { CORPUS, type CorpusRequest } from './corpus.ts';
import { identityVectors, keyVectors, type IdentityVector, type KeyVector } from './generate.ts';
import { nodeVerdicts } from './node-verdicts.ts';

// The shared conformance vectors (test/vectors/README.md) still say what the code does: identity
// rules, murmur2 partitions, and the Node agent's verdicts on the request corpus. A failure here means
// the code changed (or avro.json: the schema or the producer's encoding): regenerate (node --import tsx test/vectors/generate.ts) only if the change is meant,
// since every agent's suite checks these files.

const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, import.meta.url), 'utf8')) as T;

describe('test/vectors', () => {
  it('identity.json: every vector is valid or invalid, with the problem text, as src/identity.ts says', () => {
    const vectors = load<IdentityVector[]>('identity.json');
    expect(vectors).toEqual(identityVectors());
    for (const v of vectors) expect(identityProblem(v.application_id, v.environment, v.user_key)).toBe(v.problem);
    expect(vectors.filter((v) => v.valid).length).toBeGreaterThan(10);
    expect(vectors.filter((v) => !v.valid).length).toBeGreaterThan(10);
  });

  it('keys.json: murmur2 partitions for 6 and 12 partitions as src/kafka/partitioner.ts computes them', () => {
    const vectors = load<KeyVector[]>('keys.json');
    expect(vectors).toEqual(keyVectors());
    for (const v of vectors) {
      expect(v.key).toBe(`${v.application_id}/${v.environment}/${v.user_key}`);
      expect(v.partitions['6']).toBe(partitionFor(v.key, 6));
      expect(v.partitions['12']).toBe(partitionFor(v.key, 12));
    }
    // known values of the Java client (org.apache.kafka.common.utils.Utils.murmur2) as a fixed point
    expect(new Set(vectors.map((v) => v.partitions['12'])).size).toBeGreaterThan(4);
  });

  it('avro.json: the Node agent\'s producer (the relay\'s) encodes each sample event to exactly these Confluent wire-format bytes', () => {
    const v = load<AvroVectors>('avro.json');
    expect(v).toEqual(avroVectors());
    expect(v.schema_fingerprint_sha256).toBe(attackType().fingerprint('sha256').toString('hex'));
    expect(v.events.length).toBeGreaterThanOrEqual(3);
    const reader = readerType('attack.avsc'); // the scorer's reader schema
    for (const e of v.events) {
      const bytes = Buffer.from(e.hex, 'hex');
      expect(bytes[0], e.name).toBe(0); // Confluent magic byte
      expect(bytes.readInt32BE(1), e.name).toBe(v.schema_id);
      expect(reader.fromBuffer(bytes.subarray(5)), e.name).toEqual(e.event);
    }
  });

  it('e2e-traffic.json: corpus requests, and an expected score that is the default points of its records', () => {
    const t = load<{ attacks: string[]; login_burst: { failures: number }; expect: { increase_24h: number; risk_score: number; tier: number; alerted_tier: number; contributions: number; alert_tiers: number[]; records: string[] } }>('e2e-traffic.json');
    const corpus = new Map(load<Array<CorpusRequest & { expect: string[] }>>('requests.json').map((r) => [r.name, r]));
    for (const name of t.attacks) expect(corpus.get(name)?.expect.length, name).toBeGreaterThan(0);
    // one record per attack type the Node agent finds in each request, one per failed login, and the two bursts
    const types = t.expect.records.map((r) => r.split(':')[0]);
    expect(types.filter((x) => x === 'auth_failure').length).toBe(t.login_burst.failures);
    expect(types.filter((x) => x !== 'auth_failure' && x !== 'credential_stuffing').sort()).toEqual(t.attacks.flatMap((n) => corpus.get(n)!.expect).sort());
    // the scorer's sum at the default policy (the CI's and the tests' scorers use it)
    const policy = resolvePolicy(ScoringSchema.parse({}), 'any');
    const sum = t.expect.records.reduce((s, r) => s + pointsFor(policy, { points: null, attack_type: r.split(':')[0]!, severity: r.split(':')[1] as Severity }), 0);
    expect({ sum, tier: tierFor(policy, sum), contributions: t.expect.records.length }).toEqual({ sum: t.expect.increase_24h, tier: t.expect.tier, contributions: t.expect.contributions });
    expect(t.expect.risk_score).toBe(sum);
  });

  it('requests.json: the Node agent (Express, real HTTP) still finds exactly the expected attack types', { timeout: 60_000 }, async () => {
    const vectors = load<Array<CorpusRequest & { expect: string[] }>>('requests.json');
    expect(vectors.map(({ expect: _e, ...r }) => r)).toEqual(CORPUS);
    expect(vectors.length).toBeGreaterThanOrEqual(40);
    const verdicts = await nodeVerdicts(vectors);
    for (const v of vectors) expect({ name: v.name, found: verdicts.get(v.name) }).toEqual({ name: v.name, found: v.expect });
  });
});
