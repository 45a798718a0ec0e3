<?php

declare(strict_types=1);

namespace RiskHub\Tests;

use PHPUnit\Framework\TestCase;

/** A plain PHP app served by `php -S`, the agent started in it, a fake relay in another `php -S`. */
final class PlainAppTest extends TestCase
{
    private FakeRelay $relay;
    private ?Server $app = null;
    private string $state;

    protected function setUp(): void
    {
        $this->relay = new FakeRelay();
        $this->state = Temp::dir('state');
    }

    protected function tearDown(): void
    {
        $this->app?->stop();
        $this->relay->stop();
    }

    private function app(array $opts = [], ?string $relayUrl = null): Server
    {
        return $this->app = new Server(__DIR__ . '/fixtures/plain_app.php', [
            'RELAY_URL' => $relayUrl ?? $this->relay->url(), 'STATE_DIR' => $this->state, 'AGENT_OPTS' => json_encode($opts + ['send_mode' => 'direct']),
        ]);
    }

    /** Moves one of the agent's shared timers (state_dir/timers.json), as time passing would. */
    private function setTimer(string $name, float $value): void
    {
        $f = "{$this->state}/timers.json";
        $t = is_file($f) ? (array) json_decode((string) file_get_contents($f), true) : [];
        $t[$name] = $value;
        file_put_contents($f, json_encode($t));
    }

    private function get(string $path, array $headers = []): array
    {
        return Server::http('GET', $this->app->url() . $path, $headers);
    }

    private function requestEvents(): array
    {
        return array_values(array_filter($this->relay->events(), static fn ($e) => $e['kind'] === 'request'));
    }

    public function testRequestEventCarriesWhatTheRelayInspects(): void
    {
        $this->app();
        $body = json_encode(['comment' => '<script>alert(1)</script>', 'n' => [1, ['x' => true]], 'm' => (object) []]);
        $res = Server::http('POST', $this->app->url() . '/comments?q=%27%20OR%201%3D1--&q=two&tag=a', [
            'content-type' => 'application/json', 'user-agent' => 'curl/8.5', 'cookie' => 'sid=abc; theme=dark', 'authorization' => 'Bearer secret',
        ], $body);
        self::assertSame(200, $res['status']);
        self::assertSame(['received' => strlen($body)], json_decode($res['body'], true), 'the app still reads the whole body');
        $ev = eventually(fn () => $this->requestEvents()[0] ?? null);
        self::assertNotNull($ev);
        self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4/', $ev['id']);
        self::assertIsInt($ev['at']);
        self::assertNull($ev['user']);
        $r = $ev['request'];
        self::assertSame('POST', $r['method']);
        self::assertSame('/comments?q=%27%20OR%201%3D1--&q=two&tag=a', $r['uri']);
        self::assertSame('127.0.0.1', $r['ip']);
        self::assertSame('curl/8.5', $r['headers']['user-agent']);
        self::assertSame('application/json', $r['headers']['content-type']);
        self::assertArrayNotHasKey('cookie', $r['headers']);
        self::assertArrayNotHasKey('authorization', $r['headers']);
        self::assertSame(['q' => ["' OR 1=1--", 'two'], 'tag' => ['a']], $r['query']);
        self::assertSame(['comment' => '<script>alert(1)</script>', 'n' => [1, ['x' => true]], 'm' => []], $r['body']);
        self::assertSame(['sid' => 'abc', 'theme' => 'dark'], $r['cookies']);
        $post = $this->relay->posts()[0];
        self::assertSame('Bearer secret-token', $post['auth']);
        self::assertSame('shop', $post['body']['application_id']);
        self::assertSame('test', $post['body']['environment']);
        self::assertSame('risk-hub-php', $post['body']['agent']['name']);
    }

