import { describe, expect, it } from 'vitest';
import { kafkaStartFailure, newClusterId } from '../../src/local/stack.ts';

// What `risk-hub local up` says when the Kafka process exits while starting (read from its log).

describe('kafkaStartFailure', () => {
  it('names the taken port and the variables that move it', () => {
    const log = [
      '[2026-11-25 16:05:26,099] ERROR [BrokerServer id=1] Fatal error during broker startup. Prepare to shutdown (kafka.server.BrokerServer)',
      'Caused by: org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:39092: Address already in use.',
      'Caused by: java.net.BindException: Address already in use',
      '[2026-11-25 16:05:26,547] ERROR Exiting Kafka due to fatal exception during startup. (kafka.Kafka$)',
    ].join('\n');
    const msg = kafkaStartFailure(log);
    expect(msg).toMatch(/^port 39092 was taken/);
    expect(msg).toContain('RISK_HUB_LOCAL_KAFKA_PORT');
    expect(msg).toContain('RISK_HUB_LOCAL_CONTROLLER_PORT');
  });

  it('otherwise gives the last error line, or says there is none', () => {
    expect(kafkaStartFailure('INFO starting\n[x] ERROR Invalid cluster.id in meta.properties\nINFO stopping\n')).toBe('[x] ERROR Invalid cluster.id in meta.properties');
    expect(kafkaStartFailure('')).toBe('no error in its log');
  });
});

describe('newClusterId', () => {
  it('gives 22-character base64url ids that never start with "-" (the storage tool would read an option)', () => {
    const ids = Array.from({ length: 20_000 }, () => newClusterId());
    expect(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
