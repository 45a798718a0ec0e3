<?php

// The agent's overhead on a plain PHP app under `php -S` (PHP_CLI_SERVER_WORKERS=2), opcache on in every
// server and the agent's classes preloaded (opcache.preload=preload.php), as PHP-FPM runs in production:
// requests/s and the server's CPU per request (user + system of the server and its workers, /proc), with
// and without the agent, driven by wrk. One server per variant, started once; rounds alternate the order
// of the variants (a slow patch of the shared machine hits all); medians and ranges of the rounds.
//   php bench/bench.php [--app=shop|page] [--seconds=5] [--rounds=5] [--warmup=3] [--connections=4]
//                       [--agents=DIR[,DIR]] [--no-preload]
// --app=shop (default): bench/shop.php, the examples/express-app shop in plain PHP, with the Node bench's
//   traffic (bench/traffic.lua: browser-like headers, session cookies, 2% attacks);
//   --app=page: bench/app.php, one small JSON page (GET /search?q=ap&page=2).
// --agents: agent package directories to compare (e.g. main's copy, then this one): one server each.
// The relay is a sink in its own `php -S` (202 to every batch). With APCu, each server also sums its
// scripts' own CPU (getrusage from the script's start to after the agent's shutdown work): php -S's HTTP
// handling left out, the agent's whole share in.
declare(strict_types=1);

$o = getopt('', ['app::', 'seconds::', 'rounds::', 'warmup::', 'connections::', 'agents::', 'no-preload']);
$app = (string) ($o['app'] ?? 'shop');
$seconds = (int) ($o['seconds'] ?? 5);
$rounds = (int) ($o['rounds'] ?? 5);
$warmup = (int) ($o['warmup'] ?? 3);
$conns = (int) ($o['connections'] ?? 4);
$preload = !isset($o['no-preload']);
$agents = array_map(static fn (string $d) => rtrim((string) realpath($d), '/'), explode(',', (string) ($o['agents'] ?? dirname(__DIR__))));
if (!in_array($app, ['shop', 'page'], true) || in_array('', $agents, true) || $seconds < 1 || $seconds > 30 || $rounds < 1 || $rounds > 20) {
    fwrite(STDERR, "bench: --app=shop|page, --agents=existing directories, --seconds 1-30, --rounds 1-20\n");
    exit(1);
}
if (trim((string) shell_exec('command -v wrk')) === '') {
    fwrite(STDERR, "bench: wrk is needed (apt-get install wrk)\n");
    exit(1);
}
$router = __DIR__ . ($app === 'shop' ? '/shop.php' : '/app.php');
$wrkTarget = $app === 'shop' ? ['-s', __DIR__ . '/traffic.lua'] : [];
$path = $app === 'shop' ? '/' : '/search?q=ap&page=2';
$scriptCpu = function_exists('apcu_enabled') && extension_loaded('apcu');

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
    // setsid: the server leads its own process group, so that stop() ends its workers too (they outlive a
    // php -S that is sent SIGTERM alone).
    $p = proc_open(['setsid', PHP_BINARY, '-q', '-d', 'opcache.enable_cli=1', ...$flags, '-S', "127.0.0.1:$port", $router], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, null, $env + getenv());
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
    posix_kill(-$s['pid'], SIGTERM);
    proc_close($p);
}

/** @return array{n:int,rps:float,errors:int} */
function wrk(int $port, string $path, array $script, int $conns, int $seconds): array
{
    $cmd = implode(' ', array_map('escapeshellarg', ['wrk', '-t1', "-c$conns", "-d{$seconds}s", ...$script, "http://127.0.0.1:$port$path"]));
    $out = (string) shell_exec("$cmd 2>&1");
    preg_match('/(\d+) requests in/', $out, $m1);
    preg_match('#Requests/sec:\s+([\d.]+)#', $out, $m2);
    preg_match('/Non-2xx or 3xx responses: (\d+)/', $out, $m3);
    preg_match('/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/', $out, $m4);
    return ['n' => (int) ($m1[1] ?? 0), 'rps' => (float) ($m2[1] ?? 0), 'errors' => (int) ($m4[1] ?? 0) + (int) ($m4[4] ?? 0), 'non2xx' => (int) ($m3[1] ?? 0)];
}

