// Express (4 and 5) adapter. Register after your body parsers and before your routes:
//   app.use(express.json()); app.use(express.urlencoded({ extended: false })); app.use(riskHubExpress(agent));
// The middleware calls next() first and inspects the request when that returns: a synchronous handler
// has sent the response by then, so inspection sees the parsed body, the route params and the user
// identified by the handler, and adds no latency to the response. A response still open at that point
// (an asynchronous handler) is inspected when it closes.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from './agent.ts';

export function riskHubExpress(agent: Agent): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  return agent.expressMiddleware();
}
