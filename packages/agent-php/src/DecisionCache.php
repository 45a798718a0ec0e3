<?php

declare(strict_types=1);

namespace RiskHub;

/**
 * The application's decisions, shared by every PHP worker of the host through one JSON file in
 * state_dir (PHP has no background thread to poll with). A request reads the file (cached per process
 * by its modification time); after the response, a request that finds the last refresh (Timers
 * checked_at) older than poll_interval_ms refreshes it with GET /v1/decisions (If-None-Match; 304: only touched), under a
 * non-blocking lock so that one worker at a time does it. The relay unreachable: the file stays as it
 * is (decisions end at their `until` all the same) and the next try waits backoff_ms.
 */
final class DecisionCache
{
    /** @var array<string,array<string,Decision>> per file: user key → decision (FPM workers keep it between requests) */
    private static array $memo = [];
    /** @var array<string,int> per file: the mtime the memo was read at */
    private static array $memoMtime = [];

    private string $file;

    public function __construct(private readonly Options $options)
    {
        $this->file = $options->stateDir . '/decisions.json';
    }

    public function file(): string
    {
        return $this->file;
    }

    public function find(string $userKey): ?Decision
    {
        $d = $this->all()[$userKey] ?? null;
        return $d !== null && !$d->expired() ? $d : null;
    }

    /** @return array<string,Decision> */
    public function all(): array
    {
        clearstatcache(true, $this->file);
        $mtime = @filemtime($this->file);
        if ($mtime === false) {
            return [];
        }
        $size = @filesize($this->file);
        $key = $this->file;
        if (isset(self::$memo[$key]) && self::$memoMtime[$key] === $mtime . ':' . $size) {
            return self::$memo[$key];
        }
        $raw = @file_get_contents($this->file);
        $doc = is_string($raw) ? json_decode($raw, true) : null;
        $out = [];
        foreach (is_array($doc) && is_array($doc['decisions'] ?? null) ? $doc['decisions'] : [] as $d) {
            if (!is_array($d) || !is_string($d['user_key'] ?? null) || !in_array($d['action'] ?? null, ['MONITOR', 'CHALLENGE', 'BLOCK'], true)) {
                continue;
            }
            $out[$d['user_key']] = new Decision(
                $d['user_key'],
                $d['action'],
                is_int($d['until'] ?? null) || is_float($d['until'] ?? null) ? (int) $d['until'] : null,
                (string) ($d['reason'] ?? ''),
                (string) ($d['decision_id'] ?? ''),
                ($d['simulated'] ?? false) === true,
            );
        }
        self::$memo = [$key => $out];
        self::$memoMtime = [$key => $mtime . ':' . $size];
        return $out;
    }

    /** One refresh: returns 'replaced', 'unchanged', 'busy' (another worker is at it) or 'error'. */
    public function refresh(RelayClient $client, int $timeoutMs, Stats $stats): string
    {
        if (!is_dir($this->options->stateDir) && !@mkdir($this->options->stateDir, 0700, true) && !is_dir($this->options->stateDir)) {
            $stats->error('cannot create state_dir ' . $this->options->stateDir);
            return 'error';
        }
        $lock = @fopen($this->file . '.lock', 'c');
        if ($lock === false || !flock($lock, LOCK_EX | LOCK_NB)) {
            return 'busy';
        }
        try {
            $version = null;
            $raw = @file_get_contents($this->file);
            if (is_string($raw)) {
                $doc = json_decode($raw, true);
                $version = is_array($doc) && isset($doc['version']) ? (string) $doc['version'] : null;
            }
            $headers = $version !== null ? ['if-none-match' => '"' . $version . '"'] : [];
            [$status, $body] = $client->call('GET', '/v1/decisions?environment=' . rawurlencode($this->options->environment), null, $timeoutMs, $headers);
            if ($status === 304) {
                return 'unchanged';
            }
            if ($status !== 200) {
                $stats->error("GET /v1/decisions answered $status");
                return 'error';
            }
            $doc = json_decode($body, true);
            if (!is_array($doc) || !is_array($doc['decisions'] ?? null)) {
                $stats->error('GET /v1/decisions: an answer without a decisions list');
                return 'error';
            }
            $tmp = $this->file . '.' . getmypid() . '.tmp';
            if (@file_put_contents($tmp, $body) === false || !@rename($tmp, $this->file)) {
                @unlink($tmp);
                $stats->error('cannot write ' . $this->file);
                return 'error';
            }
            $stats->bump('decision_polls');
            return 'replaced';
        } catch (\Throwable $e) {
            $stats->error('GET /v1/decisions: ' . $e->getMessage());
            return 'error';
        } finally {
            flock($lock, LOCK_UN);
            fclose($lock);
        }
    }
}
