// Express (4 and 5) adapter. Register after your body parsers and before your routes:
//   app.use(express.json()); app.use(express.urlencoded({ extended: false })); app.use(riskHubExpress(agent));
// The middleware only puts the request on a list and calls next(): inspection happens at the end of the
// turn of the event loop once the response has been sent, so it sees the parsed body, the route params
// and the user identified by the handler, and adds no latency to the response.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from './agent.ts';

export function riskHubExpress(agent: Agent): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  return agent.expressMiddleware();
}
