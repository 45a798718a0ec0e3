<?php

declare(strict_types=1);

namespace RiskHub;

/**
 * send_mode 'apcu': the events of every worker of the host wait in APCu shared memory instead of the
 * spool file, so a request's agent makes no file-system call (the file spool's open, lock, write, read
 * and close were most of its cost). Each request's events are one slot: `tail` is incremented
 * atomically (apcu_inc) and the slot stored under that number; the sender drains slots `head`..`tail`
 * in order under an APCu lock (apcu_add), and moves `head` once the relay took them. Bounded: beyond
 * max_slots waiting (the relay down), the oldest slots are dropped and counted. Shared memory does not
 * survive a restart of PHP-FPM (the spool file does): events waiting then are lost, as a full queue's.
 */
final class ShmQueue
{
    private string $p;

    public function __construct(Options $options, private readonly Stats $stats, private readonly int $maxSlots, private readonly int $batchSize)
    {
        // One namespace per state_dir: two agents of one host (two applications) never mix.
        $this->p = 'risk-hub:' . md5($options->stateDir) . ':';
    }

    public static function available(): bool
    {
        return function_exists('apcu_enabled') && apcu_enabled();
    }

    public function prefix(): string
    {
        return $this->p;
    }

    /**
     * Appends this request's events as one slot (more when they are more than batch_size, so that a
     * batch never exceeds the relay's bound). An event is its JSON, or the raw capture of a request
     * (Agent::rawRequest(), an array) that the sender maps (peek()).
     * @param list<string|array> $lines
     */
    public function append(array $lines): void
    {
        if ($lines === []) {
            return;
        }
        if (count($lines) <= $this->batchSize) {
            $this->appendSlot($lines);
            return;
        }
        foreach (array_chunk($lines, $this->batchSize) as $chunk) {
            $this->appendSlot($chunk);
        }
    }

    /**
     * A slot is the events' JSON joined by ',' when they are all JSON, else "R<count>\n" and the
     * serialized list (APCu would serialize an array anyway).
     * @param list<string|array> $lines
     */
    private function appendSlot(array $lines): void
    {
        $value = null;
        foreach ($lines as $line) {
            if (!is_string($line)) {
                $value = 'R' . count($lines) . "\n" . serialize($lines);
                break;
            }
        }
        $n = apcu_inc($this->p . 'tail');
        if ($n === false || !apcu_store($this->p . 'e' . $n, $value ?? implode(',', $lines))) {
            $this->stats->error('apcu: the event could not be stored (shared memory full?)');
            $this->stats->bump('dropped_send', count($lines));
            return;
        }
        $head = (int) apcu_fetch($this->p . 'head');
        if ($head === 0) {
            // The first slot ever is 1: apcu_add, so that only one worker sets it.
            apcu_add($this->p . 'head', 1);
            $head = 1;
        }
        $waiting = $n - $head + 1;
        if ($waiting > $this->maxSlots && apcu_cas($this->p . 'head', $head, $head + 1)) {
            // Full: the oldest slot goes (one per append, so the bound holds without a loop).
            $old = apcu_fetch($this->p . 'e' . $head);
            apcu_delete($this->p . 'e' . $head);
            $this->stats->bump('dropped_spool_full', is_string($old) ? self::count($old) : 1);
        }
    }

    /** Takes the drain lock for at most $ttlSeconds (a crashed holder frees it then). */
    public function lock(int $ttlSeconds): bool
    {
        return apcu_add($this->p . 'lock', getmypid(), $ttlSeconds);
    }

    public function unlock(): void
    {
        apcu_delete($this->p . 'lock');
    }

