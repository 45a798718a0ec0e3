// Fastify (4 and 5) plugin: `await app.register(riskHubFastify(agent))`. It is not encapsulated
// (skip-override, like fastify-plugin), so its hooks see every route.
// - onRequest: only registers a listener; inspection happens once the response has been sent, with the
//   query, body and params Fastify parsed, and the user given to agent.identify(request, user).
// - preHandler: enforces the identified user's decision (counter-measures): BLOCK answers 403 (or
//   decisions.onBlock(request, reply, decision) does), CHALLENGE calls decisions.onChallenge(request,
//   reply, decision), anything else goes on. Identify users in an onRequest, preParsing or preValidation
//   hook (where authentication plugins run) so that they are known by then; a user identified in the
//   handler itself gets its decision back from agent.identify() (or agent.decisionFor(request)).
//
// The types below are the part of Fastify the plugin uses, written out so that the package's type
// declarations do not import 'fastify' (an Express application does not install it).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from './agent.ts';
import type { Answer } from './enforce.ts';

/** The part of a Fastify request the plugin reads. */
export interface FastifyRequestLike {
  raw: IncomingMessage;
  query: unknown;
  body: unknown;
  params: unknown;
}

/** The part of a Fastify reply the plugin uses. */
export interface FastifyReplyLike {
  raw: ServerResponse;
  /** Fastify 4 and 5: true once the reply was sent. */
  sent: boolean;
  code(status: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

type Hook = (request: FastifyRequestLike, reply: FastifyReplyLike, done: () => void) => void;

/** The part of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  addHook(name: 'onRequest' | 'preHandler', hook: Hook): unknown;
}

/** A plugin for `app.register()`. */
export type RiskHubFastifyPlugin = (fastify: FastifyInstanceLike, opts: Record<string, unknown>, done: (err?: Error) => void) => void;

function fastifyAnswer(reply: FastifyReplyLike): Answer {
  return {
    sent: () => reply.sent || reply.raw.headersSent,
    send: (status, contentType, body) => {
      reply.code(status).header('content-type', contentType).header('cache-control', 'no-store').send(body);
    },
  };
}

export function riskHubFastify(agent: Agent): RiskHubFastifyPlugin {
  const plugin: RiskHubFastifyPlugin = (fastify, _opts, done) => {
    fastify.addHook('onRequest', (request, reply, next) => {
      agent.watch(request, reply.raw, () => ({ query: request.query, body: request.body, params: request.params }));
      next();
    });
    fastify.addHook('preHandler', (request, reply, next) => {
      // handled: the reply was sent (Fastify wants no next() then)
      agent.enforceWith(request, request, reply, () => fastifyAnswer(reply), (handled) => {
        if (!handled) next();
      });
    });
    done();
  };
  const meta = plugin as unknown as Record<symbol, unknown>;
  meta[Symbol.for('skip-override')] = true;
  meta[Symbol.for('fastify.display-name')] = 'risk-hub-agent';
  return plugin;
}
