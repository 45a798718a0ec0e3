<?php

// The benchmark's application: a small plain PHP page (a JSON search answer), with the agent when
// WITH_AGENT=1. Served by `php -S` with PHP_CLI_SERVER_WORKERS.
// The script's own CPU time (getrusage: user + system), from here to after the agent's shutdown work,
// summed in APCu across the workers: what the agent adds per request, without php -S's own HTTP work
// and without wrk's noise. GET /__cpu reads the sums.
if (function_exists('apcu_enabled') && apcu_enabled()) {
    if ($_SERVER['REQUEST_URI'] === '/__cpu') {
        echo json_encode(['us' => (int) apcu_fetch('bench:us'), 'n' => (int) apcu_fetch('bench:n')]);
        return true;
    }
    $ru0 = getrusage();
    register_shutdown_function(static function () use ($ru0): void {
        // Registered last, so it runs after the agent's shutdown function.
        register_shutdown_function(static function () use ($ru0): void {
            $ru = getrusage();
            $us = ($ru['ru_utime.tv_sec'] - $ru0['ru_utime.tv_sec'] + $ru['ru_stime.tv_sec'] - $ru0['ru_stime.tv_sec']) * 1000000
                + $ru['ru_utime.tv_usec'] - $ru0['ru_utime.tv_usec'] + $ru['ru_stime.tv_usec'] - $ru0['ru_stime.tv_usec'];
            apcu_inc('bench:us', $us);
            apcu_inc('bench:n');
        });
    });
}
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
