// A plain-JavaScript ESM Express application using the installed @risk-hub/agent (packaging test).
// Env: BROKERS, REGISTRY, TOPIC, APP. Sends itself one attack, waits for the agent to deliver it,
// prints the agent's stats as JSON and exits 0 when the attack was detected and sent.
import express from 'express';
import { createAgent, riskHubExpress } from '@risk-hub/agent';

const agent = createAgent({
  application: process.env.APP,
  environment: 'packaging',
  brokers: process.env.BROKERS,
  schemaRegistry: process.env.REGISTRY,
  topic: process.env.TOPIC,
  wafBudgetMicros: 1_000_000,
  logger: null,
});
const app = express();
app.use(express.json());
app.use(riskHubExpress(agent));
app.get('/search', (req, res) => {
  agent.identify(req, { key: 'esm-user', identifiers: { email: 'esm@example.com' } });
  res.json({ results: [] });
});
const server = app.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const res = await fetch(`http://127.0.0.1:${port}/search?q=${encodeURIComponent("1' OR '1'='1")}`);
  await res.text();
  const flushed = await agent.flush(30_000);
  const stats = agent.stats();
  await agent.close({ timeoutMs: 5000 });
  server.close();
  console.log(JSON.stringify({ flushed, ...stats }));
  process.exit(flushed && stats.detections >= 1 && stats.sent >= 1 ? 0 : 1);
});