    public function testFormBodyPathParamsIdentifyLoginsCustom(): void
    {
        $this->app();
        $this->get('/orders/42%20OR%201=1', ['x-user' => 'u-1001']);
        self::assertSame(401, Server::http('POST', $this->app->url() . '/login', ['content-type' => 'application/x-www-form-urlencoded'], 'username=carol&password=x')['status']);
        self::assertSame(200, Server::http('POST', $this->app->url() . '/login', ['content-type' => 'application/x-www-form-urlencoded'], 'username=alice&password=wonderland')['status']);
        Server::http('POST', $this->app->url() . '/pay', ['x-user' => 'bob']);
        $events = eventually(fn () => count($this->relay->events()) >= 7 ? $this->relay->events() : null);
        self::assertNotNull($events);
        $order = array_values(array_filter($events, static fn ($e) => $e['kind'] === 'request' && str_starts_with($e['request']['uri'], '/orders')))[0];
        self::assertSame(['id' => '42 OR 1=1'], $order['request']['path_params']);
        self::assertSame(['key' => 'u-1001', 'identifiers' => ['login' => 'u-1001']], $order['user']);
        $logins = array_values(array_filter($events, static fn ($e) => $e['kind'] === 'login'));
        self::assertCount(2, $logins);
        self::assertFalse($logins[0]['success']);
        self::assertSame('carol', $logins[0]['user']['key']);
        self::assertSame(['method' => 'POST', 'uri' => '/login', 'ip' => '127.0.0.1'], $logins[0]['request']);
        self::assertTrue($logins[1]['success']);
        $loginReqs = array_values(array_filter($events, static fn ($e) => $e['kind'] === 'request' && $e['request']['uri'] === '/login'));
        self::assertSame(['username' => 'carol', 'password' => 'x'], $loginReqs[0]['request']['body']);
        self::assertNull($loginReqs[0]['user']);
        self::assertSame('alice', $loginReqs[1]['user']['key'], 'a successful login identifies the request');
        $custom = array_values(array_filter($events, static fn ($e) => $e['kind'] === 'custom'))[0];
        self::assertSame(['payment_fraud', 'HIGH', null, 'bob'], [$custom['type'], $custom['severity'], $custom['points'], $custom['user']['key']]);
    }

    public function testBlockDecisionAnswers403AndReportsTheEnforcement(): void
    {
        $this->relay->setDecisions([block('mallory')]);
        $this->app();
        // The first request finds no cache and refreshes it after its response; later ones enforce.
        $this->get('/search?q=1');
        self::assertNotNull(eventually(fn () => is_file("{$this->state}/decisions.json") ?: null));
        $res = $this->get('/search?q=1', ['x-user' => 'mallory']);
        self::assertSame(403, $res['status']);
        self::assertSame(['error' => 'blocked', 'reason' => 'tier 3: +53 points in 24 h (above 50)'], json_decode($res['body'], true));
        self::assertSame('no-store', $res['headers']['cache-control']);
        self::assertSame(200, $this->get('/search?q=1', ['x-user' => 'alice'])['status']);
        $enf = eventually(fn () => array_values(array_filter($this->relay->events(), static fn ($e) => $e['kind'] === 'enforcement'))[0] ?? null);
        self::assertSame(['BLOCK', 'd-mallory', 'mallory', '/search?q=1'], [$enf['action'], $enf['decision_id'], $enf['user']['key'], $enf['request']['uri']]);
        self::assertNotNull(eventually(fn () => array_filter($this->requestEvents(), static fn ($e) => ($e['user']['key'] ?? null) === 'mallory') ?: null), 'the blocked request is still reported');
        self::assertSame('environment=test', $this->relay->polls()[0]['query']);
    }

    public function testChallengeMonitorSimulatedExpired(): void
    {
        $this->relay->setDecisions([block('c', 'CHALLENGE'), block('m', 'MONITOR'), block('s', 'BLOCK', ['simulated' => true]), block('e', 'BLOCK', ['until' => 1000])]);
        $this->app();
        $this->get('/search');
        eventually(fn () => is_file("{$this->state}/decisions.json") ?: null);
        foreach (['c', 'm', 's', 'e'] as $u) {
            self::assertSame(200, $this->get('/search', ['x-user' => $u])['status'], $u);
        }
        $this->get('/search');
        self::assertSame([], array_values(array_filter($this->relay->events(), static fn ($e) => $e['kind'] === 'enforcement')));
    }

