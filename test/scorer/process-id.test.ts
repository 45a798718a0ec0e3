import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { processId } from '../../src/scorer/process-id.ts';
import { cleanDirs, tempDir } from './task-fakes.ts';

// The shared producer's transactional id is built from this id: it must survive a restart on the same
// state directory (so the restarted process fences its previous incarnation) and be new elsewhere.

afterEach(cleanDirs);

describe('processId', () => {
  it('is created once in the state directory (created if missing) and read back on the next start', () => {
    const dir = join(tempDir(), 'state', 'nested');
    const id = processId(dir);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(processId(dir)).toBe(id);
    expect(readFileSync(join(dir, 'scorer-process-id'), 'utf8').trim()).toBe(id);
    expect(processId(tempDir())).not.toBe(id);
  });

  it('a file that is not a uuid (truncated, edited) is replaced by a new id rather than used in a transactional id', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'scorer-process-id'), 'x; rm -rf /\n');
    const id = processId(dir);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(processId(dir)).toBe(id);
  });
});
