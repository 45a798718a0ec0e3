<?php

// The agent's overhead on a small plain PHP app served by `php -S` (PHP_CLI_SERVER_WORKERS=2, opcache on
// as in production):
// requests/s and CPU per request with and without the agent, with wrk (bounded: rounds x runs of
// --seconds). The relay is a stand-in sink in its own `php -S`.
//   php bench/bench.php [--seconds=8] [--rounds=2] [--connections=4] [--mode=auto|apcu|spool|direct] [--preload]
// --preload: the agent's classes preloaded (opcache.preload=preload.php), as PHP-FPM can.
declare(strict_types=1);

$o = getopt('', ['seconds::', 'rounds::', 'connections::', 'mode::', 'preload']);
$preload = isset($o['preload']) ? ['-d', 'opcache.preload=' . dirname(__DIR__) . '/preload.php', '-d', 'opcache.preload_user=' . (posix_getpwuid(posix_geteuid())['name'] ?? 'root')] : [];
$seconds = (int) ($o['seconds'] ?? 8);
$rounds = (int) ($o['rounds'] ?? 2);
$conns = (int) ($o['connections'] ?? 4);
$mode = (string) ($o['mode'] ?? 'auto');
if (trim((string) shell_exec('command -v wrk')) === '') {
    fwrite(STDERR, "bench: wrk is needed (apt-get install wrk)\n");
    exit(1);
}

function freePort(): int
{
    $s = stream_socket_server('tcp://127.0.0.1:0');
    $n = stream_socket_get_name($s, false);
    fclose($s);
    return (int) substr($n, strrpos($n, ':') + 1);
}

/** @return array{0:resource,1:int} */
function serve(string $router, array $env, array $flags = []): array
{
    $port = freePort();
    $p = proc_open([PHP_BINARY, '-d', 'opcache.enable_cli=1', ...$flags, '-S', "127.0.0.1:$port", $router], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, null, $env + getenv());
    for ($i = 0; $i < 200; $i++) {
        if ($s = @fsockopen('127.0.0.1', $port, $e, $m, 0.1)) {
            fclose($s);
            return [$p, $port];
        }
        usleep(25000);
    }
    throw new RuntimeException("php -S $router did not start");
}

/** utime + stime (seconds) of a process and its children (php -S workers). */
function cpu(int $pid): float
{
    $ticks = 0;
    foreach (glob('/proc/[0-9]*/stat') as $f) {
        $st = @file_get_contents($f);
        if ($st === false) {
            continue;
        }
        $parts = explode(' ', substr($st, strrpos($st, ')') + 2));
        if ((int) basename(dirname($f)) === $pid || (int) $parts[1] === $pid) {
            $ticks += (int) $parts[11] + (int) $parts[12];
        }
    }
    return $ticks / 100;
}

function stop($p): void
{
    $s = proc_get_status($p);
    if ($s['running']) {
        posix_kill($s['pid'], SIGTERM);
    }
    proc_close($p);
}

[$sink, $sinkPort] = serve(__DIR__ . '/sink.php', ['PHP_CLI_SERVER_WORKERS' => '2']);
$results = ['without' => [], 'with' => []];
try {
    for ($r = 0; $r < $rounds; $r++) {
        foreach (['without' => '0', 'with' => '1'] as $label => $with) {
            $state = sys_get_temp_dir() . '/risk-hub-php-bench-' . bin2hex(random_bytes(4));
            [$app, $port] = serve(__DIR__ . '/app.php', ['PHP_CLI_SERVER_WORKERS' => '2', 'WITH_AGENT' => $with,
                'RELAY_URL' => "http://127.0.0.1:$sinkPort", 'STATE_DIR' => $state, 'SEND_MODE' => $mode], $preload);
            $pid = proc_get_status($app)['pid'];
            shell_exec("wrk -t1 -c$conns -d2s 'http://127.0.0.1:$port/search?q=ap' 2>&1"); // warm-up
            $s0 = json_decode((string) @file_get_contents("http://127.0.0.1:$port/__cpu"), true) ?: ['us' => 0, 'n' => 0];
            $c0 = cpu($pid);
            $out = (string) shell_exec("wrk -t1 -c$conns -d{$seconds}s 'http://127.0.0.1:$port/search?q=ap&page=2' 2>&1");
            $c1 = cpu($pid);
            $s1 = json_decode((string) @file_get_contents("http://127.0.0.1:$port/__cpu"), true) ?: ['us' => 0, 'n' => 0];
            stop($app);
            preg_match('/(\d+) requests in/', $out, $m1);
            preg_match('#Requests/sec:\s+([\d.]+)#', $out, $m2);
            $n = (int) ($m1[1] ?? 0);
            $sn = $s1['n'] - $s0['n'];
            $results[$label][] = ['rps' => (float) ($m2[1] ?? 0), 'cpu_us' => $n > 0 ? ($c1 - $c0) * 1e6 / $n : 0.0,
                'script_us' => $sn > 0 ? ($s1['us'] - $s0['us']) / $sn : 0.0];
            shell_exec('rm -rf ' . escapeshellarg($state));
        }
    }
} finally {
    stop($sink);
}
$median = static function (array $v): float {
    sort($v);
    return (float) ($v[intdiv(count($v), 2)] ?? 0);
};
$best = fn (array $runs) => max(array_column($runs, 'rps'));
$cpuMin = fn (array $runs) => min(array_column($runs, 'cpu_us'));
printf("php %s, plain PHP app on php -S (2 workers), wrk -c%d, %d s x %d rounds (best round), send_mode %s%s\n", PHP_VERSION, $conns, $seconds, $rounds, $mode, $preload ? ', classes preloaded' : '');
printf("without agent: %8.0f req/s  %6.1f µs CPU/request\n", $best($results['without']), $cpuMin($results['without']));
printf("with agent:    %8.0f req/s  %6.1f µs CPU/request\n", $best($results['with']), $cpuMin($results['with']));
printf("overhead:      %7.1f %% req/s   %+6.1f %% CPU/request\n", 100 * (1 - $best($results['with']) / max(1, $best($results['without']))), 100 * ($cpuMin($results['with']) / max(1e-9, $cpuMin($results['without'])) - 1));
if (array_sum(array_column($results['with'], 'script_us')) > 0) {
    // With APCu: the scripts' own CPU (getrusage around the script and its shutdown functions), medians of the rounds.
    $sw = $median(array_column($results['without'], 'script_us'));
    $sa = $median(array_column($results['with'], 'script_us'));
    printf("script CPU (getrusage, medians): without %.1f µs, with %.1f µs: the agent %+.1f µs per request\n", $sw, $sa, $sa - $sw);
}
