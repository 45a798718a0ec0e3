import type { Config } from '../config/schema.ts';
import { createKafka } from './client.ts';

/**
 * Records the scorer group has committed (processed) on the input topic, summed over partitions.
 * Used by the benchmark and the fault tests to know how far the scorer got, whatever process it is in.
 */
export async function scorerCommittedTotal(config: Config): Promise<number> {
  const admin = createKafka(config).admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId: `${config.applicationId}-scorer`, topics: [config.topics.attacks] });
    return (committed?.partitions ?? []).reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
  } finally {
    await admin.disconnect();
  }
}
