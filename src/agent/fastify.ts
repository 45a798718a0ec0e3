// Fastify (4 and 5) plugin: `await app.register(riskHubFastify(agent))`. It is not encapsulated
// (skip-override, like fastify-plugin), so its hook sees every route. The hook only registers a
// listener; inspection happens once the response has been sent, with the query, body and params
// Fastify parsed, and the user given to agent.identify(request, user) in the handler.

import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import type { Agent } from './agent.ts';

export function riskHubFastify(agent: Agent): FastifyPluginCallback {
  const plugin: FastifyPluginCallback = (fastify, _opts, done) => {
    fastify.addHook('onRequest', (request: FastifyRequest, reply, next) => {
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
