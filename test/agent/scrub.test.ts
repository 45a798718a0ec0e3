import { describe, expect, it } from 'vitest';
import { MAX_PATH, normalizeIp, REDACTED, scrubPath, scrubRequest } from '../../packages/agent/src/scrub.ts';

describe('scrubbing request facts', () => {
  it('redacts values of sensitive query parameters and keeps the others', () => {
    expect(scrubPath('/login?user=alice&password=hunter2&remember=1')).toBe(`/login?user=alice&password=${REDACTED}&remember=1`);
    expect(scrubPath('/cb?code=abc&state=xyz&access_token=t0k3n&api_key=k&Authorization=Basic%20x&sessionid=s')).toBe(
      `/cb?code=${REDACTED}&state=xyz&access_token=${REDACTED}&api_key=${REDACTED}&Authorization=${REDACTED}&sessionid=${REDACTED}`,
    );
  });

  it('redacts credential-looking values wherever they are (JWT, long hex, long base64)', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
    expect(scrubPath(`/api/${jwt}/x?next=${jwt}&q=ok`)).toBe(`/api/${REDACTED}/x?next=${REDACTED}&q=ok`);
    expect(scrubPath('/reset/0123456789abcdef0123456789abcdef')).toBe(`/reset/${REDACTED}`);
  });

  it('keeps attack payloads of ordinary parameters (truncated) so analysts see what was tried', () => {
    expect(scrubPath("/search?q=1'%20OR%20'1'%3D'1")).toBe("/search?q=1'%20OR%20'1'%3D'1");
    const long = scrubPath(`/search?q=${'ab%20'.repeat(300)}`);
    expect(long.length).toBeLessThan(200);
    expect(long.endsWith('…')).toBe(true);
  });

  it('bounds the path, the number of parameters, drops fragments and absolute-form hosts', () => {
    expect(scrubPath(`/${'seg/'.repeat(500)}`).length).toBeLessThanOrEqual(MAX_PATH);
    const many = scrubPath(`/x?${Array.from({ length: 50 }, (_, i) => `p${i}=${i}`).join('&')}`);
    expect(many.split('&')).toHaveLength(21);
    expect(scrubPath('/a#secret-fragment')).toBe('/a');
    expect(scrubPath('http://internal.example:8080/admin?x=1')).toBe('/admin?x=1');
  });

  it('honours extra sensitive names', () => {
    expect(scrubPath('/x?ssn_last4=1234&color=red', { sensitiveNames: /^ssn_/ })).toBe(`/x?ssn_last4=${REDACTED}&color=red`);
  });

  it('builds the record request: no cookies, no headers but the user agent, bounded', () => {
    const r = scrubRequest({ ip: '::ffff:203.0.113.9', method: 'post', url: '/login?password=x', userAgent: 'u'.repeat(1000) });
    expect(r).toEqual({ ip: '203.0.113.9', method: 'POST', path: `/login?password=${REDACTED}`, user_agent: expect.stringMatching(/^u{255}…$/) });
    expect(scrubRequest({})).toEqual({ ip: null, method: null, path: null, user_agent: null });
    expect(normalizeIp('2001:db8::1')).toBe('2001:db8::1');
  });
});
