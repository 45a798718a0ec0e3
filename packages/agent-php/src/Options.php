<?php

declare(strict_types=1);

namespace RiskHub;

/** The agent's options, validated once (ConfigException, one line) and read-only afterwards. */
final class Options
{
    public const DEFAULTS = [
        'relay_url' => 'http://127.0.0.1:8787',
        'environment' => 'production',
        'max_queue' => 10000,          // events held in memory by one request / worker, the oldest dropped beyond
        'batch_size' => 500,           // events per POST /v1/events (the relay's bound)
        'http_timeout_ms' => 1000,     // connect + transfer of one relay call made after the response was flushed
        'inline_timeout_ms' => 250,    // the same when the response cannot be flushed first (no fastcgi_finish_request)
        'decisions' => true,           // read and enforce decisions
        'poll_interval_ms' => 1000,    // how old the shared decisions cache may get before a request refreshes it
        'state_dir' => null,           // where the decisions cache and the spool live (default: sys_get_temp_dir()/risk-hub-<app>-<env>)
        'spool_max_bytes' => 4194304,  // events that could not be sent wait in a spool file of at most this size
        'backoff_ms' => 2000,
        'send_mode' => 'auto',         // 'apcu': every request appends to a queue in APCu shared memory, one request per linger_ms sends it; 'spool': the same with a spool file; 'direct': each request sends its own; 'auto': 'apcu' when APCu is enabled (not under the CLI), else 'spool'
        'linger_ms' => 100,            // apcu and spool modes: how long events may wait for a batch
        'block_status' => 403,
        'block_body' => null,          // null: {"error":"blocked","reason":<the decision's reason>}
        'on_block' => null,            // callable(Decision, ?object $request): ?response — PSR-15: a ResponseInterface; plain PHP: anything, then exit
        'on_challenge' => null,        // callable(Decision, ?object $request): ?response; null lets the request go on
        'user' => null,                // callable(ServerRequestInterface|null): string|array|null, run before the app (PSR-15)
        'path_params' => null,         // callable(ServerRequestInterface): array (PSR-15 route parameters)
        'skip' => null,                // callable(): bool, requests not to report
        'logger' => 'error_log',       // 'error_log', a callable(string), or null
        'exit_on_block' => true,       // plain PHP: after answering a blocked request, exit
    ];

    public readonly string $application;
    public readonly string $token;
    public readonly string $environment;
    public readonly string $relayUrl;
    public readonly int $maxQueue;
    public readonly int $batchSize;
    public readonly int $httpTimeoutMs;
    public readonly int $inlineTimeoutMs;
    public readonly bool $decisions;
    public readonly int $pollIntervalMs;
    public readonly string $stateDir;
    public readonly int $spoolMaxBytes;
    public readonly int $backoffMs;
    public readonly string $sendMode;
    public readonly int $lingerMs;
    public readonly int $blockStatus;
    public readonly ?string $blockBody;
    /** @var callable|null */
    public readonly mixed $onBlock;
    /** @var callable|null */
    public readonly mixed $onChallenge;
    /** @var callable|null */
    public readonly mixed $user;
    /** @var callable|null */
    public readonly mixed $pathParams;
    /** @var callable|null */
    public readonly mixed $skip;
    public readonly mixed $logger;
    public readonly bool $exitOnBlock;

