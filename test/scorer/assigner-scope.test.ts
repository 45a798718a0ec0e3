import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.ts';
import { ASSIGNER_NAMES, urlAdvertisingAssigner } from '../../src/scorer/assigner.ts';
import { consumerStopped } from '../../src/scorer/scorer.ts';

// The transaction scope is in the group protocol's name, so the group coordinator refuses a scorer of
// the other scope (INCONSISTENT_GROUP_PROTOCOL), and the scorer then says what to do.
// test/integration/scorer-faults.test.ts shows the refusal on the real broker.

const cluster = { findTopicPartitionMetadata: () => [{ partitionId: 0 }] };

function protocolName(scope: 'partition' | 'process'): string {
  const assigner = urlAdvertisingAssigner('http://scorer-0:9464', scope)({ cluster } as never);
  return assigner.protocol({ topics: ['attacks'] }).name;
}

describe('the scorer group protocol and the transaction scope', () => {
  it('partition keeps the name of the versions before scopes; process has its own', () => {
    expect(protocolName('partition')).toBe('RiskHubRoundRobin');
    expect(protocolName('process')).toBe('RiskHubRoundRobin.process');
    expect(new Set(Object.values(ASSIGNER_NAMES)).size).toBe(2);
  });

  it('a refused join becomes RH_SCOPE_MISMATCH naming both scopes and the way out; any other final error RH_CONSUMER_STOPPED', () => {
    const config = ConfigSchema.parse({ applicationId: 'shop' });
    const refused = Object.assign(new Error('incompatible protocols'), { type: 'INCONSISTENT_GROUP_PROTOCOL' });
    const e = consumerStopped(refused, config);
    expect(e.code).toBe('RH_SCOPE_MISMATCH');
    expect(e.message).toMatch(/refused this scorer \(scorer\.transactionScope process\).*transactionScope partition.*Stop every scorer/);
    expect(e.cause).toBe(refused);
    const partition = consumerStopped(refused, ConfigSchema.parse({ scorer: { transactionScope: 'partition' } }));
    expect(partition.message).toMatch(/\(scorer\.transactionScope partition\).*have scorer\.transactionScope process/);
    const other = consumerStopped(new Error('GROUP_AUTHORIZATION_FAILED'), config);
    expect(other.code).toBe('RH_CONSUMER_STOPPED');
    expect(other.message).toContain('GROUP_AUTHORIZATION_FAILED');
  });
});
