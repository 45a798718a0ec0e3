<?php

// PSR-15 (psr/http-server-handler 1.0 and psr/http-server-middleware 1.0), the two interfaces as the
// PHP-FIG publishes them, for tests on a machine where no package provides them.

namespace Psr\Http\Server;

use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;

interface RequestHandlerInterface
{
    public function handle(ServerRequestInterface $request): ResponseInterface;
}

interface MiddlewareInterface
{
    public function process(ServerRequestInterface $request, RequestHandlerInterface $handler): ResponseInterface;
}
