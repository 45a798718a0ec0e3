import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { registerSchemas } from '../src/kafka/schemas.ts';
import { AvroSerde, readerType } from '../src/kafka/serde.ts';
import { applyTopology } from '../src/kafka/topology.ts';
import { benchConfig, localBrokerPid, removeBenchData } from './lib.ts';
import { produceAll, rawLoop } from './scorer.ts';

// The native-client experiment (docs/benchmarks.md, "Why 0.5 of the raw loop is out of reach"): is
// librdkafka, through @confluentinc/kafka-javascript, a faster consumer than the patched kafkajs the
// scorer uses? Over the same BENCH_EVENTS pre-produced attacks, one after another:
//   kafkajs            the scorer bench's raw eachBatch loop, without and with Avro decoding
//   ckjs-kafkajs-api   @confluentinc/kafka-javascript's KafkaJS-shaped eachBatch (unbounded batches)
//   ckjs-native        its node-rdkafka-shaped consume(10,000) loop
// The package is not a dependency of Risk Hub (it builds librdkafka from source, ~2 minutes): install it
// beside the project and point CKJS_DIR at that folder:
//   apt-get install -y libsasl2-dev libzstd-dev liblz4-dev libcurl4-openssl-dev libssl-dev
//   mkdir /tmp/ckjs && cd /tmp/ckjs && npm init -y && CKJS_LINKING=dynamic npm install @confluentinc/kafka-javascript@1.10.1
//   CKJS_DIR=/tmp/ckjs npx tsx bench/native-client.ts

const dir = process.env.CKJS_DIR;
if (!dir) {
  console.error('set CKJS_DIR to a folder where @confluentinc/kafka-javascript is installed (see the top of bench/native-client.ts)');
  process.exit(2);
}
const ck = createRequire(resolve(dir) + '/')('@confluentinc/kafka-javascript');
const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);

const config = await benchConfig({});
await applyTopology(config);
await registerSchemas(config);
console.error(`producing ${N} attacks…`);
await produceAll(config);
const serde = new AvroSerde(config);
const reader = readerType('attack.avsc');
const broker = await localBrokerPid();

/** Times `loop` from its first record to N records: records/s and the process's CPU µs per record (all threads, librdkafka's included). */
async function measure(loop: (first: () => void, count: (n: number) => boolean) => Promise<void>) {
  let n = 0;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  await loop(
    () => {
      if (t0) return;
      t0 = Date.now();
      cpu0 = process.cpuUsage();
    },
    (k) => (n += k) >= N,
  );
  const cpu = process.cpuUsage(cpu0);
  return { 'records/s': Math.round((n / (Date.now() - t0)) * 1000), 'CPU µs/record': Number(((cpu.user + cpu.system) / n).toFixed(1)) };
}

async function decodeAll(values: (Buffer | null)[]): Promise<void> {
  for (const v of values) if (!serde.decodeCached(v, reader)) await serde.decode(v, reader);
}

function ckjsKafkaJsApi(decode: boolean) {
  return measure(async (first, count) => {
    const consumer = new ck.KafkaJS.Kafka({ kafkaJS: { brokers: config.kafka.brokers, logLevel: 1 } }).consumer({
      kafkaJS: { groupId: `${config.applicationId}-ckjs-${randomUUID()}`, fromBeginning: true },
      'js.consumer.max.batch.size': -1,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: config.topics.attacks });
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    await consumer.run({
      eachBatch: async ({ batch }: { batch: { messages: { value: Buffer | null }[] } }) => {
        first();
        if (decode) await decodeAll(batch.messages.map((m) => m.value));
        if (count(batch.messages.length)) done();
      },
    });
    await finished;
    await consumer.disconnect();
  });
}

function ckjsNative(decode: boolean) {
  return measure(async (first, count) => {
    const consumer = new ck.KafkaConsumer(
      { 'group.id': `${config.applicationId}-native-${randomUUID()}`, 'metadata.broker.list': config.kafka.brokers.join(','), 'enable.auto.commit': false },
      { 'auto.offset.reset': 'earliest' },
    );
    await new Promise((r) => {
      consumer.once('ready', r);
      consumer.connect();
    });
    consumer.subscribe([config.topics.attacks]);
    // Bounded: N records arrive, or the 10-minute deadline ends the loop.
    const deadline = Date.now() + 600_000;
    while (Date.now() < deadline) {
      const messages: { value: Buffer | null }[] = await new Promise((res, rej) => consumer.consume(10_000, (e: Error | null, m: { value: Buffer | null }[]) => (e ? rej(e) : res(m))));
      if (!messages.length) continue;
      first();
      if (decode) await decodeAll(messages.map((m) => m.value));
      if (count(messages.length)) break;
    }
    await new Promise((r) => consumer.disconnect(r));
  });
}

const rows: Record<string, unknown> = {};
for (const decode of [false, true]) {
  const suffix = decode ? ' + Avro decoding' : '';
  console.error(`kafkajs${suffix}…`);
  const k = await rawLoop(config, decode, broker);
  rows[`kafkajs (patched) eachBatch${suffix}`] = { 'records/s': Math.round(k.rate), 'CPU µs/record': Number(k.cpuUs.toFixed(1)) };
  console.error(`@confluentinc/kafka-javascript, KafkaJS API${suffix}…`);
  rows[`@confluentinc/kafka-javascript ${ck.librdkafkaVersion ? `(librdkafka ${ck.librdkafkaVersion}) ` : ''}KafkaJS eachBatch${suffix}`] = await ckjsKafkaJsApi(decode);
  console.error(`@confluentinc/kafka-javascript, consume(10,000)${suffix}…`);
  rows[`@confluentinc/kafka-javascript consume(10,000)${suffix}`] = await ckjsNative(decode);
}
await removeBenchData(config);
console.log(`\n| consumer (${N} records) | records/s | CPU µs/record |\n|---|---|---|`);
for (const [name, r] of Object.entries(rows) as [string, Record<string, number>][]) console.log(`| ${name} | ${r['records/s']} | ${r['CPU µs/record']} |`);
process.exit(0);
