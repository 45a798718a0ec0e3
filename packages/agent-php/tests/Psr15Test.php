<?php

declare(strict_types=1);

namespace RiskHub\Tests;

use Nyholm\Psr7\Factory\Psr17Factory;
use PHPUnit\Framework\TestCase;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Server\RequestHandlerInterface;
use RiskHub\Agent;
use RiskHub\Decision;
use RiskHub\Psr15Middleware;

/** The PSR-15 middleware with nyholm/psr7, in this process and behind `php -S`. */
final class Psr15Test extends TestCase
{
    private FakeRelay $relay;
    private string $state;
    private Psr17Factory $f;

    protected function setUp(): void
    {
        $this->relay = new FakeRelay();
        $this->state = Temp::dir('state');
        $this->f = new Psr17Factory();
    }

    protected function tearDown(): void
    {
        $this->relay->stop();
    }

    private function agent(array $opts = []): Agent
    {
        return Agent::create($opts + ['application' => 'shop', 'environment' => 'test', 'token' => 'secret-token',
            'relay_url' => $this->relay->url(), 'state_dir' => $this->state, 'logger' => null]);
    }

    private function handler(?callable $inside = null): RequestHandlerInterface
    {
        return new class ($this->f, $inside) implements RequestHandlerInterface {
            public int $calls = 0;

            public function __construct(private Psr17Factory $f, private $inside)
            {
            }

            public function handle(ServerRequestInterface $request): ResponseInterface
            {
                $this->calls++;
                if ($this->inside !== null) {
                    ($this->inside)($request);
                }
                return $this->f->createResponse(200)->withBody($this->f->createStream('ok'));
            }
        };
    }

    private function request(string $method, string $uri, array $headers = [], string $body = ''): ServerRequestInterface
    {
        $r = $this->f->createServerRequest($method, $uri, ['REMOTE_ADDR' => '203.0.113.9']);
        foreach ($headers as $k => $v) {
            $r = $r->withHeader($k, $v);
        }
        parse_str($r->getUri()->getQuery(), $q);
        $cookies = [];
        foreach (array_filter(explode('; ', $r->getHeaderLine('cookie'))) as $c) {
            [$k, $v] = explode('=', $c, 2);
            $cookies[$k] = $v;
        }
        return $r->withQueryParams($q)->withCookieParams($cookies)->withBody($this->f->createStream($body));
    }

    public function testRequestEventFromPsr7(): void
    {
        $agent = $this->agent(['decisions' => false]);
        $mw = new Psr15Middleware($agent, $this->f, $this->f);
        $handler = $this->handler(function (ServerRequestInterface $r): void {
            $r->getAttribute('risk_hub.agent')->identify(['key' => 'u-1', 'identifiers' => ['email' => 'a@example.com']]);
            $r->getAttribute('risk_hub.agent')->setPathParams(['id' => '7']);
        });
        $body = '{"c":"1\' OR \'1\'=\'1","0":{"x":[]}}';
        $res = $mw->process($this->request('POST', '/orders/7?q=%3Cscript%3E&q=2', ['content-type' => 'application/json', 'cookie' => 'sid=1; t=2', 'authorization' => 'Basic x', 'user-agent' => 'sqlmap/1.7'], $body), $handler);
        self::assertSame(200, $res->getStatusCode());
        self::assertSame(1, $agent->flush());
        $ev = $this->relay->events()[0];
        self::assertSame('request', $ev['kind']);
        self::assertSame(['key' => 'u-1', 'identifiers' => ['email' => 'a@example.com']], $ev['user']);
        $r = $ev['request'];
        self::assertSame(['POST', '/orders/7?q=%3Cscript%3E&q=2', '203.0.113.9'], [$r['method'], $r['uri'], $r['ip']]);
        self::assertSame(['q' => ['<script>', '2']], $r['query']);
        self::assertSame(['c' => "1' OR '1'='1", '0' => ['x' => []]], $r['body']);
        self::assertSame(['id' => '7'], $r['path_params']);
        self::assertSame(['sid' => '1', 't' => '2'], $r['cookies']);
        self::assertSame('sqlmap/1.7', $r['headers']['user-agent']);
        self::assertArrayNotHasKey('authorization', $r['headers']);
        self::assertArrayNotHasKey('cookie', $r['headers']);
    }

