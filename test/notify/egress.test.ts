import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeliveryError } from '../../src/errors.ts';
import { checkAddress, createSafeAgent, parseAllowList, resolveChecked, type Lookup } from '../../src/notify/egress.ts';
import { startHttpReceiver, type HttpReceiver } from './receivers.ts';

const none = parseAllowList([]);

describe('checkAddress', () => {
  it.each([
    ['10.0.0.1', false],
    ['172.16.5.4', false],
    ['192.168.1.1', false],
    ['127.0.0.1', false],
    ['0.0.0.0', false],
    ['169.254.169.254', false],
    ['169.254.1.1', false],
    ['100.64.0.1', false],
    ['100.100.100.200', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fc00::1', false],
    ['fd00:ec2::254', false],
    ['::ffff:127.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['64:ff9b::a00:1', false],
    ['2002:a00:1::1', false],
    ['224.0.0.1', false],
    ['8.8.8.8', true],
    ['1.1.1.1', true],
    ['2606:4700:4700::1111', true],
  ])('%s allowed=%s by default', (addr, allowed) => {
    expect(checkAddress(addr, none).allowed).toBe(allowed);
  });

  it('an allow-list opens CIDRs and addresses, but metadata only by exact address', () => {
    const p = parseAllowList(['10.1.0.0/16', '127.0.0.1', 'fd00::/8', '169.254.0.0/16']);
    expect(checkAddress('10.1.2.3', p).allowed).toBe(true);
    expect(checkAddress('10.2.0.1', p).allowed).toBe(false);
    expect(checkAddress('127.0.0.1', p).allowed).toBe(true);
    expect(checkAddress('127.0.0.2', p).allowed).toBe(false);
    expect(checkAddress('::ffff:127.0.0.1', p).allowed).toBe(true);
    expect(checkAddress('fd12::1', p).allowed).toBe(true);
    expect(checkAddress('169.254.10.10', p).allowed).toBe(true);
    expect(checkAddress('169.254.169.254', p)).toMatchObject({ allowed: false, range: 'metadata' });
    expect(checkAddress('fd00:ec2::254', p)).toMatchObject({ allowed: false, range: 'metadata' });
    expect(checkAddress('169.254.169.254', parseAllowList(['169.254.169.254/32'])).allowed).toBe(true);
  });

  // IPv6 addresses that carry an IPv4 address reach that IPv4 host: judged by it (issue 13).
  it.each([
    ['::127.0.0.1', 'loopback'], // IPv4-compatible, as typed in a URL ([::127.0.0.1])
    ['::7f00:1', 'loopback'], // the same, as new URL() and resolvers write it
    ['::a00:1', 'private'],
    ['::a9fe:a9fe', 'metadata'],
    ['::ffff:7f00:1', 'loopback'], // IPv4-mapped, hex form
    ['::ffff:0:a00:1', 'private'], // SIIT
    ['64:ff9b::7f00:1', 'loopback'], // NAT64 well-known prefix
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b:1::c0a8:101', 'private'], // NAT64 local-use prefix
    ['2002:c0a8:101::1', 'private'], // 6to4 of 192.168.1.1
    ['2002:7f00:1::', 'loopback'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'], // Teredo client 127.0.0.1 (inverted)
  ])('refuses %s, which embeds a %s IPv4 address', (addr, range) => {
    expect(checkAddress(addr, none)).toMatchObject({ allowed: false, range });
  });

  it('judges NAT64 of a public address as that address; 6to4 and Teredo relays stay refused unless allow-listed', () => {
    expect(checkAddress('64:ff9b::808:808', none)).toMatchObject({ allowed: true });
    expect(checkAddress('2002:808:808::1', none).allowed).toBe(false);
    // A broad IPv6 allow-list entry does not open the private IPv4 hosts a 6to4 address embeds.
    const wide = parseAllowList(['2000::/3']);
    expect(checkAddress('2002:808:808::1', wide).allowed).toBe(true);
    expect(checkAddress('2002:a00:1::1', wide).allowed).toBe(false);
    // An allow-listed IPv4 range is reachable through NAT64 too; metadata still needs its exact entry.
    const ten = parseAllowList(['10.0.0.0/8', '169.254.0.0/16']);
    expect(checkAddress('64:ff9b::a00:1', ten).allowed).toBe(true);
    expect(checkAddress('64:ff9b::a9fe:a9fe', ten)).toMatchObject({ allowed: false, range: 'metadata' });
  });

  it('an allow-listed host name resolving to an embedded metadata address is refused', async () => {
    const p = parseAllowList(['hooks.internal']);
    const lookup: Lookup = async () => [{ address: '64:ff9b::a9fe:a9fe', family: 6 }];
    await expect(resolveChecked('hooks.internal', p, lookup)).rejects.toMatchObject({ status: 'egress_refused' });
  });

  it('rejects a malformed allow-list entry', () => {
    expect(() => parseAllowList(['10.0.0.0/99'])).toThrow();
  });
});

describe('resolveChecked', () => {
  const fake = (map: Record<string, string[]>): Lookup => async (h) => {
    const a = map[h];
    if (!a) throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

  it('refuses a host if ANY of its addresses is private (no mixed answers)', async () => {
    const lookup = fake({ 'evil.example': ['93.184.216.34', '10.0.0.5'], 'good.example': ['93.184.216.34'] });
    await expect(resolveChecked('evil.example', none, lookup)).rejects.toMatchObject({ status: 'egress_refused', retriable: false });
    await expect(resolveChecked('good.example', none, lookup)).resolves.toBe('93.184.216.34');
  });

  it('a host name on the allow-list may resolve to a private address, never to metadata', async () => {
    const lookup = fake({ 'hooks.internal': ['10.9.9.9'], 'meta.internal': ['169.254.169.254'] });
    const p = parseAllowList(['hooks.internal', 'meta.internal']);
    await expect(resolveChecked('hooks.internal', p, lookup)).resolves.toBe('10.9.9.9');
    await expect(resolveChecked('meta.internal', p, lookup)).rejects.toMatchObject({ status: 'egress_refused' });
  });

  it('localhost (real resolver) is refused unless allowed', async () => {
    await expect(resolveChecked('localhost', none)).rejects.toMatchObject({ status: 'egress_refused' });
    await expect(resolveChecked('localhost', parseAllowList(['localhost']))).resolves.toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});

describe('createSafeAgent (real undici, real loopback receiver)', () => {
  let rx: HttpReceiver;
  beforeAll(async () => {
    rx = await startHttpReceiver();
  });
  afterAll(async () => {
    await rx.close();
  });

  /** The base connector is a spy: a refusal must never reach it, i.e. no packet leaves. */
  function spiedAgent(allow: string[]) {
    let calls: string[] = [];
    const real = vi.fn();
    const agent = createSafeAgent({
      allow,
      headersTimeoutMs: 2000,
      bodyTimeoutMs: 2000,
      baseConnect: (opts, cb) => {
        calls.push(opts.hostname);
        real(opts.hostname);
        // delegate to the default connector for allowed loopback targets
        import('undici').then(({ buildConnector }) => buildConnector({ timeout: 2000 })(opts, cb));
      },
    });
    return { agent, calls: () => calls, reset: () => (calls = []) };
  }

  it.each([
    ['http://10.0.0.1/hook', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['http://[fd00:ec2::254]/', 'metadata'],
    ['http://100.100.100.200/', 'metadata'],
    ['http://[64:ff9b::a9fe:a9fe]/', 'metadata'],
  ])('refuses %s before any connection', async (url, why) => {
    const s = spiedAgent(['127.0.0.1']);
    const err = await request(url, { method: 'POST', body: '{}', dispatcher: s.agent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect(err).toMatchObject({ status: 'egress_refused', retriable: false });
    expect((err as Error).message).toContain(why);
    expect(s.calls()).toEqual([]);
    await s.agent.close();
  });

  it.each(['[::127.0.0.1]', '[::ffff:127.0.0.1]', '[::ffff:0:7f00:1]', '[64:ff9b::7f00:1]', '[2002:7f00:1::1]'])('refuses loopback written as IPv6 %s before any connection', async (host) => {
    const s = spiedAgent([]);
    const err = await request(rx.url.replace('127.0.0.1', host), { method: 'POST', body: '{}', dispatcher: s.agent }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 'egress_refused', retriable: false });
    expect((err as Error).message).toContain('loopback');
    expect(s.calls()).toEqual([]);
    expect(rx.requests).toHaveLength(0);
    await s.agent.close();
  });

  it('refuses 127.0.0.1 and localhost when not allowed; connects to the checked address when allowed', async () => {
    const denied = spiedAgent([]);
    for (const url of [rx.url, rx.url.replace('127.0.0.1', 'localhost')]) {
      await expect(request(url, { method: 'POST', body: '{}', dispatcher: denied.agent })).rejects.toMatchObject({ status: 'egress_refused' });
    }
    expect(denied.calls()).toEqual([]);
    expect(rx.requests).toHaveLength(0);
    await denied.agent.close();

    const allowed = spiedAgent(['127.0.0.1']);
    const res = await request(rx.url, { method: 'POST', body: '{}', dispatcher: allowed.agent });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(allowed.calls()).toEqual(['127.0.0.1']);
    expect(rx.requests).toHaveLength(1);
    expect(rx.requests[0]?.headers.host).toBe(`127.0.0.1:${rx.port}`);
    await allowed.agent.close();
  });

  it('keeps the original Host header when connecting to the resolved address of an allowed name', async () => {
    const s = spiedAgent(['localhost']);
    const url = rx.url.replace('127.0.0.1', 'localhost');
    const res = await request(url, { method: 'POST', body: '{}', dispatcher: s.agent }).catch((e: unknown) => e);
    // localhost may resolve to ::1 first while the receiver listens on 127.0.0.1 only
    if (!(res instanceof Error)) {
      await (res as { body: { dump(): Promise<void> } }).body.dump();
      expect(rx.requests.at(-1)?.headers.host).toBe(`localhost:${rx.port}`);
    }
    expect(s.calls()[0]).toMatch(/^(127\.0\.0\.1|::1)$/);
    await s.agent.close();
  });
});
