<?php

declare(strict_types=1);

namespace RiskHub;

use Psr\Http\Message\ResponseFactoryInterface;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Psr\Http\Server\MiddlewareInterface;
use Psr\Http\Server\RequestHandlerInterface;

/**
 * PSR-15 middleware (needs psr/http-server-middleware and a PSR-17 factory, e.g. nyholm/psr7). Put it
 * first in the pipeline. The request attribute "risk_hub.agent" carries the agent for handlers.
 *
 * - before the handler: the `user` option's resolver, or the request attribute "risk_hub.user" set
 *   by an earlier authentication middleware, identifies the request (and its decision is enforced);
 * - inside: $agent->identify($user) enforces at once (an Enforced exception back to here);
 * - after: the request event is queued; it is sent by the shutdown function after the response
 *   (or by $agent->flush() in long-running servers: pass flushEachRequest: true).
 */
final class Psr15Middleware implements MiddlewareInterface
{
    public function __construct(
        private readonly Agent $agent,
        private readonly ResponseFactoryInterface $responses,
        private readonly StreamFactoryInterface $streams,
        private readonly bool $flushEachRequest = false,
    ) {
    }

    public function process(ServerRequestInterface $request, RequestHandlerInterface $handler): ResponseInterface
    {
        $seen = $request;
        try {
            $this->agent->beginPsr7($request);
            $request = $request->withAttribute('risk_hub.agent', $this->agent);
            $seen = $request;
            $user = $this->resolveUser($request);
            if ($user !== null) {
                $this->agent->identify($user, $request);
            }
            $response = $handler->handle($request);
        } catch (Enforced $e) {
            $response = $e->response instanceof ResponseInterface ? $e->response : $this->blocked($e->decision);
            if ($e->decision->action === 'CHALLENGE' && !$e->response instanceof ResponseInterface) {
                $response = $handler->handle($request); // a hook that answered with no response: go on
            }
        } finally {
            $this->end($seen);
        }
        return $response;
    }

    private function resolveUser(ServerRequestInterface $request): mixed
    {
        try {
            $resolver = $this->agent->options->user;
            return $resolver !== null ? $resolver($request) : $request->getAttribute('risk_hub.user');
        } catch (\Throwable $e) {
            $this->agent->error('user resolver: ' . $e->getMessage());
            return null;
        }
    }

    private function blocked(Decision $decision): ResponseInterface
    {
        return $this->responses->createResponse($this->agent->options->blockStatus)
            ->withHeader('content-type', 'application/json')
            ->withHeader('cache-control', 'no-store')
            ->withBody($this->streams->createStream($this->agent->blockBody($decision)));
    }

    private function end(ServerRequestInterface $request): void
    {
        try {
            $params = null;
            $resolver = $this->agent->options->pathParams;
            if ($resolver !== null) {
                $params = $resolver($request);
            } elseif (is_array($request->getAttribute('risk_hub.path_params'))) {
                $params = $request->getAttribute('risk_hub.path_params');
            }
            $this->agent->endPsr7($request, is_array($params) ? $params : null);
            if ($this->flushEachRequest) {
                $this->agent->flush();
            }
        } catch (\Throwable $e) {
            $this->agent->error('middleware: ' . $e->getMessage());
        }
    }
}
