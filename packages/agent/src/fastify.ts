// Fastify (4 and 5) plugin: `await app.register(riskHubFastify(agent))`. It is not encapsulated
// (skip-override, like fastify-plugin), so its hook sees every route. The hook only registers a
// listener; inspection happens once the response has been sent, with the query, body and params
// Fastify parsed, and the user given to agent.identify(request, user) in the handler.
//
// The types below are the part of Fastify the plugin uses, written out so that the package's type
// declarations do not import 'fastify' (an Express application does not install it).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from './agent.ts';

/** The part of a Fastify request the plugin reads. */
export interface FastifyRequestLike {
  raw: IncomingMessage;
  query: unknown;
  body: unknown;
  params: unknown;
}

/** The part of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: { raw: ServerResponse }, done: () => void) => void): unknown;
}

/** A plugin for `app.register()`. */
export type RiskHubFastifyPlugin = (fastify: FastifyInstanceLike, opts: Record<string, unknown>, done: (err?: Error) => void) => void;

export function riskHubFastify(agent: Agent): RiskHubFastifyPlugin {
  const plugin: RiskHubFastifyPlugin = (fastify, _opts, done) => {
    fastify.addHook('onRequest', (request, reply, next) => {
      agent.watch(request, reply.raw, () => ({ query: request.query, body: request.body, params: request.params }));
      next();
    });
    done();
  };
  const meta = plugin as unknown as Record<symbol, unknown>;
  meta[Symbol.for('skip-override')] = true;
  meta[Symbol.for('fastify.display-name')] = 'risk-hub-agent';
  return plugin;
}
