import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ConfigError, createAgent, type Agent, type AgentOptions } from '@risk-hub/agent';
import type { Attack, UserRef } from '../../packages/agent/src/contracts.ts';
import { boundRequest } from '../../packages/agent/src/request.ts';
import { attackKey, encodeWire, type SchemaRef, type Transport } from '../../packages/agent/src/transport.ts';
import { hashedUserKey, normalizeUser } from '../../packages/agent/src/user.ts';
import { ScoringSchema } from '../../src/config/scoring.ts';
import { SCORER_SKIPPED_FIELDS, type ScoredAttack } from '../../src/contracts.ts';
import { eventIdProblem, identityProblem, userKeyOf } from '../../src/identity.ts';
import { partitionFor } from '../../src/kafka/partitioner.ts';
import { readerType } from '../../src/kafka/serde.ts';
import { batchKeys, processBatch, type InputRecord } from '../../src/scorer/processor.ts';

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

const decoder = new TextDecoder('utf-8', { fatal: true });
/** Whether `s` is whole characters (no lone surrogate left by a cut) and at most `max` bytes of UTF-8. */
function within(s: string, max: number): boolean {
  const bytes = Buffer.from(s, 'utf8');
  return bytes.length <= max && decoder.decode(bytes) === s;
}

describe('user keys over 256 bytes are hashed, never refused nor cut', () => {
  const login = `${'attacker-chosen-login-'.repeat(465)}x`; // 10,231 bytes

  it('the hashed form: a readable 128-byte prefix, then …sha256: and the SHA-256 of the whole key; ≤ 256 bytes, deterministic', () => {
    const hashed = hashedUserKey(login);
    const digest = createHash('sha256').update(Buffer.from(login, 'utf8')).digest('hex');
    expect(hashed).toBe(`${login.slice(0, 128)}…sha256:${digest}`);
    expect(Buffer.byteLength(hashed)).toBe(202);
    expect(hashedUserKey(login)).toBe(hashed);
    expect(identityProblem('shop', 'test', hashed)).toBeUndefined();
    // two long logins with the same first 10,000 bytes are two users
    expect(hashedUserKey(`${login}y`)).not.toBe(hashed);
    // the bound is in bytes of UTF-8: 256 bytes is kept, 257 is hashed; the prefix ends on a character
    expect(hashedUserKey('k'.repeat(256))).toBe('k'.repeat(256));
    expect(hashedUserKey('€'.repeat(85) + 'k')).toBe('€'.repeat(85) + 'k'); // 256 bytes
    const euros = hashedUserKey('€'.repeat(86)); // 258 bytes
    expect(euros.startsWith(`${'€'.repeat(42)}…sha256:`)).toBe(true); // 42 × 3 = 126 bytes: the 43rd would pass 128
    const emoji = hashedUserKey(`a${'😀'.repeat(100)}`);
    expect(within(emoji, 256)).toBe(true);
    expect(emoji.startsWith(`a${'😀'.repeat(31)}…`)).toBe(true); // 1 + 31 × 4 = 125 bytes
  });

  it('normalizeUser hashes a long key (trimmed first) and says so; short and empty keys as before', () => {
    let hashed = 0;
    const count = (): void => {
      hashed++;
    };
    expect(normalizeUser(`  ${login}  `, count)?.key).toBe(hashedUserKey(login));
    expect(normalizeUser({ key: login, identifiers: { login } }, count)).toEqual({ key: hashedUserKey(login), identifiers: { login: login.slice(0, 256) } });
    expect(hashed).toBe(2);
    expect(normalizeUser('alice', count)?.key).toBe('alice');
    expect(normalizeUser({ key: 'alice', identifiers: JSON.parse('{"__proto__": "kept", "a": 1}') as Record<string, unknown> })?.identifiers).toEqual({ ['__proto__']: 'kept', a: '1' });
    expect(normalizeUser('   ', count)).toBeNull();
    expect(hashed).toBe(2);
  });

  it("a 10 KB login's failed attempts are produced under one hashed key, as records the scorer scores: no dead letter, one credential-stuffing user, an alert", async () => {
    const { agent, t } = agentWith();
    for (let i = 0; i < 12; i++) agent.trackAuth(false, { key: login, identifiers: { login } });
    expect(await agent.flush(2000)).toBe(true);
    expect(t.sent.map((e) => `${e.attack_type} ${e.severity}`)).toEqual([
      ...Array.from({ length: 5 }, () => 'auth_failure LOW'),
      'credential_stuffing MEDIUM',
      ...Array.from({ length: 5 }, () => 'auth_failure LOW'),
      'credential_stuffing HIGH',
      'auth_failure LOW',
      'auth_failure LOW',
    ]);
    expect(new Set(t.sent.map((e) => e.user.key))).toEqual(new Set([hashedUserKey(login)]));
    expect(agent.stats()).toMatchObject({ userKeysHashed: 12, sent: 14, droppedInvalid: 0 });

    // The bytes the Kafka transport would produce (the Confluent wire format with attack.avsc), decoded
    // with the scorer's reader and given to the scorer's processor: every record passes the rules of
    // src/identity.ts and is scored; the attacked login alerts.
    const writer: SchemaRef = { id: 1, type: avro.Type.forSchema(JSON.parse(readFileSync(new URL('../../schemas/attack.avsc', import.meta.url), 'utf8')) as avro.Schema) };
    const reader = readerType('attack.avsc', SCORER_SKIPPED_FIELDS);
    const resolver = reader.createResolver(writer.type);
    const records: InputRecord[] = t.sent.map((e, i) => {
      expect(writer.type.isValid(e)).toBe(true);
      const wire = encodeWire(writer, e);
      const value = reader.fromBuffer(wire.subarray(5), resolver) as ScoredAttack;
      expect(identityProblem(value.application_id, value.environment, value.user.key)).toBeUndefined();
      expect(eventIdProblem(value.event_id)).toBeUndefined();
      return { offset: String(i), recordKey: attackKey(e), attack: value };
    });
    const key = userKeyOf('shop', 'test', hashedUserKey(login));
    expect(batchKeys(records)).toEqual([key]);
    const out = processBatch(records, new Map(), ScoringSchema.parse({}), { partition: partitionFor(key, 6), partitions: 6, nowMs: Date.now() });
    expect(out.deadLetters).toEqual([]);
    expect(out.counts).toMatchObject({ scored: 14, wrongPartition: 0, truncated: 0 });
    expect(out.alerts.length).toBeGreaterThan(0);
    expect(out.alerts.every((a) => a.user.key === hashedUserKey(login))).toBe(true);
    await agent.close();
  });
});

