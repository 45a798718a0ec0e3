<?php

declare(strict_types=1);

namespace RiskHub;

/**
 * The Risk Hub agent for PHP. PHP has no background thread, so nothing leaves the process on a
 * request's path: events are queued in memory (bounded, the oldest dropped) and sent to the relay
 * in a shutdown function, AFTER the response has been flushed to the client when PHP-FPM's
 * fastcgi_finish_request() is there (1 s timeout), otherwise with a short timeout (inline_timeout_ms,
 * 250 ms). Events that cannot be sent go to a spool file that a later request sends. No public
 * method throws into the application but create() / start() (ConfigException, at start-up).
 */
final class Agent
{
    public const VERSION = '0.1.0';
    public const SEVERITIES = ['INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
    private const AGENT_INFO = ['name' => 'risk-hub-php', 'version' => self::VERSION, 'language' => 'php'];
    /** The $_SERVER entries RequestFacts::fromGlobals() and shortRequest() read, besides the HTTP_ ones. */
    private const RAW_SERVER_KEYS = ['CONTENT_TYPE' => 1, 'CONTENT_LENGTH' => 1, 'REQUEST_URI' => 1, 'QUERY_STRING' => 1, 'REQUEST_METHOD' => 1, 'REMOTE_ADDR' => 1];
    private const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRESERVE_ZERO_FRACTION;

    public readonly Options $options;
    private Stats $stats;
    /** @var list<array<string,mixed>> */
    private array $queue = [];
    private ?DecisionCache $decisionsObj = null;
    private ?Spool $spoolObj = null;
    private ?ShmQueue $shm = null;
    private ?RelayClient $clientObj = null;
    private Timers $timers;
    private bool $shutdownRegistered = false;
    private bool $challengeLogged = false;

    /** The request being served (plain PHP: the globals; PSR-15: set by the middleware). */
    private ?array $current = null;
    /** @var array{key:string,identifiers:array<string,string>}|null */
    private ?array $user = null;
    private bool $inMiddleware = false;

    private function __construct(array $opts)
    {
        $this->options = new Options($opts);
        $this->stats = new Stats();
        // DecisionCache, Spool and RelayClient are made when first needed: a class loaded is a file
        // included per request (PHP keeps nothing between requests), and most requests need none.
        if ($this->options->sendMode === 'apcu') {
            // As many slots (one per request) as the spool's bound would hold of ~1 KiB events.
            $this->shm = new ShmQueue($this->options, $this->stats, max(64, intdiv($this->options->spoolMaxBytes, 1024)), $this->options->batchSize);
            $this->timers = new Timers($this->options, $this->shm->prefix() . 'timers:');
        } else {
            $this->timers = new Timers($this->options);
        }
    }

    /** An agent that reports nothing by itself (PSR-15, long-running servers, CLI jobs). */
    public static function create(array $options): self
    {
        $agent = new self($options);
        register_shutdown_function([$agent, 'shutdown']);
        $agent->shutdownRegistered = true;
        return $agent;
    }

    /** An agent watching the request PHP serves now (plain PHP): reported when the script ends. */
    public static function start(array $options): self
    {
        $agent = self::create($options);
        if (PHP_SAPI !== 'cli') {
            $agent->beginGlobals();
        }
        return $agent;
    }

    /** Starts watching the current request from $_SERVER and php://input (start() does it). */
    public function beginGlobals(?array $server = null): void
    {
        try {
            $server ??= $_SERVER;
            $this->user = null;
            $this->current = ['kind' => 'globals', 'server' => $server, 'at' => self::nowMs(), 'path_params' => []];
        } catch (\Throwable $e) {
            $this->stats->error('beginGlobals: ' . $e->getMessage());
        }
    }

    /** Route parameters of the current request (plain PHP routers). */
    public function setPathParams(array $params): void
    {
        if ($this->current !== null) {
            $this->current['path_params'] = $params;
        }
    }

    /**
     * Ties the current request to a signed-in user: the key (string) or ['key' => …, 'identifiers' => […]].
     * Enforces the user's decision at once: BLOCK answers 403 (plain PHP: and exits; PSR-15: the
     * middleware answers), CHALLENGE calls on_challenge. Returns the user's active decision, or null.
     */
    public function identify(string|int|array|null $user, ?object $request = null): ?Decision
    {
        try {
            $u = $this->normalizeUser($user);
            if ($u === null) {
                return null;
            }
            $this->user = $u;
            if (!$this->options->decisions) {
                return null;
            }
            $decision = $this->decisions()->find($u['key']);
            if ($decision !== null && $decision->enforceable() && $this->current !== null) {
                $this->enforce($decision, $request);
            }
            return $decision;
        } catch (Enforced $e) {
            throw $e;
        } catch (\Throwable $e) {
            $this->stats->error('identify: ' . $e->getMessage());
            return null;
        }
    }

    /** The decision of a user (any action, not expired), or null. */
    public function decisionFor(string $userKey): ?Decision
    {
        try {
            return $this->decisions()->find($userKey);
        } catch (\Throwable $e) {
            $this->stats->error('decisionFor: ' . $e->getMessage());
            return null;
        }
    }

    /** A login attempt; `user` is the login that was tried. A success also identifies the request. */
    public function trackLogin(bool $success, string|int|array $user, ?object $request = null): bool
    {
        try {
            $u = $this->normalizeUser($user);
            if ($u === null) {
                return false;
            }
            $event = $this->baseEvent('login', $u) + ['success' => $success];
            if ($this->current !== null) {
                $event['request'] = $this->shortRequest();
            }
            $this->enqueue($event);
            if ($success) {
                $this->identify($u, $request);
            }
            return true;
        } catch (Enforced $e) {
            throw $e;
        } catch (\Throwable $e) {
            $this->stats->error('trackLogin: ' . $e->getMessage());
            return false;
        }
    }

    /** A custom event; returns its event id, or null when it was not accepted. */
    public function report(string $type, string $severity, string|int|array|null $user = null, ?int $points = null): ?string
    {
        try {
            $severity = strtoupper($severity);
            if (strlen($type) < 1 || strlen($type) > 64 || !in_array($severity, self::SEVERITIES, true)) {
                $this->stats->bump('dropped_invalid');
                return null;
            }
            $u = $user === null ? $this->user : $this->normalizeUser($user);
            if ($user !== null && $u === null) {
                return null;
            }
            $event = $this->baseEvent('custom', $u) + ['type' => $type, 'severity' => $severity, 'points' => $points];
            if ($this->current !== null) {
                $event['request'] = $this->shortRequest();
            }
            $this->enqueue($event);
            return $event['id'];
        } catch (\Throwable $e) {
            $this->stats->error('report: ' . $e->getMessage());
            return null;
        }
    }

    /**
     * Sends what is queued (and what the spool holds) and refreshes the decisions when due. Called by
     * the shutdown function; long-running servers (RoadRunner, Swoole, ReactPHP) call it after each
     * response. Never throws. Returns the number of events sent. $force: send the spool now whatever
     * linger_ms says (the shutdown function passes false).
     */
    public function flush(?int $timeoutMs = null, bool $force = true): int
    {
        $sent = 0;
        try {
            $this->finishRequest();
            $this->timers->reset();
            $timeoutMs ??= $this->options->httpTimeoutMs;
            $lines = [];
            foreach ($this->queue as $event) {
                if (isset($event['raw'])) {
                    $lines[] = $event['raw']; // apcu mode: mapped by the request that sends the queue
                    continue;
                }
                $json = json_encode($event, self::JSON_FLAGS);
                if ($json === false) {
                    $this->stats->error('an event could not be encoded: ' . json_last_error_msg());
                    continue;
                }
                $lines[] = $json;
            }
            $this->queue = [];
            $attempted = false;
            $sent = $this->send($lines, $timeoutMs, $force, $attempted);
            // The decisions are looked after when the relay is called anyway (spool mode: one request
            // per linger_ms), or when there was nothing to send: no file is read on other requests.
            $look = $attempted || $lines === [] || $this->options->sendMode === 'direct';
            if ($look && $this->options->decisions && !$this->inBackoff()
                && microtime(true) - $this->timers->get('checked_at') >= $this->options->pollIntervalMs / 1000) {
                $this->timers->set('checked_at', microtime(true));
                $r = $this->decisions()->refresh($this->client(), $timeoutMs, $this->stats);
                if ($r === 'error') {
                    $this->startBackoff();
                }
            }
        } catch (\Throwable $e) {
            $this->stats->error('flush: ' . $e->getMessage());
        }
        return $sent;
    }

    /** The shutdown function: flushes the response to the client first when PHP-FPM allows it. */
    public function shutdown(): void
    {
        try {
            $timeout = $this->options->inlineTimeoutMs;
            if (function_exists('fastcgi_finish_request') && PHP_SAPI === 'fpm-fcgi') {
                fastcgi_finish_request();
                $timeout = $this->options->httpTimeoutMs;
            }
            $this->flush($timeout, false);
        } catch (\Throwable $e) {
            $this->stats->error('shutdown: ' . $e->getMessage());
        }
    }

    /** Refreshes the decisions now (tests, CLI jobs, warm-up). */
    public function refreshDecisions(): string
    {
        $this->timers->set('checked_at', microtime(true));
        return $this->decisions()->refresh($this->client(), $this->options->httpTimeoutMs, $this->stats);
    }

    /** @return array<string,int|string|null> */
    public function stats(): array
    {
        return [
            'send_mode' => $this->options->sendMode,
            'queued' => count($this->queue),
            'sent' => $this->stats->get('sent'),
            'spooled' => $this->stats->get('spooled'),
            'spool_bytes' => $this->spool()->size(),
            'apcu_slots' => $this->shm?->slots() ?? 0,
            'dropped_queue_full' => $this->stats->get('dropped_queue_full'),
            'dropped_invalid' => $this->stats->get('dropped_invalid'),
            'dropped_send' => $this->stats->get('dropped_send'),
            'dropped_spool_full' => $this->stats->get('dropped_spool_full'),
            'rejected' => $this->stats->get('rejected'),
            'truncated' => $this->stats->get('truncated'),
            'enforced' => $this->stats->get('enforced'),
            'detections' => $this->stats->get('detections'),
            'decision_polls' => $this->stats->get('decision_polls'),
            'errors' => $this->stats->get('errors'),
            'last_error' => $this->stats->lastError,
        ];
    }

    /** The relay `request` object the agent builds for the current request (tests, conformance). */
    public function currentRelayRequest(): ?array
    {
        return $this->current === null ? null : $this->buildRequest($this->current);
    }

    // --- for RiskHub\Psr15Middleware -------------------------------------------------------------

    /** @internal */
    public function beginPsr7(object $request): void
    {
        $this->user = null;
        $this->inMiddleware = true;
        $this->current = ['kind' => 'psr7', 'request' => $request, 'at' => self::nowMs(), 'path_params' => null];
    }

    /** @internal the request as the handler last saw it (attributes, parsed body, route parameters) */
    public function endPsr7(?object $request, ?array $pathParams): void
    {
        $this->inMiddleware = false;
        if ($this->current !== null && $this->current['kind'] === 'psr7') {
            if ($request !== null) {
                $this->current['request'] = $request;
            }
            if ($pathParams !== null) {
                $this->current['path_params'] = $pathParams;
            }
        }
        $this->finishRequest();
    }

    /** @internal */
    public function stat(string $name, int $n = 1): void
    {
        $this->stats->bump($name, $n);
    }

    /** @internal */
    public function error(string $message): void
    {
        $this->stats->error($message);
    }

    // --- internals -------------------------------------------------------------------------------

    private function enforce(Decision $decision, ?object $request): void
    {
        $answer = null;
        $answered = false;
        if ($decision->action === 'BLOCK') {
            if ($this->options->onBlock !== null) {
                $answer = $this->callHook($this->options->onBlock, $decision, $request);
            }
            $answered = true;
        } elseif ($this->options->onChallenge !== null) {
            $answer = $this->callHook($this->options->onChallenge, $decision, $request);
            $answered = $answer !== null && $answer !== false;
        } else {
            if (!$this->challengeLogged) {
                $this->challengeLogged = true;
                $this->log('a CHALLENGE decision was not enforced: no on_challenge hook configured (the request went on)');
            }
        }
        if (!$answered) {
            return;
        }
        $this->stats->bump('enforced');
        $this->enqueue($this->baseEvent('enforcement', $this->user) + [
            'action' => $decision->action, 'decision_id' => $decision->decisionId, 'request' => $this->shortRequest(),
        ]);
        if ($this->inMiddleware) {
            throw new Enforced($decision, $answer);
        }
        // Plain PHP: the hook answered (it printed), or the default 403; then the script ends.
        if ($decision->action === 'BLOCK' && ($this->options->onBlock === null || $answer === null)) {
            $this->emitBlock($decision);
        }
        if ($this->options->exitOnBlock) {
            exit;
        }
    }

    private function emitBlock(Decision $decision): void
    {
        if (!headers_sent()) {
            http_response_code($this->options->blockStatus);
            header('content-type: application/json');
            header('cache-control: no-store');
        }
        echo $this->blockBody($decision);
    }

    /** @internal the body of a blocked request */
    public function blockBody(Decision $decision): string
    {
        return $this->options->blockBody ?? (string) json_encode(['error' => 'blocked', 'reason' => $decision->reason], self::JSON_FLAGS);
    }

    private function callHook(callable $hook, Decision $decision, ?object $request): mixed
    {
        try {
            return $hook($decision, $request);
        } catch (\Throwable $e) {
            $this->stats->error('decision hook: ' . $e->getMessage());
            return null;
        }
    }

    /** The request event of the request being served, queued once. */
    private function finishRequest(): void
    {
        if ($this->current === null) {
            return;
        }
        $current = $this->current;
        $this->current = null;
        try {
            if ($this->options->skip !== null && ($this->options->skip)($current['kind'] === 'psr7' ? $current['request'] : null) === true) {
                return;
            }
        } catch (\Throwable $e) {
            $this->stats->error('skip: ' . $e->getMessage());
        }
        if ($current['kind'] === 'globals' && $this->shm !== null) {
            try {
                $raw = $this->rawRequest($current);
            } catch (\Throwable) {
                $raw = null; // built now, below
            }
            if ($raw !== null) {
                $this->enqueue(['raw' => $raw]);
                return;
            }
        }
        try {
            $request = $this->buildRequest($current);
        } catch (\Throwable $e) {
            // Whatever went wrong reading this request, it is still reported, with what is sure.
            $this->stats->error('request event: ' . $e->getMessage());
            $this->current = $current;
            $request = $this->shortRequest();
            $this->current = null;
        }
        $event = ['kind' => 'request', 'id' => Identity::eventId(), 'at' => $current['at'], 'user' => $this->user, 'request' => $request];
        $this->enqueue($event);
    }

    /**
     * send_mode 'apcu', plain PHP: what the request event is made of, captured now and mapped into the
     * event (RequestFacts, the event id, JSON) by the request that sends the queue, which does it for
     * hundreds of events at once where each request would pay for it cold (PHP starts every request
     * with empty caches). The same inputs as buildRequest() (the $_SERVER entries it reads, the body
     * read the same way), so the same event. Null when something cannot be kept as is (route
     * parameters that are not scalars): the event is then built now, as in the other modes.
     * @return array{0:int,1:?array,2:array,3:array,4:string|false|null}|null
     */
    private function rawRequest(array $current): ?array
    {
        foreach ($current['path_params'] as $v) {
            if ($v !== null && !is_scalar($v)) {
                return null;
            }
        }
        $server = $current['server'];
        $keep = array_intersect_key($server, self::RAW_SERVER_KEYS);
        foreach ($keep as $v) {
            if ($v !== null && !is_scalar($v)) {
                return null; // cast to strings by the mapping: built now
            }
        }
        // HTTP_ entries that are not strings are left out by the mapping (kept here, left out then);
        // one that cannot be serialized fails the capture (built now).
        foreach ($server as $k => $v) {
            if (is_string($k) && str_starts_with($k, 'HTTP_')) {
                $keep[$k] = $v;
            }
        }
        $user = $this->user === null ? null : ['key' => $this->user['key'], 'identifiers' => $this->user['identifiers']->getArrayCopy()];
        return [$current['at'], $user, $current['path_params'], $keep, $this->readBody($server)];
    }

    /**
     * @internal the request event of rawRequest()'s capture, as JSON; null (counted) when it could not be
     * encoded, or the capture is not one (the sender then drops it rather than stall on it).
     */
    public function mapRaw(array $raw): ?string
    {
        if (count($raw) !== 5 || !is_int($raw[0]) || !is_array($raw[2]) || !is_array($raw[3]) || !($raw[1] === null || is_array($raw[1]['identifiers'] ?? null))
            || !($raw[4] === null || $raw[4] === false || is_string($raw[4]))) {
            $this->stats->error('a queued request could not be read');
            $this->stats->bump('dropped_send');
            return null;
        }
        [$at, $user, $pathParams, $server, $body] = $raw;
        if ($user !== null) {
            $user['identifiers'] = new \ArrayObject($user['identifiers']);
        }
        try {
            $facts = new RequestFacts();
            $request = $facts->fromGlobals($server, $body, $pathParams);
            if ($facts->truncated) {
                $this->stats->bump('truncated');
            }
        } catch (\Throwable $e) {
            $this->stats->error('request event: ' . $e->getMessage());
            $request = self::shortFromServer($server);
        }
        $json = json_encode(['kind' => 'request', 'id' => Identity::eventId(), 'at' => $at, 'user' => $user, 'request' => $request], self::JSON_FLAGS);
        if ($json === false) {
            $this->stats->error('an event could not be encoded: ' . json_last_error_msg());
            return null;
        }
        return $json;
    }

    /** The body of a plain PHP request when it is JSON or a form: the string, false when over the bound, or null. */
    private function readBody(array $server): string|false|null
    {
        if (!isset($server['CONTENT_TYPE'])) {
            return null;
        }
        $type = strtolower((string) $server['CONTENT_TYPE']);
        if (!RequestFacts::isJson($type) && !str_starts_with($type, 'application/x-www-form-urlencoded')) {
            return null;
        }
        if ((int) ($server['CONTENT_LENGTH'] ?? 0) > RequestFacts::MAX_BODY_BYTES) {
            return false;
        }
        $raw = @file_get_contents('php://input', false, null, 0, RequestFacts::MAX_BODY_BYTES + 1);
        return $raw === false ? null : (strlen($raw) > RequestFacts::MAX_BODY_BYTES ? false : $raw);
    }

    private function buildRequest(array $current): array
    {
        $facts = new RequestFacts();
        if ($current['kind'] === 'psr7') {
            $req = $facts->fromPsr7($current['request'], $current['path_params']);
        } else {
            $req = $facts->fromGlobals($current['server'], $this->readBody($current['server']), $current['path_params']);
        }
        if ($facts->truncated) {
            $this->stats->bump('truncated');
        }
        return $req;
    }

    private function shortRequest(): ?array
    {
        $c = $this->current;
        if ($c === null) {
            return null;
        }
        if ($c['kind'] === 'psr7') {
            $r = $c['request'];
            $ip = (string) ($r->getServerParams()['REMOTE_ADDR'] ?? '');
            return ['method' => Identity::truncateUtf8($r->getMethod(), 16), 'uri' => Identity::truncateUtf8($r->getRequestTarget(), 2048), 'ip' => Identity::truncateUtf8($ip, 64)];
        }
        return self::shortFromServer($c['server']);
    }

    private static function shortFromServer(array $s): array
    {
        return [
            'method' => Identity::truncateUtf8((string) ($s['REQUEST_METHOD'] ?? 'GET'), 16),
            'uri' => Identity::truncateUtf8((string) ($s['REQUEST_URI'] ?? '/'), 2048),
            'ip' => Identity::truncateUtf8((string) ($s['REMOTE_ADDR'] ?? ''), 64),
        ];
    }

    private function normalizeUser(string|int|array|null $user): ?array
    {
        if ($user === null) {
            return null;
        }
        $key = is_array($user) ? ($user['key'] ?? null) : $user;
        $identifiers = is_array($user) && is_array($user['identifiers'] ?? null) ? $user['identifiers'] : [];
        if (is_int($key)) {
            $key = (string) $key;
        }
        if (Identity::userKeyProblem($key) !== null) {
            $this->stats->bump('dropped_invalid');
            return null;
        }
        return ['key' => $key, 'identifiers' => new \ArrayObject(Identity::boundIdentifiers($identifiers))];
    }

    private function baseEvent(string $kind, ?array $user): array
    {
        return ['kind' => $kind, 'id' => Identity::eventId(), 'at' => self::nowMs(), 'user' => $user];
    }

    private function enqueue(array $event): void
    {
        if (count($this->queue) >= $this->options->maxQueue) {
            array_shift($this->queue);
            $this->stats->bump('dropped_queue_full');
        }
        $this->queue[] = $event;
    }

    /** @param list<string> $lines */
    private function send(array $lines, int $timeoutMs, bool $force, bool &$attempted): int
    {
        if ($this->options->sendMode === 'apcu') {
            return $this->sendThroughShm($lines, $timeoutMs, $force, $attempted);
        }
        if ($this->options->sendMode === 'spool') {
            return $this->sendThroughSpool($lines, $timeoutMs, $force, $attempted);
        }
        if ($this->inBackoff()) {
            $this->spool()->append($lines);
            $this->stats->bump('spooled', count($lines));
            return 0;
        }
        $lines = array_merge($this->spool()->take(max(0, 5 * $this->options->batchSize - count($lines))), $lines);
        $sent = 0;
        $deadline = microtime(true) + $timeoutMs / 1000;
        $chunks = array_chunk($lines, $this->options->batchSize);
        foreach ($chunks as $i => $chunk) {
            $left = (int) (($deadline - microtime(true)) * 1000);
            $status = $left < 50 ? -1 : $this->post($chunk, $left);
            if ($status === 202) {
                $sent += count($chunk);
                continue;
            }
            if ($status <= 0 || $status >= 500) {
                // Out of time, network error or 503 (the relay's queue is full): spool what is left;
                // a later request sends it (after the backoff when the relay failed).
                if ($status !== -1) {
                    $this->startBackoff();
                }
                $rest = array_merge(...array_slice($chunks, $i));
                $this->spool()->append($rest);
                $this->stats->bump('spooled', count($rest));
                break;
            }
            $this->stats->bump('dropped_send', count($chunk)); // 4xx: not retried
        }
        return $sent;
    }

    /**
     * Spool mode: this request's events join the spool; if its oldest event waited linger_ms or more
     * (or it holds 256 KiB), this request sends it, holding a non-blocking lock so that one worker at
     * a time does. Events leave the spool only once the relay took them, in order.
     */
    private function sendThroughSpool(array $lines, int $timeoutMs, bool $force, bool &$attempted): int
    {
        [$spoolBytes, $oldestAt] = $this->spool()->append($lines);
        $due = $force || $spoolBytes >= 262144 || $oldestAt === 0 || self::nowMs() - $oldestAt >= $this->options->lingerMs;
        if (!$due || $this->inBackoff()) {
            return 0;
        }
        $attempted = true;
        $lock = @fopen($this->options->stateDir . '/drain.lock', 'c+');
        if ($lock === false || !flock($lock, LOCK_EX | LOCK_NB)) {
            return 0;
        }
        $sent = 0;
        try {
            $deadline = microtime(true) + $timeoutMs / 1000;
            for ($round = 0; $round < 5; $round++) {
                $batch = $this->spool()->peek($this->options->batchSize);
                if ($batch === []) {
                    break;
                }
                $left = (int) (($deadline - microtime(true)) * 1000);
                if ($left < 50) {
                    break;
                }
                $status = $this->post($batch, $left);
                if ($status === 202) {
                    $this->spool()->drop(count($batch));
                    $sent += count($batch);
                    continue;
                }
                if ($status === 0 || $status >= 500) {
                    $this->startBackoff();
                    break;
                }
                $this->spool()->drop(count($batch)); // 4xx: not retried
                $this->stats->bump('dropped_send', count($batch));
            }
        } finally {
            flock($lock, LOCK_UN);
            fclose($lock);
        }
        return $sent;
    }

    /**
     * APCu mode: this request's events join the shared queue; when the last send is linger_ms old or
     * more, this request sends the queue (oldest first), holding an APCu lock so that one worker at a
     * time does. Events leave the queue only once the relay took them, in order.
     */
    private function sendThroughShm(array $lines, int $timeoutMs, bool $force, bool &$attempted): int
    {
        $shm = $this->shm;
        $shm->append($lines);
        $due = $force || (microtime(true) - $this->timers->get('drain_at')) * 1000 >= $this->options->lingerMs;
        if (!$due || $this->inBackoff() || $shm->slots() === 0) {
            return 0;
        }
        $attempted = true;
        if (!$shm->lock(intdiv($timeoutMs, 1000) + 2)) {
            return 0;
        }
        $sent = 0;
        try {
            $this->timers->set('drain_at', microtime(true));
            $deadline = microtime(true) + $timeoutMs / 1000;
            for ($round = 0; $round < 5; $round++) {
                $batch = $shm->peek($this->options->batchSize, [$this, 'mapRaw']);
                if ($batch === null) {
                    break;
                }
                [$first, $slots, $events, $count, $mapped] = $batch;
                if ($count === 0) {
                    $shm->drop($first, $slots); // only events that could not be encoded (counted)
                    continue;
                }
                $left = (int) (($deadline - microtime(true)) * 1000);
                if ($left < 50) {
                    $shm->keep($mapped); // built already: not built again by the next send
                    break;
                }
                $status = $this->postJoined($events, $count, $left);
                if ($status === 202) {
                    $shm->drop($first, $slots);
                    $sent += $count;
                    if ($count < $this->options->batchSize) {
                        break; // what came during the POST waits for the next linger_ms: batches, not a POST per event
                    }
                    continue;
                }
                if ($status === 0 || $status >= 500) {
                    $shm->keep($mapped);
                    $this->startBackoff();
                    break;
                }
                $shm->drop($first, $slots); // 4xx: not retried
                $this->stats->bump('dropped_send', $count);
            }
        } finally {
            $shm->unlock();
        }
        return $sent;
    }

    private function decisions(): DecisionCache
    {
        return $this->decisionsObj ??= new DecisionCache($this->options);
    }

    private function spool(): Spool
    {
        return $this->spoolObj ??= new Spool($this->options, $this->stats);
    }

    private function client(): RelayClient
    {
        return $this->clientObj ??= new RelayClient($this->options);
    }

    private function inBackoff(): bool
    {
        return $this->timers->get('backoff_until') > microtime(true);
    }

    private function startBackoff(): void
    {
        $this->timers->set('backoff_until', microtime(true) + $this->options->backoffMs / 1000);
    }

    /** @param list<string> $chunk */
    private function post(array $chunk, int $timeoutMs): int
    {
        return $this->postJoined(implode(',', $chunk), count($chunk), $timeoutMs);
    }

    /** $events: JSON events joined by ','; $count of them. */
    private function postJoined(string $events, int $count, int $timeoutMs): int
    {
        $head = json_encode(['agent' => self::AGENT_INFO, 'application_id' => $this->options->application, 'environment' => $this->options->environment], self::JSON_FLAGS);
        $payload = substr((string) $head, 0, -1) . ',"events":[' . $events . ']}';
        try {
            [$status, $body] = $this->client()->call('POST', '/v1/events', $payload, $timeoutMs);
        } catch (\Throwable $e) {
            $this->stats->error($e->getMessage());
            return 0;
        }
        if ($status === 202) {
            $this->stats->bump('sent', $count);
            $doc = json_decode($body, true);
            if (is_array($doc)) {
                $this->stats->bump('rejected', (int) ($doc['rejected'] ?? 0));
                $this->stats->bump('detections', (int) ($doc['detections'] ?? 0));
            }
        } else {
            $this->stats->error("POST /v1/events answered $status");
        }
        return $status;
    }

    private function log(string $message): void
    {
        $logger = $this->options->logger;
        try {
            if ($logger === 'error_log') {
                error_log("risk-hub agent: $message");
            } elseif ($logger !== null) {
                $logger("risk-hub agent: $message");
            }
        } catch (\Throwable) {
        }
    }

    private static function nowMs(): int
    {
        return (int) (microtime(true) * 1000);
    }
}
