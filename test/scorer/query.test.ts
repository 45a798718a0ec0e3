import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { userKey } from '../../src/contracts.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { queryRoute } from '../../src/scorer/query.ts';
import type { PartitionTask } from '../../src/scorer/task.ts';
import { emptyUserState, type UserState } from '../../src/scoring/index.ts';

// The interactive query route, broker-free: a task stand-in that answers `loadCommitted` from a map.

const PARTITIONS = 6;

function route(states: Map<string, UserState>) {
  const loaded: string[] = [];
  const task = { phase: 'active', exclusive: <T>(fn: () => Promise<T>) => fn(), loadCommitted: async (keys: string[]) => new Map(keys.flatMap((k) => (loaded.push(k), states.has(k) ? [[k, states.get(k)!] as const] : []))) };
  const r = queryRoute({ config: loadConfig({ env: {} }), partitions: PARTITIONS, task: () => task as unknown as PartitionTask, owners: async () => [] });
  const get = async (path: string) => {
    const out = await r({} as never, new URL(path, 'http://localhost'));
    return out as { status: number; body: Record<string, unknown> };
  };
  return { get, loaded, route: r };
}

describe('user-risk query route', () => {
  it('answers 400 for an application or environment outside the identity rules, never another user’s state', async () => {
    // "a/b" + "c" and "a" + "b/c" share the key a/b/c/u: the state of the one must not answer for the other.
    const s = emptyUserState();
    s.score = 7;
    const { get, loaded } = route(new Map([[userKey('a', 'b', 'c/u'), s]]));
    for (const path of ['/v1/users/a%2Fb/c/u/risk', '/v1/users/a/b%2Fc/u/risk', '/v1/users/a%20b/c/u/risk']) {
      const r = await get(path);
      expect(r.status).toBe(400);
      expect(String(r.body.error)).toMatch(/must match/);
    }
    expect(loaded).toEqual([]);
    // The user key comes last and may hold "/": percent-encoded, it is one segment.
    const ok = await get('/v1/users/a/b/c%2Fu/risk');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ application_id: 'a', environment: 'b', user: 'c/u', known: true, risk_score: 7, partition: partitionFor('a/b/c/u', PARTITIONS) });
  });
});

describe('the query API over HTTP', () => {
  it('answers 400, with no stack trace logged, to malformed percent-encoding or request targets', async () => {
    const { Writable } = await import('node:stream');
    const { request } = await import('node:http');
    const { startHttp } = await import('../../src/http.ts');
    const { createLogger } = await import('../../src/log.ts');
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(chunk.toString()), cb()) });
    const { route: queryRoute } = route(new Map());
    const http = await startHttp({
      host: '127.0.0.1',
      port: 0,
      log: createLogger({ destination, level: 'debug' }),
      ready: () => ({ ready: true }),
      routes: [queryRoute],
    });
    // fetch would normalise the path: send the raw request target.
    const raw = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: http.port, path, method: 'GET' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      lines.length = 0;
      for (const path of ['/v1/users/shop/production/%zz/risk', '/v1/users/shop/production/%/risk', '/v1/users/sh%E0%A4op/production/u/risk', '//[']) {
        const r = await raw(path);
        expect(r.status, path).toBe(400);
        expect(r.body).toMatch(/malformed/);
      }
      expect(lines.filter((l) => /"level":(50|60)|stack/.test(l))).toEqual([]);
      expect((await raw('/v1/users/shop/production/a%2Fb/risk')).status).toBe(200);
    } finally {
      await http.close();
    }
  });
});

