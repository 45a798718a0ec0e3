import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import avro from 'avsc';
import { attackKey, encodeWire, fetchLatestSchema } from '../../packages/agent/src/transport.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';

const schemaText = readFileSync(new URL('../../schemas/attack.avsc', import.meta.url), 'utf8');
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function registry(handler: (url: string, auth: string | undefined) => { status: number; body: unknown }): Promise<string> {
  const server = createServer((req, res) => {
    const r = handler(req.url ?? '', req.headers.authorization);
    res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/apis/ccompat/v7/`;
}

const record = {
  event_id: '6f1c2a9e-3b7d-4c1e-9a52-0d8e4f7b2c11',
  occurred_at: 1767225600000,
  application_id: 'shop',
  environment: 'production',
  user: { key: 'u-1001', identifiers: { email: 'alice@example.com' } },
  attack_type: 'sql_injection',
  severity: 'HIGH' as const,
  points: null,
  blocked: false,
  request: { ip: '203.0.113.7', method: 'GET', path: '/search?q=1%27%20OR%20%271%27%3D%271', user_agent: 'Mozilla/5.0' },
  agent: { name: 'risk-hub-ruby', version: '1.0.0', language: 'ruby' },
};

describe('agent transport pieces', () => {
  it('looks up the latest schema of the subject (with basic auth) and encodes the Confluent wire format', async () => {
    const seen: Array<[string, string | undefined]> = [];
    const url = await registry((u, auth) => {
      seen.push([u, auth]);
      return { status: 200, body: { subject: 'attacks-value', version: 3, id: 7, schema: schemaText } };
    });
    const schema = await fetchLatestSchema({ url, username: 'agent', password: 's3cret' }, 'attacks-value');
    expect(seen).toEqual([['/apis/ccompat/v7/subjects/attacks-value/versions/latest', `Basic ${Buffer.from('agent:s3cret').toString('base64')}`]]);
    const wire = encodeWire(schema, record);
    expect(wire[0]).toBe(0);
    expect(wire.readInt32BE(1)).toBe(7);
    expect(avro.Type.forSchema(JSON.parse(schemaText)).fromBuffer(wire.subarray(5))).toEqual(record);
    // the worked example of docs/agents.md: 209 bytes with schema id 1, key on partition 3 of 6
    expect(encodeWire({ ...schema, id: 1 }, record).length).toBe(209);
    expect(encodeWire({ ...schema, id: 1 }, record).subarray(0, 8).toString('hex')).toBe('0000000001483666');
    expect(attackKey(record)).toBe('shop/production/u-1001');
    expect(partitionFor(attackKey(record), 6)).toBe(3);
  });

  it('says what is wrong when the subject is missing or the answer is not a schema', async () => {
    const missing = await registry(() => ({ status: 404, body: { error_code: 40401, message: "Subject 'attacks-value' not found." } }));
    await expect(fetchLatestSchema({ url: missing }, 'attacks-value')).rejects.toThrow(/404 for subject attacks-value/);
    const odd = await registry(() => ({ status: 200, body: { hello: 'world' } }));
    await expect(fetchLatestSchema({ url: odd }, 'attacks-value')).rejects.toThrow(/no id\/schema/);
  });

  it('gives up on a registry that does not answer within its timeout', async () => {
    const server = createServer(() => undefined); // never answers
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const t0 = Date.now();
    await expect(fetchLatestSchema({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 200 }, 'attacks-value')).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(2000);
    server.closeAllConnections();
  });
});
