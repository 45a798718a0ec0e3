import type { Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { TransactionFencedByGroupError } from '../../src/errors.ts';
import { classifyFailure } from '../../src/scorer/failures.ts';
import { SharedTransactions } from '../../src/scorer/shared-transactions.ts';

// The process's shared producer without a broker (scorer.transactionScope process): what one shared
// transaction sends for the tasks in it, and what a failure does to each of them. The protocol itself
// (TxnOffsetCommit v3, require_stable) is tested on the real broker in test/integration/kip447.test.ts.

type Call = { op: string; arg?: unknown };

/** A kafkajs transactional producer that records every call; `fail` makes the next call of each op in it throw. */
class FakeKafkaProducer {
  readonly calls: Call[] = [];
  readonly fail = new Map<string, Error>();
  private offset = 0;
  private step(op: string, arg?: unknown): void {
    this.calls.push({ op, arg });
    const err = this.fail.get(op);
    if (err) {
      this.fail.delete(op);
      throw err;
    }
  }
  async connect() {
    this.step('connect');
  }
  async disconnect() {
    this.step('disconnect');
  }
  async transaction() {
    this.step('transaction');
    return {
      sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string; messages: Array<{ partition: number }> }> }) => {
        this.step('sendBatch', topicMessages);
        const out: Array<{ topicName: string; partition: number; baseOffset: string; errorCode: number }> = [];
        for (const tm of topicMessages) {
          for (const p of new Set(tm.messages.map((m) => m.partition))) {
            out.push({ topicName: tm.topic, partition: p, baseOffset: String(this.offset), errorCode: 0 });
            this.offset += tm.messages.filter((m) => m.partition === p).length;
          }
        }
        return out;
      },
      sendOffsets: async (arg: unknown) => this.step('sendOffsets', arg),
      commit: async () => this.step('commit'),
      abort: async () => this.step('abort'),
    };
  }
}

function shared() {
  const producers: FakeKafkaProducer[] = [];
  const fenced: number[] = [];
  const tx = new SharedTransactions({
    groupId: 'app-scorer',
    createProducer: () => {
      const p = new FakeKafkaProducer();
      producers.push(p);
      return p as unknown as Producer;
    },
    fencePartitionScope: async (p) => void fenced.push(p),
  });
  return { tx, producers, fenced, ops: (i = 0) => producers[i]!.calls.map((c) => c.op) };
}

const changelog = (p: number, n = 1) => ({ topic: 'changelog', messages: Array.from({ length: n }, (_, i) => ({ key: `u${i}`, value: Buffer.from('s'), partition: p })) });
const offset = (p: number, next: bigint) => ({ topic: 'attacks', partition: p, next });
const G = { generationId: 7, memberId: 'member-a' };

