import { describe, expect, it } from 'vitest';
import { ConnectionError, PoisonRecordError } from '../../src/errors.ts';
import { classifyKafkaLog, retriedError, RetriedErrorLimiter } from '../../src/kafka/log-classify.ts';

// kafkajs logs at ERROR many errors it retries by itself (issue 13 item 8): those are counted and
// logged at WARN at most once per interval; ERROR stays for what an operator must act on. The log
// entries below are the shapes kafkajs 2.2.4 writes (src/network/connection.js, producer, consumer).

const CONCURRENT = 'The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing';

describe('retriedError: which kafkajs log entries report an error kafkajs retries', () => {
  it.each([
    ['Response AddOffsetsToTxn(key: 25, version: 1)', { error: CONCURRENT, correlationId: 7 }, 'CONCURRENT_TRANSACTIONS'],
    ['Response AddPartitionsToTxn(key: 24, version: 1)', { error: "The coordinator is loading and hence can't process requests for this group" }, 'COORDINATOR_LOAD_IN_PROGRESS'],
    ['Response FindCoordinator(key: 10, version: 2)', { error: 'The group coordinator is not available' }, 'COORDINATOR_NOT_AVAILABLE'],
    ['Response EndTxn(key: 26, version: 1)', { error: 'This is not the correct coordinator for this group' }, 'NOT_COORDINATOR'],
    ['Response Produce(key: 0, version: 7)', { error: 'This server is not the leader for that topic-partition' }, 'NOT_LEADER_FOR_PARTITION'],
    ['Response JoinGroup(key: 11, version: 5)', { error: 'The group is rebalancing, so a rejoin is needed' }, 'REBALANCE_IN_PROGRESS'],
    [`Failed to send messages: ${CONCURRENT}`, { retryCount: 0, retryTime: 300 }, 'CONCURRENT_TRANSACTIONS'],
    [CONCURRENT, { retryCount: 1, retryTime: 600 }, 'CONCURRENT_TRANSACTIONS'],
    ['Connection error: connect ECONNREFUSED 127.0.0.1:9092', { broker: '127.0.0.1:9092' }, 'CONNECTION_ERROR'],
    ['Connection timeout', { broker: '127.0.0.1:9092' }, 'CONNECTION_ERROR'],
    ['Failed to connect to seed broker, trying another broker from the list: Connection timeout', { retryCount: 2 }, 'CONNECTION_ERROR'],
    ['Request Produce(key: 0, version: 7) timed out', {}, 'REQUEST_TIMEOUT'],
    ['The coordinator is not aware of this member, re-joining the group', { groupId: 'g' }, 'UNKNOWN_MEMBER_ID'],
    ['The group is rebalancing, re-joining', { groupId: 'g' }, 'REBALANCE_IN_PROGRESS'],
    ['Restarting the consumer in 3000ms', { retryCount: 1 }, 'CONSUMER_RESTART'],
    ['The group is rebalancing, so a rejoin is needed, resync group', { groupId: 'g' }, 'REBALANCE_IN_PROGRESS'],
    // Our own handler threw a retriable Risk Hub error (registry or broker outage): kafkajs retries the batch.
    ['Error when calling eachBatch', { error: new ConnectionError('schema registry down') }, 'RH_CONNECTION'],
  ])('%s → %s', (message, fields, expected) => {
    expect(retriedError(message, fields)).toBe(expected);
  });

  it.each([
    ['Response Produce(key: 0, version: 7)', { error: 'Not authorized to access topics: [Topic authorization failed]' }],
    ['Response AddOffsetsToTxn(key: 25, version: 1)', { error: "Producer attempted an operation with an old epoch. Either there is a newer producer with the same transactionalId, or the producer's transaction has been expired by the broker" }],
    ['Response EndTxn(key: 26, version: 1)', { error: 'The producer attempted a transactional operation in an invalid state' }],
    ['Crash: KafkaJSNumberOfRetriesExceeded: Connection error: connect ECONNREFUSED', { groupId: 'g' }],
    ['Error when calling eachBatch', { error: new PoisonRecordError('undecodable', 'bad record') }],
    ['Error when calling eachBatch', { error: new TypeError('x is undefined') }],
    ['Something nobody has seen before', {}],
  ])('%s stays an error for an operator', (message, fields) => {
    expect(retriedError(message, fields)).toBeUndefined();
  });
});

