// Real peers on 127.0.0.1 standing for Slack, webhook receivers and an SMTP server. Shared by the
// unit tests (test/notify) and the integration tests (test/integration/notify*.test.ts).
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { Decision, RiskAlert } from '../../src/contracts.ts';

export type Behavior =
  | { status: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | { hang: true }
  | { reset: true };

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface HttpReceiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Behaviours answered in order; the last one repeats. */
  script(...b: Behavior[]): void;
  /** Answers every request held by a `hang` behaviour (default 200). */
  release(status?: number): void;
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startHttpReceiver(opts: { script?: Behavior[]; latencyMs?: number; host?: string } = {}): Promise<HttpReceiver> {
  let script: Behavior[] = opts.script ?? [{ status: 200, body: 'ok' }];
  let served = 0;
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  const waiters: Array<() => void> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      waiters.splice(0).forEach((w) => w());
      const b = script[Math.min(served, script.length - 1)] as Behavior;
      served++;
      if ('hang' in b) {
        hanging.add(res);
        return;
      }
      if ('reset' in b) {
        req.socket.destroy();
        return;
      }
      const answer = () => {
        res.writeHead(b.status, { 'content-type': 'text/plain', ...(b.headers ?? {}) });
        res.end(b.body ?? (b.status < 300 ? 'ok' : `error ${b.status}`));
      };
      const delay = (b.delayMs ?? 0) + (opts.latencyMs ?? 0);
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, opts.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    script(...b) {
      script = b;
      served = 0;
    },
    release(status = 200) {
      for (const r of hanging) if (!r.destroyed) r.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
      hanging.clear();
    },
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`receiver got ${requests.length} requests, expected ${n} within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return requests.slice(0, n);
    },
    async close() {
      for (const r of hanging) r.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ReceivedMail {
  from: string | undefined;
  to: string[];
  secure: boolean;
  user: string | undefined;
  raw: string;
  parsed: ParsedMail;
}

export interface SmtpReceiver {
  port: number;
  messages: ReceivedMail[];
  /** SMTP reply codes for successive messages (250, 451, 550); the last one repeats. */
  script(...codes: number[]): void;
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

export async function startSmtpReceiver(opts: { user?: string; password?: string; codes?: number[]; server?: Partial<SMTPServerOptions> } = {}): Promise<SmtpReceiver> {
  let codes = opts.codes ?? [250];
  let served = 0;
  const messages: ReceivedMail[] = [];
  const server = new SMTPServer({
    logger: false,
    disabledCommands: opts.user ? [] : ['AUTH'],
    authOptional: !opts.user,
    onAuth(auth, _session, cb) {
      if (auth.username === opts.user && auth.password === opts.password) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const code = codes[Math.min(served, codes.length - 1)] as number;
        served++;
        const raw = Buffer.concat(chunks).toString('utf8');
        if (code >= 400) {
          cb(Object.assign(new Error(code >= 500 ? 'Message rejected' : 'Try again later'), { responseCode: code }));
          return;
        }
        void simpleParser(raw).then((parsed) => {
          messages.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
            to: session.envelope.rcptTo.map((r) => r.address),
            secure: session.secure,
            user: typeof session.user === 'string' ? session.user : undefined,
            raw,
            parsed,
          });
          cb(null);
        }, cb);
      });
    },
    ...(opts.server ?? {}),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    messages,
    script(...c) {
      codes = c;
      served = 0;
    },
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`SMTP receiver got ${messages.length} messages, expected ${n} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return messages.slice(0, n);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A realistic alert; `over` patches fields. */
/** A person's decision as the scorer writes it on the decisions topic: alice blocks the sample user for 24 h. */
export function sampleDecision(over: Partial<Decision> = {}): Decision {
  const t = Date.UTC(2026, 11, 2, 14, 5, 0);
  return {
    decision_id: '0123456789abcdef0123456789abcdef',
    application_id: 'shop',
    environment: 'production',
    user: { key: 'alice@example.com', identifiers: { email: 'alice@example.com' } },
    action: 'BLOCK',
    source: 'MANUAL',
    reason: 'card testing from a known bad ASN',
    alert_id: null,
    tier: null,
    made_by: 'bob',
    made_at: t,
    until: t + 24 * 3600_000,
    offense: 1,
    simulated: false,
    lifts: null,
    ...over,
  };
}

export function sampleAlert(over: Partial<RiskAlert> = {}): RiskAlert {
  const t = Date.UTC(2025, 5, 1, 12, 0, 0);
  return {
    alert_id: 'a1b2c3d4e5f6a7b8c9d0e1f2',
    application_id: 'shop',
    environment: 'production',
    user: { key: 'alice@example.com', identifiers: { email: 'alice@example.com', login: 'alice' } },
    increase_24h: 37,
    risk_score: 120,
    threshold: 10,
    tier: 2,
    tier_bound: 25,
    window_start: t - 24 * 3600_000,
    window_end: t,
    trigger_event_id: 'evt-9',
    contributions: [
      { event_id: 'evt-1', attack_type: 'sql_injection', severity: 'HIGH', points: 6, occurred_at: t - 3600_000 },
      { event_id: 'evt-2', attack_type: 'xss', severity: 'MEDIUM', points: 3, occurred_at: t - 1800_000 },
      { event_id: 'evt-9', attack_type: 'credential_stuffing', severity: 'CRITICAL', points: 10, occurred_at: t },
    ],
    contributions_truncated: 4,
    triggered_at: t,
    ...over,
  };
}
