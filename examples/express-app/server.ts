// Example application wired to the Risk Hub agent: a login form (demo user table), a product search, a
// file download, a profile page with a route parameter. The application itself is not vulnerable (it
// escapes output, never touches the filesystem or a database); the agent reports the attacks people try.
//
//   KAFKA_BROKERS=127.0.0.1:9092 SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7 \
//     node --import tsx examples/express-app/server.ts          # listens on PORT (default 3000)
//
// Programmatic: `startExampleApp({ port, agent })` (the demo and the tests drive it with real HTTP).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createAgent, riskHubEnforce, riskHubExpress, type Agent } from '@risk-hub/agent';

/** Demo accounts (password hashes are SHA-256 for the sake of a small example; use a KDF in real life). */
const DEMO_USERS: Record<string, { id: string; email: string; name: string; passwordSha256: Buffer }> = {
  alice: { id: 'u-1001', email: 'alice@example.com', name: 'Alice', passwordSha256: sha256('wonderland') },
  bob: { id: 'u-1002', email: 'bob@example.com', name: 'Bob', passwordSha256: sha256('builder') },
  carol: { id: 'u-1003', email: 'carol@example.com', name: 'Carol', passwordSha256: sha256('singer') },
};
export const DEMO_PASSWORDS: Record<string, string> = { alice: 'wonderland', bob: 'builder', carol: 'singer' };

