<?php

// The agent's own per-request cost in one process (no HTTP server, no wrk: the steady figure on a
// shared machine): N times what a plain PHP request does with the agent (create, beginGlobals,
// identify, the shutdown's flush), timed with hrtime, per send_mode. Needs a relay stand-in: starts
// bench/sink.php under `php -S`. Run with -d apc.enable_cli=1 for the apcu mode.
//   php -d apc.enable_cli=1 bench/micro.php [--n=20000] [--modes=spool,apcu]
declare(strict_types=1);

require __DIR__ . '/../tests/autoload.php';
$o = getopt('', ['n::', 'modes::', 'rounds::']);
$n = (int) ($o['n'] ?? 20000);
$rounds = (int) ($o['rounds'] ?? 3);
$modes = explode(',', (string) ($o['modes'] ?? 'spool,apcu'));
$s = stream_socket_server('tcp://127.0.0.1:0');
$port = (int) substr(stream_socket_get_name($s, false), strrpos(stream_socket_get_name($s, false), ':') + 1);
fclose($s);
$sink = proc_open([PHP_BINARY, '-S', "127.0.0.1:$port", __DIR__ . '/sink.php'], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, null, ['PHP_CLI_SERVER_WORKERS' => '2'] + getenv());
usleep(300000);
$server = ['REQUEST_METHOD' => 'GET', 'REQUEST_URI' => '/search?q=ap&page=2', 'QUERY_STRING' => 'q=ap&page=2',
    'REMOTE_ADDR' => '127.0.0.1', 'HTTP_HOST' => '127.0.0.1:8080', 'HTTP_USER_AGENT' => 'wrk', 'HTTP_ACCEPT' => '*/*',
    'HTTP_COOKIE' => 'sid=8f14e45fceea167a5a36dedd4bea2543; theme=dark', 'SERVER_PROTOCOL' => 'HTTP/1.1'];
$reflect = new ReflectionClass(RiskHub\Agent::class);
$ctor = $reflect->getConstructor();
$ctor->setAccessible(true);
$results = [];
for ($r = 0; $r < $rounds; $r++) {
    foreach ($modes as $mode) {
        $state = sys_get_temp_dir() . '/risk-hub-php-micro-' . bin2hex(random_bytes(4));
        $opts = ['application' => 'bench', 'token' => 'bench', 'relay_url' => "http://127.0.0.1:$port", 'state_dir' => $state,
            'logger' => null, 'send_mode' => $mode];
        $ru0 = getrusage();
        $t0 = hrtime(true);
        for ($i = 0; $i < $n; $i++) {
            // What create() does, but without registering n shutdown functions.
            $agent = $reflect->newInstanceWithoutConstructor();
            $ctor->invoke($agent, $opts);
            $agent->beginGlobals($server);
            $agent->identify('u-1001');
            $agent->flush(null, false);
        }
        $wall = (hrtime(true) - $t0) / 1e3 / $n;
        $ru1 = getrusage();
        $cpu = (($ru1['ru_utime.tv_sec'] - $ru0['ru_utime.tv_sec']) * 1e6 + $ru1['ru_utime.tv_usec'] - $ru0['ru_utime.tv_usec']
            + ($ru1['ru_stime.tv_sec'] - $ru0['ru_stime.tv_sec']) * 1e6 + $ru1['ru_stime.tv_usec'] - $ru0['ru_stime.tv_usec']) / $n;
        $results[$mode][] = [$wall, $cpu, $agent->stats()['sent']];
        printf("%-6s wall %6.1f µs/request  cpu %6.1f µs/request  sent %d\n", $mode, $wall, $cpu, $agent->stats()['sent']);
        shell_exec('rm -rf ' . escapeshellarg($state));
    }
}
proc_terminate($sink);
foreach ($results as $mode => $rs) {
    $c = array_column($rs, 1);
    sort($c);
    printf("%-6s median cpu %6.1f µs/request (range %.1f–%.1f)\n", $mode, $c[intdiv(count($c), 2)], $c[0], end($c));
}