describe('descriptive fields are cut to their bounds at a character boundary before the record is produced', () => {
  it('attack type, identifiers, address, user agent and method of a custom event; the anonymous user of a long forwarded address', async () => {
    // an application's anonymousUser that gives a blank key for one address
    const anonymousUser = (ip: string | null): UserRef => (ip === 'garbage' ? { key: '  ', identifiers: {} } : { key: `anon:${ip}`, identifiers: ip ? { ip } : {} });
    const { agent, t } = agentWith({ anonymousUser });
    // two names that cut to the same 64 bytes, then 20 more: 72-byte names, 301-byte values
    const identifiers: Record<string, string> = { [`${'x'.repeat(64)}a`]: 'first', [`${'x'.repeat(64)}b`]: 'second' };
    for (let i = 10; i < 30; i++) identifiers[`${i}${'n'.repeat(70)}`] = `${'€'.repeat(100)}${i}`;
    const req = {
      ip: `${'1'.repeat(40)}😀${'2'.repeat(1000)}`, // what a trusted proxy forwarded
      method: 'PROPFINDXXXXXXXXXXXXX',
      url: '/search?q=x',
      headers: { 'user-agent': '€'.repeat(300) },
      socket: {},
    };
    expect(agent.report({ type: `a${'😀'.repeat(20)}`, severity: 'LOW', user: { key: 'u-1', identifiers }, req: req as never })).not.toBeNull();
    expect(agent.report({ type: 'custom', severity: 'LOW', req: req as never })).not.toBeNull(); // anonymous: anon:<long ip>
    expect(agent.report({ type: 'custom', severity: 'LOW', user: 'u-2', req: { ...req, ip: 'garbage' } as never })).not.toBeNull();
    agent.trackAuth(false, '   ', { ...req, ip: 'garbage' } as never); // blank login, unusable custom anonymous user → default anon:<ip>
    expect(await agent.flush(2000)).toBe(true);
    const [custom, anon, , fallback] = t.sent as [Attack, Attack, Attack, Attack];

    expect(custom.attack_type).toBe(`a${'😀'.repeat(15)}`); // 61 bytes: a 16th would pass 64
    expect(Object.keys(custom.user.identifiers)).toHaveLength(16);
    for (const [name, value] of Object.entries(custom.user.identifiers)) {
      expect(within(name, 64) && within(value, 256)).toBe(true);
    }
    expect(custom.user.identifiers['x'.repeat(64)]).toBe('first'); // two names cut to one: the first is kept
    expect(custom.user.identifiers[`10${'n'.repeat(62)}`]).toBe('€'.repeat(85));
    for (const e of t.sent) {
      expect(identityProblem(e.application_id, e.environment, e.user.key)).toBeUndefined();
      expect(eventIdProblem(e.event_id)).toBeUndefined();
      const r = e.request!;
      expect(within(r.ip!, 64) && within(r.method!, 16) && within(r.path!, 2048) && within(r.user_agent!, 512)).toBe(true);
    }
    expect(custom.request!.ip).toBe(`${'1'.repeat(40)}😀${'2'.repeat(20)}`);
    expect(custom.request!.user_agent).toBe('€'.repeat(170));
    expect(anon.user.key).toBe(hashedUserKey(`anon:${req.ip}`));
    expect(within(anon.user.identifiers.ip!, 256)).toBe(true);
    expect(fallback.user).toEqual({ key: 'anon:garbage', identifiers: { ip: 'garbage' } });
    expect(agent.stats()).toMatchObject({ userKeysHashed: 1, truncated: 4 });
    await agent.close();
  });

  it('boundRequest cuts each field in bytes of UTF-8 and copies nothing when everything fits', () => {
    const fits = { ip: '203.0.113.7', method: 'GET', path: '/a', user_agent: 'Mozilla/5.0' };
    expect(boundRequest(fits)).toBe(fits);
    expect(boundRequest(null)).toBeNull();
    const long = boundRequest({ ip: null, method: null, path: `/${'é'.repeat(2000)}`, user_agent: null })!;
    expect(long.path).toBe(`/${'é'.repeat(1023)}`); // 1 + 1023 × 2 = 2047 bytes
    expect(long).toMatchObject({ ip: null, method: null, user_agent: null });
  });

  it('event ids the agent makes are UUIDs, within the event id bound', async () => {
    const { agent } = agentWith();
    const id = agent.report({ type: 'custom', severity: 'LOW', user: 'u' })!;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventIdProblem(id)).toBeUndefined();
    await agent.close();
  });
});
