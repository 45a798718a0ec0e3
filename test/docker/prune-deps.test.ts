// scripts/docker/prune-deps.mjs, which the Dockerfile's deps stage runs after `npm ci --omit=dev`, on a
// small installed tree written here: what the root's dependencies reach stays, what only a workspace
// member needs goes (npm installs it even with --omit=dev).
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'docker', 'prune-deps.mjs');

type Entry = { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>; link?: boolean; resolved?: string };

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), text);
}

function tree(root: Entry & { workspaces?: string[] }, packages: Record<string, Entry>): void {
  dir = mkdtempSync(join(tmpdir(), 'prune-deps-'));
  write('package.json', JSON.stringify({ name: 'root', ...root }));
  for (const [path, entry] of Object.entries(packages)) {
    if (entry.link) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      symlinkSync(join('..', '..', entry.resolved!), join(dir, path));
    } else {
      write(`${path}/package.json`, JSON.stringify({ name: path.split('node_modules/').at(-1), ...entry }));
    }
  }
  write('node_modules/.package-lock.json', JSON.stringify({ name: 'root', lockfileVersion: 3, packages }));
}

function prune(): string {
  const r = spawnSync(process.execPath, [SCRIPT], { cwd: dir, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const present = (p: string): boolean => {
  try {
    lstatSync(join(dir, p));
    return true;
  } catch {
    return false;
  }
};

describe('prune-deps (the image keeps only what the server reaches)', () => {
  it('keeps the closure of the root dependencies, nested copies and peers included, and removes what only a workspace member needs', () => {
    tree(
      { dependencies: { a: '1' }, optionalDependencies: { 'native-linux': '1', 'native-darwin': '1' }, workspaces: ['packages/agent'] },
      {
        'node_modules/a': { dependencies: { b: '2' }, peerDependencies: { '@s/peer': '1' } },
        'node_modules/a/node_modules/b': {},
        'node_modules/b': {}, // another version, needed only by the agent's engine
        'node_modules/@s/peer': {},
        'node_modules/native-linux': {}, // native-darwin: another platform, not installed
        'packages/agent': { dependencies: { engine: '1' } },
        'node_modules/@risk-hub/agent': { link: true, resolved: 'packages/agent' },
        'node_modules/engine': { dependencies: { b: '1' } },
      },
    );
    write('packages/agent/package.json', '{}');
    mkdirSync(join(dir, 'node_modules/.bin'));
    symlinkSync('../engine/cli.js', join(dir, 'node_modules/.bin/engine'));
    write('node_modules/a/cli.js', '');
    symlinkSync('../a/cli.js', join(dir, 'node_modules/.bin/a'));

    expect(prune()).toMatch(/kept 4 packages .* removed 3/);
    for (const kept of ['node_modules/a', 'node_modules/a/node_modules/b', 'node_modules/@s/peer', 'node_modules/native-linux', 'node_modules/.bin/a']) expect(present(kept), kept).toBe(true);
    for (const gone of ['node_modules/engine', 'node_modules/b', 'node_modules/@risk-hub', 'node_modules/.bin/engine', 'node_modules/.package-lock.json']) expect(present(gone), gone).toBe(false);
    // the workspace member itself is not touched (the image never copies it)
    expect(existsSync(join(dir, 'packages/agent/package.json'))).toBe(true);
  });

  it('keeps a top-level package that a kept package needs although the root does not name it', () => {
    tree({ dependencies: { a: '1' } }, { 'node_modules/a': { dependencies: { b: '1' } }, 'node_modules/b': { optionalDependencies: { c: '1' } }, 'node_modules/c': {} });
    expect(prune()).toMatch(/kept 3 packages .* removed 0/);
    expect(present('node_modules/c')).toBe(true);
  });
});
