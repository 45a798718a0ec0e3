import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import type { Config } from '../config/schema.ts';
import { RegistryUnavailableError, SchemaError } from '../errors.ts';
import { resolveAsset } from '../paths.ts';

// Schemas as code: schemas/*.avsc registered under `<topic>-value` with BACKWARD compatibility.
// Plain HTTP against the Confluent-compatible API (Apicurio's /apis/ccompat/v7 or Confluent), so
// the error of a refused change can be shown as the registry wrote it.

export interface SchemaBinding {
  file: string;
  subject: string;
}

/** Which file goes to which subject; files that do not exist are skipped (delivery.avsc is optional). */
export function schemaBindings(config: Config): SchemaBinding[] {
  const dir = resolveAsset('schemas');
  return [
    { file: join(dir, 'attack.avsc'), subject: `${config.topics.attacks}-value` },
    { file: join(dir, 'risk-alert.avsc'), subject: `${config.topics.alerts}-value` },
    { file: join(dir, 'delivery.avsc'), subject: `${config.topics.deliveries}-value` },
    { file: join(dir, 'decision.avsc'), subject: `${config.topics.decisions}-value` },
  ].filter((b) => existsSync(b.file));
}

/** Reads and validates one schema file (JSON, a valid Avro schema); errors name the file and the reason. */
export function readSchemaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new SchemaError(`${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new SchemaError(`${file}: not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  try {
    avro.Type.forSchema(json as avro.Schema);
  } catch (err) {
    throw new SchemaError(`${file}: not a valid Avro schema: ${(err as Error).message}`, { cause: err });
  }
  return JSON.stringify(json);
}

export interface RegisterResult {
  subject: string;
  id: number;
  file: string;
}

export async function registerSchemas(config: Config, bindings: SchemaBinding[] = schemaBindings(config)): Promise<RegisterResult[]> {
  const out: RegisterResult[] = [];
  for (const b of bindings) {
    const schema = readSchemaFile(b.file);
    out.push({ subject: b.subject, file: b.file, id: await registerSchema(config, b.subject, schema, b.file) });
  }
  return out;
}

/** Sets BACKWARD on the subject, checks compatibility with the latest version, then registers (idempotent). */
export async function registerSchema(config: Config, subject: string, schema: string, file = subject): Promise<number> {
  const base = config.schemaRegistry.url.replace(/\/+$/, '');
  const s = encodeURIComponent(subject);
  const versions = await call(config, 'GET', `${base}/subjects/${s}/versions`);
  if (versions.status === 200) {
    const compat = await call(config, 'POST', `${base}/compatibility/subjects/${s}/versions/latest?verbose=true`, { schema });
    const body = compat.body as { is_compatible?: boolean; messages?: string[] };
    if (compat.status === 200 && body.is_compatible === false) {
      // Registering shows what broke (Apicurio lists the differences in the 409 message).
      const reg = await call(config, 'POST', `${base}/subjects/${s}/versions`, { schema });
      const why = body.messages?.join('; ') || (reg.body as { message?: string }).message || 'incompatible';
      throw new SchemaError(
        `${file}: the change is not BACKWARD compatible with the latest ${subject}: ${why}. Give every new field a default, and do not remove or rename fields without a default.`,
      );
    }
  }
  const cfg = await call(config, 'PUT', `${base}/config/${s}`, { compatibility: 'BACKWARD' });
  if (cfg.status !== 200) throw new SchemaError(`${subject}: setting BACKWARD compatibility failed: HTTP ${cfg.status} ${JSON.stringify(cfg.body)}`);
  const reg = await call(config, 'POST', `${base}/subjects/${s}/versions`, { schema });
  if (reg.status === 409) {
    throw new SchemaError(`${file}: the registry refused the change to ${subject}: ${(reg.body as { message?: string }).message ?? 'incompatible'}`);
  }
  if (reg.status !== 200) throw new SchemaError(`${file}: registering ${subject} failed: HTTP ${reg.status} ${JSON.stringify(reg.body)}`);
  return (reg.body as { id: number }).id;
}

async function call(config: Config, method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/vnd.schemaregistry.v1+json', Accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  const { username, password } = config.schemaRegistry;
  if (username) headers.Authorization = `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      signal: AbortSignal.timeout(config.schemaRegistry.timeoutMs),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw unavailable(config, err);
  }
  // The body is bounded by the same timeout (the signal covers reading it).
  const text = await res.text().catch((err: unknown) => {
    throw unavailable(config, err);
  });
  if (res.status >= 500) throw new RegistryUnavailableError(config.schemaRegistry.url, `schema registry at ${config.schemaRegistry.url} answered ${method} with HTTP ${res.status}: ${text.slice(0, 200)}`);
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed };
}

/** A registry that did not answer within schemaRegistry.timeoutMs, or refused the connection. The URL carries no credentials. */
function unavailable(config: Config, err: unknown): RegistryUnavailableError {
  const { url, timeoutMs } = config.schemaRegistry;
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  const why =
    e.name === 'TimeoutError' || e.name === 'AbortError'
      ? `did not answer within ${timeoutMs} ms (schemaRegistry.timeoutMs)`
      : `is unreachable (${e.cause?.code ?? e.cause?.message ?? e.message})`;
  return new RegistryUnavailableError(url, `schema registry at ${url} ${why}. Start it (risk-hub local up) or set SCHEMA_REGISTRY_URL.`, { cause: err });
}
