import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { PoisonRecordError, RegistryUnavailableError } from '../../src/errors.ts';
import { AvroSerde, readerType, retryWhileUnavailable } from '../../src/kafka/serde.ts';
import { createLogger } from '../../src/log.ts';
import { resolveAsset } from '../../src/paths.ts';

// Every schema-registry call of the serde is bounded by schemaRegistry.timeoutMs (issue 13 item 4): a
// registry that accepts connections and never answers gives a retriable RegistryUnavailableError,
// the outage is logged once (not per record) and its end once. A loopback HTTP server plays the
// registry: hanging (requests held open, never answered) or answering GET /schemas/ids/:id.

const schema = readFileSync(resolveAsset('schemas/risk-alert.avsc'), 'utf8');
let server: Server;
let mode: 'hang' | 'answer' | 'missing' = 'hang';
const held: ServerResponse[] = [];
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    if (mode === 'hang') return void held.push(res);
    if (mode === 'missing' || !/^\/schemas\/ids\/\d+$/.test(req.url ?? '')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 40403, message: 'Schema not found' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' }).end(JSON.stringify({ schema }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const r of held) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function serdeWithLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  const destination = new Writable({ write: (c: Buffer, _e, cb) => (lines.push(JSON.parse(c.toString()) as never), cb()) });
  const config = loadConfig({ env: {}, overrides: { schemaRegistry: { url, timeoutMs: 300 } } });
  return { serde: new AvroSerde(config, { log: createLogger({ level: 'debug', destination }) }), lines };
}

const frame = (id: number) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), Buffer.from([0])]);

describe('AvroSerde against a hung registry', () => {
  it('times out with a retriable RegistryUnavailableError, logs the outage once, and its end once', async () => {
    mode = 'hang';
    const { serde, lines } = serdeWithLog();
    const reader = readerType('risk-alert.avsc');
    for (let i = 0; i < 3; i++) {
      const err = await serde.decode(frame(7), reader).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RegistryUnavailableError);
      expect(err).toMatchObject({ retriable: true, code: 'RH_REGISTRY_UNAVAILABLE', url });
      expect((err as Error).message).toContain('did not answer schema id 7 within 300 ms');
    }
    const latest = await serde.latestId('risk-alerts-value').catch((e: unknown) => e);
    expect(latest).toBeInstanceOf(RegistryUnavailableError);
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => /schema registry unavailable/.test(l.msg))).toEqual([expect.objectContaining({ level: 50 })]);

    mode = 'answer';
    const ok = await serde.decode(frame(7), reader).catch((e: unknown) => e);
    // The frame's body is not a valid alert: what matters is that the registry answered (poison, not an outage).
    expect(ok).toBeInstanceOf(PoisonRecordError);
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => /schema registry answers again/.test(l.msg))).toHaveLength(1);
    expect(lines.filter((l) => /schema registry unavailable/.test(l.msg))).toHaveLength(1);
  });

  it('a 404 for a schema id is poison (unknown-schema), not an outage', async () => {
    mode = 'missing';
    const { serde, lines } = serdeWithLog();
    await expect(serde.decode(frame(9), readerType('risk-alert.avsc'))).rejects.toMatchObject({ reason: 'unknown-schema' });
    expect(lines.filter((l) => /unavailable/.test(l.msg))).toEqual([]);
  });
});

describe('retryWhileUnavailable', () => {
  it('retries retriable errors (heart-beating), throws others at once, and stops on abort', async () => {
    let calls = 0;
    let beats = 0;
    const value = await retryWhileUnavailable(
      async () => {
        if (++calls < 3) throw new RegistryUnavailableError(url, 'down');
        return 'ok';
      },
      { initialDelayMs: 1, maxDelayMs: 2, heartbeat: async () => void beats++ },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(beats).toBeGreaterThanOrEqual(2);

    await expect(retryWhileUnavailable(async () => Promise.reject(new PoisonRecordError('undecodable', 'bad')))).rejects.toBeInstanceOf(PoisonRecordError);

    const abort = new AbortController();
    const waiting = retryWhileUnavailable(async () => Promise.reject(new RegistryUnavailableError(url, 'down')), { signal: abort.signal, initialDelayMs: 60_000 });
    abort.abort();
    await expect(waiting).rejects.toBeInstanceOf(RegistryUnavailableError);
  });
});
