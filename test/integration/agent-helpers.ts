import { createAgent, type Agent, type AgentOptions } from '@risk-hub/agent';
import type { Config } from '../../src/config/schema.ts';

// The Node agent as the integration tests run it: the test's broker, registry and attacks topic, a
// short linger (records reach the topic quickly), no log output. Kept apart from helpers.ts, which
// every integration test imports: this one loads the agent and its engine.

/** An agent producing to `config`'s attacks topic; `opts` adds or overrides options. */
export function testAgent(config: Config, opts: Omit<AgentOptions, 'brokers' | 'schemaRegistry' | 'topic'>): Agent {
  return createAgent({
    brokers: config.kafka.brokers,
    schemaRegistry: config.schemaRegistry.url,
    topic: config.topics.attacks,
    lingerMs: 20,
    logger: null,
    ...opts,
  });
}
