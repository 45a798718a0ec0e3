<?php

declare(strict_types=1);

namespace RiskHub\Tests;

use PHPUnit\Framework\TestCase;
use RiskHub\Agent;

/**
 * End to end against a REAL relay (docs/relay-protocol.md) in front of the real broker. Runs when
 * RISK_HUB_RELAY_URL is set; RISK_HUB_RELAY_TOKEN (the application's token), RISK_HUB_RELAY_APPLICATION
 * (default "shop") and RISK_HUB_RELAY_ENVIRONMENT (default "production") say who this app is.
 * RISK_HUB_E2E_BLOCKED_USER (optional): a user the harness has blocked; a request of theirs must get 403.
 */
final class EndToEndTest extends TestCase
{
    private string $relay = '';

    protected function setUp(): void
    {
        $this->relay = (string) getenv('RISK_HUB_RELAY_URL');
        if ($this->relay === '') {
            self::markTestSkipped('RISK_HUB_RELAY_URL is not set: the end-to-end test needs a running relay');
        }
    }

    private function env(): array
    {
        return ['APP_ID' => getenv('RISK_HUB_RELAY_APPLICATION') ?: 'shop', 'APP_ENV' => getenv('RISK_HUB_RELAY_ENVIRONMENT') ?: 'production',
            'APP_TOKEN' => getenv('RISK_HUB_RELAY_TOKEN') ?: 'dev-token'];
    }

    private function relayPost(string $path, string $json): array
    {
        return Server::http('POST', rtrim($this->relay, '/') . $path, ['content-type' => 'application/json', 'authorization' => 'Bearer ' . $this->env()['APP_TOKEN']], $json);
    }

