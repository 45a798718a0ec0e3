import type { Assigner, PartitionAssigner } from 'kafkajs';
import kafkajs from '../kafka/kafkajs.ts';

// The round-robin assigner, plus this instance's advertised URL in the member metadata's userData,
// so any instance can tell a caller which instance owns a user (describeGroups shows every member's
// metadata and assignment). Protocol name differs from kafkajs' own so all members agree on it.

export const ASSIGNER_NAME = 'RiskHubRoundRobin';

export function urlAdvertisingAssigner(url: string): PartitionAssigner {
  return (config) => {
    const rr = kafkajs.PartitionAssigners.roundRobin(config) as Assigner;
    return {
      name: ASSIGNER_NAME,
      version: rr.version,
      assign: (group) => rr.assign(group),
      protocol: ({ topics }) => ({
        name: ASSIGNER_NAME,
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
