#!/usr/bin/env node
// Unit tests of the chart's alerting rules with Prometheus' own `promtool test rules`.
//
// promtool is not on npm or Debian: it is built once from the Go module proxy
// (`go install -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool@<PROMTOOL_VERSION>`)
// into <cache>/tools/promtool-<version>/ (RISK_HUB_CACHE, else ~/.cache/risk-hub) and reused.
// The rules are the PrometheusRule the chart renders with ci/full-values.yaml (every alert enabled);
// the tests are test/deploy/rules.promtool.yaml (input series → alerts expected at given times).
//
//   node scripts/promtool.mjs --install   # builds promtool if it is not cached yet (needs Go), prints its path
//   node scripts/promtool.mjs             # check rules + test rules (exit 1 on failure; 2 when promtool is missing)
//   node scripts/promtool.mjs --path      # prints the cached binary's path (empty when not built)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import console from 'node:console';
import { parseAllDocuments, stringify } from 'yaml';
import { helmPath } from './helm.mjs';

/** Pinned: resolves through the Go module proxy and builds with the machines' Go (1.26). */
export const PROMTOOL_VERSION = 'v0.316.0';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TESTS = join(root, 'test', 'deploy', 'rules.promtool.yaml');

export function promtoolPath(env = process.env) {
  if (env.PROMTOOL_BIN) return env.PROMTOOL_BIN;
  const cache = env.RISK_HUB_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'risk-hub');
  return join(cache, 'tools', `promtool-${PROMTOOL_VERSION}`, 'promtool');
}

/** Builds promtool into the cache unless it is there; returns its path. */
export function installPromtool() {
  const bin = promtoolPath();
  if (existsSync(bin)) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  // remove_all_sd leaves out the service-discovery plugins (cloud SDKs: most of the build time);
  // rule checks and rule unit tests do not use them.
  const go = spawnSync('go', ['version']).error && existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : 'go';
  const r = spawnSync(go, ['install', '-tags', 'remove_all_sd', `github.com/prometheus/prometheus/cmd/promtool@${PROMTOOL_VERSION}`], {
    stdio: 'inherit',
    env: { ...process.env, GOBIN: dirname(bin), GOFLAGS: '-mod=mod' },
    cwd: tmpdir(),
  });
  if (r.error || r.status !== 0 || !existsSync(bin)) throw new Error(`go install promtool@${PROMTOOL_VERSION} failed (${r.error?.message ?? `exit ${r.status}`})`);
  return bin;
}

/** The rule groups of the PrometheusRule the chart renders with every alert enabled, as a Prometheus rule file. */
export function renderedRules() {
  const r = spawnSync(
    helmPath(),
    ['template', 'rh', 'deploy/helm/risk-hub', '--namespace', 'risk', '-f', 'deploy/helm/risk-hub/ci/full-values.yaml'],
    { cwd: root, encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: join(root, 'node_modules', '.cache', 'risk-hub-helm', 'home') } },
  );
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const rule = parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .find((o) => o?.kind === 'PrometheusRule');
  if (!rule) throw new Error('the chart rendered no PrometheusRule with ci/full-values.yaml');
  return stringify({ groups: rule.spec.groups });
}

/** check rules + test rules; returns { status, output }. */
export function runRuleTests(bin = promtoolPath()) {
  const dir = mkdtempSync(join(tmpdir(), 'risk-hub-rules-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), renderedRules());
    writeFileSync(join(dir, 'tests.yaml'), readFileSync(TESTS, 'utf8'));
    let output = '';
    for (const args of [['check', 'rules', 'rules.yaml'], ['test', 'rules', 'tests.yaml']]) {
      const r = spawnSync(bin, args, { cwd: dir, encoding: 'utf8' });
      output += `$ promtool ${args.join(' ')}\n${r.stdout}${r.stderr}`;
      if (r.error || r.status !== 0) return { status: r.status ?? 1, output: output + (r.error ? String(r.error) : '') };
    }
    return { status: 0, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2];
  if (arg === '--path') {
    console.log(existsSync(promtoolPath()) ? promtoolPath() : '');
  } else if (arg === '--install') {
    console.log(installPromtool());
  } else {
    if (!existsSync(promtoolPath())) {
      console.error(`promtool ${PROMTOOL_VERSION} is not built yet: run node scripts/promtool.mjs --install (needs Go)`);
      process.exit(2);
    }
    const { status, output } = runRuleTests();
    process.stdout.write(output);
    process.exit(status);
  }
}