    public function testBlockFromResolverSkipsTheHandler(): void
    {
        $this->relay->setDecisions([block('mallory')]);
        $agent = $this->agent(['user' => static fn (ServerRequestInterface $r) => $r->getHeaderLine('x-user') ?: null]);
        self::assertSame('replaced', $agent->refreshDecisions());
        $mw = new Psr15Middleware($agent, $this->f, $this->f);
        $h = $this->handler();
        $res = $mw->process($this->request('GET', '/orders', ['x-user' => 'mallory']), $h);
        self::assertSame(403, $res->getStatusCode());
        self::assertSame(0, $h->calls);
        self::assertSame(['error' => 'blocked', 'reason' => 'tier 3: +53 points in 24 h (above 50)'], json_decode((string) $res->getBody(), true));
        self::assertSame(200, $mw->process($this->request('GET', '/orders', ['x-user' => 'alice']), $h)->getStatusCode());
        $agent->flush();
        $kinds = array_map(static fn ($e) => $e['kind'] . ':' . ($e['user']['key'] ?? '-'), $this->relay->events());
        self::assertSame(['enforcement:mallory', 'request:mallory', 'request:alice'], $kinds);
    }

    public function testBlockFromIdentifyInsideTheHandlerAndOnBlockHook(): void
    {
        $this->relay->setDecisions([block('mallory')]);
        $agent = $this->agent(['on_block' => fn (Decision $d) => $this->f->createResponse(451)->withBody($this->f->createStream('no: ' . $d->decisionId))]);
        $agent->refreshDecisions();
        $mw = new Psr15Middleware($agent, $this->f, $this->f);
        $after = false;
        $h = $this->handler(function (ServerRequestInterface $r) use (&$after): void {
            $r->getAttribute('risk_hub.agent')->identify('mallory');
            $after = true;
        });
        $res = $mw->process($this->request('GET', '/x'), $h);
        self::assertSame(451, $res->getStatusCode());
        self::assertSame('no: d-mallory', (string) $res->getBody());
        self::assertFalse($after, 'the rest of the handler is skipped');
    }

    public function testChallengeMonitorSimulatedExpiredLetRequestsThrough(): void
    {
        $this->relay->setDecisions([block('c', 'CHALLENGE'), block('m', 'MONITOR'), block('s', 'BLOCK', ['simulated' => true]), block('e', 'BLOCK', ['until' => 1000])]);
        $agent = $this->agent(['user' => static fn (ServerRequestInterface $r) => $r->getHeaderLine('x-user') ?: null]);
        $agent->refreshDecisions();
        $mw = new Psr15Middleware($agent, $this->f, $this->f);
        foreach (['c', 'm', 's', 'e'] as $u) {
            self::assertSame(200, $mw->process($this->request('GET', '/x', ['x-user' => $u]), $this->handler())->getStatusCode(), $u);
        }
        self::assertSame(0, $agent->stats()['enforced']);
        self::assertNull($agent->decisionFor('e'), 'expired');
        self::assertSame('MONITOR', $agent->decisionFor('m')->action);
    }

    public function testChallengeHookAnswers(): void
    {
        $this->relay->setDecisions([block('c', 'CHALLENGE')]);
        $agent = $this->agent([
            'user' => static fn (ServerRequestInterface $r) => $r->getHeaderLine('x-user') ?: null,
            'on_challenge' => fn () => $this->f->createResponse(302)->withHeader('location', '/mfa'),
        ]);
        $agent->refreshDecisions();
        $res = (new Psr15Middleware($agent, $this->f, $this->f))->process($this->request('GET', '/x', ['x-user' => 'c']), $this->handler());
        self::assertSame(302, $res->getStatusCode());
        self::assertSame('/mfa', $res->getHeaderLine('location'));
    }

