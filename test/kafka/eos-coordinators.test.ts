import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

// patches/kafkajs+2.2.4.patch: the transactional producer remembers its coordinators' node ids instead
// of a FindCoordinator request before every AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and
// EndTxn, and forgets one on any error of a request sent to it. The failure modes, without a broker: a
// fake cluster whose coordinators move. (test/integration/kip447.test.ts counts the requests against
// the real broker.)

const require = createRequire(import.meta.url);
const createEosManager = require('kafkajs/src/producer/eosManager/index.js') as (a: object) => EosManager;
const { KafkaJSProtocolError } = require('kafkajs/src/errors.js') as { KafkaJSProtocolError: new (e: object) => Error };
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as { createErrorFromCode(code: number): object };

interface EosManager {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  addPartitionsToTransaction(topics: Array<{ topic: string; partitions: Array<{ partition: number }> }>): Promise<void>;
  sendOffsets(a: { consumerGroupId: string; topics: unknown[] }): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

const NOT_COORDINATOR = 16;
const notCoordinator = () => new KafkaJSProtocolError(createErrorFromCode(NOT_COORDINATOR));

/** A broker that records the requests it is sent (`log`, as `<nodeId>:<api>`) and fails the next ones queued in `failNext`. */
function fakeBroker(nodeId: number, log: string[], failNext: string[]) {
  const answer = (api: string, result: object = {}) => async () => {
    log.push(`${nodeId}:${api}`);
    if (failNext[0] === api) {
      failNext.shift();
      throw notCoordinator();
    }
    return result;
  };
  return {
    nodeId,
    initProducerId: answer('InitProducerId', { producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: answer('AddPartitionsToTxn'),
    addOffsetsToTxn: answer('AddOffsetsToTxn'),
    txnOffsetCommit: answer('TxnOffsetCommit'),
    endTxn: answer('EndTxn'),
  };
}

/** A cluster whose coordinator of every kind is `coordinator.nodeId`; `gone` node ids are not in its metadata. */
function fakeCluster() {
  const log: string[] = [];
  const failNext: string[] = [];
  const brokers = new Map([1, 2].map((id) => [id, fakeBroker(id, log, failNext)]));
  const state = { coordinator: 1, gone: new Set<number>() };
  const cluster = {
    retry: { retries: 3, initialRetryTime: 1, maxRetryTime: 5 },
    refreshMetadataIfNecessary: async () => {},
    findGroupCoordinator: async ({ coordinatorType }: { coordinatorType: number }) => {
      log.push(`FindCoordinator(${coordinatorType === 1 ? 'transaction' : 'group'})`);
      return brokers.get(state.coordinator);
    },
    findBroker: async ({ nodeId }: { nodeId: number }) => {
      if (state.gone.has(nodeId)) throw Object.assign(new Error(`broker ${nodeId} not found`), { name: 'KafkaJSBrokerNotFound' });
      return brokers.get(nodeId);
    },
  };
  return { cluster, log, failNext, state };
}

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const TOPICS = [{ topic: 'out', partitions: [{ partition: 0 }] }];
const OFFSETS = [{ topic: 'in', partitions: [{ partition: 0, offset: '1' }] }];

async function transaction(eos: EosManager): Promise<void> {
  eos.beginTransaction();
  await eos.addPartitionsToTransaction(TOPICS);
  await eos.sendOffsets({ consumerGroupId: 'g', topics: OFFSETS });
  await eos.commit();
}

/** A transactional EOS manager on `cluster`, its producer id initialised (the transaction coordinator looked up). */
async function initialised(cluster: ReturnType<typeof fakeCluster>['cluster']): Promise<EosManager> {
  const eos = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx' });
  await eos.initProducerId();
  return eos;
}

describe('patched kafkajs: remembered transaction and group coordinators', () => {
  it('looks each coordinator up once, then sends every transaction\'s requests straight to it', async () => {
    const { cluster, log } = fakeCluster();
    const eos = await initialised(cluster);
    for (let i = 0; i < 3; i++) await transaction(eos);
    expect(log.filter((l) => l.startsWith('FindCoordinator'))).toEqual(['FindCoordinator(transaction)', 'FindCoordinator(group)']);
    expect(log.filter((l) => l === '1:EndTxn')).toHaveLength(3);
  });

  it('forgets a coordinator that answered with an error: the next request looks it up again and goes to the new one', async () => {
    const { cluster, log, failNext, state } = fakeCluster();
    const eos = await initialised(cluster);
    await transaction(eos);
    // The transaction coordinator moves to broker 2; broker 1 answers NOT_COORDINATOR to the next AddPartitionsToTxn.
    state.coordinator = 2;
    failNext.push('AddPartitionsToTxn');
    log.length = 0;
    eos.beginTransaction();
    await expect(eos.addPartitionsToTransaction(TOPICS)).rejects.toThrow(/coordinator/i);
    await eos.addPartitionsToTransaction(TOPICS); // kafkajs' send retries it so
    await eos.commit();
    expect(log).toEqual(['1:AddPartitionsToTxn', 'FindCoordinator(transaction)', '2:AddPartitionsToTxn', '2:EndTxn']);
    log.length = 0;
    await transaction(eos);
    expect(log).toEqual(['2:AddPartitionsToTxn', '2:AddOffsetsToTxn', '1:TxnOffsetCommit', '2:EndTxn']);
  });

  it('finds the group coordinator again when TxnOffsetCommit answers NOT_COORDINATOR (kafkajs\' name for it is NOT_COORDINATOR_FOR_GROUP), and retries', async () => {
    const { cluster, log, failNext, state } = fakeCluster();
    const eos = await initialised(cluster);
    await transaction(eos);
    state.coordinator = 2;
    failNext.push('TxnOffsetCommit');
    log.length = 0;
    eos.beginTransaction();
    await eos.sendOffsets({ consumerGroupId: 'g', topics: OFFSETS });
    await eos.commit();
    expect(log).toEqual(['1:AddOffsetsToTxn', '1:TxnOffsetCommit', 'FindCoordinator(group)', '2:TxnOffsetCommit', '1:EndTxn']);
  });

  it('looks a remembered coordinator up again when its node has left the metadata', async () => {
    const { cluster, log, state } = fakeCluster();
    const eos = await initialised(cluster);
    state.gone.add(1);
    state.coordinator = 2;
    log.length = 0;
    await transaction(eos);
    expect(log).toEqual(['FindCoordinator(transaction)', '2:AddPartitionsToTxn', '2:AddOffsetsToTxn', 'FindCoordinator(group)', '2:TxnOffsetCommit', '2:EndTxn']);
  });
});
