import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.ts';
import { readerType } from '../../src/kafka/serde.ts';
import { createLogger } from '../../src/log.ts';
import { startRelay, type RelayHandle } from '../../src/relay/server.ts';
import { AVRO_CASES, avroVectors } from '../vectors/avro.ts';
import { prepareTopics, testConfig } from './helpers.ts';
import { TopicReader } from './scorer-harness.ts';

// test/vectors/avro.json on the real path: each sample's relay event posted to a real relay in front of
// the real broker and registry; the value the relay produced on the attacks topic is the vector's bytes
// (the schema id in bytes 1-4 is the registry's, the Avro binary after it the vector's, byte for byte).
// The Python, Java, Ruby and PHP agents never encode Avro: this is the encoding done on their behalf.

const TOKEN = 'avro-vectors-token-0123456789';
let config: Config;
let relay: RelayHandle;
let reader: TopicReader<Buffer>;

beforeAll(async () => {
  config = testConfig({ relay: { port: 0, applications: { shop: { tokenEnv: 'AVRO_IT_TOKEN', environments: ['production'] } } } });
  await prepareTopics(config);
  relay = await startRelay({ config, log: createLogger({ level: 'warn', name: 'relay' }), env: { AVRO_IT_TOKEN: TOKEN } });
  reader = await new TopicReader<Buffer>(config, config.topics.attacks, 'raw').start();
});

afterAll(async () => {
  await relay?.close(5000);
  await reader?.stop();
});

describe('test/vectors/avro.json through the relay', () => {
  it('the relay produces exactly the vector bytes for each sample event', async () => {
    const res = await fetch(`http://127.0.0.1:${relay.port}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent: { name: 'risk-hub-vectors', version: '0', language: 'test' }, application_id: 'shop', environment: 'production', events: AVRO_CASES.map((c) => c.relay) }),
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { rejected: number }).rejected).toBe(0);

    const records = await reader.waitFor(AVRO_CASES.length);
    const type = readerType('attack.avsc');
    const byId = new Map(records.map((r) => [(type.fromBuffer(r.value.subarray(5)) as { event_id: string }).event_id, r]));
    const vectors = avroVectors();
    for (const v of vectors.events) {
      const r = byId.get(v.event.event_id);
      expect(r, v.name).toBeDefined();
      expect(r!.value[0], v.name).toBe(0);
      expect(r!.key, v.name).toBe(`${v.event.application_id}/${v.event.environment}/${v.event.user.key}`);
      // the registry's id in bytes 1-4; then the Avro binary, equal to the vector's byte for byte
      expect({ name: v.name, avro: r!.value.subarray(5).toString('hex') }).toEqual({ name: v.name, avro: v.hex.slice(10) });
    }
    expect(records.length).toBe(AVRO_CASES.length); // no other record (a login failure alone is no burst)
  });
});
