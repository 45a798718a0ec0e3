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

    /** The options that take a callable: checked on every construction, never cached. */
    private const CALLABLES = ['on_block' => true, 'on_challenge' => true, 'user' => true, 'path_params' => true, 'skip' => true, 'logger' => true];
    /** APCu entries of validated options: the key's CRC picks one of this many (bounded). */
    private const CACHE_SLOTS = 8;

    /** @param array<string,mixed> $opts */
    public function __construct(array $opts)
    {
        // PHP validates the options again on every request (nothing survives a request but shared
        // memory), so where APCu is enabled the validated values of an options array are kept there,
        // keyed by the options themselves (callables are checked every time, never cached).
        $key = null;
        if (function_exists('apcu_enabled') && apcu_enabled()) {
            $key = self::cacheKey($opts);
            if ($key !== null) {
                $slot = 'risk-hub:options:' . Agent::VERSION . ':' . (crc32($key) % self::CACHE_SLOTS);
                $hit = apcu_fetch($slot);
                if (is_string($hit) && str_starts_with($hit, $key . "\0\0")) {
                    $this->fromCache(substr($hit, strlen($key) + 2), $opts);
                    return;
                }
            }
        }
        $this->validate($opts);
        if ($key !== null) {
            // One string (APCu serializes arrays: unserializing costs more than an explode). No value holds
            // a NUL (cacheKey), block_body, last, is kept whole by explode's limit.
            apcu_store($slot, $key . "\0\0" . implode("\0", [$this->application, $this->token, $this->environment, $this->relayUrl, $this->maxQueue,
                $this->batchSize, $this->httpTimeoutMs, $this->inlineTimeoutMs, (int) $this->decisions, $this->pollIntervalMs, $this->spoolMaxBytes,
                $this->backoffMs, $this->sendMode, $this->lingerMs, $this->blockStatus, (int) $this->exitOnBlock, $this->stateDir,
                $this->blockBody === null ? 'n' : 's' . $this->blockBody]));
        }
    }

    /**
     * The cache key of an options array: its scalar values exactly (types included) and which callable
     * options are set; null (not cached) when a non-callable option holds something else than a scalar, or
     * a value holds a NUL byte.
     * PHP_SAPI is in it because 'auto' resolves by SAPI; sys_get_temp_dir() (the default state_dir) may
     * differ between PHP-FPM pools sharing one APCu, so the default state_dir is never cached as such.
     */
    private static function cacheKey(array $opts): ?string
    {
        foreach ($opts as $name => $v) {
            if ($v !== null && !is_scalar($v)) {
                if (!isset(self::CALLABLES[$name])) {
                    return null;
                }
                $opts[$name] = true; // any callable: it is checked on each construction
            }
        }
        if (!isset($opts['state_dir'])) {
            $opts['state_dir'] = [sys_get_temp_dir()]; // not a value a caller can pass (an array is refused)
        }
        $key = PHP_SAPI . serialize($opts);
        return str_contains($key, "\0") ? null : $key;
    }

    /** The validated values of the same options (cacheKey, as the constructor stores them), then the checks of the callables. */
    private function fromCache(string $packed, array $opts): void
    {
        $v = explode("\0", $packed, 18);
        [$this->application, $this->token, $this->environment, $this->relayUrl] = $v;
        $this->maxQueue = (int) $v[4];
        $this->batchSize = (int) $v[5];
        $this->httpTimeoutMs = (int) $v[6];
        $this->inlineTimeoutMs = (int) $v[7];
        $this->decisions = $v[8] === '1';
        $this->pollIntervalMs = (int) $v[9];
        $this->spoolMaxBytes = (int) $v[10];
        $this->backoffMs = (int) $v[11];
        $this->sendMode = $v[12];
        $this->lingerMs = (int) $v[13];
        $this->blockStatus = (int) $v[14];
        $this->exitOnBlock = $v[15] === '1';
        $this->stateDir = $v[16];
        $this->blockBody = $v[17][0] === 'n' ? null : substr($v[17], 1);
        $this->onBlock = $opts['on_block'] ?? null;
        $this->onChallenge = $opts['on_challenge'] ?? null;
        $this->user = $opts['user'] ?? null;
        $this->pathParams = $opts['path_params'] ?? null;
        $this->skip = $opts['skip'] ?? null;
        $this->logger = array_key_exists('logger', $opts) ? $opts['logger'] : self::DEFAULTS['logger'];
        if ($this->onBlock !== null || $this->onChallenge !== null || $this->user !== null || $this->pathParams !== null || $this->skip !== null
            || ($this->logger !== null && $this->logger !== 'error_log')) {
            $this->checkCallables(['on_block' => $this->onBlock, 'on_challenge' => $this->onChallenge, 'user' => $this->user,
                'path_params' => $this->pathParams, 'skip' => $this->skip, 'logger' => $this->logger]);
        }
    }

    /** @param array<string,mixed> $o the options with their defaults */
    private function checkCallables(array $o): void
    {
        foreach (['on_block', 'on_challenge', 'user', 'path_params', 'skip'] as $k) {
            if ($o[$k] !== null && !is_callable($o[$k])) {
                self::fail("option $k must be callable, got " . get_debug_type($o[$k]));
            }
        }
        if ($o['logger'] !== null && $o['logger'] !== 'error_log' && !is_callable($o['logger'])) {
            self::fail("option logger must be 'error_log', a callable or null, got " . get_debug_type($o['logger']));
        }
    }

    /** @param array<string,mixed> $opts */
    private function validate(array $opts): void
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
        $this->checkCallables($o);
        $this->onBlock = $o['on_block'];
        $this->onChallenge = $o['on_challenge'];
        $this->user = $o['user'];
        $this->pathParams = $o['path_params'];
        $this->skip = $o['skip'];
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
