import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { identityProblem } from '../../src/identity.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { CORPUS, type CorpusRequest } from './corpus.ts';
import { identityVectors, keyVectors, type IdentityVector, type KeyVector } from './generate.ts';
import { nodeVerdicts } from './node-verdicts.ts';

// The shared conformance vectors (test/vectors/README.md) still say what the code does: identity
// rules, murmur2 partitions, and the Node agent's verdicts on the request corpus. A failure here means
// the code changed: regenerate (node --import tsx test/vectors/generate.ts) only if the change is meant,
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

  it('requests.json: the Node agent (Express, real HTTP) still finds exactly the expected attack types', { timeout: 60_000 }, async () => {
    const vectors = load<Array<CorpusRequest & { expect: string[] }>>('requests.json');
    expect(vectors.map(({ expect: _e, ...r }) => r)).toEqual(CORPUS);
    expect(vectors.length).toBeGreaterThanOrEqual(40);
    const verdicts = await nodeVerdicts(vectors);
    for (const v of vectors) expect({ name: v.name, found: verdicts.get(v.name) }).toEqual({ name: v.name, found: v.expect });
  });
});
