import type { Assigner, PartitionAssigner } from 'kafkajs';
import kafkajs from '../kafka/kafkajs.ts';

// A co-partitioning round robin: partition p of every subscribed topic (attacks and the decision
// requests) goes to the same member, the (p mod n)-th by member id, because both are processed by
// partition p's task with its store and producer. The member metadata's userData carries this
// instance's advertised URL, so any instance can tell a caller which instance owns a user
// (describeGroups shows every member's metadata and assignment). The protocol name differs from
// kafkajs' own so all members agree on it, and it names the transaction scope: the group coordinator
// refuses a member whose protocols none of the others speak (INCONSISTENT_GROUP_PROTOCOL), so a scorer
// of one scope never joins a group with scorers of the other, which it could not fence
// (docs/architecture.md "Transaction scope"). `partition` keeps the name of the versions before scopes.

export const ASSIGNER_NAMES = Object.freeze({ partition: 'RiskHubRoundRobin', process: 'RiskHubRoundRobin.process' });
export type TransactionScope = keyof typeof ASSIGNER_NAMES;

type Cluster = { findTopicPartitionMetadata(topic: string): Array<{ partitionId: number }> };

/** Partition ids per topic → member → topic → partitions, partition p of every topic to member p mod n. */
export function coPartitionedAssignment(memberIds: string[], partitionsByTopic: Map<string, number[]>): Map<string, Record<string, number[]>> {
  const sorted = [...memberIds].sort();
  const out = new Map<string, Record<string, number[]>>();
  if (!sorted.length) return out;
  for (const [topic, ids] of partitionsByTopic) {
    for (const p of [...ids].sort((a, b) => a - b)) {
      const member = sorted[p % sorted.length]!;
      let mine = out.get(member);
      if (!mine) out.set(member, (mine = Object.create(null) as Record<string, number[]>));
      (mine[topic] ??= []).push(p);
    }
  }
  return out;
}

export function urlAdvertisingAssigner(url: string, scope: TransactionScope): PartitionAssigner {
  const name = ASSIGNER_NAMES[scope];
  return (config) => {
    const rr = kafkajs.PartitionAssigners.roundRobin(config) as Assigner;
    const cluster = (config as unknown as { cluster: Cluster }).cluster;
    return {
      name,
      version: rr.version,
      assign: async ({ members, topics }) => {
        const byTopic = new Map(topics.map((topic) => [topic, cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId)]));
        const assignment = coPartitionedAssignment(members.map((m) => m.memberId), byTopic);
        return [...assignment].map(([memberId, a]) => ({
          memberId,
          memberAssignment: kafkajs.AssignerProtocol.MemberAssignment.encode({ version: rr.version, assignment: a, userData: Buffer.alloc(0) }),
        }));
      },
      protocol: ({ topics }) => ({
        name,
        metadata: kafkajs.AssignerProtocol.MemberMetadata.encode({ version: rr.version, topics, userData: Buffer.from(url, 'utf8') }),
      }),
    };
  };
}

export interface GroupMemberView {
  url: string | undefined;
  clientId: string;
  host: string;
  partitions: Record<string, number[]>;
}

/** Decodes a describeGroups member into its advertised URL and assignment. */
export function memberView(m: { memberMetadata: Buffer; memberAssignment: Buffer; clientId: string; clientHost: string }): GroupMemberView {
  let url: string | undefined;
  let partitions: Record<string, number[]> = {};
  try {
    const md = kafkajs.AssignerProtocol.MemberMetadata.decode(m.memberMetadata);
    url = md?.userData?.length ? md.userData.toString('utf8') : undefined;
  } catch {
    /* not one of ours */
  }
  try {
    partitions = kafkajs.AssignerProtocol.MemberAssignment.decode(m.memberAssignment)?.assignment ?? {};
  } catch {
    /* empty assignment */
  }
  return { url, clientId: m.clientId, host: m.clientHost, partitions };
}
