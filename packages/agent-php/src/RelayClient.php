<?php

declare(strict_types=1);

namespace RiskHub;

/** Calls to the relay (docs/relay-protocol.md) with curl, each bounded by a timeout in milliseconds. */
final class RelayClient
{
    /** @var \CurlHandle|null one handle per process: keep-alive across calls (FPM workers reuse it) */
    private static ?\CurlHandle $handle = null;

    public function __construct(private readonly Options $options)
    {
    }

    /** @return array{0:int,1:string,2:array<string,string>} status (0: no answer), body, lower-cased headers */
    public function call(string $method, string $path, ?string $body, int $timeoutMs, array $headers = []): array
    {
        $ch = self::$handle ??= curl_init();
        curl_reset($ch);
        $respHeaders = [];
        $h = ['authorization: Bearer ' . $this->options->token, 'user-agent: risk-hub-php/' . Agent::VERSION, 'expect:'];
        foreach ($headers as $k => $v) {
            $h[] = "$k: $v";
        }
        if ($body !== null) {
            $h[] = 'content-type: application/json';
        }
        curl_setopt_array($ch, [
            CURLOPT_URL => $this->options->relayUrl . $path,
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_HTTPHEADER => $h,
            CURLOPT_CONNECTTIMEOUT_MS => $timeoutMs,
            CURLOPT_TIMEOUT_MS => $timeoutMs,
            CURLOPT_NOSIGNAL => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
            CURLOPT_HEADERFUNCTION => static function ($ch, string $line) use (&$respHeaders): int {
                $p = strpos($line, ':');
                if ($p !== false) {
                    $respHeaders[strtolower(trim(substr($line, 0, $p)))] = trim(substr($line, $p + 1));
                }
                return strlen($line);
            },
        ]);
        if ($body !== null) {
            curl_setopt($ch, CURLOPT_POSTFIELDS, $body);
        }
        $out = curl_exec($ch);
        if ($out === false) {
            $err = curl_error($ch);
            throw new \RuntimeException("$method $path: " . ($err !== '' ? $err : 'no answer'));
        }
        return [(int) curl_getinfo($ch, CURLINFO_RESPONSE_CODE), (string) $out, $respHeaders];
    }
}
