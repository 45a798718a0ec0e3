// npm postinstall: applies patches/ (kafkajs 2.2.4 is unmaintained; see patches/README.md) with
// patch-package, but only when this repository itself is installed: as a dependency of an application
// (the agent) there is nothing of ours to patch and the application's own node_modules are left alone.
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const initCwd = process.env.INIT_CWD;
if (initCwd && existsSync(initCwd) && realpathSync(initCwd) !== realpathSync(root)) process.exit(0);
if (!existsSync(join(root, 'patches'))) process.exit(0);
const bin = join(dirname(createRequire(import.meta.url).resolve('patch-package/package.json')), 'index.js');
const r = spawnSync(process.execPath, [bin, '--error-on-fail'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