const PRODUCTS = [
  'Red running shoes', 'Blue rain jacket', 'Green tea (loose leaf)', 'Espresso machine', 'Hiking backpack 40L',
  'Wool socks', 'Cast iron skillet', 'Noise-cancelling headphones', 'Paperback: The Hobbit', 'Yoga mat',
  'Stainless water bottle', 'LED desk lamp', 'Mechanical keyboard', 'USB-C charger 65W', 'Coffee grinder',
];
const FILES: Record<string, { type: string; body: string }> = {
  'report.pdf': { type: 'application/pdf', body: '%PDF-1.4 demo report' },
  'readme.txt': { type: 'text/plain', body: 'Welcome to the demo shop.' },
  'price-list.csv': { type: 'text/csv', body: 'product,price\nwool socks,9.90\n' },
};
const MAX_SESSIONS = 10_000;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function page(title: string, body: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`;
}

export interface ExampleAppOptions {
  port?: number;
  host?: string;
  /** The agent to wire in; null or undefined runs the app without one (the benchmark's baseline). */
  agent?: Agent | null;
}

export interface ExampleApp {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

export function createExampleApp(agent: Agent | null = null): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false, limit: '32kb' }));
  app.use(express.json({ limit: '32kb' }));
  if (agent) app.use(riskHubExpress(agent));

  // Sessions: an opaque token in a cookie (browser) or a bearer token (API clients).
  const sessions = new Map<string, string>();
  const sessionUser = (req: Request): string | undefined => {
    const auth = req.headers.authorization;
    let token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (!token) token = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    return token ? sessions.get(token) : undefined;
  };
  app.use((req: Request, res: Response, next: NextFunction) => {
    const login = sessionUser(req);
    const user = login ? DEMO_USERS[login] : undefined;
    if (login && user) {
      res.locals.user = login;
      agent?.identify(req, { key: user.id, identifiers: { login, email: user.email } });
    }
    next();
  });
  // Counter-measures: right after the user is known, a blocked user gets a 403 (the agent's decisions).
  if (agent) app.use(riskHubEnforce(agent));

  app.get('/', (_req, res) => {
    const who = res.locals.user as string | undefined;
    res.type('html').send(
      page(
        'Demo shop',
        `<h1>Demo shop</h1>${who ? `<p>Signed in as ${escapeHtml(who)}</p>` : ''}
<form method="post" action="/login"><input name="username" placeholder="username"><input name="password" type="password" placeholder="password"><button>Sign in</button></form>
<form method="get" action="/search"><input name="q" placeholder="search products"><button>Search</button></form>
<p><a href="/files?name=readme.txt">readme.txt</a> · <a href="/files?name=report.pdf">report.pdf</a></p>`,
      ),
    );
  });

  app.post('/login', (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const user = Object.prototype.hasOwnProperty.call(DEMO_USERS, username) ? DEMO_USERS[username] : undefined;
    const ok = user !== undefined && timingSafeEqual(sha256(password), user.passwordSha256);
    if (!ok || !user) {
      // Unknown logins are still reported under the name that was tried: that is who is being attacked.
      // Whatever its length: the agent replaces a key over 256 bytes by its hashed form and cuts the identifier.
      agent?.trackAuth(false, { key: user?.id ?? (username || 'unknown'), identifiers: { login: username } }, req);
      res.status(401).json({ ok: false, error: 'invalid username or password' });
      return;
    }
    agent?.trackAuth(true, { key: user.id, identifiers: { login: username, email: user.email } }, req);
    const token = randomBytes(18).toString('base64url');
    if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
    sessions.set(token, username);
    res.cookie('sid', token, { httpOnly: true, sameSite: 'lax' });
    res.json({ ok: true, user: username, token });
  });

  app.post('/logout', (req: Request, res: Response) => {
    const token = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (token) sessions.delete(token);
    res.clearCookie('sid').json({ ok: true });
  });

  app.get('/search', (req: Request, res: Response) => {
    const q = typeof req.query.q === 'string' ? req.query.q.slice(0, 200) : '';
    const terms = q.toLowerCase().split(/\s+/).filter(Boolean);
    const hits = terms.length === 0 ? [] : PRODUCTS.filter((p) => terms.every((t) => p.toLowerCase().includes(t)));
    if (req.accepts(['html', 'json']) === 'json') {
      res.json({ q, results: hits });
      return;
    }
    res.type('html').send(page(`Search: ${q}`, `<h1>Results for “${escapeHtml(q)}”</h1><ul>${hits.map((h) => `<li>${escapeHtml(h)}</li>`).join('')}</ul>`));
  });

  app.get('/files', (req: Request, res: Response) => {
    const name = typeof req.query.name === 'string' ? req.query.name : '';
    const file = Object.prototype.hasOwnProperty.call(FILES, name) ? FILES[name] : undefined;
    if (!file) {
      res.status(404).json({ error: 'no such file' });
      return;
    }
    res.type(file.type).send(file.body);
  });

  app.get('/users/:id', (req: Request, res: Response) => {
    const id = String(req.params.id);
    const entry = Object.entries(DEMO_USERS).find(([, u]) => u.id === id);
    if (!entry) {
      res.status(404).json({ error: 'no such user' });
      return;
    }
    res.json({ id, name: entry[1].name });
  });

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });

  return app;
}

export async function startExampleApp(opts: ExampleAppOptions = {}): Promise<ExampleApp> {
  const app = createExampleApp(opts.agent ?? null);
  const host = opts.host ?? '127.0.0.1';
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(opts.port ?? 0, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.keepAliveTimeout = 5000;
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function main(): Promise<void> {
  const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
  const registry = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
  const agent = createAgent({
    application: process.env.RISK_HUB_APPLICATION ?? 'demo-shop',
    environment: process.env.RISK_HUB_ENVIRONMENT ?? 'production',
    brokers,
    schemaRegistry: registry,
    topic: process.env.RISK_HUB_ATTACKS_TOPIC ?? 'attacks',
    decisions: { topic: process.env.RISK_HUB_DECISIONS_TOPIC ?? 'risk-decisions' },
  });
  const app = await startExampleApp({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1', agent });
  console.log(`demo shop on ${app.url} (agent → ${brokers}, registry ${registry})`);
  const stop = async (): Promise<void> => {
    await app.close();
    const r = await agent.close({ timeoutMs: 5000 });
    console.log(`agent closed: ${JSON.stringify({ ...agent.stats(), ...r })}`);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
