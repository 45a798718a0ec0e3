// One Node agent per (application, environment), created on first use: its engine, login tracker,
// per-user limits, producer and decisions store are the Node agent's own, so what the relay reports for
// a thin agent is what the Node agent would report for the same traffic. The configuration bounds how
// many there can be (each application lists its environments).

import { readFileSync } from 'node:fs';
import { createAgent, type Agent } from '@risk-hub/agent';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { relayAgents } from '../metrics/index.ts';

export interface AgentPoolOptions {
  config: Config;
  log: Logger;
  /** Replaces createAgent (unit tests: an agent with a fake transport). */
  create?: (application: string, environment: string) => Agent;
}

export class AgentPool {
  private readonly agents = new Map<string, Agent>();
  private closed = false;

  constructor(private readonly opts: AgentPoolOptions) {}

  /** The agent of (application, environment); the caller has checked both against the configuration. */
  get(application: string, environment: string): Agent {
    if (this.closed) throw new Error('relay closing');
    const key = `${application}/${environment}`;
    let agent = this.agents.get(key);
    if (agent === undefined) {
      agent = (this.opts.create ?? ((a, e) => this.createAgent(a, e)))(application, environment);
      warmUp(agent);
      this.agents.set(key, agent);
      relayAgents.set(this.agents.size);
      this.opts.log.info({ application, environment }, 'relay: agent started');
    }
    return agent;
  }

  /** The agent if it exists (GET /v1/decisions creates it; a queue check need not). */
  peek(application: string, environment: string): Agent | undefined {
    return this.agents.get(`${application}/${environment}`);
  }

  all(): Agent[] {
    return [...this.agents.values()];
  }

  /** Events queued or in flight in every agent. */
  queued(): number {
    let n = 0;
    for (const a of this.agents.values()) {
      const s = a.stats();
      n += s.queued + s.inFlight;
    }
    return n;
  }

  /** Engine runs over the WAF budget in every agent since it was created (agents are never removed). */
  wafTimeouts(): number {
    let n = 0;
    for (const a of this.agents.values()) n += a.stats().wafTimeouts;
    return n;
  }

  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    await Promise.all([...this.agents.values()].map((a) => a.close({ timeoutMs })));
  }

  private createAgent(application: string, environment: string): Agent {
    const c = this.opts.config;
    const log = this.opts.log.child({ application, environment });
    return createAgent({
      application,
      environment,
      brokers: c.kafka.brokers,
      schemaRegistry: { url: c.schemaRegistry.url, username: c.schemaRegistry.username, password: c.schemaRegistry.password, timeoutMs: c.schemaRegistry.timeoutMs },
      topic: c.topics.attacks,
      clientId: `${c.kafka.clientId}-relay-${application}-${environment}`,
      ssl: sslOf(c),
      sasl: c.kafka.sasl as never,
      connectionTimeoutMs: c.kafka.connectionTimeoutMs,
      requestTimeoutMs: c.kafka.requestTimeoutMs,
      // room for a full request's records above the 503 bound, so the relay answers 503 before the
      // agent would drop its oldest events
      maxQueue: c.relay.queue.maxEvents + 4 * 500,
      wafBudgetMicros: c.relay.wafBudgetMicros,
      decisions: { topic: c.topics.decisions },
      logger: { warn: (obj, msg) => log.warn(obj, msg), info: (obj, msg) => log.info(obj, msg) },
    });
  }
}

/** kafka.ssl as the agent's transport takes it (as src/kafka/client.ts builds it for kafkajs). */
function sslOf(c: Config): boolean | Record<string, unknown> | undefined {
  const k = c.kafka.ssl;
  if (k === false) return undefined;
  if (k === true) return true;
  return {
    rejectUnauthorized: k.rejectUnauthorized,
    ...(k.caFile ? { ca: [readFileSync(k.caFile, 'utf8')] } : {}),
    ...(k.certFile ? { cert: readFileSync(k.certFile, 'utf8') } : {}),
    ...(k.keyFile ? { key: readFileSync(k.keyFile, 'utf8') } : {}),
  };
}

/** libddwaf's first run is slow (milliseconds): one clean request first, so that no event's run times out on it. */
function warmUp(agent: Agent): void {
  const raw = { headers: { 'user-agent': 'risk-hub-relay' }, method: 'GET', url: '/', socket: {} };
  agent.inspect({ raw } as never, { query: { warm: 'up' } });
}