    /**
     * The oldest slots holding at most $maxEvents events (at least one slot), left in place: [first
     * slot number, number of slots, the events as one comma-joined JSON list, the event count, the JSON
     * of the slots that held raw captures (slot number => JSON, for keep())]. Raw captures are mapped
     * here by $map (null: that event is left out, counted by $map).
     * A slot counted but not yet stored (a worker between apcu_inc and apcu_store) ends the batch; if
     * it is still missing at the next drain, it is skipped (its worker died, or APCu evicted it).
     * @param callable(array):?string $map
     * @return array{0:int,1:int,2:string,3:int,4:array<int,string>}|null
     */
    public function peek(int $maxEvents, callable $map): ?array
    {
        $head = (int) apcu_fetch($this->p . 'head');
        $tail = (int) apcu_fetch($this->p . 'tail');
        if ($head === 0 || $head > $tail) {
            return null;
        }
        $last = min($tail, $head + $maxEvents - 1);
        $keys = [];
        for ($i = $head; $i <= $last; $i++) {
            $keys[] = $this->p . 'e' . $i;
        }
        $found = apcu_fetch($keys);
        $parts = [];
        $mapped = [];
        $events = 0;
        $slot = $head;
        for (; $slot <= $last; $slot++) {
            $v = $found[$this->p . 'e' . $slot] ?? null;
            if (!is_string($v)) {
                if ($slot === $head && apcu_fetch($this->p . 'missing') === $slot) {
                    // Missing since the last drain: skip it.
                    apcu_cas($this->p . 'head', $head, $head + 1);
                    $this->stats->bump('dropped_send');
                    return $this->peek($maxEvents, $map);
                }
                apcu_store($this->p . 'missing', $slot);
                break;
            }
            $c = self::count($v);
            if ($parts !== [] && $events + $c > $maxEvents) {
                break;
            }
            if ($v[0] === 'R') {
                $json = [];
                $items = @unserialize(substr($v, strpos($v, "\n") + 1), ['allowed_classes' => false]);
                foreach (is_array($items) ? $items : [] as $item) {
                    $line = is_string($item) ? $item : (is_array($item) ? $map($item) : null);
                    if ($line !== null) {
                        $json[] = $line;
                    }
                }
                $c = count($json);
                $v = implode(',', $json);
                $mapped[$slot] = $v;
                if ($c === 0) {
                    continue; // nothing left of it: dropped with the batch
                }
            }
            $parts[] = $v;
            $events += $c;
        }
        return $slot === $head ? null : [$head, $slot - $head, implode(',', $parts), $events, $mapped];
    }

    /**
     * After a failed send: the slots that held raw captures keep their JSON from now on, so that a
     * later send gives the relay the same events (the same ids) if this one reached it after all.
     * @param array<int,string> $mapped slot number => JSON (peek())
     */
    public function keep(array $mapped): void
    {
        $head = (int) apcu_fetch($this->p . 'head');
        foreach ($mapped as $slot => $json) {
            if ($slot >= $head && $json !== '' && apcu_exists($this->p . 'e' . $slot)) {
                apcu_store($this->p . 'e' . $slot, $json);
            }
        }
    }

    /** Removes the $slots slots from $first on (sent, or refused for good). */
    public function drop(int $first, int $slots): void
    {
        $keys = [];
        for ($i = $first; $i < $first + $slots; $i++) {
            $keys[] = $this->p . 'e' . $i;
        }
        apcu_delete($keys);
        // A full queue's append may have moved head past $first meanwhile: never move it back.
        for ($try = 0; $try < 8; $try++) {
            $head = (int) apcu_fetch($this->p . 'head');
            if ($head >= $first + $slots || apcu_cas($this->p . 'head', $head, $first + $slots)) {
                return;
            }
        }
    }

    /** Events waiting, approximately (slots x their events are not counted without reading them). */
    public function slots(): int
    {
        $head = (int) apcu_fetch($this->p . 'head');
        $tail = (int) apcu_fetch($this->p . 'tail');
        return $head === 0 ? 0 : max(0, $tail - $head + 1);
    }

    /** The events in one slot: JSON objects joined by ',' counted by their "kind" member, or a raw slot's count. */
    private static function count(string $slot): int
    {
        if ($slot !== '' && $slot[0] === 'R') {
            return max(1, (int) substr($slot, 1, 8));
        }
        return max(1, substr_count($slot, '{"kind":'));
    }
}
