import { readFileSync } from 'node:fs';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { Config } from '../config/schema.ts';
import { isRetriable, PoisonRecordError, RegistryUnavailableError, SchemaError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';
import { resolveAsset } from '../paths.ts';

// Confluent wire format: byte 0 = 0 (magic), bytes 1-4 = schema id (big endian), then Avro binary.
// Schemas come from the registry by id and are cached for the life of the process (ids are immutable);
// decoding resolves the writer's schema into our reader schema so older and newer producers both
// yield the shapes of src/contracts.ts (new fields filled from their defaults).
//
// Every registry call is bounded by `schemaRegistry.timeoutMs` (retries included): a hung registry
// (SIGSTOP, overload) gives a RegistryUnavailableError (retriable) after that time instead of blocking
// the caller, which then pauses and retries the same record, never dead-letters it. The outage is
// logged once when it starts (ERROR: an operator must act), reminded every 5 minutes, and its end
// is logged with its length.

export const POISON_REASONS = ['no-magic-byte', 'truncated', 'unknown-schema', 'incompatible-schema', 'undecodable', 'missing-user', 'invalid-value'] as const;
export type PoisonReason = (typeof POISON_REASONS)[number];

export function subjectFor(topic: string): string {
  return `${topic}-value`;
}

/**
 * The Avro type of one of our schemas, to read records with. `skip` names top-level fields to leave
 * out: records written with them still resolve (Avro skips what the reader does not have).
 */
export function readerType(file: 'attack.avsc' | 'risk-alert.avsc' | 'delivery.avsc' | 'decision.avsc', skip: readonly string[] = []): avro.Type {
  const schema = JSON.parse(readFileSync(resolveAsset(`schemas/${file}`), 'utf8')) as { fields: Array<{ name: string }> };
  if (skip.length) schema.fields = schema.fields.filter((f) => !skip.includes(f.name));
  return avro.Type.forSchema(schema as unknown as avro.Schema);
}

export interface Decoded<T> {
  value: T;
  schemaId: number;
}

const NO_READER = Object.freeze({ none: true });

/** Where `encode` writes (grown when a value does not fit); never held across an await. */
let encodeBuffer = Buffer.allocUnsafe(64 * 1024);

export class AvroSerde {
  readonly registry: SchemaRegistry;
  private readonly latest = new Map<string, Promise<number>>();
  private readonly writers = new Map<number, Promise<avro.Type>>();
  /** Per reader type instance (two readers of the same name must not share resolvers), per schema id. */
  private readonly resolvers = new WeakMap<avro.Type | typeof NO_READER, Map<number, { writer: avro.Type; resolver: avro.Resolver | undefined }>>();
  private readonly url: string;
  private readonly timeoutMs: number;
  private readonly log: Logger;

  constructor(config: Pick<Config, 'schemaRegistry'>, opts: { log?: Logger } = {}) {
    const r = config.schemaRegistry;
    this.url = r.url; // never carries credentials (moved to username/password when the configuration loads)
    this.timeoutMs = r.timeoutMs;
    this.log = opts.log ?? defaultLog();
    const timeoutMs = r.timeoutMs;
    this.registry = new SchemaRegistry({
      host: r.url.replace(/\/+$/, ''),
      ...(r.username ? { auth: { username: r.username, password: r.password ?? '' } } : {}),
      retry: { retries: 2, initialRetryTimeInSecs: 0.2, maxRetryTimeInSecs: 2 },
      // Each HTTP request (socket idle) is bounded too, so abandoned requests of a hung registry end.
      middlewares: [() => ({ prepareRequest: (next: () => Promise<{ enhance(x: { timeout: number }): unknown }>) => next().then((req) => req.enhance({ timeout: timeoutMs })) })],
    } as unknown as ConstructorParameters<typeof SchemaRegistry>[0]);
  }

  /**
   * One registry call, bounded by schemaRegistry.timeoutMs. A 404 is passed through (the caller
   * knows what it means); anything else that fails is a RegistryUnavailableError.
   */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RegistryUnavailableError(this.url, `schema registry at ${this.url} did not answer ${what} within ${this.timeoutMs} ms (schemaRegistry.timeoutMs)`)), this.timeoutMs);
    });
    try {
      const value = await Promise.race([fn(), deadline]);
      outages.ended(this.url, this.log);
      return value;
    } catch (err) {
      if (isNotFound(err)) {
        outages.ended(this.url, this.log);
        throw err;
      }
      const message = (err as Error).message ?? String(err);
      const e =
        err instanceof RegistryUnavailableError
          ? err
          : // The per-request timeout (mappersmith: "Timeout (300ms)") can fire just before the deadline.
            /\bTimeout \(\d+ms\)/.test(message)
            ? new RegistryUnavailableError(this.url, `schema registry at ${this.url} did not answer ${what} within ${this.timeoutMs} ms (schemaRegistry.timeoutMs)`, { cause: err })
            : new RegistryUnavailableError(this.url, `schema registry at ${this.url} is unreachable (${what}: ${message}). Check SCHEMA_REGISTRY_URL.`, { cause: err });
      outages.failed(this.url, e, this.timeoutMs, this.log);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Encodes with the latest schema registered under `subject` (looked up once, then cached). */
  async encode(subject: string, value: unknown): Promise<Buffer> {
    const id = await this.latestId(subject);
    const type = await this.writerType(id);
    // Written into a shared buffer behind the 5-byte header, then copied out once: avsc's toBuffer
    // zero-fills a fresh buffer per value, a cost the scorer paid for every alert. Writing checks the
    // value's types as it goes; the full validation runs only to name what is wrong.
    let end: number;
    try {
      end = type.encode(value, encodeBuffer, 5);
      if (end < 0) {
        // Too small by -end bytes (at least): grow and write again.
        encodeBuffer = Buffer.allocUnsafe(2 * (encodeBuffer.length - end));
        end = type.encode(value, encodeBuffer, 5);
      }
    } catch {
      end = -1;
    }
    if (end < 0) {
      const paths: string[] = [];
      type.isValid(value, { errorHook: (p) => paths.push(p.join('.') || '(root)') });
      throw new SchemaError(`value does not match ${subject} (schema id ${id}) at: ${paths.join(', ') || '(root)'}`);
    }
    encodeBuffer[0] = 0;
    encodeBuffer.writeInt32BE(id, 1);
    return Buffer.from(encodeBuffer.subarray(0, end));
  }

  /**
   * Decodes a record value. Poison (a record that will never decode) throws PoisonRecordError with a
   * reason; a registry that cannot be reached or does not answer in time throws
   * RegistryUnavailableError (retriable: pause and retry the same record).
   */
  async decode<T>(buf: Buffer | null, reader?: avro.Type): Promise<Decoded<T>> {
    const schemaId = wireSchemaId(buf);
    await this.resolverFor(schemaId, reader);
    return this.decodeCached<T>(buf, reader)!;
  }

  /**
   * The synchronous hot path: decodes when the writer schema is already cached, else returns
   * undefined (call `decode` once for that record). Saves a promise per record in large batches.
   */
  decodeCached<T>(buf: Buffer | null, reader?: avro.Type): Decoded<T> | undefined {
    const schemaId = wireSchemaId(buf);
    const entry = this.resolvers.get(reader ?? NO_READER)?.get(schemaId);
    if (!entry) return undefined;
    buf = buf!;
    try {
      const value = entry.resolver && reader ? reader.fromBuffer(buf.subarray(5), entry.resolver) : entry.writer.fromBuffer(buf.subarray(5));
      return { value: value as T, schemaId };
    } catch (err) {
      const msg = (err as Error).message;
      throw new PoisonRecordError(/truncated/i.test(msg) ? 'truncated' : 'undecodable', `schema id ${schemaId}: ${msg}`, { cause: err });
    }
  }

  async latestId(subject: string): Promise<number> {
    let p = this.latest.get(subject);
    if (!p) {
      p = this.call(`the latest schema of ${subject}`, () => this.registry.getLatestSchemaId(subject)).catch((err: unknown) => {
        this.latest.delete(subject);
        if (isNotFound(err)) throw new SchemaError(`no schema registered under ${subject}: run risk-hub schemas register`, { cause: err });
        throw err;
      });
      this.latest.set(subject, p);
    }
    return p;
  }

  /** Writer types by id, one registry lookup and one avsc parse per id even under concurrent misses. */
  private async writerType(id: number): Promise<avro.Type> {
    let p = this.writers.get(id);
    if (!p) {
      p = this.call(`schema id ${id}`, () => this.registry.getSchema(id) as unknown as Promise<avro.Type>).catch((err: unknown) => {
        this.writers.delete(id);
        if (isNotFound(err)) throw new PoisonRecordError('unknown-schema', `schema id ${id} is not in the registry at ${this.url}`, { cause: err });
        throw err;
      });
      this.writers.set(id, p);
    }
    return p;
  }

  private async resolverFor(id: number, reader?: avro.Type): Promise<{ writer: avro.Type; resolver: avro.Resolver | undefined }> {
    let byId = this.resolvers.get(reader ?? NO_READER);
    const hit = byId?.get(id);
    if (hit) return hit;
    const writer = await this.writerType(id);
    let entry: { writer: avro.Type; resolver: avro.Resolver | undefined };
    if (!reader) entry = { writer, resolver: undefined };
    else if (writer.equals(reader)) {
      // Same schema (the common case): decode with the reader directly, no resolver (several times faster).
      entry = { writer: reader, resolver: undefined };
    } else {
      try {
        entry = { writer, resolver: reader.createResolver(writer) };
      } catch (err) {
        throw new PoisonRecordError('incompatible-schema', `schema id ${id} cannot be read as ${reader.name}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!byId) {
      byId = new Map();
      this.resolvers.set(reader ?? NO_READER, byId);
    }
    byId.set(id, entry);
    return entry;
  }

}

let fallbackLog: Logger | undefined;
function defaultLog(): Logger {
  return (fallbackLog ??= createLogger({ name: 'schema-registry', level: process.env.LOG_LEVEL ?? 'info' }));
}

/** How often (ms) a registry outage that goes on is mentioned again. */
const OUTAGE_REMINDER_MS = 5 * 60_000;

/** Registry outages of this process, per registry URL: one line when one starts, one when it ends. */
class RegistryOutages {
  private readonly down = new Map<string, { since: number; lastLog: number; failures: number }>();

  failed(url: string, err: Error, timeoutMs: number, log: Logger): void {
    const now = Date.now();
    const o = this.down.get(url);
    if (!o) {
      this.down.set(url, { since: now, lastLog: now, failures: 1 });
      log.error(
        { registry: url, err: err.message, timeoutMs },
        'schema registry unavailable: records that need a schema lookup wait and are retried, none is dead-lettered (logged once per outage)',
      );
      return;
    }
    o.failures++;
    if (now - o.lastLog >= OUTAGE_REMINDER_MS) {
      o.lastLog = now;
      log.warn({ registry: url, downForMs: now - o.since, failures: o.failures, err: err.message }, 'schema registry still unavailable');
    }
  }

  ended(url: string, log: Logger): void {
    const o = this.down.get(url);
    if (!o) return;
    this.down.delete(url);
    log.info({ registry: url, downForMs: Date.now() - o.since, failures: o.failures }, 'schema registry answers again; processing resumed');
  }

  isDown(url: string): boolean {
    return this.down.has(url);
  }
}
const outages = new RegistryOutages();

/** Whether this process currently sees the registry at `url` as unavailable (for readiness details). */
export function registryDown(url: string): boolean {
  return outages.isDown(url);
}

/**
 * Runs `fn` until it stops failing with a retriable error (a registry or broker outage), waiting with
 * capped exponential backoff in between and calling `heartbeat` so a consumer keeps its group
 * membership while it waits. Non-retriable errors are thrown at once; `signal` ends the wait with
 * the last error.
 */
export async function retryWhileUnavailable<T>(
  fn: () => Promise<T>,
  opts: { signal?: AbortSignal; heartbeat?: () => Promise<void>; initialDelayMs?: number; maxDelayMs?: number } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetriable(err) || opts.signal?.aborted) throw err;
      const delay = Math.min(opts.maxDelayMs ?? 5000, (opts.initialDelayMs ?? 250) * 2 ** Math.min(attempt, 10));
      await sleepHeartbeating(delay, opts.heartbeat, opts.signal);
      if (opts.signal?.aborted) throw err;
    }
  }
}

async function sleepHeartbeating(ms: number, heartbeat: (() => Promise<void>) | undefined, signal: AbortSignal | undefined): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !signal?.aborted) {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, Math.min(1000, end - Date.now()));
      signal?.addEventListener('abort', done, { once: true });
    });
    await heartbeat?.().catch(() => undefined);
  }
}

/** The schema id of a Confluent-framed value; PoisonRecordError when the frame is not there. */
function wireSchemaId(buf: Buffer | null): number {
  if (!buf || buf.length === 0) throw new PoisonRecordError('truncated', 'empty record value');
  if (buf[0] !== 0) throw new PoisonRecordError('no-magic-byte', `first byte is ${buf[0]}, not the Confluent magic byte 0`);
  if (buf.length < 5) throw new PoisonRecordError('truncated', `record of ${buf.length} bytes has no complete schema id`);
  return buf.readInt32BE(1);
}

function isNotFound(err: unknown): boolean {
  const e = err as { status?: number; message?: string };
  return e?.status === 404 || /not found/i.test(e?.message ?? '');
}
