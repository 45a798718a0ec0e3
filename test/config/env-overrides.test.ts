import { describe, expect, it } from 'vitest';
import { envOverrides, loadConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

describe('configuration from the environment', () => {
  it('maps RISK_HUB_<SECTION>__<KEY> to nested camelCase keys, JSON-typed', () => {
    const c = loadConfig({ env: { RISK_HUB_SCORING__THRESHOLD: '15', RISK_HUB_SCORING__TIERS: '[20,40]', RISK_HUB_SCORER__MAX_CONTRIBUTIONS: undefined } });
    expect(c.scoring.threshold).toBe(15);
    expect(c.scoring.tiers).toEqual([20, 40]);
    expect(Object.isFrozen(c.scoring)).toBe(true);
  });

  it('keeps secrets that look like numbers as strings', () => {
    const o = envOverrides({ RISK_HUB_KAFKA__SASL__PASSWORD: '123456', RISK_HUB_KAFKA__SASL__USERNAME: '42' }) as { kafka: { sasl: Record<string, unknown> } };
    expect(o.kafka.sasl).toEqual({ password: '123456', username: '42' });
  });

  it('ignores the local-stack variables and honours the well-known ones', () => {
    const c = loadConfig({
      env: { RISK_HUB_CACHE: '/x', RISK_HUB_JAVA_HOME: '/jdk', RISK_HUB_LOCAL_KAFKA_PORT: '19092', RISK_HUB_PYTHON: '/usr/bin/python3', RISK_HUB_APPLICATION_ID: 'fraud', KAFKA_BROKERS: 'a:9092, b:9092', SCHEMA_REGISTRY_URL: 'http://r:8080/apis/ccompat/v7', STATE_DIR: '/state' },
    });
    expect(c.kafka.brokers).toEqual(['a:9092', 'b:9092']);
    expect(c.schemaRegistry.url).toBe('http://r:8080/apis/ccompat/v7');
    expect(c.scorer.stateDir).toBe('/state');
    expect(c.applicationId).toBe('fraud');
  });

  it('moves credentials out of SCHEMA_REGISTRY_URL into username/password (explicit fields win)', () => {
    const c = loadConfig({ env: { SCHEMA_REGISTRY_URL: 'https://u%40corp:p%3Ass@reg.example.com/apis/ccompat/v7' } });
    expect(c.schemaRegistry).toMatchObject({ url: 'https://reg.example.com/apis/ccompat/v7', username: 'u@corp', password: 'p:ss' });
    const explicit = loadConfig({ env: { SCHEMA_REGISTRY_URL: 'https://u:p@reg.example.com/', RISK_HUB_SCHEMA_REGISTRY__PASSWORD: 'other' } });
    expect(explicit.schemaRegistry).toMatchObject({ url: 'https://reg.example.com/', username: 'u', password: 'other' });
    expect(loadConfig({ env: {} }).schemaRegistry).toEqual({ url: 'http://127.0.0.1:8081/apis/ccompat/v7', timeoutMs: 5000 });
  });

  it('names the field of an invalid value', () => {
    expect(() => loadConfig({ env: { RISK_HUB_SCORING__TIERS: '[5]' } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { RISK_HUB_SCORING__TIERS: '[5]' } })).toThrow(/scoring\.tiers\.0: tier bounds must be strictly increasing/);
    expect(() => loadConfig({ env: { RISK_HUB_KAFKA__BROKERS: '["nohostport"]' } })).toThrow(/kafka\.brokers\.0: expected host:port/);
  });

  it('refuses an idle-user TTL that would forget a window still counting, and accepts 0 (never)', () => {
    expect(() => loadConfig({ env: { RISK_HUB_SCORER__IDLE_USER_TTL_MS: '86400000' } })).toThrow(/scorer\.idleUserTtlMs: must be 0 .* greater than scoring\.windowMs \+ scoring\.lateGraceMs \(86400000 ms\)/);
    expect(() => loadConfig({ env: { RISK_HUB_SCORER__IDLE_USER_TTL_MS: '90000000', RISK_HUB_SCORING__LATE_GRACE_MS: '3600000' } })).toThrow(ConfigError);
    expect(loadConfig({ env: { RISK_HUB_SCORER__IDLE_USER_TTL_MS: '0' } }).scorer.idleUserTtlMs).toBe(0);
    expect(loadConfig({ env: {} }).scorer.idleUserTtlMs).toBe(7 * 24 * 3_600_000);
  });
});
