<?php

declare(strict_types=1);

namespace RiskHub;

/**
 * The relay's `request` object (docs/relay-protocol.md) of a plain PHP request ($_SERVER, php://input)
 * or of a PSR-7 ServerRequestInterface. JSON objects are \ArrayObject (so that a map whose keys look
 * like numbers, or an empty one, still encodes as {}), JSON lists are arrays.
 */
final class RequestFacts
{
    public const MAX_BODY_BYTES = 65536;      // bodies above are not parsed (the relay gets no body)
    public const MAX_DEPTH = 20;              // deeper containers become null
    public const MAX_STRING_BYTES = 16384;    // longer strings are cut
    public const MAX_PARSE_DEPTH = 64;        // JSON deeper than this is refused by the parser (hostile bodies)
    public const MAX_ENTRIES = 256;           // query names, cookies, headers kept at most
    private const DROPPED_HEADERS = ['cookie' => true, 'authorization' => true, 'proxy-authorization' => true];

    /** Whether something was cut or left out while building the last request. */
    public bool $truncated = false;

    /**
     * The request PHP is serving now.
     * @param array<string,mixed> $server $_SERVER
     * @param array<string,mixed>|null $pathParams
     */
    public function fromGlobals(array $server, string|false|null $rawBody, ?array $pathParams = null): array
    {
        $headers = [];
        foreach ($server as $k => $v) {
            if (is_string($v) && is_string($k) && str_starts_with($k, 'HTTP_')) {
                $headers[strtolower(strtr(substr($k, 5), '_', '-'))] = $v;
            }
        }
        foreach (['CONTENT_TYPE' => 'content-type', 'CONTENT_LENGTH' => 'content-length'] as $k => $name) {
            if (isset($server[$k]) && is_string($server[$k]) && $server[$k] !== '') {
                $headers[$name] = $server[$k];
            }
        }
        $uri = (string) ($server['REQUEST_URI'] ?? '/');
        $qs = (string) ($server['QUERY_STRING'] ?? (parse_url($uri, PHP_URL_QUERY) ?? ''));
        return $this->build(
            (string) ($server['REQUEST_METHOD'] ?? 'GET'),
            $uri,
            (string) ($server['REMOTE_ADDR'] ?? ''),
            $headers,
            $qs,
            $rawBody,
            null,
            $pathParams ?? [],
        );
    }

    /**
     * A PSR-7 ServerRequestInterface (duck-typed: no PSR package is required to load this class).
     * @param array<string,mixed>|null $pathParams
     */
    public function fromPsr7(object $request, ?array $pathParams = null): array
    {
        $headers = [];
        foreach ($request->getHeaders() as $name => $values) {
            $headers[strtolower((string) $name)] = implode(', ', $values);
        }
        $server = $request->getServerParams();
        $uri = $request->getUri();
        $target = $request->getRequestTarget();
        $raw = null;
        $type = strtolower($headers['content-type'] ?? '');
        if (self::isJson($type) || str_starts_with($type, 'application/x-www-form-urlencoded')) {
            $body = $request->getBody();
            $size = $body->getSize();
            if ($size !== null && $size > self::MAX_BODY_BYTES) {
                $raw = false;
            } elseif ($body->isSeekable()) {
                $pos = $body->tell();
                $body->rewind();
                $raw = $body->read(self::MAX_BODY_BYTES + 1);
                $body->seek($pos);
                if (strlen($raw) > self::MAX_BODY_BYTES) {
                    $raw = false;
                }
            }
        }
        $parsed = $raw === null ? $request->getParsedBody() : null;
        return $this->build(
            $request->getMethod(),
            $target !== '' ? $target : (string) $uri,
            (string) ($server['REMOTE_ADDR'] ?? ''),
            $headers,
            $uri->getQuery(),
            $raw,
            $parsed,
            $pathParams ?? [],
            $request->getCookieParams(),
        );
    }

    /**
     * @param array<string,string> $headers lower-cased names
     * @param string|false|null $rawBody false: over the bound
     * @param array<string,mixed> $pathParams
     * @param array<string,mixed>|null $cookies parsed already (PSR-7); null: from the cookie header
     */
    public function build(string $method, string $uri, string $ip, array $headers, string $query, string|false|null $rawBody, mixed $parsedBody, array $pathParams, ?array $cookies = null): array
    {
        $this->truncated = false;
        $type = strtolower($headers['content-type'] ?? '');
        $body = null;
        if ($rawBody === false) {
            $this->truncated = true;
        } elseif (is_string($rawBody) && $rawBody !== '') {
            $body = $this->parseBody($rawBody, $type);
        } elseif (is_array($parsedBody) || is_object($parsedBody)) {
            $body = $this->bound($parsedBody, 0);
        }
        $h = [];
        foreach ($headers as $name => $value) {
            if (isset(self::DROPPED_HEADERS[$name])) {
                continue;
            }
            if (count($h) >= self::MAX_ENTRIES) {
                break;
            }
            $h[$name] = strlen($value) > self::MAX_STRING_BYTES ? $this->str($value) : $value;
        }
        if ($cookies === null) {
            $cookies = self::parseCookies($headers['cookie'] ?? '');
        }
        $c = [];
        foreach ($cookies as $k => $v) {
            if (count($c) >= self::MAX_ENTRIES) {
                break;
            }
            $k = (string) $k;
            $c[strlen($k) > 256 ? Identity::truncateUtf8($k, 256) : $k] = is_scalar($v) ? $this->str((string) $v) : $this->bound($v, 1);
        }
        return [
            'method' => strlen($method) > 16 ? Identity::truncateUtf8($method, 16) : $method,
            'uri' => $this->str($uri),
            'ip' => strlen($ip) > 64 ? Identity::truncateUtf8($ip, 64) : $ip,
            'headers' => new \ArrayObject($h),
            'query' => new \ArrayObject($this->parseQuery($query)),
            'body' => $body,
            'path_params' => $this->boundMap($pathParams),
            'cookies' => new \ArrayObject($c),
        ];
    }