    public function testChallengeHook(): void
    {
        $this->relay->setDecisions([block('c', 'CHALLENGE')]);
        $this->app(['on_challenge' => 'redirect']);
        $this->get('/search');
        eventually(fn () => is_file("{$this->state}/decisions.json") ?: null);
        $res = $this->get('/search', ['x-user' => 'c']);
        self::assertSame(302, $res['status']);
        self::assertSame('/mfa', $res['headers']['location']);
    }

    public function testDecisionsPolledWithIfNoneMatchAndKeptWhenTheRelayGoesAway(): void
    {
        $this->relay->setDecisions([block('mallory')], '7');
        $this->app(['poll_interval_ms' => 1000]);
        $this->get('/search');
        eventually(fn () => is_file("{$this->state}/decisions.json") ?: null);
        // Make the cache due again (file times are whole seconds): the next poll carries the version.
        $this->setTimer('checked_at', microtime(true) - 5);
        $this->get('/search');
        self::assertNotNull(eventually(fn () => array_filter($this->relay->polls(), static fn ($p) => $p['if_none_match'] === '"7"') ?: null));
        $this->relay->stop();
        $this->setTimer('checked_at', microtime(true) - 5);
        $this->get('/search');
        self::assertSame(403, $this->get('/search', ['x-user' => 'mallory'])['status']);
        $this->relay = new FakeRelay(); // tearDown stops it
    }

    public function testHostileRequestsNeverCrashTheApp(): void
    {
        $this->app();
        $post = fn (string $type, string $body) => Server::http('POST', $this->app->url() . '/comments', ['content-type' => $type], $body)['status'];
        self::assertSame(200, $post('application/json', str_repeat('[', 5000) . str_repeat(']', 5000)));
        self::assertSame(200, $post('application/json', "{\"a\":\"\xff\xfe\"}"));
        self::assertSame(200, $post('application/json', '{"__proto__":{"x":1},"constructor":1}'));
        self::assertSame(200, $post('application/json', json_encode(['a' => str_repeat('x', 70000)])));
        self::assertSame(200, $this->get('/search?q=%E0%A4%A&%ff=%ff')['status']);
        self::assertSame(200, $post('application/x-www-form-urlencoded', str_repeat('a[', 500) . ']=1'));
        $evs = eventually(fn () => count($this->requestEvents()) >= 6 ? $this->requestEvents() : null);
        self::assertNotNull($evs, 'every hostile request reported');
        self::assertNull($evs[0]['request']['body']);
        self::assertSame(['a' => "\u{FFFD}\u{FFFD}"], $evs[1]['request']['body']);
        self::assertSame(['__proto__' => ['x' => 1], 'constructor' => 1], $evs[2]['request']['body']);
        self::assertNull($evs[3]['request']['body'], 'over 64 KiB: no body');
        self::assertArrayHasKey('q', $evs[4]['request']['query']);
    }

    public function testRelayDownRequestsAnsweredEventsSpooledThenSent(): void
    {
        $down = 'http://127.0.0.1:' . Server::freePort();
        $this->app(['backoff_ms' => 1000], $down);
        for ($i = 0; $i < 5; $i++) {
            self::assertSame(200, $this->get("/search?q=$i")['status']);
        }
        self::assertNotNull(eventually(fn () => is_file("{$this->state}/spool.jsonl") && count(file("{$this->state}/spool.jsonl")) === 5 ?: null));
        // The relay is back (same state dir): once the backoff is over, the next request sends the spool too.
        $this->app->stop();
        $this->app();
        $this->setTimer('backoff_until', 0);
        $this->get('/search?q=back');
        $uris = eventually(fn () => count($this->requestEvents()) === 6 ? array_map(static fn ($e) => $e['request']['uri'], $this->requestEvents()) : null);
        self::assertSame(['/search?q=0', '/search?q=1', '/search?q=2', '/search?q=3', '/search?q=4', '/search?q=back'], $uris);
        // The sender empties the spool after the relay's answer: the relay may see the events first.
        $spool = "{$this->state}/spool.jsonl";
        $size = eventually(static function () use ($spool) {
            clearstatcache();
            return filesize($spool) === 0 ? 'empty' : null;
        });
        self::assertSame('empty', $size);
    }

