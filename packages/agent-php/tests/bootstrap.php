<?php

declare(strict_types=1);

require __DIR__ . '/autoload.php';
require __DIR__ . '/Support.php';
if (getenv('RISK_HUB_AUTOLOAD')) {
    $file = (new ReflectionClass(RiskHub\Agent::class))->getFileName();
    if (str_starts_with($file, realpath(__DIR__ . '/../src'))) {
        fwrite(STDERR, "RiskHub\\Agent was loaded from $file, not from the installed package\n");
        exit(1);
    }
    fwrite(STDERR, "risk-hub/agent loaded from the installed package: $file\n");
}