describe('SharedTransactions', () => {
  it('fences once for every task: the producer connects and initialises its transactional id one time; each partition\'s id of the partition scope is fenced too', async () => {
    const { tx, producers, fenced, ops } = shared();
    await Promise.all([tx.portFor(0).fence(), tx.portFor(1).fence(), tx.portFor(2).fence()]);
    expect(producers).toHaveLength(1);
    expect(ops()).toEqual(['connect', 'transaction', 'abort']);
    expect(fenced.sort()).toEqual([0, 1, 2]);
  });

  it('tasks committing in the same turn share one transaction: one send, one TxnOffsetCommit with every offset as this member, one commit; each task gets its own ranges', async () => {
    const { tx, producers, ops } = shared();
    tx.setGeneration(G);
    const [r0, r1] = await Promise.all([tx.portFor(0).transact([changelog(0, 2)], [offset(0, 10n)]), tx.portFor(1).transact([changelog(1, 3)], [offset(1, 20n)])]);
    expect(ops()).toEqual(['connect', 'transaction', 'abort', 'transaction', 'sendBatch', 'sendOffsets', 'commit']);
    expect(producers[0]!.calls.find((c) => c.op === 'sendOffsets')!.arg).toEqual({
      consumerGroupId: 'app-scorer',
      topics: [{ topic: 'attacks', partitions: [{ partition: 0, offset: '10' }, { partition: 1, offset: '20' }] }],
      consumerGroupMetadata: G,
    });
    expect(r0).toEqual([{ topic: 'changelog', partition: 0, baseOffset: 0n, count: 2 }]);
    expect(r1).toEqual([{ topic: 'changelog', partition: 1, baseOffset: 2n, count: 3 }]);
    expect(tx.commits).toBe(1);
  });

  it('a task committing while a shared transaction is in flight goes into the next one', async () => {
    const { tx, ops } = shared();
    tx.setGeneration(G);
    const first = tx.portFor(0).transact([changelog(0)], [offset(0, 1n)]);
    await new Promise((r) => setImmediate(r)); // the first is on its way
    const second = tx.portFor(1).transact([changelog(1)], [offset(1, 1n)]);
    await Promise.all([first, second]);
    expect(ops().filter((o) => o === 'commit')).toHaveLength(2);
    expect(tx.commits).toBe(2);
  });

  it('a failure fails every task in the transaction and aborts it; an abort that fails too drops the producer, and the next transaction initialises a new one', async () => {
    const { tx, producers } = shared();
    tx.setGeneration(G);
    await tx.portFor(0).fence();
    producers[0]!.fail.set('sendBatch', new Error('NOT_LEADER_FOR_PARTITION'));
    const results = await Promise.allSettled([tx.portFor(0).transact([changelog(0)], [offset(0, 1n)]), tx.portFor(1).transact([changelog(1)], [offset(1, 1n)])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(producers[0]!.calls.at(-1)!.op).toBe('abort');
    expect(producers).toHaveLength(1);

    producers[0]!.fail.set('commit', new Error('the answer was lost')).set('abort', new Error('connection closed'));
    await expect(tx.portFor(0).transact([changelog(0)], [offset(0, 2n)])).rejects.toThrow('the answer was lost');
    expect(producers[0]!.calls.at(-1)!.op).toBe('disconnect');
    await tx.portFor(0).transact([changelog(0)], [offset(0, 2n)]);
    expect(producers).toHaveLength(2); // a new producer, whose initialisation settles what the first left open
    expect(producers[1]!.calls.map((c) => c.op)).toEqual(['connect', 'transaction', 'abort', 'transaction', 'sendBatch', 'sendOffsets', 'commit']);
  });

  it('a transaction aborted for a passing reason (CONCURRENT_TRANSACTIONS: the markers of the last one still being written) is tried again, and the tasks never see it', async () => {
    const { tx, producers } = shared();
    tx.setGeneration(G);
    await tx.portFor(0).fence();
    producers[0]!.fail.set('sendOffsets', Object.assign(new Error('concurrent'), { name: 'KafkaJSProtocolError', type: 'CONCURRENT_TRANSACTIONS', retriable: true }));
    const sent = await tx.portFor(0).transact([changelog(0)], [offset(0, 1n)]);
    expect(sent).toHaveLength(1);
    expect(producers[0]!.calls.map((c) => c.op).slice(3)).toEqual(['transaction', 'sendBatch', 'sendOffsets', 'abort', 'transaction', 'sendBatch', 'sendOffsets', 'commit']);
  });

  it('offsets refused by the group (a rebalance moved on) fail as TransactionFencedByGroupError: retriable, the batch loop retries without reopening the task', async () => {
    const { tx, producers } = shared();
    tx.setGeneration(G);
    await tx.portFor(0).fence();
    const refused = Object.assign(new Error('The provided generation id is not the current generation'), { name: 'KafkaJSProtocolError', type: 'ILLEGAL_GENERATION', retriable: false });
    producers[0]!.fail.set('sendOffsets', refused);
    const err = await tx.portFor(0).transact([changelog(0)], [offset(0, 1n)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransactionFencedByGroupError);
    expect(classifyFailure(err)).toBe('outage');
    expect(producers[0]!.calls.at(-1)!.op).toBe('abort');
  });

  it('a refusal whose abort fails is in doubt: the original error, not a retriable one', async () => {
    const { tx, producers } = shared();
    tx.setGeneration(G);
    await tx.portFor(0).fence();
    producers[0]!.fail.set('sendOffsets', Object.assign(new Error('generation'), { type: 'UNKNOWN_MEMBER_ID' })).set('abort', new Error('connection closed'));
    const err = await tx
      .portFor(0)
      .transact([changelog(0)], [offset(0, 1n)])
      .catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(TransactionFencedByGroupError);
    expect((err as { type?: string }).type).toBe('UNKNOWN_MEMBER_ID');
  });

  it('offsets are never committed without the group member: before the first join nothing is sent', async () => {
    const { tx, ops } = shared();
    await expect(tx.portFor(0).transact([changelog(0)], [offset(0, 1n)])).rejects.toThrow(/no consumer group generation/);
    expect(ops()).not.toContain('sendBatch');
  });

  it('the generation set last is the one committed as', async () => {
    const { tx, producers } = shared();
    tx.setGeneration(G);
    tx.setGeneration({ generationId: 8, memberId: 'member-a' });
    await tx.portFor(0).transact([], [offset(0, 1n)]);
    expect((producers[0]!.calls.find((c) => c.op === 'sendOffsets')!.arg as { consumerGroupMetadata: unknown }).consumerGroupMetadata).toEqual({ generationId: 8, memberId: 'member-a' });
    expect(producers[0]!.calls.map((c) => c.op)).not.toContain('sendBatch'); // no records: no produce request
  });
});