$user = posix_getpwuid(posix_geteuid())['name'] ?? 'root';
[$sink, $sinkPort] = serve(__DIR__ . '/sink.php', ['PHP_CLI_SERVER_WORKERS' => '2']);
$variants = ['without' => null];
foreach ($agents as $i => $dir) {
    $variants[count($agents) === 1 ? 'with' : 'with:' . ($i + 1)] = $dir;
}
$servers = [];
$states = [];
$results = [];
try {
    foreach ($variants as $label => $dir) {
        $state = sys_get_temp_dir() . '/risk-hub-php-bench-' . bin2hex(random_bytes(4));
        $states[] = $state;
        $flags = $dir !== null && $preload ? ['-d', "opcache.preload=$dir/preload.php", '-d', "opcache.preload_user=$user"] : [];
        $servers[$label] = serve($router, ['PHP_CLI_SERVER_WORKERS' => '2', 'WITH_AGENT' => $dir === null ? '0' : '1', 'AGENT_DIR' => (string) $dir,
            'RELAY_URL' => "http://127.0.0.1:$sinkPort", 'STATE_DIR' => $state, 'BENCH_SCRIPT_CPU' => $scriptCpu ? '1' : '0'], $flags);
        wrk($servers[$label][1], $path, $wrkTarget, $conns, $warmup); // warm-up: opcache, APCu, connections
        $results[$label] = [];
    }
    $labels = array_keys($variants);
    for ($r = 0; $r < $rounds; $r++) {
        // Rotate which variant goes first, so drift on a shared machine hits all of them.
        $order = array_merge(array_slice($labels, $r % count($labels)), array_slice($labels, 0, $r % count($labels)));
        foreach ($order as $label) {
            [$proc, $port] = $servers[$label];
            $pid = proc_get_status($proc)['pid'];
            $s0 = $scriptCpu ? (json_decode((string) @file_get_contents("http://127.0.0.1:$port/__cpu"), true) ?: ['us' => 0, 'n' => 0]) : null;
            $c0 = cpu($pid);
            $w = wrk($port, $path, $wrkTarget, $conns, $seconds);
            $c1 = cpu($pid);
            $s1 = $scriptCpu ? (json_decode((string) @file_get_contents("http://127.0.0.1:$port/__cpu"), true) ?: ['us' => 0, 'n' => 0]) : null;
            $sn = $s1 === null ? 0 : $s1['n'] - $s0['n'];
            $row = ['rps' => $w['rps'], 'cpu_us' => $w['n'] > 0 ? ($c1 - $c0) * 1e6 / $w['n'] : 0.0,
                'script_us' => $sn > 0 ? ($s1['us'] - $s0['us']) / $sn : 0.0, 'errors' => $w['errors'], 'non2xx' => $w['non2xx']];
            $results[$label][] = $row;
            printf("round %d %-8s %7.0f req/s  %6.1f µs CPU/request  script %5.1f µs  errors %d  non-2xx %d\n", $r + 1, $label, $row['rps'], $row['cpu_us'], $row['script_us'], $row['errors'], $row['non2xx']);
        }
    }
} finally {
    foreach ($servers as [$proc]) {
        stop($proc);
    }
    stop($sink);
    foreach ($states as $state) {
        shell_exec('rm -rf ' . escapeshellarg($state));
    }
}

$median = static function (array $v): float {
    sort($v);
    $n = count($v);
    return $n === 0 ? 0.0 : ($n % 2 ? (float) $v[intdiv($n, 2)] : ($v[$n / 2 - 1] + $v[$n / 2]) / 2);
};
$range = static fn (array $v): string => sprintf('%.1f–%.1f', min($v), max($v));
printf("\nphp %s, %s on php -S (2 workers, opcache on%s), wrk -t1 -c%d%s, %d s x %d rounds, load average %s\n", PHP_VERSION,
    $app === 'shop' ? 'bench/shop.php' : 'bench/app.php', $preload ? ', agent preloaded' : '', $conns, $app === 'shop' ? ' -s traffic.lua' : '',
    $seconds, $rounds, implode(' ', array_map(static fn ($x) => sprintf('%.1f', $x), sys_getloadavg())));
foreach ($variants as $label => $dir) {
    $rs = $results[$label];
    printf("%-8s %s\n         req/s %.0f (%s)  CPU/request %.1f µs (%s)%s\n", $label, $dir ?? '(no agent)',
        $median(array_column($rs, 'rps')), $range(array_column($rs, 'rps')), $median(array_column($rs, 'cpu_us')), $range(array_column($rs, 'cpu_us')),
        $scriptCpu ? sprintf('  script %.1f µs (%s)', $median(array_column($rs, 'script_us')), $range(array_column($rs, 'script_us'))) : '');
}
foreach ($variants as $label => $dir) {
    if ($dir === null) {
        continue;
    }
    // Per round against the same round's run without the agent, then the median of those.
    $rps = $cpuPct = $cpuUs = $scr = [];
    foreach ($results[$label] as $i => $row) {
        $base = $results['without'][$i];
        $rps[] = 100 * (1 - $row['rps'] / max(1e-9, $base['rps']));
        $cpuPct[] = 100 * ($row['cpu_us'] / max(1e-9, $base['cpu_us']) - 1);
        $cpuUs[] = $row['cpu_us'] - $base['cpu_us'];
        $scr[] = $row['script_us'] - $base['script_us'];
    }
    printf("%-8s overhead (median of rounds): req/s %.1f %% (%s), CPU/request %+.1f %% (%s), %+.1f µs (%s)%s\n", $label,
        $median($rps), $range($rps), $median($cpuPct), $range($cpuPct), $median($cpuUs), $range($cpuUs),
        $scriptCpu ? sprintf(', script %+.1f µs (%s)', $median($scr), $range($scr)) : '');
}
