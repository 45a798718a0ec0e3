import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Agent } from '@risk-hub/agent';
import { RiskHubError } from '../errors.ts';
import { PACKAGE_ROOT } from '../paths.ts';

// The example Express app (examples/express-app) lives beside the product, not in it: the build
// (tsconfig.build.json, src/ only) and the container image leave it out. The demo loads it by path
// at run time, so it is there in a source checkout (run through tsx) and refused clearly elsewhere.
// The shapes below are the part of its API the demo uses.

export interface ExampleServerModule {
  DEMO_PASSWORDS: Record<string, string>;
  startExampleApp(opts: { port?: number; host?: string; agent?: Agent | null }): Promise<{ url: string; port: number; close(): Promise<void> }>;
}

export interface ExampleTrafficModule {
  ATTACKS: Array<{ path: string; type: string }>;
  driveTraffic(opts: { url: string; rounds?: number; delayMs?: number; timeoutMs?: number; benign?: boolean; attacks?: boolean; signal?: AbortSignal }): Promise<{
    requests: number;
    errors: number;
  }>;
}

export async function importExample<T>(file: 'server.ts' | 'attack.ts'): Promise<T> {
  const path = join(PACKAGE_ROOT, 'examples', 'express-app', file);
  try {
    return (await import(pathToFileURL(path).href)) as T;
  } catch (err) {
    throw new RiskHubError(
      'RH_DEMO_APP',
      `the example app (${path}) could not be loaded: ${(err as Error).message}. It ships in source checkouts only: run the demo from one (npm run demo), or pass --no-with-app`,
      { cause: err },
    );
  }
}
