<?php

declare(strict_types=1);

namespace RiskHub;

/**
 * Events that could not be sent (relay down, or in backoff) wait in state_dir/spool.jsonl, one JSON
 * event per line, for a later request to send them. Bounded by spool_max_bytes: beyond, the oldest
 * lines are dropped and counted. Every access holds an exclusive lock on the file.
 */
final class Spool
{
    private string $file;

    public function __construct(private readonly Options $options, private readonly Stats $stats)
    {
        $this->file = $options->stateDir . '/spool.jsonl';
    }

    /**
     * Appends events. Returns [the spool's size in bytes afterwards, the "at" (epoch ms) of its oldest
     * event], read on the same open file (no other system call than the write's own few).
     * @param list<string> $lines JSON events
     * @return array{0:int,1:int}
     */
    public function append(array $lines): array
    {
        if ($lines === []) {
            return [0, 0];
        }
        $fh = @fopen($this->file, 'c+');
        if ($fh === false) {
            $dir = $this->options->stateDir;
            if ((!@mkdir($dir, 0700, true) && !is_dir($dir)) || ($fh = @fopen($this->file, 'c+')) === false) {
                $this->stats->error("cannot open {$this->file}");
                $this->stats->bump('dropped_send', count($lines));
                return [0, 0];
            }
        }
        $size = 0;
        $oldest = 0;
        try {
            // The lock keeps drop()'s rewrite from losing appends.
            flock($fh, LOCK_EX);
            fseek($fh, 0, SEEK_END);
            fwrite($fh, implode("\n", $lines) . "\n");
            $size = ftell($fh);
            rewind($fh);
            $head = (string) fread($fh, 160);
            $oldest = preg_match('/"at":(\d+)/', $head, $m) === 1 ? (int) $m[1] : 0;
        } finally {
            flock($fh, LOCK_UN);
            fclose($fh);
        }
        if ($size > $this->options->spoolMaxBytes) {
            $this->shrink();
            $size = $this->size();
        }
        return [$size, $oldest];
    }

    /** Keeps the newest lines that fit in half of spool_max_bytes (so that this does not happen every time). */
    private function shrink(): void
    {
        $fh = $this->open();
        if ($fh === null) {
            return;
        }
        try {
            $all = explode("\n", rtrim((string) stream_get_contents($fh), "\n"));
            $kept = [];
            $bytes = 0;
            for ($i = count($all) - 1; $i >= 0; $i--) {
                $bytes += strlen($all[$i]) + 1;
                if ($bytes > intdiv($this->options->spoolMaxBytes, 2)) {
                    break;
                }
                array_unshift($kept, $all[$i]);
            }
            $this->stats->bump('dropped_spool_full', count($all) - count($kept));
            ftruncate($fh, 0);
            rewind($fh);
            fwrite($fh, $kept === [] ? '' : implode("\n", $kept) . "\n");
        } finally {
            flock($fh, LOCK_UN);
            fclose($fh);
        }
    }

    /** The oldest $max events, left in place (drop() removes them once sent). @return list<string> */
    public function peek(int $max): array
    {
        clearstatcache(true, $this->file);
        if (!is_file($this->file) || filesize($this->file) === 0) {
            return [];
        }
        $fh = @fopen($this->file, 'r');
        if ($fh === false || !flock($fh, LOCK_SH)) {
            return [];
        }
        $out = [];
        try {
            while (count($out) < $max && ($line = fgets($fh)) !== false) {
                $line = rtrim($line, "\n");
                if ($line !== '') {
                    $out[] = $line;
                }
            }
        } finally {
            flock($fh, LOCK_UN);
            fclose($fh);
        }
        return $out;
    }

    /** Removes the $n oldest events (the ones peek() gave and that are now sent). */
    public function drop(int $n): void
    {
        if ($n <= 0) {
            return;
        }
        $fh = $this->open();
        if ($fh === null) {
            return;
        }
        try {
            $skipped = 0;
            while ($skipped < $n && ($line = fgets($fh)) !== false) {
                if (rtrim($line, "\n") !== '') {
                    $skipped++;
                }
            }
            $rest = (string) stream_get_contents($fh);
            ftruncate($fh, 0);
            rewind($fh);
            fwrite($fh, $rest);
        } finally {
            flock($fh, LOCK_UN);
            fclose($fh);
        }
    }

    /** Takes (removes) up to $max events; the rest stay. @return list<string> */
    public function take(int $max): array
    {
        clearstatcache(true, $this->file);
        if (!is_file($this->file) || filesize($this->file) === 0) {
            return [];
        }
        $fh = $this->open();
        if ($fh === null) {
            return [];
        }
        try {
            $all = explode("\n", rtrim((string) stream_get_contents($fh), "\n"));
            $all = array_values(array_filter($all, static fn (string $l): bool => $l !== ''));
            $taken = array_slice($all, 0, $max);
            $rest = array_slice($all, $max);
            ftruncate($fh, 0);
            rewind($fh);
            if ($rest !== []) {
                fwrite($fh, implode("\n", $rest) . "\n");
            }
            return $taken;
        } finally {
            flock($fh, LOCK_UN);
            fclose($fh);
        }
    }

    public function size(): int
    {
        clearstatcache(true, $this->file);
        $s = @filesize($this->file);
        return $s === false ? 0 : $s;
    }

    /** @return resource|null */
    private function open()
    {
        $dir = $this->options->stateDir;
        if (!is_dir($dir) && !@mkdir($dir, 0700, true) && !is_dir($dir)) {
            $this->stats->error("cannot create state_dir $dir");
            return null;
        }
        $fh = @fopen($this->file, 'c+');
        if ($fh === false) {
            $this->stats->error("cannot open {$this->file}");
            return null;
        }
        if (!flock($fh, LOCK_EX)) {
            fclose($fh);
            return null;
        }
        return $fh;
    }
}
