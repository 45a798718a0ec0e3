<?php

declare(strict_types=1);

namespace RiskHub;

/**
 * Thrown by Agent::identify() inside RiskHub\Psr15Middleware when a decision answers the request: the
 * middleware catches it and returns $response (the rest of the pipeline is skipped).
 */
final class Enforced extends \RuntimeException
{
    public function __construct(public readonly Decision $decision, public readonly mixed $response)
    {
        parent::__construct('risk-hub: request answered by decision ' . $decision->decisionId . ' (' . $decision->action . ')');
    }
}
