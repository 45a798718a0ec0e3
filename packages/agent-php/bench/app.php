<?php

// The benchmark's small page: a JSON search answer in plain PHP, with the agent when WITH_AGENT=1 (loaded
// from AGENT_DIR/src, or preloaded with AGENT_DIR/preload.php). Served by `php -S` (bench.php --app=page).
// BENCH_SCRIPT_CPU=1: the script's own CPU (getrusage, to after the shutdown functions) summed in APCu,
// read with GET /__cpu.
declare(strict_types=1);

if (getenv('BENCH_SCRIPT_CPU') === '1') {
    if ($_SERVER['REQUEST_URI'] === '/__cpu') {
        echo json_encode(['us' => (int) apcu_fetch('bench:us'), 'n' => (int) apcu_fetch('bench:n')]);
        return true;
    }
    $ru0 = getrusage();
    register_shutdown_function(static function () use ($ru0): void {
        register_shutdown_function(static function () use ($ru0): void { // last: after the agent's
            $ru = getrusage();
            apcu_inc('bench:us', ($ru['ru_utime.tv_sec'] - $ru0['ru_utime.tv_sec'] + $ru['ru_stime.tv_sec'] - $ru0['ru_stime.tv_sec']) * 1000000
                + $ru['ru_utime.tv_usec'] - $ru0['ru_utime.tv_usec'] + $ru['ru_stime.tv_usec'] - $ru0['ru_stime.tv_usec']);
            apcu_inc('bench:n');
        });
    });
}
if (getenv('WITH_AGENT') === '1') {
    spl_autoload_register(static function (string $class): void {
        if (str_starts_with($class, 'RiskHub\\')) {
            @include getenv('AGENT_DIR') . '/src/' . substr($class, 8) . '.php';
        }
    });
    $agent = RiskHub\Agent::start(['application' => 'bench', 'token' => 'bench', 'relay_url' => getenv('RELAY_URL'),
        'state_dir' => getenv('STATE_DIR'), 'logger' => null]);
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