    /** One corpus request, sent raw over TCP (the corpus may hold what curl would refuse to send). */
    private static function sendRaw(int $port, array $v): void
    {
        $body = (string) ($v['body'] ?? '');
        $lines = ["{$v['method']} {$v['uri']} HTTP/1.1", "host: 127.0.0.1:$port", 'connection: close'];
        foreach ($v['headers'] ?? [] as $k => $val) {
            $skip = ['host', 'connection', 'content-length'];
            if (($v['content_type'] ?? null) !== null) {
                $skip[] = 'content-type'; // sent once, below
            }
            if (!in_array(strtolower($k), $skip, true)) {
                $lines[] = "$k: $val";
            }
        }
        if (($v['content_type'] ?? null) !== null) {
            $lines[] = "content-type: {$v['content_type']}";
        }
        $lines[] = 'content-length: ' . strlen($body);
        $s = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5);
        fwrite($s, implode("\r\n", $lines) . "\r\n\r\n" . $body);
        stream_get_contents($s);
        fclose($s);
    }

    public function testRelayHealthz(): void
    {
        self::assertSame(200, Server::http('GET', rtrim($this->relay, '/') . '/healthz')['status']);
    }

    /** The corpus through a real PHP app: the relay JSON this integration builds gets the expected verdicts. */
    public function testConformanceCorpus(): void
    {
        $path = vectorsDir() . '/requests.json';
        if (!is_file($path)) {
            self::markTestSkipped('test/vectors/requests.json is not in this checkout yet');
        }
        $vectors = json_decode((string) file_get_contents($path), true);
        $vectors = $vectors['requests'] ?? $vectors;
        $capture = new FakeRelay();
        $app = new Server(__DIR__ . '/fixtures/corpus_app.php', $this->env() + ['RELAY_URL' => $capture->url(), 'STATE_DIR' => Temp::dir('corpus')]);
        $failures = [];
        try {
            foreach ($vectors as $v) {
                $before = count($capture->events());
                self::sendRaw($app->port, $v);
                // the request event (a POST /login also sends a login event, first)
                $ev = eventually(static fn () => array_values(array_filter(array_slice($capture->events(), $before), static fn ($e) => ($e['kind'] ?? '') === 'request'))[0] ?? null);
                if ($ev === null) {
                    $failures[] = "{$v['name']}: no request event";
                    continue;
                }
                // The capture relay decoded and re-encoded the JSON: maps that came back as [] are {} again.
                $json = self::reencode($ev['request']);
                $res = $this->relayPost('/v1/inspect', '{"request":' . $json . '}');
                self::assertSame(200, $res['status'], "{$v['name']}: /v1/inspect answered {$res['status']} {$res['body']}");
                $got = array_values(array_unique(array_map(static fn ($d) => $d['attack_type'], json_decode($res['body'], true)['detections'])));
                sort($got);
                $want = array_values(array_unique($v['expect']));
                sort($want);
                if ($got !== $want) {
                    $failures[] = "{$v['name']}: expected " . json_encode($want) . ' got ' . json_encode($got);
                }
            }
        } finally {
            $app->stop();
            $capture->stop();
        }
        self::assertSame([], $failures, implode("\n", $failures));
        fwrite(STDERR, 'conformance: ' . count($vectors) . " corpus requests, verdicts equal to the Node agent's\n");
    }

    private static function reencode(array $request): string
    {
        foreach (['headers', 'query', 'path_params', 'cookies'] as $k) {
            $request[$k] = new \ArrayObject($request[$k] ?? []);
        }
        return (string) json_encode($request, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
    }

    /**
     * test/vectors/e2e-traffic.json through the real PHP app (corpus attacks for one user, a burst of
     * failed logins for that user) to the real relay: the scorer (RISK_HUB_SCORER_URL) holds for the user
     * what the same traffic gives through the Node agent.
     */
    public function testE2eTrafficScoredLikeTheNodeAgent(): void
    {
        $scorer = (string) getenv('RISK_HUB_SCORER_URL');
        if ($scorer === '') {
            self::markTestSkipped('RISK_HUB_SCORER_URL is not set: no scorer to compare with');
        }
        $traffic = json_decode((string) file_get_contents(vectorsDir() . '/e2e-traffic.json'), true);
        $corpus = array_column(json_decode((string) file_get_contents(vectorsDir() . '/requests.json'), true), null, 'name');
        $e = $this->env();
        $user = 'e2e-php-' . bin2hex(random_bytes(4));
        $app = new Server(__DIR__ . '/fixtures/corpus_app.php', $e + ['RELAY_URL' => $this->relay, 'STATE_DIR' => Temp::dir('e2e-traffic')]);
        try {
            foreach ($traffic['attacks'] as $name) {
                $v = $corpus[$name];
                $v['headers'] = ($v['headers'] ?? []) + ['x-user' => $user];
                self::sendRaw($app->port, $v);
            }
            $burst = $traffic['login_burst'];
            for ($i = 0; $i < $burst['failures']; $i++) {
                self::sendRaw($app->port, ['method' => 'POST', 'uri' => $burst['path'], 'headers' => [],
                    'content_type' => 'application/x-www-form-urlencoded', 'body' => 'username=' . rawurlencode($user) . '&password=wrong']);
            }
        } finally {
            $app->stop();
        }
        $expect = $traffic['expect'];
        $url = rtrim($scorer, '/') . '/v1/users/' . rawurlencode($e['APP_ID']) . '/' . rawurlencode($e['APP_ENV']) . '/' . rawurlencode($user) . '/risk';
        $count = static fn (array $r): int => count($r['contributions'] ?? []) + (int) ($r['contributions_truncated'] ?? 0);
        $risk = [];
        for ($i = 0; $i < 120; $i++) { // bounded wait: the scorer consumes asynchronously
            $res = Server::http('GET', $url);
            $risk = $res['status'] === 200 ? (array) json_decode($res['body'], true) : [];
            if ($count($risk) >= $expect['contributions']) {
                break;
            }
            usleep(500_000);
        }
        $keys = ['increase_24h', 'risk_score', 'tier', 'alerted_tier'];
        $got = array_intersect_key($risk, array_flip($keys)) + ['contributions' => $count($risk)];
        $want = array_intersect_key($expect, array_flip($keys)) + ['contributions' => $expect['contributions']];
        ksort($got);
        ksort($want);
        self::assertSame($want, $got, (string) json_encode($risk));
    }

    /** Attacks, a login burst and a custom event through the real relay: all accepted, none rejected. */
    public function testEventsAcceptedByTheRelayAndDecisionsPolled(): void
    {
        $e = $this->env();
        $agent = Agent::create(['application' => $e['APP_ID'], 'environment' => $e['APP_ENV'], 'token' => $e['APP_TOKEN'],
            'relay_url' => $this->relay, 'state_dir' => Temp::dir('e2e'), 'logger' => null]);
        $victim = 'e2e-php-' . bin2hex(random_bytes(4));
        foreach (['/search?q=' . rawurlencode("1' OR '1'='1"), '/download?file=../../../../etc/passwd'] as $uri) {
            $agent->beginGlobals(['REQUEST_METHOD' => 'GET', 'REQUEST_URI' => $uri, 'QUERY_STRING' => (string) parse_url($uri, PHP_URL_QUERY), 'REMOTE_ADDR' => '203.0.113.50']);
            $agent->identify($victim);
            $agent->flush();
        }
        for ($i = 0; $i < 12; $i++) {
            $agent->trackLogin(false, $victim);
        }
        self::assertNotNull($agent->report('payment_fraud', 'HIGH', $victim));
        $agent->flush(5000);
        $s = $agent->stats();
        self::assertSame(0, $s['spooled'] + $s['dropped_send'], (string) $s['last_error']);
        self::assertSame(15, $s['sent']);
        self::assertSame(0, $s['rejected']);
        self::assertGreaterThanOrEqual(2, $s['detections'], 'the relay found the two attacks');
        self::assertContains($agent->refreshDecisions(), ['replaced', 'unchanged']);
        $blocked = (string) getenv('RISK_HUB_E2E_BLOCKED_USER');
        if ($blocked !== '') {
            self::assertSame('BLOCK', $agent->decisionFor($blocked)?->action);
        }
    }
}
