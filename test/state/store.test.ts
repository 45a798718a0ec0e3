import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionStore } from '../../src/state/store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh state directory, removed after the test. */
function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-'));
  dirs.push(dir);
  return dir;
}

describe('PartitionStore', () => {
  it('writes states and the checkpoint together, and keeps them across reopen', async () => {
    const dir = stateDir();
    const s = await PartitionStore.open(dir, 'cl', 3);
    expect(await s.checkpoint()).toBeUndefined();
    await s.write([{ key: 'a/b/c', value: Buffer.from('{"v":1}') }, { key: 'a/b/d', value: Buffer.from('{"v":2}') }], 42n);
    expect(await s.countUsers()).toBe(2);
    await s.write([{ key: 'a/b/d', value: null }], 43n);
    await s.close();
    const again = await PartitionStore.open(dir, 'cl', 3);
    expect(await again.checkpoint()).toBe(43n);
    const [c, d] = await again.getMany(['a/b/c', 'a/b/d']);
    expect(c!.toString()).toBe('{"v":1}');
    expect(d).toBeUndefined();
    expect(await again.countUsers()).toBe(1);
    await again.clear();
    expect(await again.checkpoint()).toBeUndefined();
    expect(await again.countUsers()).toBe(0);
    await again.close();
  });

  it('counts a store of many users across several slices of its key scan, without the checkpoint', async () => {
    const s = await PartitionStore.open(stateDir(), 'cl', 0);
    // 2,500 users: the scan reads keys a thousand at a time; one key sorts before any other but the checkpoint.
    const users = Array.from({ length: 2_500 }, (_, i) => ({ key: `app/prod/user-${i}`, value: Buffer.from([3]) }));
    await s.write([...users, { key: '\u0001first', value: Buffer.from([3]) }], 7n);
    expect(await s.countUsers()).toBe(2_501);
    await s.close();
  });

  it('keeps the user count from the new users each write reports, and counts again after a write that does not say', async () => {
    const dir = stateDir();
    const s = await PartitionStore.open(dir, 'cl', 0);
    await s.write([{ key: 'u1', value: Buffer.from('a') }], 1n);
    expect(await s.countUsers()).toBe(1); // scanned
    await s.write([{ key: 'u1', value: Buffer.from('b') }, { key: 'u2', value: Buffer.from('c') }], 2n, 1);
    expect(await s.countUsers()).toBe(2); // kept: one new user
    await s.write([{ key: 'u3', value: Buffer.from('d') }], 3n, 0); // a caller that miscounts is believed…
    expect(await s.countUsers()).toBe(2);
    await s.write([{ key: 'u4', value: Buffer.from('e') }], 4n); // …until a write without a count
    expect(await s.countUsers()).toBe(4);
    await s.close();
  });

  it('scans users in key order a slice at a time, without the checkpoint', async () => {
    const dir = stateDir();
    const s = await PartitionStore.open(dir, 'cl', 0);
    await s.write(['c', 'a', 'b', 'd', 'e'].map((key) => ({ key, value: Buffer.from(key) })), 9n);
    const first = await s.scan(undefined, 2);
    expect(first.map(([k, v]) => [k, v.toString()])).toEqual([['a', 'a'], ['b', 'b']]);
    expect((await s.scan('b', 2)).map(([k]) => k)).toEqual(['c', 'd']);
    expect((await s.scan('d', 2)).map(([k]) => k)).toEqual(['e']);
    expect(await s.scan('e', 2)).toEqual([]);
    await s.close();
  });

  it('counts users written while the count scans (the scan reads a snapshot), once', async () => {
    const dir = stateDir();
    const s = await PartitionStore.open(dir, 'cl', 0);
    // Enough users that the scan (a thousand keys per call) is still reading when the write lands.
    await s.write(Array.from({ length: 5_000 }, (_, i) => ({ key: `u${i}`, value: Buffer.from([3]) })), 1n);
    await s.close();
    const again = await PartitionStore.open(dir, 'cl', 0);
    const counting = again.countUsers(); // after a reopen: a scan
    await again.write([{ key: 'new', value: Buffer.from([3]) }], 2n, 1);
    // The scan's own answer may or may not include the write (it may finish first); the count kept
    // afterwards holds the new user exactly once.
    expect([5_000, 5_001]).toContain(await counting);
    expect(await again.countUsers()).toBe(5_001);
    await again.close();
  });

  it('writes a batch larger than its yield interval atomically with its checkpoint', async () => {
    const dir = stateDir();
    const s = await PartitionStore.open(dir, 'cl', 0);
    const entries = Array.from({ length: 10_000 }, (_, i) => ({ key: `u${i}`, value: Buffer.from(String(i)) }));
    await s.write(entries, 77n, 10_000);
    expect(await s.checkpoint()).toBe(77n);
    expect((await s.getMany(['u0', 'u4095', 'u4096', 'u9999'])).map((b) => b?.toString())).toEqual(['0', '4095', '4096', '9999']);
    expect(await s.countUsers()).toBe(10_000);
    await s.close();
  });
});
