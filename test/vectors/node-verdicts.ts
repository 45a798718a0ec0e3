// The Node agent's verdicts on corpus requests: a real Express 5 app on loopback (JSON and URL-encoded
// body parsers, routes /users/:id and /files/:name), the agent's Express middleware watching every
// request and a transport that keeps the events. Each request is sent over real HTTP; its verdict is
// the sorted attack types of the events the agent reported for it.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createAgent, riskHubExpress, type Agent } from '@risk-hub/agent';
import type { Attack } from '../../src/contracts.ts';
import type { CorpusRequest } from './corpus.ts';

class Keep {
  sent: Attack[] = [];
  async send(events: Attack[]): Promise<{ rejected: Attack[] }> {
    this.sent.push(...events);
    return { rejected: [] };
  }
  async close(): Promise<void> {}
}

export async function nodeVerdicts(corpus: CorpusRequest[]): Promise<Map<string, string[]>> {
  const keep = new Keep();
  // a generous WAF budget: the verdict, not the machine's speed, is under test
  const agent: Agent = createAgent({ application: 'vectors', environment: 'test', transport: keep, lingerMs: 1, logger: null, wafBudgetMicros: 1_000_000, maxEventsPerUserPerMinute: 100_000 });
  const app = express();
  app.use(express.json({ limit: '64kb' }));
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));
  app.use(riskHubExpress(agent));
  const ok = (_req: express.Request, res: express.Response): void => void res.json({ ok: true });
  app.all('/users/:id', ok);
  app.all('/files/:name', ok);
  app.use(ok);
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const out = new Map<string, string[]>();
  try {
    for (const r of corpus) {
      const before = agent.stats().inspected;
      const from = keep.sent.length;
      const res = await fetch(base + r.uri, { method: r.method, headers: r.headers, ...(r.body ? { body: r.body } : {}) });
      await res.arrayBuffer();
      // bounded wait for the end-of-response inspection, then for its events to be sent
      for (let i = 0; i < 500 && agent.stats().inspected === before; i++) await new Promise((s) => setTimeout(s, 2));
      await agent.flush(5000);
      out.set(r.name, [...new Set(keep.sent.slice(from).map((e) => e.attack_type))].sort());
    }
  } finally {
    server.close();
    await agent.close({ timeoutMs: 1000 });
  }
  return out;
}