describe('classifyKafkaLog', () => {
  it('logs a retried error at WARN once per client, error and interval, at DEBUG otherwise, each counted', () => {
    let now = 0;
    const limiter = new RetriedErrorLimiter(60_000, () => now);
    const line = () => classifyKafkaLog('error', 'Response AddOffsetsToTxn(key: 25, version: 1)', { error: CONCURRENT }, 'risk-hub-scorer', limiter);
    expect(line()).toEqual({ level: 'warn', retried: 'CONCURRENT_TRANSACTIONS', suppressed: 0 });
    const burst = Array.from({ length: 30 }, () => (now += 1000, line()));
    expect(burst.filter((v) => v.level === 'warn')).toHaveLength(0);
    expect(burst.every((v) => v.level === 'debug' && v.retried === 'CONCURRENT_TRANSACTIONS')).toBe(true);
    // Another client or another error has its own budget.
    expect(classifyKafkaLog('error', 'Response AddOffsetsToTxn(key: 25, version: 1)', { error: CONCURRENT }, 'risk-hub-notifier', limiter).level).toBe('warn');
    expect(classifyKafkaLog('error', 'Response EndTxn(key: 26, version: 1)', { error: 'This is not the correct coordinator for this group' }, 'risk-hub-scorer', limiter).level).toBe('warn');
    // The next interval: one WARN again, telling how many went to DEBUG meanwhile.
    now += 60_000;
    expect(line()).toEqual({ level: 'warn', retried: 'CONCURRENT_TRANSACTIONS', suppressed: 30 });
  });

  it('keeps ERROR for errors that do not heal, drops known noise, passes the rest through', () => {
    const limiter = new RetriedErrorLimiter();
    expect(classifyKafkaLog('error', 'Response Produce(key: 0, version: 7)', { error: 'Not authorized to access topics: [Topic authorization failed]' }, 'c', limiter)).toEqual({ level: 'error' });
    expect(classifyKafkaLog('warn', 'Limiting retries for the idempotent producer may invalidate EoS guarantees', {}, 'c', limiter)).toEqual({ level: 'drop' });
    expect(classifyKafkaLog('warn', 'consumer#run was called, but the consumer is already running', {}, 'c', limiter)).toEqual({ level: 'warn' });
    expect(classifyKafkaLog('info', 'Consumer has joined the group', {}, 'c', limiter)).toEqual({ level: 'info' });
  });
});

describe('the kafkajs log creator (pino + metric)', () => {
  it('turns a burst of CONCURRENT_TRANSACTIONS errors into one WARN line and counts them all', async () => {
    const { Writable } = await import('node:stream');
    const { default: kafkajs } = await import('kafkajs');
    const { createLogger } = await import('../../src/log.ts');
    const { pinoLogCreator } = await import('../../src/kafka/client.ts');
    const { kafkaRetriedErrors } = await import('../../src/metrics/index.ts');
    const lines: Array<{ level: number; msg: string; retried?: string }> = [];
    const destination = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as never), cb()) });
    const log = pinoLogCreator(createLogger({ level: 'warn', destination }), 'test-client')(kafkajs.logLevel.WARN);
    const before = (await kafkaRetriedErrors.get()).values.find((v) => v.labels.client === 'test-client' && v.labels.error === 'CONCURRENT_TRANSACTIONS')?.value ?? 0;
    for (let i = 0; i < 30; i++) {
      log({ namespace: 'Connection', level: kafkajs.logLevel.ERROR, label: 'ERROR', log: { timestamp: 'x', logger: 'kafkajs', message: 'Response AddOffsetsToTxn(key: 25, version: 1)', error: CONCURRENT } });
    }
    log({ namespace: 'Connection', level: kafkajs.logLevel.ERROR, label: 'ERROR', log: { timestamp: 'x', logger: 'kafkajs', message: 'Response Produce(key: 0, version: 7)', error: 'Not authorized to access topics: [Topic authorization failed]' } });
    // kafkajs' broker pool logs an Error object as the message.
    log({ namespace: 'BrokerPool', level: kafkajs.logLevel.ERROR, label: 'ERROR', log: { timestamp: 'x', logger: 'kafkajs', message: new Error('Connection timeout') as unknown as string } });
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => l.level === 40).map((l) => l.retried)).toEqual(['CONCURRENT_TRANSACTIONS', 'CONNECTION_ERROR']);
    expect(lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual(['Response Produce(key: 0, version: 7)']);
    const after = (await kafkaRetriedErrors.get()).values.find((v) => v.labels.client === 'test-client' && v.labels.error === 'CONCURRENT_TRANSACTIONS')?.value;
    expect(after).toBe(before + 30);
  });
});
