// The testcontainers backend's engine check: without a Docker engine it must fail with one line that
// says what to install or start and names the default backend. Checked against real HTTP servers on
// unix sockets (what dockerd listens on), no engine needed.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dockerEngineProblem } from '../integration/testcontainers.ts';

const dir = mkdtempSync(join(tmpdir(), 'risk-hub-engine-'));
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

/** An HTTP server on a unix socket answering /_ping with `status`. */
async function engine(name: string, status: number): Promise<string> {
  const path = join(dir, name);
  const srv = createServer((req, res) => res.writeHead(req.url === '/_ping' ? status : 404).end(status === 200 ? 'OK' : 'no'));
  servers.push(srv);
  await new Promise<void>((r) => srv.listen(path, r));
  return path;
}

function expectOneLineNamingTheDefault(problem: string | undefined) {
  expect(problem).toBeDefined();
  expect(problem).not.toContain('\n');
  expect(problem).toMatch(/^RISK_HUB_TEST_BACKEND=testcontainers: /);
  expect(problem).toContain('Maven-resolved local stack');
}

describe('dockerEngineProblem', () => {
  it('is undefined when the engine answers its ping', async () => {
    const sock = await engine('ok.sock', 200);
    expect(await dockerEngineProblem({ DOCKER_HOST: `unix://${sock}` })).toBeUndefined();
  });

  it('says to start the engine when nothing listens on its socket, in one line naming the default', async () => {
    const problem = await dockerEngineProblem({ DOCKER_HOST: `unix://${join(dir, 'absent.sock')}` });
    expectOneLineNamingTheDefault(problem);
    expect(problem).toMatch(/dockerd|docker\.io/);
  });

  it('names the socket and the answer when the engine answers badly', async () => {
    const sock = await engine('bad.sock', 500);
    const problem = await dockerEngineProblem({ DOCKER_HOST: `unix://${sock}` });
    expectOneLineNamingTheDefault(problem);
    expect(problem).toContain(sock);
    expect(problem).toContain('HTTP 500');
  });

  it('refuses a DOCKER_HOST it cannot check, in one line', async () => {
    expectOneLineNamingTheDefault(await dockerEngineProblem({ DOCKER_HOST: 'ssh://builder@example.com' }));
  });
});
