<?php

declare(strict_types=1);

namespace RiskHub;

/** Counters of the agent in this process. */
final class Stats
{
    /** @var array<string,int> */
    public array $counts = [];
    public ?string $lastError = null;

    public function bump(string $name, int $n = 1): void
    {
        $this->counts[$name] = ($this->counts[$name] ?? 0) + $n;
    }

    public function error(string $message): void
    {
        $this->bump('errors');
        $this->lastError = $message;
    }

    public function get(string $name): int
    {
        return $this->counts[$name] ?? 0;
    }
}
