// Decision records for the agent benchmarks (bench/agent-decisions.ts, bench/agent.ts --decisions N):
// encoded in the Confluent wire format and applied through the agent's decisions reader, as a start-up
// rebuild does, without Kafka.

import avro from 'avsc';
import type { Agent } from '@risk-hub/agent';
import { DECISION_SCHEMA } from '../packages/agent/src/decision-schema.ts';
import { DecisionFeed } from '../packages/agent/src/decision-feed.ts';
import type { DecisionStore } from '../packages/agent/src/decisions.ts';
import { encodeWire } from '../packages/agent/src/transport.ts';

const type = avro.Type.forSchema(DECISION_SCHEMA as unknown as avro.Schema);

/**
 * Decision i of application/environment: a mix like a busy application's: 70% BLOCK, 20% CHALLENGE,
 * 10% MONITOR; every 20th about an anonymous user (`anon:10.x.y.z`), the others about `u-<i>`. All hold
 * for a day or more.
 */
export function decisionRecord(application: string, environment: string, i: number, until: number): { key: string; value: Buffer } {
  const user = i % 20 === 0 ? `anon:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` : `u-${i}`;
  const action = i % 10 < 7 ? 'BLOCK' : i % 10 < 9 ? 'CHALLENGE' : 'MONITOR';
  const value = encodeWire(
    { id: 1, type },
    {
      decision_id: (i * 2654435761).toString(16).padStart(32, '0').slice(-32),
      application_id: application,
      environment,
      user: { key: user, identifiers: {} },
      action,
      source: 'POLICY',
      reason: `tier 2: +${40 + (i % 60)} points in 24 h (above 40)`,
      alert_id: `alert-${i}`,
      tier: 2,
      made_by: 'policy',
      made_at: until - 3_600_000,
      until: until + (i % 3_600_000),
      offense: 1,
      simulated: false,
      lifts: null,
    },
  );
  return { key: `${application}/${environment}/${user}`, value };
}

/** Fills the agent's store with n decisions through the reader's record path; returns the ns spent in it (encoding excluded). */
export function fillDecisions(agent: Agent, n: number): number {
  const store = (agent as unknown as { decisionStore: DecisionStore }).decisionStore;
  const feed = new DecisionFeed({ brokers: [], topic: 'bench', registry: { url: 'http://127.0.0.1:1' }, clientId: 'bench', logger: null }, store);
  const until = Date.now() + 24 * 3_600_000;
  const CHUNK = 50_000; // encoded in chunks: the encoded topic is not the agent's memory
  let ns = 0;
  for (let start = 0; start < n; start += CHUNK) {
    const chunk = [];
    for (let i = start; i < Math.min(n, start + CHUNK); i++) chunk.push(decisionRecord(agent.application, agent.environment, i, until));
    const t0 = process.hrtime.bigint();
    for (const r of chunk) feed.handle(r.key, r.value);
    ns += Number(process.hrtime.bigint() - t0);
  }
  void feed.close();
  if (store.size !== n) throw new Error(`store holds ${store.size}, expected ${n}`);
  return ns;
}
