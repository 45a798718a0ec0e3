// A strict TypeScript application using the installed @risk-hub/agent's type declarations (packaging
// test): compiled with tsc --strict, then run. Env: BROKERS, REGISTRY, TOPIC, APP.
import express, { type Request, type Response } from 'express';
import { createAgent, riskHubExpress, type Agent, type AgentOptions, type AgentStats, type CloseResult } from '@risk-hub/agent';

const options: AgentOptions = {
  application: process.env.APP ?? 'missing',
  environment: 'packaging',
  brokers: (process.env.BROKERS ?? '').split(','),
  schemaRegistry: { url: process.env.REGISTRY ?? '' },
  topic: process.env.TOPIC ?? 'attacks',
  wafBudgetMicros: 1_000_000,
  logger: null,
};
const agent: Agent = createAgent(options);
const app = express();
app.use(riskHubExpress(agent));
app.get('/users/:id', (req: Request, res: Response) => {
  agent.identify(req, { key: 'ts-user' });
  const id: string | undefined = agent.report({ type: 'custom_probe', severity: 'LOW', req }) ?? undefined;
  res.json({ id: req.params.id, event: id });
});
const server = app.listen(0, '127.0.0.1', async () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const res = await fetch(`http://127.0.0.1:${address.port}/users/${encodeURIComponent('<script>alert(1)</script>')}`);
  await res.text();
  const flushed: boolean = await agent.flush(30_000);
  const stats: AgentStats = agent.stats();
  const closed: CloseResult = await agent.close({ timeoutMs: 5000 });
  server.close();
  console.log(JSON.stringify({ flushed, closed, ...stats }));
  process.exit(flushed && stats.detections >= 1 && stats.sent >= 2 ? 0 : 1);
});