    /** A map (route parameters) as a JSON object, values bounded. */
    private function boundMap(array $map): \ArrayObject
    {
        $out = [];
        foreach ($map as $k => $v) {
            if (count($out) >= self::MAX_ENTRIES) {
                break;
            }
            $out[$this->str((string) $k)] = $this->bound($v, 1);
        }
        return new \ArrayObject($out);
    }

    public static function isJson(string $type): bool
    {
        return str_starts_with($type, 'application/json') || preg_match('#^application/[^;]*\+json#', $type) === 1;
    }

    /** Query string → [name => [values]] (repeated names keep every value, in order). */
    public function parseQuery(string $qs): array
    {
        $out = [];
        if ($qs === '') {
            return $out;
        }
        foreach (str_contains($qs, ';') ? preg_split('/[&;]/', $qs) : explode('&', $qs) as $pair) {
            if ($pair === '') {
                continue;
            }
            $eq = strpos($pair, '=');
            $name = urldecode($eq === false ? $pair : substr($pair, 0, $eq));
            $value = $eq === false ? '' : urldecode(substr($pair, $eq + 1));
            if ($name === '' || (!array_key_exists($name, $out) && count($out) >= self::MAX_ENTRIES)) {
                continue;
            }
            $out[$name][] = strlen($value) > self::MAX_STRING_BYTES ? $this->str($value) : $value;
        }
        return $out;
    }

    /** @return array<string,string> */
    public static function parseCookies(string $header): array
    {
        $out = [];
        if ($header === '') {
            return $out;
        }
        // explode + ltrim of what PCRE's \s matches: preg_split('/;\s*/') without a regular expression.
        foreach (explode(';', $header) as $i => $pair) {
            if ($i > 0) {
                $pair = ltrim($pair, " \t\n\r\x0B\x0C");
            }
            $eq = strpos($pair, '=');
            $name = trim($eq === false ? $pair : substr($pair, 0, $eq));
            if ($name === '') {
                continue;
            }
            $out[urldecode($name)] = urldecode($eq === false ? '' : substr($pair, $eq + 1));
        }
        return $out;
    }

    private function parseBody(string $raw, string $type): mixed
    {
        if (self::isJson($type)) {
            try {
                $value = json_decode($raw, false, self::MAX_PARSE_DEPTH, JSON_THROW_ON_ERROR | JSON_INVALID_UTF8_SUBSTITUTE | JSON_BIGINT_AS_STRING);
            } catch (\JsonException) {
                $this->truncated = true; // not JSON, or too deep: no body
                return null;
            }
            return $this->bound($value, 0);
        }
        if (str_starts_with($type, 'application/x-www-form-urlencoded')) {
            // Flat name → value (a list when repeated), like Node's querystring: PHP's own parse_str
            // would rename "a.b" to "a_b" and nest "a[b]".
            $out = [];
            foreach ($this->parseQuery($raw) as $k => $values) {
                $out[$k] = count($values) === 1 ? $values[0] : $values;
            }
            return new \ArrayObject($out);
        }
        return null;
    }

    /**
     * A parsed value within the bounds: depth 20 (deeper becomes null), strings of 16 KiB, JSON types only.
     */
    public function bound(mixed $value, int $depth): mixed
    {
        if (is_array($value) || $value instanceof \stdClass || $value instanceof \ArrayObject) {
            if ($depth >= self::MAX_DEPTH) {
                $this->truncated = true;
                return null;
            }
            $isList = is_array($value) && array_is_list($value);
            $out = [];
            foreach ($value instanceof \stdClass ? get_object_vars($value) : $value as $k => $v) {
                $out[$isList ? count($out) : $this->str((string) $k)] = $this->bound($v, $depth + 1);
            }
            return $isList ? $out : new \ArrayObject($out);
        }
        if (is_string($value)) {
            return $this->str($value);
        }
        if (is_int($value) || is_bool($value) || $value === null) {
            return $value;
        }
        if (is_float($value)) {
            return is_finite($value) ? $value : null;
        }
        if (is_object($value) && method_exists($value, '__toString')) {
            return $this->str((string) $value);
        }
        return null;
    }

    private function str(string $s): string
    {
        if (strlen($s) > self::MAX_STRING_BYTES) {
            $this->truncated = true;
            return Identity::truncateUtf8($s, self::MAX_STRING_BYTES);
        }
        return $s;
    }
}
