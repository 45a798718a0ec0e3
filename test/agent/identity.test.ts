import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, createAgent, type Agent, type AgentOptions } from '@risk-hub/agent';
import type { Attack } from '../../packages/agent/src/contracts.ts';
import type { Transport } from '../../packages/agent/src/transport.ts';

// The agent refuses at the source what the scorer would dead-letter (issue 13 items 1 and 2): identity
// options outside the rules of src/identity.ts at start-up; per event, it keeps every record inside the
// bounds (long user keys hashed, descriptive fields truncated).

class Recorder implements Transport {
  sent: Attack[] = [];
  async send(events: Attack[]): Promise<{ rejected: Attack[] }> {
    this.sent.push(...events);
    return { rejected: [] };
  }
  async close(): Promise<void> {}
}

function agentWith(opts: Partial<AgentOptions> = {}): { agent: Agent; t: Recorder } {
  const t = new Recorder();
  return { agent: createAgent({ application: 'shop', environment: 'test', transport: t, lingerMs: 1, logger: null, detect: false, ...opts }), t };
}

describe('the identity rules the agent carries', () => {
  it('are the server\'s, byte for byte (the package cannot import src/; one copy of the rules, checked here)', () => {
    const server = readFileSync(new URL('../../src/identity.ts', import.meta.url), 'utf8');
    const agent = readFileSync(new URL('../../packages/agent/src/identity.ts', import.meta.url), 'utf8');
    expect(agent).toBe(server);
  });
});

describe('identity options are checked at start-up', () => {
  it.each([
    ['application', { application: 'a/b' }],
    ['application', { application: 'shop app' }],
    ['application', { application: '-shop' }],
    ['application', { application: 'é-shop' }],
    ['application', { application: 'a'.repeat(65) }],
    ['environment', { environment: 'b/c' }],
    ['environment', { environment: '.hidden' }],
    ['environment', { environment: 'prod\n1' }],
    ['environment', { environment: 7 as never }],
  ])('%s %j is a ConfigError naming the option and the rule', (option, bad) => {
    let error: unknown;
    try {
      agentWith(bad as Partial<AgentOptions>);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('RH_CONFIG');
    expect((error as Error).message).toContain(`option ${option}`);
    if (typeof (bad as { environment?: unknown }).environment !== 'number') {
      expect((error as Error).message).toContain('^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
    }
  });

  it('valid ids are kept (trimmed); an empty environment is the default "production"', async () => {
    const { agent, t } = agentWith({ application: ' shop.eu-1_a ', environment: '' });
    expect([agent.application, agent.environment]).toEqual(['shop.eu-1_a', 'production']);
    const longest = agentWith({ application: 'a'.repeat(64), environment: 'Z9' }).agent;
    expect(longest.environment).toBe('Z9');
    await longest.close();
    agent.report({ type: 'custom', severity: 'LOW', user: 'u' });
    expect(await agent.flush(2000)).toBe(true);
    expect(t.sent.map((e) => [e.application_id, e.environment])).toEqual([['shop.eu-1_a', 'production']]);
    await agent.close();
  });
});
