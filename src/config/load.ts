import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { ConfigSchema, type Config } from './schema.ts';

export interface LoadOptions {
  /** YAML file; also RISK_HUB_CONFIG. Absent means defaults plus environment. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Applied last (used by the demo and tests). */
  overrides?: Record<string, unknown>;
}

/**
 * Validates the configuration once and freezes it. Precedence, lowest first: defaults, YAML file,
 * `RISK_HUB_*` environment variables, the well-known KAFKA_BROKERS / SCHEMA_REGISTRY_URL / STATE_DIR,
 * explicit overrides. An invalid value stops start-up with the field named.
 */
export function loadConfig(opts: LoadOptions = {}): Readonly<Config> {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.RISK_HUB_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {};
    } catch (err) {
      throw new ConfigError(`${file}: invalid YAML: ${(err as Error).message}`, { cause: err });
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: expected a mapping at the top level`);
  }
  raw = deepMerge(raw, envOverrides(env));
  if (opts.overrides) raw = deepMerge(raw, opts.overrides);
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, file));
  return deepFreeze(parsed.data);
}

export function formatIssues(error: z.ZodError, file?: string): string {
  const where = file ? `${file}: ` : '';
  return (
    'invalid configuration: ' +
    error.issues.map((i) => `${where}${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') +
    ' (see config/risk-hub.example.yaml)'
  );
}

/** RISK_HUB_SCORING__MAX_CONTRIBUTIONS=5 → { scoring: { maxContributions: 5 } }. Values are JSON when they parse as JSON. */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('RISK_HUB_') || !isConfigVariable(name) || value === undefined) continue;
    const path = name.slice('RISK_HUB_'.length).split('__').map(camel);
    // Secrets and names stay strings even when they look like numbers ("123456" is a valid password).
    setPath(out, path, STRING_KEY.test(path[path.length - 1] ?? '') ? value : parseValue(value));
  }
  if (env.KAFKA_BROKERS) setPath(out, ['kafka', 'brokers'], env.KAFKA_BROKERS.split(',').map((s) => s.trim()).filter(Boolean));
  if (env.SCHEMA_REGISTRY_URL) setPath(out, ['schemaRegistry', 'url'], env.SCHEMA_REGISTRY_URL);
  if (env.STATE_DIR) setPath(out, ['scorer', 'stateDir'], env.STATE_DIR);
  return out;
}

/**
 * Configuration variables name a section and a key (RISK_HUB_SCORING__THRESHOLD); the only top-level
 * scalar is RISK_HUB_APPLICATION_ID. Other RISK_HUB_* names (RISK_HUB_CONFIG, RISK_HUB_CACHE,
 * RISK_HUB_JAVA_HOME, RISK_HUB_LOCAL_*_PORT, tools' own) are not configuration and are left alone.
 */
function isConfigVariable(name: string): boolean {
  return name.includes('__') || name === 'RISK_HUB_APPLICATION_ID';
}
const STRING_KEY = /(password|secret|secrets|token|username|url|urlEnv|id|name|host)$/i;

function camel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  path.forEach((key, i) => {
    if (i === path.length - 1) cur[key] = value;
    else {
      if (typeof cur[key] !== 'object' || cur[key] === null) cur[key] = {};
      cur = cur[key] as Record<string, unknown>;
    }
  });
}

export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlain(prev) && isPlain(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
