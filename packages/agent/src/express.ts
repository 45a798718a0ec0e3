// Express (4 and 5) adapter. Register after your body parsers and before your routes:
//   app.use(express.json()); app.use(express.urlencoded({ extended: false })); app.use(riskHubExpress(agent));
// The middleware only puts the request on a list and calls next(): inspection happens at the end of the
// turn of the event loop once the response has been sent, so it sees the parsed body, the route params
// and the user identified by the handler, and adds no latency to the response.
//
// Counter-measures: riskHubEnforce(agent), registered right AFTER the middleware that identifies users
// (the one calling agent.identify), refuses blocked users (403 or decisions.onBlock), calls
// decisions.onChallenge for challenged ones, and lets everyone else through: a Map lookup per request.
//   app.use(riskHubExpress(agent)); app.use(yourAuth /* calls agent.identify */); app.use(riskHubEnforce(agent));

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from './agent.ts';

export function riskHubExpress(agent: Agent): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  return agent.expressMiddleware();
}

/** Enforces the identified user's decision; a request with no decision goes straight to next(). */
export function riskHubEnforce(agent: Agent): (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void {
  return agent.expressEnforcer();
}
