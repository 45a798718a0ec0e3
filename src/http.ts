import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registry } from './metrics/index.ts';
import type { Logger } from './log.ts';

// The HTTP surface every process serves: /metrics (Prometheus), /healthz (liveness: the process
// answers; it never depends on the broker, so a broker outage does not restart every pod), /readyz
// (readiness, role-specific), plus routes a role adds (the scorer's user-risk query).

export type Route = (req: IncomingMessage, url: URL) => Promise<{ status: number; body: unknown } | undefined>;

export interface HttpOptions {
  host: string;
  port: number;
  ready: () => { ready: boolean; detail?: unknown };
  routes?: Route[];
  log: Logger;
}

export interface HttpHandle {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export async function startHttp(opts: HttpOptions): Promise<HttpHandle> {
  const server = createServer((req, res) => {
    handle(req, res, opts).catch((err: unknown) => {
      opts.log.error({ err }, 'http handler failed');
      send(res, 500, { error: 'internal error' });
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ host: opts.host, port }, 'http listening');
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpOptions): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return send(res, 400, { error: 'malformed request target' }); // e.g. `//[`: the client's fault, nothing to log
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
  switch (url.pathname) {
    case '/metrics': {
      res.writeHead(200, { 'Content-Type': registry.contentType });
      res.end(await registry.metrics());
      return;
    }
    case '/healthz':
      return send(res, 200, { status: 'ok' });
    case '/readyz': {
      const r = opts.ready();
      return send(res, r.ready ? 200 : 503, { ready: r.ready, ...(r.detail === undefined ? {} : { detail: r.detail }) });
    }
  }
  for (const route of opts.routes ?? []) {
    const out = await route(req, url);
    if (out) return send(res, out.status, out.body);
  }
  send(res, 404, { error: `no route for ${url.pathname}` });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
