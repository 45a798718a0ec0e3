import { describe, expect, it } from 'vitest';
import type { Attack } from '../../src/contracts.ts';
import { createKafka } from '../../src/kafka/client.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { AvroSerde, readerType } from '../../src/kafka/serde.ts';
import { createLogger } from '../../src/log.ts';
import { generateTraffic, trafficDefaults } from '../../src/simulate/generator.ts';
import { noisePerDay, startSimulation } from '../../src/simulate/runner.ts';
import { eventually, prepareTopics, testConfig } from './helpers.ts';

// The simulator against the real broker and registry: Avro values in the Confluent wire format, keys
// application/environment/user on their murmur2 partitions, exactly the generator's events (same seed,
// same start → same stream), paced by the simulation clock.

describe('risk-hub simulate on the real broker', () => {
  it('produces the generator stream as Avro, keyed and partitioned like an agent, paced by the clock', async () => {
    const config = testConfig();
    await prepareTopics(config);
    const start = Date.now() - 6 * 3_600_000;
    const opts = { seed: 'sim-it', start, speed: 3600, rate: 200, users: 50 };
    const t0 = Date.now();
    const sim = await startSimulation(config, { ...opts, maxEvents: 300, log: createLogger({ level: 'warn' }) });
    const stats = await sim.done;
    const elapsed = Date.now() - t0;
    expect(stats.sent).toBe(300);

    const expected = [...take(generateTraffic(trafficDefaults({ ...opts, scoring: config.scoring, noisePerDay: noisePerDay(opts.rate, opts.speed) })), 300)].map((e) => e.attack);
    // Pacing: the 300th event is due (occurred_at − start) / speed after the start, and not much earlier.
    const due = (expected[299]!.occurred_at - start) / opts.speed;
    expect(elapsed).toBeGreaterThanOrEqual(due - 250);

    const serde = new AvroSerde(config);
    const reader = readerType('attack.avsc');
    const got: Array<{ key: string; partition: number; value: Attack }> = [];
    const consumer = createKafka(config).consumer({ groupId: `${config.applicationId}-check`, readUncommitted: false, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic: config.topics.attacks, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        expect(message.value![0]).toBe(0); // Confluent magic byte
        got.push({ key: message.key!.toString(), partition, value: (await serde.decode<Attack>(message.value, reader)).value });
      },
    });
    try {
      await eventually(() => (got.length >= 300 ? true : undefined), 60_000, '300 attacks read back');
    } finally {
      await consumer.disconnect();
    }
    const byId = new Map(got.map((g) => [g.value.event_id, g]));
    for (const a of expected) {
      const g = byId.get(a.event_id)!;
      expect(g.value).toEqual(a);
      expect(g.key).toBe(`${a.application_id}/${a.environment}/${a.user.key}`);
      expect(g.partition).toBe(partitionFor(g.key, 6));
    }
  });
});

function* take<T>(it: Iterable<T>, n: number): Generator<T> {
  let i = 0;
  for (const x of it) {
    if (i++ >= n) return;
    yield x;
  }
}
