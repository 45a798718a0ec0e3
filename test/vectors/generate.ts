// Writes the shared conformance vectors (see README.md):
//   node --import tsx test/vectors/generate.ts
// identity.json from src/identity.ts's rules, keys.json from src/kafka/partitioner.ts, avro.json from
// avro.ts (the Node agent's producer encoding of sample events), requests.json
// from corpus.ts with `expect` = the Node agent's verdicts (node-verdicts.ts). vectors.test.ts checks
// that the committed files still agree with the code.

import { writeFileSync } from 'node:fs';
import { identityProblem, userKeyOf } from '../../src/identity.ts';
import { murmur2, partitionFor } from '../../src/kafka/partitioner.ts';
import { avroVectors } from './avro.ts';
import { CORPUS } from './corpus.ts';
import { nodeVerdicts } from './node-verdicts.ts';

const DIR = new URL('./', import.meta.url);

export interface IdentityVector {
  application_id: string;
  environment: string;
  user_key: string;
  valid: boolean;
  problem?: string;
}

const ok = 'shop';
const env = 'production';
const long64 = 'a'.repeat(64);
/** 256 bytes of UTF-8 exactly: 85 × "é" (2 bytes) = 170 + 86 × "a". */
const key256 = 'é'.repeat(85) + 'a'.repeat(86);

/** [application_id, environment, user_key, what it shows] */
export const IDENTITY_CASES: Array<[string, string, string]> = [
  [ok, env, 'u-1001'],
  [ok, env, 'alice@example.com'],
  [ok, env, 'anon:203.0.113.9'],
  [ok, env, 'anon:2001:db8::1'],
  [ok, env, 'user/with/slashes'],
  [ok, env, 'Zoë 日本語 🙂'],
  [ok, env, ' padded '],
  [ok, env, 'x'],
  [ok, env, 'a'.repeat(256)],
  [ok, env, key256],
  ['A', 'B', 'u'],
  ['0shop', '1env', 'u'],
  ['shop.v2', 'eu-west_1', 'u'],
  [long64, long64, 'u'],
  ['my_app-1.0', 'staging', 'u'],
  // invalid
  [ok, env, ''],
  [ok, env, '   '],
  [ok, env, 'a'.repeat(257)],
  [ok, env, key256 + 'a'],
  [ok, env, '🙂'.repeat(65)],
  ['', env, 'u'],
  ['a'.repeat(65), env, 'u'],
  ['shop/eu', env, 'u'],
  ['-shop', env, 'u'],
  ['.shop', env, 'u'],
  ['_shop', env, 'u'],
  ['shop app', env, 'u'],
  ['shöp', env, 'u'],
  ['shop\n', env, 'u'],
  [ok, '', 'u'],
  [ok, 'prod/eu', 'u'],
  [ok, ' production', 'u'],
  [ok, 'production ', 'u'],
  [ok, 'a'.repeat(65), 'u'],
  [ok, 'prod:1', 'u'],
];

export function identityVectors(): IdentityVector[] {
  return IDENTITY_CASES.map(([a, e, u]) => {
    const problem = identityProblem(a, e, u);
    return problem === undefined ? { application_id: a, environment: e, user_key: u, valid: true } : { application_id: a, environment: e, user_key: u, valid: false, problem };
  });
}

export interface KeyVector {
  application_id: string;
  environment: string;
  user_key: string;
  /** The Kafka record key: application_id/environment/user_key (UTF-8). */
  key: string;
  /** Java's Utils.murmur2 of the key's UTF-8 bytes, as a signed 32-bit integer. */
  murmur2: number;
  /** The partition: (murmur2 & 0x7fffffff) % partitions, for 6 and 12 partitions. */
  partitions: { '6': number; '12': number };
}

export const KEY_CASES: Array<[string, string, string]> = [
  ['shop', 'production', 'u-1001'],
  ['shop', 'production', 'u-1002'],
  ['shop', 'production', 'alice@example.com'],
  ['shop', 'production', 'anon:203.0.113.9'],
  ['shop', 'production', 'anon:2001:db8::1'],
  ['shop', 'production', 'anon:unknown'],
  ['shop', 'staging', 'u-1001'],
  ['payments', 'production', 'u-1001'],
  ['shop', 'production', 'carol'],
  ['shop', 'production', 'x'],
  ['shop', 'production', 'ab'],
  ['shop', 'production', 'abc'],
  ['shop', 'production', 'Zoë'],
  ['shop', 'production', '日本語ユーザー'],
  ['shop', 'production', '🙂 emoji'],
  ['shop', 'production', 'user/with/slashes'],
  ['shop', 'production', 'a'.repeat(256)],
  ['A', 'B', 'C'],
  ['a'.repeat(64), 'e'.repeat(64), 'u'.repeat(256)],
  ['demo', 'production', 'mallory'],
];

export function keyVectors(): KeyVector[] {
  return KEY_CASES.map(([a, e, u]) => {
    const key = userKeyOf(a, e, u);
    return { application_id: a, environment: e, user_key: u, key, murmur2: murmur2(Buffer.from(key, 'utf8')), partitions: { '6': partitionFor(key, 6), '12': partitionFor(key, 12) } };
  });
}

function write(name: string, value: unknown): void {
  writeFileSync(new URL(name, DIR), `${JSON.stringify(value, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  write('identity.json', identityVectors());
  write('keys.json', keyVectors());
  write('avro.json', avroVectors());
  const verdicts = await nodeVerdicts(CORPUS);
  write(
    'requests.json',
    CORPUS.map((r) => ({ ...r, expect: verdicts.get(r.name) ?? [] })),
  );
  console.log(`wrote identity.json (${IDENTITY_CASES.length}), keys.json (${KEY_CASES.length}), avro.json (${avroVectors().events.length}), requests.json (${CORPUS.length})`);
}
