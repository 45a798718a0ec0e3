<?php

// The router bench/instructions.sh counts: Agent::start() and nothing else (STAGE=start), or nothing
// (STAGE=none), or only the options (STAGE=options). RELAY_URL, STATE_DIR, XOPTS (JSON of extra options).
declare(strict_types=1);

$opts = ['application' => 'bench', 'token' => 'bench', 'relay_url' => getenv('RELAY_URL'), 'state_dir' => getenv('STATE_DIR'), 'logger' => null]
    + (json_decode((string) getenv('XOPTS'), true) ?: []);
$stage = getenv('STAGE');
if ($stage === 'options') {
    new RiskHub\Options($opts);
} elseif ($stage === 'start') {
    RiskHub\Agent::start($opts);
}
echo 'ok';
return true;
