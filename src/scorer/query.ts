import type { Config } from '../config/schema.ts';
import { userKey } from '../contracts.ts';
import type { Route } from '../http.ts';
import { identityProblem } from '../identity.ts';
import { partitionFor } from '../kafka/partitioner.ts';
import { emptyUserState, resolvePolicy, riskView } from '../scoring/index.ts';
import type { GroupMemberView } from './assigner.ts';
import type { PartitionTask } from './task.ts';

// Interactive query: GET /v1/users/{application}/{environment}/{user}/risk. The user's partition is
// the murmur2 partition of its key; when another instance owns it, the answer is 421 with that
// instance's URL (from the group's member metadata) so a caller can ask it instead. Each segment is
// percent-decoded on its own (a user key may contain "/", sent as %2F); an application or environment
// outside the identity rules (src/identity.ts) answers 400, since its key could name another user.

const PATH = /^\/v1\/users\/([^/]+)\/([^/]+)\/([^/]+)\/risk$/;

export function queryRoute(opts: {
  config: Config;
  partitions: number;
  task: (p: number) => PartitionTask | undefined;
  owners: () => Promise<GroupMemberView[]>;
}): Route {
  return async (_req, url) => {
    const match = PATH.exec(url.pathname);
    if (!match) return undefined;
    const parts = match.slice(1).map((s) => decodeSegment(s!));
    // A client's mistake, not ours: 400 with no stack logged (a 500 logged one per request).
    if (parts.includes(undefined)) return { status: 400, body: { error: 'malformed percent-encoding in the path' } };
    const [app, env, user] = parts as [string, string, string];
    const problem = identityProblem(app, env, user);
    if (problem !== undefined) return { status: 400, body: { error: problem } };
    const key = userKey(app, env, user);
    const partition = partitionFor(key, opts.partitions);
    const task = opts.task(partition);
    if (!task || task.phase === 'closed') {
      const owners = await opts.owners().catch(() => []);
      const owner = owners.find((o) => o.partitions[opts.config.topics.attacks]?.includes(partition));
      return {
        status: 421,
        body: { error: `partition ${partition} is owned by another scorer instance`, partition, owner: owner ? { url: owner.url, clientId: owner.clientId, host: owner.host } : null },
      };
    }
    if (task.phase === 'restoring') return { status: 503, body: { error: `partition ${partition} is restoring; retry shortly`, partition } };
    // committed state only (read_committed, as the alerts are): not what an open transaction holds
    const state = (await task.exclusive(() => task.loadCommitted([key]))).get(key);
    const view = riskView(state ?? emptyUserState(), resolvePolicy(opts.config.scoring, app), { application_id: app, environment: env, user });
    return { status: 200, body: { application_id: app, environment: env, user, partition, known: Boolean(state), ...view } };
  };
}

/** A percent-decoded path segment; undefined when its encoding is malformed (`%zz`, a lone `%`, bad UTF-8). */
function decodeSegment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
