import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The identity of a scorer process across restarts (Kafka Streams keeps its process id in the state
// directory the same way): the shared producer's transactional id is built from it, so a process
// restarted on the same state directory fences and aborts what its previous incarnation left open.

const FILE = 'scorer-process-id';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The process id kept in `stateDir`, created (atomically) when absent or not a UUID. */
export function processId(stateDir: string): string {
  const path = join(stateDir, FILE);
  try {
    const id = readFileSync(path, 'utf8').trim();
    if (UUID.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(stateDir, { recursive: true });
  const id = randomUUID();
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${id}\n`);
  renameSync(tmp, path);
  return id;
}
