// What the agent shares with the Risk Hub server, kept inside this package so that an application
// installs the agent without the server: the `attacks` record (schemas/attack.avsc), its Kafka key and
// the configuration error. The server's src/contracts.ts and src/errors.ts define the same shapes;
// test/agent/contracts.test.ts checks that the two agree.

export const SEVERITIES = ['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface UserRef {
  key: string;
  identifiers: Record<string, string>;
}

export interface RequestInfo {
  ip: string | null;
  method: string | null;
  path: string | null;
  user_agent: string | null;
}

/** One record of the `attacks` topic. Timestamps are epoch milliseconds. */
export interface Attack {
  event_id: string;
  occurred_at: number;
  application_id: string;
  environment: string;
  user: UserRef;
  attack_type: string;
  severity: Severity;
  points: number | null;
  blocked: boolean;
  request: RequestInfo | null;
  agent: { name: string; version: string; language: string };
}

/** The record key of `attacks` (and of the scorer's topics): `application/environment/user`. */
export function userKey(applicationId: string, environment: string, user: string): string {
  return `${applicationId}/${environment}/${user}`;
}

/**
 * Invalid agent options: thrown by createAgent() only, at start-up, never at request time. Same `code`
 * and `retriable` as the server's ConfigError (one error vocabulary across Risk Hub).
 */
export class ConfigError extends Error {
  readonly code = 'RH_CONFIG';
  readonly retriable = false;
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConfigError';
  }
}
