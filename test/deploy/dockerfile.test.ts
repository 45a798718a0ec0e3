// The Dockerfile checked statically (test/docker/smoke.ts builds and runs it in CI). Multi-stage, a non-root final
// stage whose user the chart's securityContext matches, an entry point that `npm run build`
// produces, and a build context (.dockerignore) that keeps out what must not be in an image but
// keeps everything the Dockerfile copies.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CHART, ROOT } from './helm.ts';

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!buf && (line === '' || line.startsWith('#'))) continue;
    if (buf && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      buf += line.slice(0, -1) + ' ';
      continue;
    }
    buf += line;
    const m = /^(\w+)\s+(.*)$/s.exec(buf);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim() });
    buf = '';
  }
  return out;
}

const GLOB: Record<string, string> = { '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' };

/** A .dockerignore matcher good enough for plain names, `*`, `**` and `!` exceptions (the last matching line wins, as in Docker). */
export function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const line of patterns) {
    const negated = line.startsWith('!');
    const body = line
      .slice(negated ? 1 : 0)
      .replace(/^\/+/, '')
      .split(/(\*\*\/|\*\*|\*|\?)/)
      .map((part) => GLOB[part] ?? part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
      .join('');
    if (new RegExp(`^${body}(?:/.*)?$`).test(path)) ignored = !negated;
  }
  return ignored;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

function stages(): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of dockerfile) {
    if (i.op === 'FROM') out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}

describe('the Dockerfile parser and .dockerignore matcher (used below)', () => {
  it('joins continuation lines and drops comments', () => {
    expect(parseDockerfile('# c\nFROM a AS b\nRUN x \\\n  # inner\n  && y\nUSER 1:1\n')).toEqual([
      { op: 'FROM', args: 'a AS b' },
      { op: 'RUN', args: 'x  && y' },
      { op: 'USER', args: '1:1' },
    ]);
  });
  it('matches names, directories and globs', () => {
    expect(dockerIgnored(['**/node_modules'], 'node_modules/x')).toBe(true);
    expect(dockerIgnored(['**/node_modules'], 'src/node_modules')).toBe(true);
    expect(dockerIgnored(['dist'], 'dist/cli/main.js')).toBe(true);
    expect(dockerIgnored(['**/*.log'], 'a/b.log')).toBe(true);
    expect(dockerIgnored(['dist'], 'distro')).toBe(false);
    expect(dockerIgnored(['test'], 'src/test')).toBe(false);
    expect(dockerIgnored(['scripts', '!scripts/postinstall.mjs'], 'scripts/postinstall.mjs')).toBe(false);
    expect(dockerIgnored(['scripts', '!scripts/postinstall.mjs'], 'scripts/helm.mjs')).toBe(true);
    expect(dockerIgnored(['packages/*/dist'], 'packages/agent/dist/index.js')).toBe(true);
    expect(dockerIgnored(['packages/*/dist'], 'packages/agent/src/index.ts')).toBe(false);
  });
});

