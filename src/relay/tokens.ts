// Which application a bearer token belongs to. Tokens come from the environment variables the
// configuration names (relay.applications.<id>.tokenEnv), never from the file. A presented token is
// hashed (SHA-256) and compared with EVERY application's hash with timingSafeEqual: the time taken
// does not depend on how much of a token matched, nor on which application it belongs to.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { RelayConfig } from '../config/relay.ts';
import { ConfigError } from '../errors.ts';
import { MAX_TOKEN_CHARS } from './limits.ts';

export interface RelayApplication {
  id: string;
  environments: ReadonlySet<string>;
}

export class TokenTable {
  private readonly entries: Array<{ digest: Buffer; app: RelayApplication }> = [];

  /** ConfigError when a configured application's variable is unset or empty (one line naming it). */
  constructor(config: RelayConfig, env: NodeJS.ProcessEnv = process.env) {
    for (const [id, app] of Object.entries(config.applications)) {
      const token = env[app.tokenEnv];
      if (!token) throw new ConfigError(`relay.applications.${id}.tokenEnv: the environment variable ${app.tokenEnv} (the bearer token of ${id}) is not set`);
      if (token.length > MAX_TOKEN_CHARS) throw new ConfigError(`relay.applications.${id}.tokenEnv: the token in ${app.tokenEnv} is over ${MAX_TOKEN_CHARS} characters`);
      this.entries.push({ digest: digest(token), app: { id, environments: new Set(app.environments) } });
    }
  }

  get size(): number {
    return this.entries.length;
  }

  /** The application of an `Authorization: Bearer <token>` header, or undefined (401). */
  applicationOf(authorization: string | undefined): RelayApplication | undefined {
    if (typeof authorization !== 'string' || authorization.length > MAX_TOKEN_CHARS + 7) return undefined;
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!m) return undefined;
    const presented = digest(m[1]!);
    let found: RelayApplication | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, presented) && found === undefined) found = e.app;
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
