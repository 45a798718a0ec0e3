import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BoundedQueue } from '../../packages/agent/src/queue.ts';

describe('BoundedQueue', () => {
  it('keeps FIFO order and drops the oldest when full', () => {
    const q = new BoundedQueue<number>(3);
    for (let i = 1; i <= 5; i++) q.push(i);
    expect(q.length).toBe(3);
    expect(q.dropped).toBe(2);
    expect(q.take(10)).toEqual([3, 4, 5]);
    expect(q.length).toBe(0);
  });

  it('requeues a failed batch in front, dropping the oldest of it when there is no room', () => {
    const q = new BoundedQueue<number>(4);
    [1, 2, 3, 4].forEach((n) => q.push(n));
    const batch = q.take(3); // [1,2,3] in flight
    q.push(5);
    q.push(6); // queue: 4 5 6
    expect(q.requeue(batch)).toBe(2); // room for one: 3 stays, 1 and 2 dropped
    expect(q.drain()).toEqual([3, 4, 5, 6]);
    expect(q.dropped).toBe(2);
  });

  it('rejects a silly capacity', () => {
    expect(() => new BoundedQueue(0)).toThrow(RangeError);
  });

  it('never holds more than its capacity and keeps the newest, whatever the operations (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.oneof(fc.constant<'push'>('push'), fc.integer({ min: 1, max: 8 })), { maxLength: 200 }),
        (cap, ops) => {
          const q = new BoundedQueue<number>(cap);
          const model: number[] = [];
          let next = 0;
          let dropped = 0;
          for (const op of ops) {
            if (op === 'push') {
              q.push(next);
              model.push(next++);
              if (model.length > cap) {
                model.shift();
                dropped++;
              }
            } else {
              expect(q.take(op)).toEqual(model.splice(0, op));
            }
            expect(q.length).toBeLessThanOrEqual(cap);
            expect(q.length).toBe(model.length);
          }
          expect(q.dropped).toBe(dropped);
          expect(q.drain()).toEqual(model);
        },
      ),
    );
  });
});
