<?php

declare(strict_types=1);

namespace RiskHub\Tests;

use PHPUnit\Framework\TestCase;
use RiskHub\Agent;
use RiskHub\ConfigException;
use RiskHub\Identity;
use RiskHub\RequestFacts;

final class UnitTest extends TestCase
{
    public function testIdentifiers(): void
    {
        self::assertTrue(Identity::isIdentifier('shop'));
        self::assertTrue(Identity::isIdentifier(str_repeat('a', 64)));
        self::assertFalse(Identity::isIdentifier(str_repeat('a', 65)));
        self::assertFalse(Identity::isIdentifier('shop/eu'));
        self::assertFalse(Identity::isIdentifier('-shop'));
        self::assertFalse(Identity::isIdentifier("shop\n"));
        self::assertFalse(Identity::isIdentifier(''));
    }

    public function testUserKeys(): void
    {
        self::assertNull(Identity::problem('shop', 'production', 'u-1'));
        self::assertNull(Identity::problem('shop', 'production', str_repeat('é', 128)));
        self::assertStringContainsString('above the limit of 256', (string) Identity::problem('shop', 'production', str_repeat('é', 129)));
        self::assertStringContainsString('non-blank', (string) Identity::problem('shop', 'production', '  '));
        self::assertStringContainsString('application_id', (string) Identity::problem('a b', 'production', 'u'));
        self::assertStringContainsString('environment', (string) Identity::problem('shop', 'prod/eu', 'u'));
    }

