import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionStore } from '../../src/state/store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('PartitionStore', () => {
  it('writes states and the checkpoint together, and keeps them across reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'store-'));
    dirs.push(dir);
    const s = await PartitionStore.open(dir, 'cl', 3);
    expect(await s.checkpoint()).toBeUndefined();
    await s.write([['a/b/c', Buffer.from('{"v":1}')], ['a/b/d', Buffer.from('{"v":2}')]], 42n);
    await s.write([['a/b/d', null]], 43n);
    await s.close();
    const again = await PartitionStore.open(dir, 'cl', 3);
    expect(await again.checkpoint()).toBe(43n);
    const [c, d] = await again.getMany(['a/b/c', 'a/b/d']);
    expect(c!.toString()).toBe('{"v":1}');
    expect(d).toBeUndefined();
    expect(await again.countKeys()).toBe(1);
    await again.clear();
    expect(await again.checkpoint()).toBeUndefined();
    await again.close();
  });
});
