// Produce requests carry at most message.max.bytes per partition (1 MiB by default): large
// transactional batches are sent as several requests inside the same transaction.

export interface OutMessage {
  key: string | Buffer | null;
  value: Buffer | null;
  partition?: number;
  headers?: Record<string, string | Buffer | undefined>;
}

/** Splits topic messages into requests of at most `maxBytes` (keys + values), keeping order per topic. */
export function chunkTopicMessages(topicMessages: Array<{ topic: string; messages: OutMessage[] }>, maxBytes: number): Array<Array<{ topic: string; messages: OutMessage[] }>> {
  const chunks: Array<Array<{ topic: string; messages: OutMessage[] }>> = [];
  let current: Array<{ topic: string; messages: OutMessage[] }> = [];
  let bytes = 0;
  for (const tm of topicMessages) {
    let entry = { topic: tm.topic, messages: [] as OutMessage[] };
    current.push(entry);
    for (const msg of tm.messages) {
      const size = (msg.key?.length ?? 0) + (msg.value?.length ?? 0) + 64;
      if (bytes + size > maxBytes && bytes > 0) {
        chunks.push(current.filter((c) => c.messages.length));
        entry = { topic: tm.topic, messages: [] };
        current = [entry];
        bytes = 0;
      }
      entry.messages.push(msg);
      bytes += size;
    }
  }
  const last = current.filter((c) => c.messages.length);
  if (last.length) chunks.push(last);
  return chunks;
}