    /** Spool mode (the default): requests append; one request per linger_ms sends the batch, in order. */
    public function testSpoolModeBatchesAcrossRequests(): void
    {
        $this->app(['send_mode' => 'spool', 'linger_ms' => 60000]);
        $this->get('/search?q=first');
        for ($i = 0; $i < 10; $i++) {
            $this->get("/search?q=$i");
        }
        self::assertNotNull(eventually(fn () => count(file("{$this->state}/spool.jsonl")) === 11 ?: null), 'they wait for linger_ms');
        self::assertSame([], $this->relay->posts());
        // linger_ms has passed for the oldest (its "at" is moved back): the next request sends all twelve in one POST.
        $spool = (string) file_get_contents("{$this->state}/spool.jsonl");
        file_put_contents("{$this->state}/spool.jsonl", preg_replace('/"at":\d+/', '"at":1000', $spool, 1));
        $this->get('/search?q=last');
        $uris = eventually(fn () => count($this->requestEvents()) === 12 ? array_map(static fn ($e) => $e['request']['uri'], $this->requestEvents()) : null);
        self::assertSame(array_merge(['/search?q=first'], array_map(static fn ($i) => "/search?q=$i", range(0, 9)), ['/search?q=last']), $uris);
        self::assertCount(1, $this->relay->posts(), 'one POST for the twelve');
        self::assertSame(0, filesize("{$this->state}/spool.jsonl"));
    }

    /**
     * APCu mode (the default where APCu is enabled): requests append to shared memory; one request per
     * linger_ms sends what waits, in order, once; a failing relay leaves it waiting, nothing lost or doubled.
     */
    public function testApcuModeBatchesInOrderAndKeepsEventsWhileTheRelayFails(): void
    {
        if (!extension_loaded('apcu')) {
            self::markTestSkipped('ext-apcu is not installed');
        }
        $this->app(['send_mode' => 'apcu', 'linger_ms' => 60000, 'backoff_ms' => 1]);
        $this->get('/search?q=first'); // nothing sent yet: due at once
        self::assertNotNull(eventually(fn () => count($this->requestEvents()) === 1 ?: null));
        for ($i = 0; $i < 5; $i++) {
            $this->get("/search?q=$i");
        }
        $stats = json_decode($this->get('/stats')['body'], true);
        self::assertSame('apcu', $stats['send_mode']);
        self::assertSame(5, $stats['apcu_slots'], 'they wait for linger_ms');
        self::assertSame(0, $stats['spool_bytes'], 'no file written');
        self::assertCount(1, $this->relay->posts());
        $this->relay->setStatus(503);
        $this->get('/flush');
        self::assertNotNull(eventually(fn () => count($this->relay->posts()) === 2 ?: null), 'tried, refused');
        $this->relay->setStatus(202);
        // A /flush within backoff_ms (1 ms) of the refusal leaves the relay alone: try again, bounded.
        $evs = null;
        for ($i = 0; $i < 50 && $evs === null; $i++) {
            $this->get('/flush');
            $evs = count($this->requestEvents()) >= 9 ? $this->requestEvents() : null;
        }
        self::assertNotNull($evs, 'sent once the relay is back');
        $uris = array_map(static fn ($e) => $e['request']['uri'], $evs);
        self::assertSame(['/search?q=first', '/search?q=0', '/search?q=1', '/search?q=2', '/search?q=3', '/search?q=4', '/stats', '/flush'], array_slice($uris, 0, 8));
        self::assertSame([], array_diff(array_slice($uris, 8), ['/flush']));
        self::assertSame(count($evs), count(array_unique(array_column($evs, 'id'))), 'each event once');
        $refused = array_values(array_filter($this->relay->posts(), static fn ($p) => $p['status'] === 503))[0]['body']['events'];
        self::assertNotEmpty($refused);
        self::assertSame([], array_diff(array_column($refused, 'id'), array_column($evs, 'id')), 'sent again as they were refused: the same ids (the relay may have taken them)');
        self::assertSame(1, count(array_filter($this->relay->posts(), static fn ($p) => $p['status'] === 202 && count($p['body']['events']) >= 8)), 'one POST for what waited');
        self::assertFalse(is_file("{$this->state}/spool.jsonl"));
    }

