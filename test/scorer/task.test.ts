import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { scorerStateUndecodable } from '../../src/metrics/index.ts';
import { PartitionTask } from '../../src/scorer/task.ts';
import { emptyUserState, scoreEvent } from '../../src/scoring/index.ts';
import { encodeState } from '../../src/state/codec.ts';
import { PartitionStore } from '../../src/state/store.ts';
import { attack, NOW, policyWith, T0 } from '../scoring/fixtures.ts';

// Loading users' states for a batch: the hot-user cache, else the partition's LevelDB store (binary
// states, and the JSON earlier versions wrote), and what happens to bytes that are not a state.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function counted(): Promise<number> {
  return (await scorerStateUndecodable.get()).values[0]?.value ?? 0;
}

describe('PartitionTask.load', () => {
  it('reads binary and JSON states from the store, and counts (and skips) bytes that are not a state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'task-'));
    dirs.push(dir);
    const store = await PartitionStore.open(dir, 'cl', 0);
    const s = emptyUserState();
    scoreEvent(s, attack({ at: T0, severity: 'HIGH' }), policyWith(), NOW);
    await store.write(
      [
        { key: 'a/p/binary', value: encodeState(s) },
        { key: 'a/p/json', value: Buffer.from(JSON.stringify(s)) },
        { key: 'a/p/corrupt', value: Buffer.from([2, 1, 0, 0]) },
      ],
      10n,
    );
    const task = new PartitionTask(0, store, {} as Producer, 100);
    const before = await counted();
    const loaded = await task.load(['a/p/binary', 'a/p/json', 'a/p/corrupt', 'a/p/new']);
    expect(loaded.get('a/p/binary')).toEqual(s);
    expect(loaded.get('a/p/json')).toEqual(s);
    expect(loaded.has('a/p/corrupt')).toBe(false);
    expect(loaded.has('a/p/new')).toBe(false);
    expect((await counted()) - before).toBe(1);
    await store.close();
  });
});

describe('PartitionTask staged changes', () => {
  it('serves committed changes before they reach the store, writes them once with the latest checkpoint, and keeps them when the write fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'task-'));
    dirs.push(dir);
    const store = await PartitionStore.open(dir, 'cl', 0);
    const task = new PartitionTask(0, store, {} as Producer, 0); // no cache: every load goes below it
    const s1 = emptyUserState();
    scoreEvent(s1, attack({ at: T0, severity: 'LOW' }), policyWith(), NOW);
    const s2 = emptyUserState();
    scoreEvent(s2, attack({ at: T0, severity: 'HIGH' }), policyWith(), NOW);
    task.stage([{ key: 'u1', value: encodeState(s1) }, { key: 'u2', value: encodeState(s1) }], 5n, 2);
    task.stage([{ key: 'u1', value: encodeState(s2) }, { key: 'u2', value: null }], 9n, -1); // u1 changed again, u2 forgotten
    expect(await store.checkpoint()).toBeUndefined(); // nothing written yet
    const loaded = await task.load(['u1', 'u2']);
    expect(loaded.get('u1')).toEqual(s2);
    expect(loaded.has('u2')).toBe(false);

    await task.flush();
    expect(await store.checkpoint()).toBe(9n);
    expect(task.pending.size).toBe(0);
    expect((await store.getMany(['u1', 'u2'])).map((b) => b && b.length)).toEqual([encodeState(s2).length, undefined]);
    expect((await task.load(['u1'])).get('u1')).toEqual(s2);

    task.stage([{ key: 'u3', value: encodeState(s1) }], 12n, 1);
    await store.close(); // the next write fails
    await expect(task.flush()).rejects.toThrow();
    expect(task.pending.get('u3')).toBeInstanceOf(Buffer); // still staged: the caller closes the task and restore replays
  });
});
