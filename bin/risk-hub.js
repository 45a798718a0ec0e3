#!/usr/bin/env node
// Entry point for the installed CLI. In a built package (dist/ present) it runs the compiled
// JavaScript; in a source checkout it registers tsx so the TypeScript sources run directly, with the
// checkout's tsconfig.json (its paths map @risk-hub/agent to packages/agent/src) whatever the cwd.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'cli', 'main.js');
if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: join(root, 'tsconfig.json') });
  await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
