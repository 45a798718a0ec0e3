import { describe, expect, it } from 'vitest';
import { jsonDepth, parseJsonBody, BodyError } from '../../src/relay/body.ts';
import { boundBody, EventRejected, readEnvelope, readEvent, readRequestJson, ShapeError, toRequestLike } from '../../src/relay/mapping.ts';
import { MAX_BODY_DEPTH, MAX_VALUE_CHARS } from '../../src/relay/limits.ts';
import { TokenTable } from '../../src/relay/tokens.ts';
import { RelaySchema } from '../../src/config/relay.ts';

const base = { id: 'e-1', at: 1764763200000 };

function rejected(raw: unknown): string {
  try {
    readEvent(raw);
  } catch (err) {
    if (err instanceof EventRejected) return err.reason;
    throw err;
  }
  throw new Error('not rejected');
}

describe('relay body', () => {
  it('refuses invalid UTF-8, nesting over 32 levels and non-JSON with 400, before or without recursion', () => {
    expect(() => parseJsonBody(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]))).toThrow(BodyError);
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(jsonDepth(deep)).toBe(33); // stops counting past the limit
    expect(() => parseJsonBody(Buffer.from(deep))).toThrow(/deeper than 32/);
    expect(() => parseJsonBody(Buffer.from('{"a":'))).toThrow(/not JSON/);
    // brackets inside strings (and escaped quotes) do not count
    expect(jsonDepth('{"a":"[[[[\\"[[[[","b":[1]}')).toBe(2);
    expect(parseJsonBody(Buffer.from('{"__proto__":{"polluted":1}}'))).toEqual(JSON.parse('{"__proto__":{"polluted":1}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('relay mapping', () => {
  it('reads the envelope; wrong shapes are 400, more than 500 events 413', () => {
    expect(readEnvelope({ application_id: 'shop', environment: 'production', events: [] })).toEqual({ applicationId: 'shop', environment: 'production', events: [] });
    for (const bad of [null, [], 'x', { application_id: 1, environment: 'p', events: [] }, { application_id: 'a', environment: 'p', events: {} }]) {
      expect(() => readEnvelope(bad)).toThrow(ShapeError);
    }
    try {
      readEnvelope({ application_id: 'a', environment: 'p', events: new Array(501).fill({}) });
      throw new Error('not refused');
    } catch (err) {
      expect((err as ShapeError).status).toBe(413);
    }
  });

  it('rejects events that break a rule, naming the rule', () => {
    expect(rejected(null)).toBe('shape');
    expect(rejected({ ...base, kind: 'nope' })).toBe('kind');
    expect(rejected({ ...base, id: '', kind: 'login', success: false, user: { key: 'a' } })).toBe('id');
    expect(rejected({ ...base, id: 'x'.repeat(257), kind: 'login', success: false, user: { key: 'a' } })).toBe('id');
    expect(rejected({ ...base, at: -1, kind: 'login', success: false, user: { key: 'a' } })).toBe('at');
    expect(rejected({ ...base, at: 1.5, kind: 'login', success: false, user: { key: 'a' } })).toBe('at');
    expect(rejected({ ...base, kind: 'login', user: { key: 'a' } })).toBe('success');
    expect(rejected({ ...base, kind: 'login', success: false, user: { key: ' ' } })).toBe('user');
    expect(rejected({ ...base, kind: 'login', success: false, user: { key: 'é'.repeat(129) } })).toBe('user'); // 258 bytes
    expect(rejected({ ...base, kind: 'login', success: false, user: null })).toBe('user');
    expect(rejected({ ...base, kind: 'request', user: null })).toBe('request');
    expect(rejected({ ...base, kind: 'request', user: null, request: { uri: 'x'.repeat(20_000) } })).toBe('request');
    expect(rejected({ ...base, kind: 'custom', user: { key: 'a' }, type: '', severity: 'LOW' })).toBe('type');
    expect(rejected({ ...base, kind: 'custom', user: { key: 'a' }, type: 't'.repeat(65), severity: 'LOW' })).toBe('type');
    expect(rejected({ ...base, kind: 'custom', user: { key: 'a' }, type: 'x', severity: 'SEVERE' })).toBe('severity');
    expect(rejected({ ...base, kind: 'custom', user: { key: 'a' }, type: 'x', severity: 'LOW', points: 1.5 })).toBe('points');
    expect(rejected({ ...base, kind: 'enforcement', user: { key: 'a' }, action: 'LIFT' })).toBe('action');
    // a 256-byte key is fine
    expect(readEvent({ ...base, kind: 'login', success: false, user: { key: 'é'.repeat(128) } }).user?.key).toBe('é'.repeat(128));
  });

  it('maps a request as a watched Express request: query like parseQuery, cookies back into a Cookie header, no authorization', () => {
    const r = readRequestJson({
      method: 'GET',
      uri: '/search?q=1',
      ip: '203.0.113.9',
      headers: { 'User-Agent': 'curl/8', authorization: 'Bearer x', cookie: 'ignored=1' },
      query: { q: ['one'], tag: ['a', 'b'], n: [3], empty: [], __proto__: ['<x>'] },
      body: { comment: 'hi' },
      path_params: { id: '42' },
      cookies: { sid: 'a b;c' },
    });
    expect(r.headers['user-agent']).toBe('curl/8');
    expect(r.headers.authorization).toBeUndefined();
    expect(r.headers.cookie).toBe('sid=a%20b%3Bc');
    expect({ ...r.query }).toEqual({ q: 'one', tag: ['a', 'b'], n: '3' });
    expect(Object.getPrototypeOf(r.query)).toBeNull();
    const { req, extras } = toRequestLike(r);
    const raw = (req as unknown as { raw: { url: string; method: string; headers: object } }).raw;
    expect([raw.url, raw.method, (req as unknown as { ip: string }).ip]).toEqual(['/search?q=1', 'GET', '203.0.113.9']);
    expect(extras.params).toEqual(Object.assign(Object.create(null), { id: '42' }));
  });

  it('keeps a __proto__ key of the body as an own entry (inspected, no prototype write)', () => {
    const parsed = JSON.parse('{"__proto__":{"x":"<script>alert(1)</script>"},"constructor":"c"}') as unknown;
    const b = boundBody(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(b)).toBeNull();
    expect(Object.keys(b)).toEqual(['__proto__', 'constructor']);
    expect((b['__proto__'] as Record<string, unknown>).x).toBe('<script>alert(1)</script>');
  });

  it('bounds a body: depth 20, strings cut to 16 KiB, at most 10,000 values', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 30; i++) deep = { d: deep };
    let b = boundBody(deep);
    let depth = 0;
    while (b && typeof b === 'object') {
      b = (b as { d?: unknown }).d;
      depth++;
    }
    expect(depth).toBe(MAX_BODY_DEPTH);
    expect((boundBody({ s: 'x'.repeat(100_000) }) as { s: string }).s.length).toBe(MAX_VALUE_CHARS);
    expect((boundBody(new Array(50_000).fill(1)) as unknown[]).length).toBe(10_000);
    expect(boundBody([1, 'a', null, true, [2]])).toEqual(['1', 'a', null, 'true', ['2']]);
  });
});

describe('relay tokens', () => {
  const config = RelaySchema.parse({ applications: { shop: { tokenEnv: 'T_SHOP' }, blog: { tokenEnv: 'T_BLOG', environments: ['staging'] } } });

  it('finds the application of a bearer token; anything else is none', () => {
    const t = new TokenTable(config, { T_SHOP: 'shop-token-0123456789', T_BLOG: 'blog-token-0123456789' });
    expect(t.applicationOf('Bearer shop-token-0123456789')?.id).toBe('shop');
    expect(t.applicationOf('bearer  blog-token-0123456789')?.environments.has('staging')).toBe(true);
    for (const bad of [undefined, '', 'Bearer', 'Bearer shop-token-012345678', 'Basic shop-token-0123456789', 'Bearer shop-token-0123456789x', `Bearer ${'x'.repeat(5000)}`]) {
      expect(t.applicationOf(bad)).toBeUndefined();
    }
  });

  it('names the unset variable at start-up', () => {
    expect(() => new TokenTable(config, { T_SHOP: 'x' })).toThrow(/T_BLOG.*blog.*not set/);
  });
});
