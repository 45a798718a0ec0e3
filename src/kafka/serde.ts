import { readFileSync } from 'node:fs';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { Config } from '../config/schema.ts';
import { ConnectionError, PoisonRecordError, SchemaError } from '../errors.ts';
import { resolveAsset } from '../paths.ts';

// Confluent wire format: byte 0 = 0 (magic), bytes 1-4 = schema id (big endian), then Avro binary.
// Schemas come from the registry by id and are cached for the life of the process (ids are immutable);
// decoding resolves the writer's schema into our reader schema so older and newer producers both
// yield the shapes of src/contracts.ts (new fields filled from their defaults).

export const POISON_REASONS = ['no-magic-byte', 'truncated', 'unknown-schema', 'incompatible-schema', 'undecodable', 'missing-user', 'invalid-value'] as const;
export type PoisonReason = (typeof POISON_REASONS)[number];

export function subjectFor(topic: string): string {
  return `${topic}-value`;
}

/**
 * The Avro type of one of our schemas, to read records with. `skip` names top-level fields to leave
 * out: records written with them still resolve (Avro skips what the reader does not have).
 */
export function readerType(file: 'attack.avsc' | 'risk-alert.avsc' | 'delivery.avsc', skip: readonly string[] = []): avro.Type {
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

  constructor(config: Pick<Config, 'schemaRegistry'>) {
    const r = config.schemaRegistry;
    this.url = r.url;
    this.registry = new SchemaRegistry({
      host: r.url.replace(/\/+$/, ''),
      ...(r.username ? { auth: { username: r.username, password: r.password ?? '' } } : {}),
      retry: { retries: 2, initialRetryTimeInSecs: 0.2, maxRetryTimeInSecs: 2 },
    } as ConstructorParameters<typeof SchemaRegistry>[0]);
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
   * reason; a registry that cannot be reached throws ConnectionError (retriable: pause and retry).
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
      p = this.registry.getLatestSchemaId(subject).catch((err: unknown) => {
        this.latest.delete(subject);
        if (isNotFound(err)) throw new SchemaError(`no schema registered under ${subject}: run risk-hub schemas register`, { cause: err });
        throw this.connectionError(err);
      });
      this.latest.set(subject, p);
    }
    return p;
  }

  /** Writer types by id, one registry lookup and one avsc parse per id even under concurrent misses. */
  private async writerType(id: number): Promise<avro.Type> {
    let p = this.writers.get(id);
    if (!p) {
      p = (this.registry.getSchema(id) as unknown as Promise<avro.Type>).catch((err: unknown) => {
        this.writers.delete(id);
        if (isNotFound(err)) throw new PoisonRecordError('unknown-schema', `schema id ${id} is not in the registry at ${this.url}`, { cause: err });
        throw this.connectionError(err);
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

  private connectionError(err: unknown): ConnectionError {
    return new ConnectionError(`schema registry at ${this.url} is unreachable: ${(err as Error).message}. Check SCHEMA_REGISTRY_URL.`, { cause: err });
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
