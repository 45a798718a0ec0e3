import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('risk-hub --version', () => {
  it("prints the package's version and exits 0", { timeout: 120_000 }, () => {
    const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', flag], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(version);
    }
  });
});
