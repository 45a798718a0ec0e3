<?php

// The benchmark's application: a small plain PHP page (a JSON search answer), with the agent when
// WITH_AGENT=1. Served by `php -S` with PHP_CLI_SERVER_WORKERS.
require __DIR__ . '/../tests/autoload.php';
if (getenv('WITH_AGENT') === '1') {
    $agent = RiskHub\Agent::start(['application' => 'bench', 'token' => 'bench', 'relay_url' => getenv('RELAY_URL'),
        'state_dir' => getenv('STATE_DIR'), 'logger' => null, 'send_mode' => getenv('SEND_MODE') ?: 'auto']);
    if (isset($_SERVER['HTTP_X_USER'])) {
        $agent->identify($_SERVER['HTTP_X_USER']);
    }
}
header('content-type: application/json');
$q = (string) ($_GET['q'] ?? '');
$results = [];
foreach (['apple', 'apricot', 'banana', 'blueberry', 'cherry'] as $i => $name) {
    if ($q === '' || str_contains($name, strtolower($q))) {
        $results[] = ['id' => $i + 1, 'name' => $name, 'price' => round(1.5 * ($i + 1), 2)];
    }
}
echo json_encode(['q' => $q, 'results' => $results]);
return true;