describe('Dockerfile', () => {
  it('is multi-stage: building happens in earlier stages, the runtime stage only copies', () => {
    const all = stages();
    expect(all.length).toBeGreaterThanOrEqual(2);
    const runtime = all.at(-1)!;
    expect(runtime.filter((i) => i.op === 'RUN'), 'no RUN in the runtime stage').toEqual([]);
    expect(all.slice(0, -1).some((s) => s.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)))).toBe(true);
    expect(all.slice(0, -1).some((s) => s.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)))).toBe(true);
    // node_modules of the runtime come from the production-only stage.
    const copyModules = runtime.find((i) => i.op === 'COPY' && /node_modules/.test(i.args))!;
    const from = /--from=(\S+)/.exec(copyModules.args)![1]!;
    const stageName = (s: Instruction[]) => /\bAS\s+(\S+)/i.exec(s[0]!.args)?.[1];
    const source = all.find((s) => stageName(s) === from)!;
    expect(source.some((i) => i.op === 'RUN' && /--omit=dev/.test(i.args)), `stage ${from}`).toBe(true);
    expect(dockerfile.some((i) => i.op === 'ADD'), 'ADD (remote URLs, auto-extraction) is not used').toBe(false);
  });

  it('installs the npm workspaces as `npm ci` needs them: every member\'s package.json before each `npm ci`', () => {
    // `npm ci` checks the lockfile against the root's and every workspace member's package.json, and
    // fails without them; the build stage then builds the members too (`npm run build` starts with the agent).
    const { workspaces } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
    expect(workspaces.length).toBeGreaterThan(0);
    const withCi = stages().filter((s) => s.some((i) => i.op === 'RUN' && /npm ci\b/.test(i.args)));
    expect(withCi.length).toBeGreaterThanOrEqual(2); // build (all dependencies) and deps (production only)
    for (const stage of withCi) {
      const ci = stage.findIndex((i) => i.op === 'RUN' && /npm ci\b/.test(i.args));
      const copied = stage.slice(0, ci).filter((i) => i.op === 'COPY' && !/--from=/.test(i.args)).flatMap((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
      for (const f of ['package.json', 'package-lock.json', ...workspaces.map((w) => `${w}/package.json`)]) {
        expect(copied, `${stage[0]!.args}: ${f} before npm ci`).toContain(f);
      }
    }
  });

  it('builds what `npm run build` builds: the agent workspace, the server and the vendored kafkajs', () => {
    const { scripts, workspaces } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string }; workspaces: string[] };
    const build = stages().find((s) => s.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)))!;
    const copied = build.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args)).flatMap((i) => i.args.split(/\s+/).filter((w) => !w.startsWith('--')).slice(0, -1));
    // the scripts `npm run build` runs (node scripts/vendor-kafkajs.mjs) and the files the members build from
    for (const script of scripts.build.match(/scripts\/[\w./-]+\.mjs/g) ?? []) expect(copied, script).toContain(script);
    expect(scripts.build).toMatch(/vendor-kafkajs/);
    for (const w of workspaces) {
      const member = JSON.parse(readFileSync(join(ROOT, w, 'package.json'), 'utf8')) as { scripts?: { build?: string } };
      if (!member.scripts?.build) continue;
      expect(copied, `${w}/src`).toContain(`${w}/src`);
      if (/tsup/.test(member.scripts.build)) expect(copied, `${w}/tsup.config.ts`).toContain(`${w}/tsup.config.ts`);
    }
    // patches/ is applied by the build stage's npm ci (prepare): vendor-kafkajs refuses an unpatched kafkajs
    expect(copied).toContain('patches');
  });

  it('gives the runtime the server\'s production dependencies only, not the workspace members\' (the agent\'s engine, kafkajs)', () => {
    const deps = stages().find((s) => s.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)))!;
    expect(deps.some((i) => i.op === 'RUN' && /npm ci\b.*--omit=dev.*&&\s*node scripts\/docker\/prune-deps\.mjs/.test(i.args))).toBe(true);
    // the runtime copies no member of the workspace, so no link into one may remain
    const runtime = stages().at(-1)!;
    expect(runtime.filter((i) => i.op === 'COPY' && /packages\//.test(i.args))).toEqual([]);
  });

  it('runs as a numeric non-root user that the chart runs as too', () => {
    const runtime = stages().at(-1)!;
    const users = runtime.filter((i) => i.op === 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.args.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as {
      podSecurityContext: { runAsUser: number; runAsGroup: number };
      containerSecurityContext: { runAsUser: number; runAsGroup: number };
    };
    expect(values.podSecurityContext.runAsUser).toBe(uid);
    expect(values.podSecurityContext.runAsGroup).toBe(gid);
    expect(values.containerSecurityContext.runAsUser).toBe(uid);
    // The user is the last word: nothing after it runs as root.
    expect(runtime.at(-1)!.op === 'USER' || runtime.slice(runtime.indexOf(users[0]!) + 1).every((i) => ['EXPOSE', 'ENTRYPOINT', 'CMD', 'LABEL', 'ENV'].includes(i.op))).toBe(true);
  });

  it('starts the compiled CLI that `npm run build` writes, and exposes the HTTP port the chart probes', () => {
    const entry = JSON.parse(dockerfile.filter((i) => i.op === 'ENTRYPOINT').at(-1)!.args) as string[];
    const script = entry.find((a) => a.endsWith('.js'))!;
    expect(script).toBe('dist/cli/main.js');
    // tsconfig.build.json compiles src/ into dist/: src/cli/main.ts becomes dist/cli/main.js.
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(script).toBe(`${build.compilerOptions.outDir}/cli/main.js`);
    expect(existsSync(join(ROOT, build.compilerOptions.rootDir, 'cli', 'main.ts'))).toBe(true);
    const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { http: { port: number } };
    expect(dockerfile.find((i) => i.op === 'EXPOSE')?.args).toBe(String(values.http.port));
  });

  it('copies only files that exist and that .dockerignore lets into the context', () => {
    const sources = dockerfile
      .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => {
        const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
        return words.slice(0, -1);
      });
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'schemas', 'topology', 'packages/agent/package.json', 'packages/agent/src']));
    for (const s of sources) {
      expect(existsSync(join(ROOT, s)), `${s} exists`).toBe(true);
      expect(dockerIgnored(ignore, s), `${s} is not ignored`).toBe(false);
    }
  });

  it('keeps secrets, local state, dependencies and VCS data out of the build context', () => {
    for (const p of ['.git/config', 'node_modules/x', 'src/node_modules/x', 'packages/agent/node_modules/x', 'packages/agent/dist/index.js', '.env', '.env.local', 'dist/cli/main.js', '.risk-hub/state/0', 'npm-debug.log', 'certs/client.key']) {
      expect(dockerIgnored(ignore, p), p).toBe(true);
    }
  });
});
