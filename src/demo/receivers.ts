// Real peers on 127.0.0.1 standing for the outside world during the demo, each keeping what it
// receives as files a newcomer can open:
//   <dir>/slack/0001.json     the Slack incoming-webhook payload (Block Kit + text), as Slack gets it
//   <dir>/webhook/0001.json   headers and raw body of a Standard Webhooks POST whose signature VERIFIED
//   <dir>/mail/0001.eml       the message as the SMTP server received it (open it in any mail client)
// The webhook receiver checks every signature with the demo's secret and refuses (401) a bad one, as a
// real receiver must; the SMTP server is a real one (smtp-server), without TLS on loopback.

import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { SMTPServer as SMTPServerType } from 'smtp-server';
import { Webhook } from 'standardwebhooks';
import { RiskHubError } from '../errors.ts';

export interface ReceiverStats {
  /** Messages accepted and stored. */
  received: number;
  /** Requests refused (bad signature, not JSON, too large). */
  rejected: number;
  /** Distinct users named in the accepted messages (application/environment/user when known). */
  users: Set<string>;
  /** Time of the last accepted message (ms), 0 before the first. */
  lastAt: number;
}

export interface Receiver {
  readonly name: 'slack' | 'webhook' | 'mail';
  readonly dir: string;
  /** Slack and webhook: the URL to POST to. Mail: smtp://127.0.0.1:port. */
  readonly url: string;
  readonly port: number;
  readonly stats: ReceiverStats;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

function newStats(): ReceiverStats {
  return { received: 0, rejected: 0, users: new Set(), lastAt: 0 };
}

function seqName(n: number, ext: string): string {
  return `${String(n).padStart(4, '0')}.${ext}`;
}

interface HttpServerHandle {
  server: Server;
  port: number;
  close(): Promise<void>;
}

async function listenHttp(handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void): Promise<HttpServerHandle> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413).end('too large');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size <= MAX_BODY) handler(req, Buffer.concat(chunks), res);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Stands for a Slack incoming webhook: POST JSON with a `text`, answer 200 "ok" like Slack. */
export async function startSlackReceiver(root: string): Promise<Receiver> {
  const dir = join(root, 'slack');
  mkdirSync(dir, { recursive: true });
  const stats = newStats();
  const http = await listenHttp((req, body, res) => {
    let payload: { text?: unknown } | undefined;
    try {
      payload = JSON.parse(body.toString('utf8')) as { text?: unknown };
    } catch {
      payload = undefined;
    }
    if (req.method !== 'POST' || !payload || typeof payload.text !== 'string' || payload.text === '') {
      stats.rejected++;
      // Slack's own answers to a malformed payload.
      res.writeHead(400, { 'content-type': 'text/plain' }).end(payload ? 'no_text' : 'invalid_payload');
      return;
    }
    stats.received++;
    stats.lastAt = Date.now();
    writeFileSync(join(dir, seqName(stats.received, 'json')), JSON.stringify(payload, null, 2) + '\n');
    // The notifier's plain-text fallback: "Risk Hub: user <key> in <app>/<env> gained …".
    const who = /^Risk Hub: user (\S+) in ([^/\s]+)\/(\S+) gained /.exec(payload.text);
    if (who) stats.users.add(`${who[2]}/${who[3]}/${who[1]}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  return {
    name: 'slack',
    dir,
    // The path looks like a real incoming-webhook URL; the token part is a per-run placeholder.
    url: `http://127.0.0.1:${http.port}/services/TDEMO0000/BDEMO0000/demo-token`,
    port: http.port,
    stats,
    close: http.close,
  };
}

/** A Standard Webhooks receiver: verifies webhook-id / webhook-timestamp / webhook-signature, stores what verified. */
export async function startWebhookReceiver(root: string, secret: string): Promise<Receiver> {
  const dir = join(root, 'webhook');
  mkdirSync(dir, { recursive: true });
  const stats = newStats();
  const verifier = new Webhook(secret);
  const seen = new Map<string, number>();
  const http = await listenHttp((req, body, res) => {
    const headers = {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    };
    const raw = body.toString('utf8');
    let payload: { data?: { application_id?: string; environment?: string; user?: { key?: string } } };
    try {
      payload = verifier.verify(raw, headers) as typeof payload;
    } catch (err) {
      stats.rejected++;
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
      return;
    }
    // webhook-id is the idempotency key: a retry of a delivered alert overwrites its own file.
    let n = seen.get(headers['webhook-id']);
    if (n === undefined) {
      n = seen.size + 1;
      seen.set(headers['webhook-id'], n);
      stats.received++;
    }
    stats.lastAt = Date.now();
    const d = payload.data;
    if (d?.application_id && d.environment && d.user?.key) stats.users.add(`${d.application_id}/${d.environment}/${d.user.key}`);
    writeFileSync(
      join(dir, seqName(n, 'json')),
      JSON.stringify({ verified: true, headers: { ...headers, 'content-type': req.headers['content-type'] ?? '', 'user-agent': req.headers['user-agent'] ?? '' }, body: raw, payload }, null, 2) + '\n',
    );
    res.writeHead(204).end();
  });
  return { name: 'webhook', dir, url: `http://127.0.0.1:${http.port}/risk-hub/alerts`, port: http.port, stats, close: http.close };
}

/** A real SMTP server on loopback (no TLS, no authentication) keeping every message as an .eml file. */
/**
 * smtp-server is a development dependency (the demo's mailbox and the tests use it, the product does
 * not): an installed Risk Hub loads it only when a demo starts, and says how to get it.
 */
async function loadSmtpServer(): Promise<typeof SMTPServerType> {
  try {
    return (await import('smtp-server')).SMTPServer;
  } catch (err) {
    throw new RiskHubError('RH_DEMO_APP', `the demo's mailbox needs the package smtp-server (a development dependency): run the demo from a source checkout (npm run demo), or \`npm install smtp-server\` beside risk-hub (${(err as Error).message})`, { cause: err });
  }
}

export async function startMailReceiver(root: string): Promise<Receiver> {
  const dir = join(root, 'mail');
  mkdirSync(dir, { recursive: true });
  const stats = newStats();
  const SMTPServer = await loadSmtpServer();
  const server = new SMTPServer({
    name: 'risk-hub-demo-mailbox',
    banner: 'Risk Hub demo mailbox',
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    size: MAX_BODY,
    logger: false,
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
          stats.rejected++;
          callback(Object.assign(new Error('message too large'), { responseCode: 552 }));
          return;
        }
        const raw = Buffer.concat(chunks);
        stats.received++;
        stats.lastAt = Date.now();
        writeFileSync(join(dir, seqName(stats.received, 'eml')), raw);
        const subject = /^Subject: (.*(?:\r?\n[ \t].*)*)/im.exec(raw.toString('utf8'))?.[1] ?? '';
        // The demo's subject template names the user as <app>/<env>/<user>.
        const who = /\s([^/\s]+\/[^/\s]+\/[^/\s]+)\s/.exec(` ${decodeHeader(subject)} `);
        if (who) stats.users.add(who[1]!);
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    name: 'mail',
    dir,
    url: `smtp://127.0.0.1:${port}`,
    port,
    stats,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Decodes RFC 2047 encoded words (=?UTF-8?B?…?= / =?UTF-8?Q?…?=) of a header value, well enough for display. */
export function decodeHeader(value: string): string {
  return value
    .replace(/\r?\n[ \t]/g, ' ')
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, _charset: string, enc: string, text: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(text, 'base64').toString('utf8')
        : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'),
    );
}
