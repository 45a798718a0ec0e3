import { readFileSync } from 'node:fs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as agent from '../../packages/agent/src/contracts.ts';
import { AGENT_VERSION } from '../../packages/agent/src/agent.ts';
import * as server from '../../src/contracts.ts';
import { ConfigError } from '../../src/errors.ts';

// The agent package carries its own copy of the shapes it shares with the server (so that an
// application installs it without the server): they must stay the same.
describe('agent and server contracts', () => {
  it('agree on the attack record, severities, key and configuration error', () => {
    expectTypeOf<agent.Attack>().toEqualTypeOf<server.Attack>();
    expectTypeOf<agent.UserRef>().toEqualTypeOf<server.UserRef>();
    expectTypeOf<agent.RequestInfo>().toEqualTypeOf<server.RequestInfo>();
    expectTypeOf<agent.Severity>().toEqualTypeOf<server.Severity>();
    expect(agent.SEVERITIES).toEqual(server.SEVERITIES);
    expect(agent.userKey('shop', 'production', 'u-1')).toBe(server.userKey('shop', 'production', 'u-1'));
    const a = new agent.ConfigError('x');
    const s = new ConfigError('x');
    expect([a.name, a.code, a.retriable]).toEqual([s.name, s.code, s.retriable]);
  });

  it("the version the agent reports is its package's", () => {
    const pkg = JSON.parse(readFileSync(new URL('../../packages/agent/package.json', import.meta.url), 'utf8')) as { version: string };
    expect(AGENT_VERSION).toBe(pkg.version);
  });
});
