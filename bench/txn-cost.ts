import { randomBytes } from 'node:crypto';
import { changelogTopic, scorerGroupId } from '../src/kafka/names.ts';
import { createKafka } from '../src/kafka/client.ts';
import { applyTopology } from '../src/kafka/topology.ts';
import { benchConfig, cpuSeconds, localBrokerPid, machine, removeBenchData, sleep } from './lib.ts';

// What a transaction costs the broker and the client, by how transactions are cut (issue 17): the
// scorer's load at a fixed rate (BENCH_TX_RATE events/s, 10,000 by default, one changelog record of
// 540 bytes per event and one alert per 100 events, spread over the input's partitions) committed as
//   per-partition  one transactional producer per partition, each committing every INTERVAL ms with
//                  its partition's input offset (the scorer since transactions by time);
//   one-producer   one transactional producer for every partition, committing every INTERVAL ms with
//                  all of their offsets in one TxnOffsetCommit (what KIP-447 allows safely: kafkajs
//                  sends no group metadata, so this measures the cost, not a safe design).
// Each pattern runs BENCH_TX_SECONDS (20) seconds at 50 and 100 ms; the table gives the broker's and
// this process's CPU per event and the transactions committed. The broker is shared (other clients' work
// shows in its CPU): an idle window before each pattern measures that background, and the net column
// subtracts it. Run: node --import tsx bench/txn-cost.ts

const RATE = Number(process.env.BENCH_TX_RATE ?? 10_000);
const SECONDS = Number(process.env.BENCH_TX_SECONDS ?? 20);
const VALUE = randomBytes(540);
const ALERT = randomBytes(700);

interface Figures {
  pattern: string;
  intervalMs: number;
  transactions: number;
  events: number;
  brokerUs: number;
  /** The broker's CPU per event less its CPU in the idle window before (the background). */
  netBrokerUs: number;
  clientUs: number;
}

async function main(): Promise<void> {
  const config = await benchConfig();
  try {
    await applyTopology(config);
    const broker = await localBrokerPid();
    if (!broker) throw new Error('the transactions bench measures the local broker: run it on the local stack');
    const kafka = createKafka(config);
    const admin = kafka.admin();
    await admin.connect();
    const partitions = (await admin.fetchTopicMetadata({ topics: [config.topics.attacks] })).topics[0]!.partitions.map((p) => p.partitionId);
    await admin.disconnect();
    const rows: Figures[] = [];
    for (const intervalMs of [100, 50]) {
      for (const pattern of ['per-partition', 'one-producer'] as const) rows.push(await measure(kafka, config, broker, partitions, pattern, intervalMs));
    }
    console.log(`# transactions — ${new Date().toISOString()} — ${machine()} — ${RATE} events/s, ${partitions.length} partitions, ${SECONDS} s each\n`);
    console.log('| pattern | commit interval (ms) | transactions | broker CPU per event (µs) | less the idle background (µs) | client CPU per event (µs) |\n|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.pattern} | ${r.intervalMs} | ${r.transactions} | ${r.brokerUs.toFixed(1)} | ${r.netBrokerUs.toFixed(1)} | ${r.clientUs.toFixed(1)} |`);
  } finally {
    await removeBenchData(config);
  }
}

async function measure(kafka: ReturnType<typeof createKafka>, config: Awaited<ReturnType<typeof benchConfig>>, broker: number, partitions: number[], pattern: 'per-partition' | 'one-producer', intervalMs: number): Promise<Figures> {
  const changelog = changelogTopic(config);
  const groupId = `${scorerGroupId(config)}-${pattern}-${intervalMs}`;
  const owners = pattern === 'per-partition' ? partitions.map((p) => [p]) : [partitions];
  const producers = owners.map((_, i) => kafka.producer({ transactionalId: `${groupId}-${i}`, idempotent: true, maxInFlightRequests: 1 }));
  await Promise.all(producers.map((p) => p.connect()));
  const perPartitionPerTick = Math.max(1, Math.round((RATE * intervalMs) / 1000 / partitions.length));
  const offsets = new Map(partitions.map((p) => [p, 0]));
  let transactions = 0;
  let events = 0;
  const tick = async (producer: (typeof producers)[number], own: number[]): Promise<void> => {
    const tx = await producer.transaction();
    const messages = own.flatMap((p) => Array.from({ length: perPartitionPerTick }, (_, i) => ({ key: `u-${p}-${i}`, value: VALUE, partition: p })));
    const alerts = own.flatMap((p) => Array.from({ length: Math.max(1, Math.round(perPartitionPerTick / 100)) }, (_, i) => ({ key: `u-${p}-${i}`, value: ALERT, partition: p })));
    await tx.sendBatch({ topicMessages: [{ topic: changelog, messages }, { topic: config.topics.alerts, messages: alerts }], acks: -1 });
    for (const p of own) offsets.set(p, offsets.get(p)! + perPartitionPerTick);
    await tx.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: config.topics.attacks, partitions: own.map((p) => ({ partition: p, offset: String(offsets.get(p)) })) }] });
    await tx.commit();
    transactions++;
    events += messages.length;
  };
  await Promise.all(producers.map((p, i) => tick(p, owners[i]!))); // initialises the transactional ids
  const idle0 = cpuSeconds(broker);
  await sleep(SECONDS * 500);
  const idlePerSecond = (cpuSeconds(broker) - idle0) / (SECONDS / 2);
  transactions = 0;
  events = 0;
  const cpu0 = process.cpuUsage();
  const broker0 = cpuSeconds(broker);
  const t0 = Date.now();
  const end = t0 + SECONDS * 1000;
  await Promise.all(
    producers.map(async (p, i) => {
      for (let next = Date.now(); next < end; next += intervalMs) {
        await tick(p, owners[i]!);
        const wait = next + intervalMs - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  const brokerSeconds = cpuSeconds(broker) - broker0;
  const brokerUs = (brokerSeconds / events) * 1e6;
  const netBrokerUs = ((brokerSeconds - idlePerSecond * ((Date.now() - t0) / 1000)) / events) * 1e6;
  await Promise.all(producers.map((p) => p.disconnect()));
  return { pattern, intervalMs, transactions, events, brokerUs, netBrokerUs, clientUs: (cpu.user + cpu.system) / events };
}

await main();
process.exit(0);
