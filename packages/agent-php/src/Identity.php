<?php

declare(strict_types=1);

namespace RiskHub;

/** Identity rules shared with every Risk Hub agent (packages/agent/src/identity.ts). */
final class Identity
{
    /** application_id and environment: 1-64 ASCII letters, digits, '.', '_', '-', not starting with a symbol. */
    public const IDENTIFIER_PATTERN = '/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/D';
    public const IDENTIFIER_RULE = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
    public const MAX_USER_KEY_BYTES = 256;
    public const MAX_IDENTIFIERS = 16;
    public const MAX_IDENTIFIER_NAME_BYTES = 64;
    public const MAX_IDENTIFIER_VALUE_BYTES = 256;

    public static function isIdentifier(mixed $value): bool
    {
        return is_string($value) && preg_match(self::IDENTIFIER_PATTERN, $value) === 1;
    }

    /** Why (application_id, environment, user key) is not a valid identity; null when it is. */
    public static function problem(mixed $applicationId, mixed $environment, mixed $userKey): ?string
    {
        if (!self::isIdentifier($applicationId)) {
            return 'application_id ' . self::describe($applicationId) . ' must match ' . self::IDENTIFIER_RULE . " (1-64 letters, digits, '.', '_', '-'; no '/')";
        }
        if (!self::isIdentifier($environment)) {
            return 'environment ' . self::describe($environment) . ' must match ' . self::IDENTIFIER_RULE . " (1-64 letters, digits, '.', '_', '-'; no '/')";
        }
        return self::userKeyProblem($userKey);
    }

    public static function userKeyProblem(mixed $key): ?string
    {
        if (!is_string($key) || trim($key, " \t\n\r\0\x0B\u{a0}") === '') {
            return 'user.key must be a non-blank string';
        }
        $bytes = strlen($key);
        if ($bytes > self::MAX_USER_KEY_BYTES) {
            return "user.key is $bytes bytes of UTF-8, above the limit of " . self::MAX_USER_KEY_BYTES;
        }
        if (preg_match('//u', $key) !== 1) {
            return 'user.key is not valid UTF-8';
        }
        return null;
    }

    /** A string cut to at most $maxBytes bytes, never inside a UTF-8 character. */
    public static function truncateUtf8(string $s, int $maxBytes): string
    {
        if (strlen($s) <= $maxBytes) {
            return $s;
        }
        $cut = $maxBytes;
        // Step back over continuation bytes (10xxxxxx) so that the cut falls on a character boundary.
        while ($cut > 0 && (ord($s[$cut]) & 0xC0) === 0x80) {
            $cut--;
        }
        return substr($s, 0, $cut);
    }

    /** @param array<mixed>|null $identifiers @return array<string,string> */
    public static function boundIdentifiers(?array $identifiers): array
    {
        $out = [];
        foreach ($identifiers ?? [] as $k => $v) {
            if (count($out) >= self::MAX_IDENTIFIERS) {
                break;
            }
            $name = self::truncateUtf8((string) $k, self::MAX_IDENTIFIER_NAME_BYTES);
            if (array_key_exists($name, $out)) {
                continue;
            }
            $out[$name] = self::truncateUtf8(is_scalar($v) ? (string) $v : (string) json_encode($v), self::MAX_IDENTIFIER_VALUE_BYTES);
        }
        return $out;
    }

    /** A UUID v4, the id of one event. */
    public static function eventId(): string
    {
        $b = random_bytes(16);
        $b[6] = chr((ord($b[6]) & 0x0F) | 0x40);
        $b[8] = chr((ord($b[8]) & 0x3F) | 0x80);
        $h = bin2hex($b);
        return substr($h, 0, 8) . '-' . substr($h, 8, 4) . '-' . substr($h, 12, 4) . '-' . substr($h, 16, 4) . '-' . substr($h, 20, 12);
    }

    private static function describe(mixed $v): string
    {
        if (!is_string($v)) {
            return get_debug_type($v);
        }
        return (string) json_encode(strlen($v) > 80 ? substr($v, 0, 80) . '…' : $v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE);
    }
}
