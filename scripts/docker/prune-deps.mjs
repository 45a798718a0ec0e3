// Run by the Dockerfile's `deps` stage after `npm ci --omit=dev`: removes from node_modules every
// package that the server's own `dependencies` do not reach. npm installs the dependencies of every
// workspace member even with --omit=dev and --workspaces=false (npm 11), so without this the image
// would carry the agent's (@risk-hub/agent: @datadog/native-appsec, 19 MB, and kafkajs, which the
// server runs from dist/vendor/kafkajs instead) and a link to packages/agent, which the image has not.
// The closure is computed on the lockfile that `npm ci` just installed (node_modules/.package-lock.json),
// resolving each name as Node.js does: the nearest node_modules up the tree.
//   node prune-deps.mjs [dir]   (dir: the project root; the working directory by default)
import console from 'node:console';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';

const root = resolve(process.argv[2] ?? '.');
const lock = JSON.parse(readFileSync(join(root, 'node_modules', '.package-lock.json'), 'utf8'));
const packages = lock.packages;
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** The lockfile path `name` resolves to from the package at `from` ('' is the root), or undefined. */
function resolveFrom(from, name) {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i < 0 ? '' : dir.slice(0, i);
  }
}

/** Whether a path exists, a dangling link included. */
function present(p) {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

const keep = new Set();
const queue = [['', { ...rootManifest.optionalDependencies, ...rootManifest.dependencies }]];
while (queue.length) {
  const [from, deps] = queue.pop();
  for (const name of Object.keys(deps ?? {})) {
    let path = resolveFrom(from, name);
    if (!path || keep.has(path)) continue; // an optional dependency for another platform, or seen
    keep.add(path);
    const entry = packages[path];
    if (entry.link) {
      keep.add(entry.resolved);
      path = entry.resolved;
    }
    const e = packages[path];
    queue.push([path, { ...e.peerDependencies, ...e.optionalDependencies, ...e.dependencies }]);
  }
}

let removed = 0;
for (const path of Object.keys(packages)) {
  if (!path.startsWith('node_modules/') || keep.has(path)) continue;
  if (!present(join(root, path))) continue; // inside a package already removed: gone with it
  rmSync(join(root, path), { recursive: true, force: true });
  removed++;
}
// Links in .bin to removed packages, empty scope directories, and the hidden lockfile (now stale).
const bin = join(root, 'node_modules', '.bin');
if (existsSync(bin)) {
  for (const f of readdirSync(bin)) {
    if (!existsSync(join(bin, f))) rmSync(join(bin, f), { force: true });
  }
}
for (const d of readdirSync(join(root, 'node_modules'))) {
  const p = join(root, 'node_modules', d);
  if (d.startsWith('@') && statSync(p).isDirectory() && readdirSync(p).length === 0) rmdirSync(p);
}
rmSync(join(root, 'node_modules', '.package-lock.json'), { force: true });
console.log(`prune-deps: kept ${keep.size} packages that the server's dependencies reach, removed ${removed}`);
