<?php

declare(strict_types=1);

namespace RiskHub;

/**
 * The few times every worker of the host shares, in one small file (state_dir/timers.json) read once
 * per request: when the spool was last sent (drain_at), when the decisions were last refreshed
 * (checked_at) and until when the relay is left alone after a failure (backoff_until), in epoch
 * seconds with milliseconds. One read instead of a file per timer: system calls are what a PHP
 * request's agent costs. Writes (a few per second at most) replace the file atomically; two workers
 * writing at once may lose one update, which costs at most one extra send or poll. send_mode 'apcu':
 * one APCu entry per timer instead (<prefix>timers:<name>), each read when first asked for.
 */
final class Timers
{
    /** @var array<string,float>|null */
    private ?array $values = null;
    private string $file;

    /** $apcuKey: keep the timers in APCu under this key prefix instead of the file (send_mode 'apcu'). */
    public function __construct(private readonly Options $options, private readonly ?string $apcuKey = null)
    {
        $this->file = $options->stateDir . '/timers.json';
    }

    public function get(string $name): float
    {
        if ($this->apcuKey !== null) {
            // One APCu entry per timer, read when first asked for: floats are stored as they are (an
            // array would be serialized).
            if (!isset($this->values[$name])) {
                $this->values[$name] = (float) apcu_fetch($this->apcuKey . $name);
            }
            return $this->values[$name];
        } elseif ($this->values === null) {
            $raw = @file_get_contents($this->file);
            $doc = is_string($raw) ? json_decode($raw, true) : null;
            $this->values = is_array($doc) ? array_map('floatval', $doc) : [];
        }
        return $this->values[$name] ?? 0.0;
    }

    public function set(string $name, float $value): void
    {
        if ($this->apcuKey !== null) {
            $this->values[$name] = $value;
            apcu_store($this->apcuKey . $name, $value);
            return;
        }
        $this->get($name);
        $this->values[$name] = $value;
        $dir = $this->options->stateDir;
        $tmp = $this->file . '.' . getmypid() . '.' . bin2hex(random_bytes(3));
        if (@file_put_contents($tmp, json_encode($this->values)) === false) {
            if (!@mkdir($dir, 0700, true) && !is_dir($dir)) {
                return;
            }
            if (@file_put_contents($tmp, json_encode($this->values)) === false) {
                return;
            }
        }
        if (!@rename($tmp, $this->file)) {
            @unlink($tmp);
        }
    }

    /** Forget what was read (the next get() reads the file again). */
    public function reset(): void
    {
        $this->values = null;
    }
}