    public function testEventIdsAreUuidV4(): void
    {
        $ids = [];
        for ($i = 0; $i < 200; $i++) {
            $ids[] = $id = Identity::eventId();
            self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $id);
        }
        self::assertCount(200, array_unique($ids));
    }

    public function testTruncationNeverSplitsACharacter(): void
    {
        self::assertSame('éé', Identity::truncateUtf8('ééé', 5));
        self::assertSame('abc', Identity::truncateUtf8('abc', 5));
    }

    public function testIdentifiersBounded(): void
    {
        $ids = [];
        for ($i = 0; $i < 20; $i++) {
            $ids["n$i" . str_repeat('x', 70)] = str_repeat('v', 300);
        }
        $out = Identity::boundIdentifiers($ids);
        self::assertCount(16, $out);
        foreach ($out as $k => $v) {
            self::assertLessThanOrEqual(64, strlen((string) $k));
            self::assertSame(256, strlen($v));
        }
    }

    /** The shared vectors (test/vectors/identity.json, written with the relay): every agent agrees. */
    public function testSharedIdentityVectors(): void
    {
        $path = vectorsDir() . '/identity.json';
        if (!is_file($path)) {
            self::markTestSkipped('test/vectors/identity.json is not in this checkout yet');
        }
        $vectors = json_decode((string) file_get_contents($path), true);
        $vectors = $vectors['vectors'] ?? $vectors;
        self::assertNotEmpty($vectors);
        foreach ($vectors as $v) {
            $problem = Identity::problem($v['application_id'], $v['environment'], $v['user_key']);
            self::assertSame($v['valid'], $problem === null, json_encode($v) . ': ' . $problem);
        }
    }

    /** @return iterable<string,array{0:array<string,mixed>,1:string}> */
    public static function badOptions(): iterable
    {
        yield 'application with /' => [['application' => 'shop/eu'], 'option application must match'];
        yield 'no application' => [['application' => null], 'option application must match'];
        yield 'environment' => [['environment' => 'prod env'], 'option environment must match'];
        yield 'empty token' => [['token' => ''], 'option token'];
        yield 'ftp url' => [['relay_url' => 'ftp://x'], 'option relay_url'];
        yield 'not a url' => [['relay_url' => 'not a url'], 'option relay_url'];
        yield 'max_queue' => [['max_queue' => -5], 'option max_queue must be a positive integer, got -5'];
        yield 'batch_size' => [['batch_size' => 501], 'option batch_size must be at most 500'];
        yield 'timeout' => [['http_timeout_ms' => 0], 'option http_timeout_ms'];
        yield 'hook' => [['on_block' => 'no such function'], 'option on_block must be callable'];
        yield 'bool' => [['decisions' => 'yes'], 'option decisions must be true or false'];
        yield 'unknown' => [['brokers' => 'kafka:9092'], 'unknown option brokers'];
        yield 'send_mode' => [['send_mode' => 'udp'], "option send_mode must be 'auto', 'apcu', 'spool' or 'direct'"];
    }

    /** send_mode 'apcu' without APCu enabled (the CLI's default: apc.enable_cli=0) is refused at start-up; 'auto' is the spool under the CLI. */
    public function testApcuModeNeedsApcu(): void
    {
        self::assertSame('spool', Agent::create(['application' => 'shop', 'token' => 't0k', 'logger' => null])->options->sendMode);
        if (function_exists('apcu_enabled') && apcu_enabled()) {
            self::markTestSkipped('APCu is enabled in this CLI');
        }
        try {
            Agent::create(['application' => 'shop', 'token' => 't0k', 'logger' => null, 'send_mode' => 'apcu']);
            self::fail('no ConfigException');
        } catch (ConfigException $e) {
            self::assertStringStartsWith("risk-hub agent: option send_mode 'apcu' needs the APCu extension", $e->getMessage());
        }
        self::assertSame('spool', Agent::create(['application' => 'shop', 'token' => 't0k', 'logger' => null])->options->sendMode);
    }

    /**
     * Where APCu is enabled the validated options are kept there (PHP validates them again on every
     * request otherwise): the same Options as validating them, callables checked every time, options
     * that differ never sharing an entry, a bounded number of entries.
     */
    public function testValidatedOptionsAreCachedInApcu(): void
    {
        if (!extension_loaded('apcu')) {
            self::markTestSkipped('ext-apcu is not installed');
        }
        $script = __DIR__ . '/fixtures/options_cache.php';
        $run = static function (string $enable) use ($script): array {
            $env = getenv('RISK_HUB_AUTOLOAD') ? 'RISK_HUB_AUTOLOAD=' . escapeshellarg((string) getenv('RISK_HUB_AUTOLOAD')) . ' ' : '';
            $json = shell_exec($env . escapeshellarg(PHP_BINARY) . " -d apc.enable_cli=$enable " . escapeshellarg($script));
            $doc = json_decode((string) $json, true);
            self::assertIsArray($doc, (string) $json);
            return $doc;
        };
        $cached = $run('1');
        $plain = $run('0');
        self::assertTrue($cached['apcu']);
        self::assertFalse($plain['apcu']);
        self::assertSame($plain['variants'], $cached['variants'], 'the same options with and without the cache');
        foreach ($cached['variants'] as $name => $v) {
            self::assertTrue($v['same'], "$name: the cached options are the validated ones");
        }
        self::assertSame(7, $cached['variants']['more']['first']['maxQueue']);
        self::assertSame("nope,\n\"x\"=1", $cached['variants']['block_body']['first']['blockBody']);
        self::assertSame('', $cached['variants']['empty_body']['first']['blockBody']);
        self::assertStringContainsString('option max_queue must be a positive integer', $cached['variants']['string_int']['first']['error']);
        self::assertStringEndsWith('/risk-hub-shop-production', $cached['variants']['default_dir']['first']['stateDir']);
        self::assertSame(rtrim(sys_get_temp_dir(), '/'), $cached['variants']['dir_like_default']['first']['stateDir']);
        self::assertStringContainsString('option on_block must be callable', $cached['bad_hook']);
        self::assertGreaterThanOrEqual(1, $cached['entries']);
        self::assertLessThanOrEqual(8, $cached['entries']);
    }

    /** @dataProvider badOptions */
    public function testInvalidOptionsFailWithOneClearLine(array $override, string $expected): void
    {
        try {
            Agent::create($override + ['application' => 'shop', 'token' => 't0k', 'logger' => null]);
            self::fail('no ConfigException');
        } catch (ConfigException $e) {
            self::assertStringContainsString($expected, $e->getMessage());
            self::assertStringStartsWith('risk-hub agent: ', $e->getMessage());
            self::assertStringNotContainsString("\n", $e->getMessage());
            self::assertInstanceOf(\InvalidArgumentException::class, $e);
        }
    }

    /** The sender of the apcu mode maps a request's capture into the event the request would have built; anything else is dropped, counted. */
    public function testCapturedRequestMapsToTheSameEvent(): void
    {
        $agent = Agent::create(['application' => 'shop', 'token' => 't0k', 'logger' => null]);
        $server = ['REQUEST_METHOD' => 'GET', 'REQUEST_URI' => '/s?q=1', 'QUERY_STRING' => 'q=1', 'REMOTE_ADDR' => '203.0.113.9', 'HTTP_USER_AGENT' => 'curl/8.5', 'HTTP_COOKIE' => 'sid=abc'];
        $agent->beginGlobals($server);
        $agent->setPathParams(['id' => '7']);
        $expected = json_encode($agent->currentRelayRequest(), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        $json = $agent->mapRaw([1700000000000, ['key' => 'u-1', 'identifiers' => ['login' => 'al']], ['id' => '7'], $server, null]);
        $event = json_decode((string) $json, true);
        self::assertSame('request', $event['kind']);
        self::assertSame(1700000000000, $event['at']);
        self::assertSame(['key' => 'u-1', 'identifiers' => ['login' => 'al']], $event['user']);
        self::assertSame('{"key":"u-1","identifiers":{}}', json_encode(json_decode((string) $agent->mapRaw([1, ['key' => 'u-1', 'identifiers' => []], [], $server, null]))->user));
        self::assertSame($expected, json_encode(json_decode((string) $json)->request, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
        foreach ([[], [1, null, [], $server], ['x', null, [], $server, null], [1, ['key' => 'u'], [], $server, null], [1, null, [], $server, 5]] as $bad) {
            self::assertNull($agent->mapRaw($bad));
        }
        self::assertSame(5, $agent->stats()['dropped_send']);
    }

    public function testRequestFactsQueryHeadersCookies(): void
    {
        $f = new RequestFacts();
        $r = $f->fromGlobals([
            'REQUEST_METHOD' => 'GET', 'REQUEST_URI' => '/s?q=%27%20OR%201%3D1--&q=two&0=zero', 'QUERY_STRING' => 'q=%27%20OR%201%3D1--&q=two&0=zero',
            'REMOTE_ADDR' => '203.0.113.9', 'HTTP_USER_AGENT' => 'curl/8.5', 'HTTP_COOKIE' => 'sid=abc; theme=dark', 'HTTP_AUTHORIZATION' => 'Bearer x',
        ], null);
        $json = json_decode((string) json_encode($r), true);
        self::assertSame(['q' => ["' OR 1=1--", 'two'], '0' => ['zero']], $json['query']);
        self::assertSame('{"q":["\' OR 1=1--","two"],"0":["zero"]}', json_encode($r['query'], JSON_UNESCAPED_SLASHES));
        self::assertSame(['user-agent' => 'curl/8.5'], $json['headers']);
        self::assertSame(['sid' => 'abc', 'theme' => 'dark'], $json['cookies']);
        self::assertSame('{}', json_encode($r['path_params']));
        self::assertNull($r['body']);
    }

    public function testBodiesBounded(): void
    {
        $f = new RequestFacts();
        $deep = str_repeat('[', 5000) . str_repeat(']', 5000);
        self::assertNull($f->build('POST', '/', '', ['content-type' => 'application/json'], '', $deep, null, [])['body']);
        self::assertTrue($f->truncated);
        $nested = '"leaf"';
        for ($i = 0; $i < 25; $i++) {
            $nested = '{"k":' . $nested . '}';
        }
        $body = json_decode((string) json_encode($f->build('POST', '/', '', ['content-type' => 'application/json'], '', $nested, null, [])['body']), true);
        $depth = 0;
        while (is_array($body)) {
            $depth++;
            $body = $body['k'];
        }
        self::assertSame(20, $depth);
        $r = $f->build('POST', '/', '', ['content-type' => 'application/json'], '', '{"__proto__":{"x":1},"constructor":1,"":2,"7":[1,{}]}', null, []);
        self::assertSame('{"__proto__":{"x":1},"constructor":1,"":2,"7":[1,{}]}', json_encode($r['body']));
        $r = $f->build('POST', '/', '', ['content-type' => 'application/json'], '', json_encode(['a' => str_repeat('é', 10000)]), null, []);
        self::assertSame(16384, strlen($r['body']['a']));
        $r = $f->build('POST', '/', '', ['content-type' => 'application/json'], '', "{\"a\":\"\xff\xfe\"}", null, []);
        self::assertSame('{"a":"\ufffd\ufffd"}', json_encode($r['body']));
        $r = $f->build('POST', '/', '', ['content-type' => 'application/x-www-form-urlencoded'], '', 'a.b=1&c[d]=2&e=3&e=4', null, []);
        self::assertSame('{"a.b":"1","c[d]":"2","e":["3","4"]}', json_encode($r['body']));
        $r = $f->build('GET', "/\xff", '', [], "%ff=%E0%A4%A", null, null, []);
        self::assertNotFalse(json_encode($r, JSON_INVALID_UTF8_SUBSTITUTE));
    }
}
