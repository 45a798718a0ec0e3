<?php

declare(strict_types=1);

namespace RiskHub\Tests;

/** `php -S` servers for the tests (the fake relay, the fixture apps) and an HTTP helper. */
final class Server
{
    /** @var resource */
    private $proc;
    public readonly int $port;

    /** @param array<string,string> $env */
    public function __construct(string $router, array $env, ?string $docroot = null)
    {
        $this->port = self::freePort();
        $cmd = [PHP_BINARY, '-d', 'variables_order=EGPCS', '-S', "127.0.0.1:{$this->port}", '-t', $docroot ?? dirname($router), $router];
        $this->proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, null, $env + getenv());
        for ($i = 0; $i < 200; $i++) {
            $s = @fsockopen('127.0.0.1', $this->port, $errno, $errstr, 0.1);
            if ($s !== false) {
                fclose($s);
                return;
            }
            usleep(25000);
        }
        throw new \RuntimeException("php -S $router did not start");
    }

    public function url(): string
    {
        return "http://127.0.0.1:{$this->port}";
    }

    public function stop(): void
    {
        $status = proc_get_status($this->proc);
        if ($status['running']) {
            posix_kill($status['pid'], SIGTERM);
        }
        proc_close($this->proc);
    }

    public static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($s, false);
        fclose($s);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    /** @return array{status:int,body:string,headers:array<string,string>} */
    public static function http(string $method, string $url, array $headers = [], ?string $body = null): array
    {
        $ch = curl_init($url);
        $h = [];
        foreach ($headers as $k => $v) {
            $h[] = "$k: $v";
        }
        $respHeaders = [];
        curl_setopt_array($ch, [
            CURLOPT_CUSTOMREQUEST => $method, CURLOPT_RETURNTRANSFER => true, CURLOPT_HTTPHEADER => $h,
            CURLOPT_TIMEOUT => 10,
            CURLOPT_HEADERFUNCTION => static function ($c, $line) use (&$respHeaders) {
                $p = strpos($line, ':');
                if ($p !== false) {
                    $respHeaders[strtolower(trim(substr($line, 0, $p)))] = trim(substr($line, $p + 1));
                }
                return strlen($line);
            },
        ]);
        if ($body !== null) {
            curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
        }
        $out = curl_exec($ch);
        if ($out === false) {
            throw new \RuntimeException(curl_error($ch));
        }
        return ['status' => (int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE), 'body' => (string) $out, 'headers' => $respHeaders];
    }
}

/** A fake relay in its own `php -S` process, state in a temporary directory. */
final class FakeRelay
{
    public readonly string $dir;
    public readonly Server $server;

    public function __construct()
    {
        $this->dir = Temp::dir('relay');
        $this->server = new Server(__DIR__ . '/fixtures/fake_relay.php', ['RELAY_DIR' => $this->dir]);
    }

    public function url(): string
    {
        return $this->server->url();
    }

    /** @return list<array<string,mixed>> every event posted, in order */
    public function events(): array
    {
        $out = [];
        foreach ($this->posts() as $p) {
            if ($p['status'] === 202) {
                array_push($out, ...$p['body']['events']);
            }
        }
        return $out;
    }

    /** @return list<array{auth:?string,status:int,body:array}> */
    public function posts(): array
    {
        $f = "{$this->dir}/events.jsonl";
        if (!is_file($f)) {
            return [];
        }
        return array_map(static fn ($l) => json_decode($l, true), array_filter(explode("\n", (string) file_get_contents($f))));
    }

    /** @return list<array{query:string,if_none_match:?string}> */
    public function polls(): array
    {
        $f = "{$this->dir}/polls.jsonl";
        return is_file($f) ? array_map(static fn ($l) => json_decode($l, true), array_filter(explode("\n", (string) file_get_contents($f)))) : [];
    }

    public function setDecisions(array $decisions, string $version = '1'): void
    {
        file_put_contents("{$this->dir}/decisions.json", json_encode(['version' => $version, 'decisions' => $decisions]));
    }

    public function setStatus(int $status): void
    {
        file_put_contents("{$this->dir}/status", (string) $status);
    }

    public function stop(): void
    {
        $this->server->stop();
    }
}

final class Temp
{
    public static function dir(string $prefix): string
    {
        $d = sys_get_temp_dir() . "/risk-hub-php-test-$prefix-" . bin2hex(random_bytes(6));
        mkdir($d, 0700, true);
        return $d;
    }
}

/** Waits (bounded: at most $tries x 20 ms) until $f returns something truthy; returns its last value. */
function eventually(callable $f, int $tries = 250): mixed
{
    for ($i = 0; $i < $tries; $i++) {
        $v = $f();
        if ($v) {
            return $v;
        }
        usleep(20000);
    }
    return $f();
}

function block(string $user, string $action = 'BLOCK', array $extra = []): array
{
    return $extra + ['user_key' => $user, 'action' => $action, 'until' => (int) ((microtime(true) + 3600) * 1000),
        'reason' => 'tier 3: +53 points in 24 h (above 50)', 'decision_id' => "d-$user", 'simulated' => false];
}

/** The shared conformance vectors (RISK_HUB_VECTORS_DIR overrides, to try the loaders). */
function vectorsDir(): string
{
    return getenv('RISK_HUB_VECTORS_DIR') ?: dirname(__DIR__, 3) . '/test/vectors';
}
