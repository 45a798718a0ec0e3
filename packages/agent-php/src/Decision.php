<?php

declare(strict_types=1);

namespace RiskHub;

/** One active decision of a user, as GET /v1/decisions gives it. */
final class Decision
{
    public function __construct(
        public readonly string $userKey,
        public readonly string $action,
        public readonly ?int $until,
        public readonly string $reason,
        public readonly string $decisionId,
        public readonly bool $simulated,
    ) {
    }

    public function expired(?int $nowMs = null): bool
    {
        return $this->until !== null && $this->until <= ($nowMs ?? (int) (microtime(true) * 1000));
    }

    /** BLOCK or CHALLENGE, not simulated, not expired: the decisions a request can feel. */
    public function enforceable(): bool
    {
        return !$this->simulated && ($this->action === 'BLOCK' || $this->action === 'CHALLENGE') && !$this->expired();
    }
}
