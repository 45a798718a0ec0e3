import type { Admin } from 'kafkajs';
import { scorerGroupId, type Config } from '../config/schema.ts';
import { createKafka } from './client.ts';

// How far the scorer group got on the input topic, whatever process it runs in: the scorer's own
// ambiguous-commit check, the benchmark and the fault tests.

/**
 * The scorer group's committed offset per input partition (partitions without one are absent). With
 * `stable`, read with require_stable: while a transaction holding offsets of the group is open, the
 * broker answers UNSTABLE_OFFSET_COMMIT and kafkajs retries, so an offset a pending commit is about to
 * move is never returned (what a new owner of a partition needs).
 */
export async function scorerCommitted(admin: Admin, config: Pick<Config, 'applicationId' | 'topics'>, topic = config.topics.attacks, stable = false): Promise<Map<number, bigint>> {
  const [committed] = await admin.fetchOffsets({ groupId: scorerGroupId(config), topics: [topic], ...(stable ? { requireStable: true } : {}) });
  const out = new Map<number, bigint>();
  for (const p of committed?.partitions ?? []) if (BigInt(p.offset) >= 0n) out.set(p.partition, BigInt(p.offset));
  return out;
}

/** Records the scorer group has committed (processed) on the input topic, summed over partitions. */
export async function scorerCommittedTotal(config: Config): Promise<number> {
  return withAdmin(config, async (admin) => [...(await scorerCommitted(admin, config)).values()].reduce((n, o) => n + Number(o), 0));
}

/** Records on the input topic the scorer group has not committed yet (0 = everything processed). */
export async function scorerLag(config: Config): Promise<number> {
  return withAdmin(config, async (admin) => {
    const committed = await scorerCommitted(admin, config);
    const ends = await admin.fetchTopicOffsets(config.topics.attacks);
    return ends.reduce((lag, e) => lag + Number(BigInt(e.high) - (committed.get(e.partition) ?? 0n)), 0);
  });
}

async function withAdmin<T>(config: Config, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}
