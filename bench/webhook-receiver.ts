import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

// A webhook receiver in its own process for bench/notify.ts: answers 200 after LATENCY_MS (default 10),
// so its CPU and event loop are not the notifier's. Over IPC: {url} once listening; on 'stats' it
// answers {requests, distinct, connections} — distinct webhook-id values, to check nothing came twice.

const latencyMs = Number(process.env.LATENCY_MS ?? 10);
const ids = new Set<string>();
let requests = 0;
let connections = 0;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    requests++;
    const id = req.headers['webhook-id'];
    if (typeof id === 'string') ids.add(id);
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    }, latencyMs);
  });
});
server.keepAliveTimeout = 60_000;
server.on('connection', () => connections++);
server.listen(0, '127.0.0.1', () => {
  process.send?.({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });
});
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ requests, distinct: ids.size, connections });
  if (m === 'reset') {
    ids.clear();
    requests = 0;
    connections = 0;
    process.send?.({ reset: true });
  }
});
process.on('disconnect', () => process.exit(0));