    /** @param array<string,mixed> $opts */
    public function __construct(array $opts)
    {
        $unknown = array_diff(array_keys($opts), array_keys(self::DEFAULTS), ['application', 'token']);
        if ($unknown !== []) {
            self::fail('unknown option ' . reset($unknown));
        }
        $o = $opts + self::DEFAULTS;
        foreach (['application', 'environment'] as $k) {
            $v = $o[$k] ?? null;
            if (!Identity::isIdentifier($v)) {
                $shown = is_string($v) ? json_encode(substr($v, 0, 80), JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE) : get_debug_type($v);
                self::fail("option $k must match " . Identity::IDENTIFIER_RULE . " (1-64 letters, digits, '.', '_', '-'), got $shown");
            }
        }
        $this->application = $o['application'];
        $this->environment = $o['environment'];
        if (!is_string($o['token'] ?? null) || preg_match('/^\S+$/D', $o['token']) !== 1) {
            self::fail("option token must be a non-empty string without spaces (the relay's token of {$this->application})");
        }
        $this->token = $o['token'];
        $url = $o['relay_url'];
        $parts = is_string($url) ? parse_url($url) : false;
        if ($parts === false || !in_array($parts['scheme'] ?? '', ['http', 'https'], true) || ($parts['host'] ?? '') === '' || isset($parts['query'])) {
            self::fail('option relay_url must be an http(s) URL like http://127.0.0.1:8787, got ' . (is_string($url) ? json_encode($url, JSON_UNESCAPED_SLASHES) : get_debug_type($url)));
        }
        $this->relayUrl = rtrim($url, '/');
        $this->maxQueue = self::positiveInt($o, 'max_queue');
        $this->batchSize = self::positiveInt($o, 'batch_size');
        if ($this->batchSize > 500) {
            self::fail("option batch_size must be at most 500 (the relay's bound), got {$this->batchSize}");
        }
        $this->httpTimeoutMs = self::positiveInt($o, 'http_timeout_ms');
        $this->inlineTimeoutMs = self::positiveInt($o, 'inline_timeout_ms');
        $this->pollIntervalMs = self::positiveInt($o, 'poll_interval_ms');
        $this->spoolMaxBytes = self::positiveInt($o, 'spool_max_bytes');
        $this->backoffMs = self::positiveInt($o, 'backoff_ms');
        $this->lingerMs = self::positiveInt($o, 'linger_ms');
        if (!in_array($o['send_mode'], ['auto', 'apcu', 'spool', 'direct'], true)) {
            self::fail("option send_mode must be 'auto', 'apcu', 'spool' or 'direct', got " . (is_string($o['send_mode']) ? json_encode($o['send_mode']) : get_debug_type($o['send_mode'])));
        }
        if ($o['send_mode'] === 'apcu' && !ShmQueue::available()) {
            self::fail("option send_mode 'apcu' needs the APCu extension, enabled (apc.enabled=1; apc.enable_cli=1 under the CLI)");
        }
        // The resolved mode: 'auto' is never stored. Not APCu under the CLI: a CLI process's shared memory
        // dies with it, where the spool file keeps what the relay did not take for the next run.
        $this->sendMode = $o['send_mode'] === 'auto' ? (PHP_SAPI !== 'cli' && ShmQueue::available() ? 'apcu' : 'spool') : $o['send_mode'];
        $this->blockStatus = self::positiveInt($o, 'block_status');
        foreach (['decisions', 'exit_on_block'] as $k) {
            if (!is_bool($o[$k])) {
                self::fail("option $k must be true or false, got " . get_debug_type($o[$k]));
            }
        }
        $this->decisions = $o['decisions'];
        $this->exitOnBlock = $o['exit_on_block'];
        foreach (['on_block', 'on_challenge', 'user', 'path_params', 'skip'] as $k) {
            if ($o[$k] !== null && !is_callable($o[$k])) {
                self::fail("option $k must be callable, got " . get_debug_type($o[$k]));
            }
        }
        $this->onBlock = $o['on_block'];
        $this->onChallenge = $o['on_challenge'];
        $this->user = $o['user'];
        $this->pathParams = $o['path_params'];
        $this->skip = $o['skip'];
        if ($o['logger'] !== null && $o['logger'] !== 'error_log' && !is_callable($o['logger'])) {
            self::fail("option logger must be 'error_log', a callable or null, got " . get_debug_type($o['logger']));
        }
        $this->logger = $o['logger'];
        if ($o['block_body'] !== null && !is_string($o['block_body'])) {
            self::fail('option block_body must be a string or null, got ' . get_debug_type($o['block_body']));
        }
        $this->blockBody = $o['block_body'];
        $dir = $o['state_dir'] ?? (rtrim(sys_get_temp_dir(), '/') . "/risk-hub-{$this->application}-{$this->environment}");
        if (!is_string($dir) || $dir === '') {
            self::fail('option state_dir must be a directory path, got ' . get_debug_type($dir));
        }
        $this->stateDir = rtrim($dir, '/');
    }

    /** @param array<string,mixed> $o */
    private static function positiveInt(array $o, string $k): int
    {
        $v = $o[$k];
        if (!is_int($v) || $v <= 0) {
            self::fail("option $k must be a positive integer, got " . (is_scalar($v) ? var_export($v, true) : get_debug_type($v)));
        }
        return $v;
    }

    private static function fail(string $message): never
    {
        throw new ConfigException("risk-hub agent: $message");
    }
}
