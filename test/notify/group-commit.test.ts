import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/notify/group-commit.ts';

// The ledger's group commit without a broker: writes waiting while a request is in flight share the
// next one, each resolves only when its own group was written, a failed request fails only its writes.

function gate() {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('sends the writes that arrive while a request is in flight together, in order, at most maxItems each', async () => {
    const calls: number[][] = [];
    const gates: Array<ReturnType<typeof gate>> = [];
    const g = new GroupCommit<number>(async (items) => {
      calls.push(items);
      const x = gate();
      gates.push(x);
      await x.promise;
    }, 3);
    const done: number[] = [];
    const w = [g.add(1)];
    await tick();
    await tick();
    expect(calls).toEqual([[1]]); // a lone write goes out at once
    for (const i of [2, 3, 4, 5]) w.push(g.add(i).then(() => void done.push(i)));
    await tick();
    expect(calls).toEqual([[1]]); // one request at a time
    gates[0]!.open();
    await w[0];
    await tick();
    expect(calls).toEqual([[1], [2, 3, 4]]);
    expect(done).toEqual([]); // not written yet: nobody is told so
    gates[1]!.open();
    await tick();
    expect(done).toEqual([2, 3, 4]);
    await tick();
    expect(calls.at(-1)).toEqual([5]);
    gates[2]!.open();
    await Promise.all(w);
    expect(g.flushes).toBe(3);
  });

  it('a failed request rejects exactly its own writes; the next group is still written', async () => {
    let n = 0;
    const g = new GroupCommit<string>(async () => {
      n++;
      if (n === 1) {
        await tick();
        throw new Error('broker unavailable');
      }
    });
    const a = g.add('a');
    await tick();
    const b = g.add('b'); // waits while the first request is in flight
    await expect(a).rejects.toThrow('broker unavailable');
    await expect(b).resolves.toBeUndefined();
    expect(n).toBe(2);
  });

  it('rejects a nonsensical bound', () => {
    expect(() => new GroupCommit(async () => undefined, 0)).toThrow(RangeError);
  });
});
