// A CommonJS application (plain node:http) using the installed @risk-hub/agent (packaging test).
// Env: BROKERS, REGISTRY, TOPIC, APP. Same contract as esm-express.mjs.
const http = require('node:http');
const { createAgent, ConfigError } = require('@risk-hub/agent');

if (typeof ConfigError !== 'function') throw new Error('ConfigError is not exported');
const agent = createAgent({
  application: process.env.APP,
  environment: 'packaging',
  brokers: process.env.BROKERS.split(','),
  schemaRegistry: { url: process.env.REGISTRY },
  topic: process.env.TOPIC,
  wafBudgetMicros: 1_000_000,
  logger: null,
});
const server = http.createServer((req, res) => {
  agent.identify(req, 'cjs-user');
  agent.watch(req, res);
  res.end('ok');
});
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const res = await fetch(`http://127.0.0.1:${port}/files?name=${encodeURIComponent('../../etc/passwd')}`);
  await res.text();
  const flushed = await agent.flush(30_000);
  const stats = agent.stats();
  await agent.close({ timeoutMs: 5000 });
  server.close();
  console.log(JSON.stringify({ flushed, ...stats }));
  process.exit(flushed && stats.detections >= 1 && stats.sent >= 1 ? 0 : 1);
});
