// Java-compatible murmur2 (org.apache.kafka.common.utils.Utils.murmur2), the default partitioner of
// the Java client and of kafkajs. librdkafka clients agree only with `partitioner=murmur2_random`.

export function murmur2(data: Buffer, length = data.length): number {
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k = (data[i4]! & 0xff) + ((data[i4 + 1]! & 0xff) << 8) + ((data[i4 + 2]! & 0xff) << 16) + ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const rest = length & 3;
  const idx = length & ~3;
  if (rest === 3) h ^= (data[idx + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[idx + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[idx]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** UTF-8 of string keys, without a Buffer per key (the scorer checks the partition of every event). */
const scratch = Buffer.allocUnsafe(4096);

/** The partition the Java client would choose for `key` among `partitions`. */
export function partitionFor(key: string | Buffer, partitions: number): number {
  if (typeof key === 'string') {
    if (key.length * 3 > scratch.length) return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
    return (murmur2(scratch, scratch.write(key, 0, 'utf8')) & 0x7fffffff) % partitions;
  }
  return (murmur2(key) & 0x7fffffff) % partitions;
}
