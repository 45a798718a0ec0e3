import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { handleInOrderPerKey, Slots } from '../../src/notify/in-order.ts';

// The concurrency of a delivery lane without Kafka: per-key order, the in-flight bound, the committable
// prefix, and what shutdown and failures leave uncommitted.

interface Item {
  key: string | null;
  offset: string;
}

const items = (keys: Array<string | null>): Item[] => keys.map((key, i) => ({ key, offset: String(100 + i) }));

function deferred() {
  let resolve!: (ok: boolean) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<boolean>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('handleInOrderPerKey', () => {
  it('runs different keys concurrently, one key in order, and never more than the slots', async () => {
    const slots = new Slots(3);
    const started: string[] = [];
    const pending = new Map<string, ReturnType<typeof deferred>>();
    let inFlight = 0;
    let peak = 0;
    const batch = items(['a', 'b', 'a', 'c', 'd', 'b']);
    const resolved: string[] = [];
    const run = handleInOrderPerKey(batch, {
      slots,
      stopped: () => false,
      handle: async (it) => {
        started.push(it.offset);
        peak = Math.max(peak, ++inFlight);
        const d = deferred();
        pending.set(it.offset, d);
        const ok = await d.promise;
        inFlight--;
        return ok;
      },
      onHandled: (it) => resolved.push(it.offset),
    });
    await tick();
    // a(100), b(101), c(103) start; the second a and b wait for their predecessors; d waits for a slot.
    expect(started).toEqual(['100', '101', '103']);
    pending.get('103')!.resolve(true); // c done out of order: not committable yet
    await tick();
    expect(resolved).toEqual([]);
    expect(started).toEqual(['100', '101', '103', '104']); // d got c's slot
    pending.get('100')!.resolve(true);
    await tick();
    expect(resolved).toEqual(['100']);
    expect(started).toContain('102'); // a's second record follows the first
    pending.get('101')!.resolve(true);
    await tick();
    pending.get('102')!.resolve(true);
    pending.get('104')!.resolve(true);
    await tick();
    pending.get('105')!.resolve(true);
    const r = await run;
    expect(r).toEqual({ handled: 6, complete: true });
    expect(resolved).toEqual(['100', '101', '102', '103', '104', '105']);
    expect(peak).toBeLessThanOrEqual(3);
    expect(slots.inUse).toBe(0);
  });

  it('shutdown mid-batch: the prefix stops before the interrupted record, nothing new starts, later records of its key never run', async () => {
    let stop = false;
    const started: string[] = [];
    const batch = items(['a', 'b', 'a', 'c']);
    const resolved: string[] = [];
    const r = await handleInOrderPerKey(batch, {
      slots: new Slots(1),
      stopped: () => stop,
      handle: async (it) => {
        started.push(it.offset);
        if (it.offset === '101') {
          stop = true; // the shutdown signal fired during b's delivery
          return false;
        }
        return true;
      },
      onHandled: (it) => resolved.push(it.offset),
    });
    expect(r).toEqual({ handled: 1, complete: false });
    expect(resolved).toEqual(['100']);
    expect(started).toEqual(['100', '101']);
  });

  it('a failure halts the batch, lets in-flight records finish, and is thrown once all settled', async () => {
    const finished: string[] = [];
    const resolved: string[] = [];
    const batch = items(['a', 'b', 'c', 'a', 'd']);
    const p = handleInOrderPerKey(batch, {
      slots: new Slots(2),
      stopped: () => false,
      handle: async (it) => {
        if (it.offset === '101') throw new Error('ledger write failed');
        if (it.offset === '100') await tick(); // still in flight when b fails
        finished.push(it.offset);
        return true;
      },
      onHandled: (it) => resolved.push(it.offset),
    });
    await expect(p).rejects.toThrow('ledger write failed');
    expect(finished).toEqual(['100']); // c, the second a and d never started after the failure
    expect(resolved).toEqual(['100']);
  });

  it('records without a key have no order constraint', async () => {
    const order: string[] = [];
    const gate = deferred();
    const p = handleInOrderPerKey(items([null, null]), {
      slots: new Slots(2),
      stopped: () => false,
      handle: async (it) => {
        if (it.offset === '100') await gate.promise;
        order.push(it.offset);
        return true;
      },
      onHandled: () => undefined,
    });
    await tick();
    expect(order).toEqual(['101']);
    gate.resolve(true);
    expect(await p).toEqual({ handled: 2, complete: true });
  });

  it('property: per-key order, the bound, and a prefix that is exactly the handled records', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5'), delay: fc.nat(3), fails: fc.boolean() }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.option(fc.nat(39), { nil: undefined }),
        async (recs, max, interruptAt) => {
          const batch = recs.map((r, i) => ({ ...r, offset: String(i) }));
          const slots = new Slots(max);
          let inFlight = 0;
          let peak = 0;
          const handledAt: number[] = [];
          const resolved: number[] = [];
          const r = await handleInOrderPerKey(batch, {
            slots,
            stopped: () => false,
            handle: async (it) => {
              peak = Math.max(peak, ++inFlight);
              for (let i = 0; i < it.delay; i++) await tick();
              inFlight--;
              if (Number(it.offset) === interruptAt) return false;
              handledAt.push(Number(it.offset));
              return true;
            },
            onHandled: (it) => resolved.push(Number(it.offset)),
          });
          expect(peak).toBeLessThanOrEqual(max);
          expect(slots.inUse).toBe(0);
          // Per key, records were handled in offset order.
          for (const key of new Set(batch.map((b) => b.key))) {
            const mine = handledAt.filter((o) => batch[o]!.key === key);
            expect(mine).toEqual([...mine].sort((x, y) => x - y));
          }
          // The prefix is contiguous from 0, every record in it was handled, and it stops at the interruption.
          expect(resolved).toEqual(Array.from({ length: r.handled }, (_, i) => i));
          for (const o of resolved) expect(handledAt).toContain(o);
          if (interruptAt !== undefined && interruptAt < batch.length) expect(r.handled).toBeLessThanOrEqual(interruptAt);
          else expect(r).toEqual({ handled: batch.length, complete: true });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('Slots', () => {
  it('hands a released slot to the longest waiter', async () => {
    const s = new Slots(1);
    const first = await s.acquire();
    const order: number[] = [];
    const w1 = s.acquire().then((rel) => (order.push(1), rel));
    const w2 = s.acquire().then((rel) => (order.push(2), rel));
    first();
    first(); // a second release of the same slot changes nothing
    (await w1)();
    (await w2)();
    expect(order).toEqual([1, 2]);
    expect(s.inUse).toBe(0);
    expect(() => new Slots(0)).toThrow(RangeError);
  });
});