    /**
     * APCu mode keeps what a plain PHP request's event is made of and the request that sends the queue
     * builds the event: the events must be the ones the other modes build in the request (ids and
     * times aside), bounds, hostile bodies, users and route parameters included.
     */
    public function testApcuModeSendsTheEventsDirectModeSends(): void
    {
        if (!extension_loaded('apcu')) {
            self::markTestSkipped('ext-apcu is not installed');
        }
        $deep = str_repeat('{"k":', 30) . '1' . str_repeat('}', 30);
        $requests = [
            ['POST', '/comments?q=%27%20OR%201%3D1--&q=two&a.b=1&c[d]=2;e=3', ['content-type' => 'application/json', 'user-agent' => 'curl/8.5', 'cookie' => 'sid=abc; theme=dark;  x=%41', 'authorization' => 'Bearer secret'],
                json_encode(['comment' => '<script>alert(1)</script>', 'n' => [1, ['x' => true]], 'm' => (object) [], 'o' => ['0' => 'zero'], 'f' => 1.0, '__proto__' => 'p'])],
            ['POST', '/comments', ['content-type' => 'application/json; charset=utf-8'], "{\"bad\":\"\xff\xfe\",\"s\":\"" . str_repeat('a', 20000) . '"}'],
            ['POST', '/comments', ['content-type' => 'application/vnd.api+json'], $deep],
            ['POST', '/comments', ['content-type' => 'application/json'], '{"big":"' . str_repeat('b', 70000) . '"}'],
            ['POST', '/comments', ['content-type' => 'application/json'], '{not json'],
            ['GET', '/orders/42%20OR%201=1?x=%ZZ&&y', ['x-user' => 'u-1001', 'x-long' => str_repeat('h', 17000), 'x_under' => 'u'], null],
            ['POST', '/login', ['content-type' => 'application/x-www-form-urlencoded'], 'username=carol&password=x&a=1&a=2'],
            ['POST', '/login', ['content-type' => 'application/x-www-form-urlencoded'], 'username=alice&password=wonderland'],
            ['POST', '/pay', ['x-user' => 'bob'], ''],
            ['GET', '/search?q=%E2%82%AC&q=' . rawurlencode("\xff"), ['accept' => 'text/html', 'cookie' => 'a=1; a=2; =x; b'], null],
            ['GET', '/flush', [], null], // what waits for linger_ms is sent now
        ];
        $runs = [];
        foreach (['direct', 'apcu'] as $mode) {
            $this->relay->stop();
            $this->relay = new FakeRelay();
            $this->app?->stop();
            $this->app(['send_mode' => $mode]);
            foreach ($requests as [$method, $path, $headers, $body]) {
                Server::http($method, $this->app->url() . $path, $headers, $body);
            }
            $events = eventually(fn () => count($this->relay->events()) >= 14 ? $this->relay->events() : null);
            self::assertNotNull($events, "$mode: every event sent");
            $runs[$mode] = array_map(static function (array $e): array {
                self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $e['id']);
                self::assertIsInt($e['at']);
                unset($e['id'], $e['at'], $e['request']['headers']['host']);
                return $e;
            }, $events);
        }
        self::assertCount(14, $runs['direct']);
        self::assertSame($runs['direct'], $runs['apcu']);
    }

    public function test400IsNotRetried(): void
    {
        $this->relay->setStatus(400);
        $this->app();
        $this->get('/search');
        $this->get('/search');
        self::assertNotNull(eventually(fn () => count($this->relay->posts()) >= 2 ?: null));
        self::assertFalse(is_file("{$this->state}/spool.jsonl") && filesize("{$this->state}/spool.jsonl") > 0);
    }
}