    public function testResolverAndHookFailuresNeverBreakRequests(): void
    {
        $this->relay->setDecisions([block('m')]);
        $agent = $this->agent(['user' => static fn () => throw new \RuntimeException('boom'), 'on_block' => static fn () => throw new \RuntimeException('hook')]);
        $agent->refreshDecisions();
        $mw = new Psr15Middleware($agent, $this->f, $this->f);
        self::assertSame(200, $mw->process($this->request('GET', '/x'), $this->handler())->getStatusCode());
        $res = $mw->process($this->request('GET', '/x'), $this->handler(static fn ($r) => $r->getAttribute('risk_hub.agent')->identify('m')));
        self::assertSame(403, $res->getStatusCode(), 'a failing on_block still blocks');
        self::assertGreaterThanOrEqual(2, $agent->stats()['errors']);
    }

    public function testQueueDropsTheOldestAndBatches(): void
    {
        $agent = $this->agent(['decisions' => false, 'max_queue' => 10, 'batch_size' => 3]);
        for ($i = 0; $i < 25; $i++) {
            $agent->report('x', 'LOW', "u$i");
        }
        self::assertSame(15, $agent->stats()['dropped_queue_full']);
        self::assertSame(10, $agent->flush());
        self::assertSame(['u15', 'u16', 'u17', 'u18', 'u19', 'u20', 'u21', 'u22', 'u23', 'u24'], array_map(static fn ($e) => $e['user']['key'], $this->relay->events()));
        self::assertCount(4, $this->relay->posts());
        self::assertNull($agent->report('', 'LOW'));
        self::assertNull($agent->report('x', 'SEVERE'));
        self::assertNull($agent->report('x', 'LOW', str_repeat('é', 129)));
        self::assertFalse($agent->trackLogin(false, '   '));
        self::assertSame(4, $agent->stats()['dropped_invalid']);
    }

    /** A relay that accepts connections and never answers: flush() returns within its bound. */
    public function testSilentRelayFlushIsBounded(): void
    {
        $silent = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($silent, false);
        $agent = Agent::create(['application' => 'shop', 'token' => 't', 'relay_url' => "http://$name", 'state_dir' => $this->state,
            'logger' => null, 'decisions' => false]);
        $agent->report('x', 'LOW', 'u');
        $t = microtime(true);
        self::assertSame(0, $agent->flush(300));
        $elapsed = microtime(true) - $t;
        self::assertGreaterThan(0, $agent->stats()['spool_bytes'], 'the event waits in the spool');
        self::assertStringContainsString('timed out', (string) $agent->stats()['last_error']);
        fclose($silent);
        // (no timed assertion: the bound is the curl timeout; printed for the record)
        fwrite(STDERR, sprintf("silent relay: flush returned after %.0f ms (timeout 300 ms)\n", $elapsed * 1000));
    }

    public function testOverRealHttpWithPhpBuiltInServer(): void
    {
        $this->relay->setDecisions([block('mallory')]);
        $app = new Server(__DIR__ . '/fixtures/psr15_app.php', ['RELAY_URL' => $this->relay->url(), 'STATE_DIR' => $this->state]);
        try {
            Server::http('GET', $app->url() . '/warm');
            eventually(fn () => is_file("{$this->state}/decisions.json") ?: null);
            self::assertSame(403, Server::http('GET', $app->url() . '/orders/1', ['x-user' => 'mallory'])['status']);
            self::assertSame(200, Server::http('GET', $app->url() . '/orders/1%27--', ['x-user' => 'bob'])['status']);
            self::assertSame(200, Server::http('POST', $app->url() . '/login', ['content-type' => 'application/x-www-form-urlencoded'], 'username=carol&password=no')['status']);
            $evs = eventually(fn () => count($this->relay->events()) >= 6 ? $this->relay->events() : null);
            self::assertNotNull($evs);
            $order = array_values(array_filter($evs, static fn ($e) => $e['kind'] === 'request' && ($e['user']['key'] ?? '') === 'bob'))[0];
            self::assertSame(['id' => "1'--"], $order['request']['path_params']);
            $login = array_values(array_filter($evs, static fn ($e) => $e['kind'] === 'login'))[0];
            self::assertSame(['carol', false], [$login['user']['key'], $login['success']]);
            $loginReq = array_values(array_filter($evs, static fn ($e) => $e['kind'] === 'request' && $e['request']['uri'] === '/login'))[0];
            self::assertSame(['username' => 'carol', 'password' => 'no'], $loginReq['request']['body']);
        } finally {
            $app->stop();
        }
    }
}
