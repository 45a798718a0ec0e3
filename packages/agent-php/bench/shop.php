<?php

// The benchmark's shop: examples/express-app/server.ts in plain PHP (a front controller under `php -S`):
// home page, login (demo users, SHA-256 + hash_equals), logout, product search (HTML, or JSON when the
// client asks for it), file download, profile with a route parameter, health check. Sessions: an opaque
// token in the `sid` cookie (or a bearer token) kept in APCu, as the Express app keeps them in a Map.
// With the agent when WITH_AGENT=1 (loaded from AGENT_DIR/src, or preloaded with AGENT_DIR/preload.php):
// started first, identify() once the session's user is known, trackLogin() on POST /login, route
// parameters on /users/{id}, exactly where the Express app calls its agent.
// BENCH_SCRIPT_CPU=1: the script's own CPU (getrusage, to after the shutdown functions) summed in APCu,
// read with GET /__cpu (bench.php).
declare(strict_types=1);

if (getenv('BENCH_SCRIPT_CPU') === '1') {
    if ($_SERVER['REQUEST_URI'] === '/__cpu') {
        echo json_encode(['us' => (int) apcu_fetch('bench:us'), 'n' => (int) apcu_fetch('bench:n')]);
        return true;
    }
    $ru0 = getrusage();
    register_shutdown_function(static function () use ($ru0): void {
        register_shutdown_function(static function () use ($ru0): void { // last: after the agent's
            $ru = getrusage();
            apcu_inc('bench:us', ($ru['ru_utime.tv_sec'] - $ru0['ru_utime.tv_sec'] + $ru['ru_stime.tv_sec'] - $ru0['ru_stime.tv_sec']) * 1000000
                + $ru['ru_utime.tv_usec'] - $ru0['ru_utime.tv_usec'] + $ru['ru_stime.tv_usec'] - $ru0['ru_stime.tv_usec']);
            apcu_inc('bench:n');
        });
    });
}

$agent = null;
if (getenv('WITH_AGENT') === '1') {
    // What Composer's PSR-4 autoloader does (nothing is called when the classes are preloaded).
    spl_autoload_register(static function (string $class): void {
        if (str_starts_with($class, 'RiskHub\\')) {
            @include getenv('AGENT_DIR') . '/src/' . substr($class, 8) . '.php';
        }
    });
    $agent = RiskHub\Agent::start(['application' => 'bench', 'token' => 'bench', 'relay_url' => getenv('RELAY_URL'),
        'state_dir' => getenv('STATE_DIR'), 'logger' => null]);
}

const DEMO_USERS = [
    'alice' => ['id' => 'u-1001', 'email' => 'alice@example.com', 'name' => 'Alice'],
    'bob' => ['id' => 'u-1002', 'email' => 'bob@example.com', 'name' => 'Bob'],
    'carol' => ['id' => 'u-1003', 'email' => 'carol@example.com', 'name' => 'Carol'],
];
const DEMO_PASSWORDS = ['alice' => 'wonderland', 'bob' => 'builder', 'carol' => 'singer'];
const PRODUCTS = [
    'Red running shoes', 'Blue rain jacket', 'Green tea (loose leaf)', 'Espresso machine', 'Hiking backpack 40L',
    'Wool socks', 'Cast iron skillet', 'Noise-cancelling headphones', 'Paperback: The Hobbit', 'Yoga mat',
    'Stainless water bottle', 'LED desk lamp', 'Mechanical keyboard', 'USB-C charger 65W', 'Coffee grinder',
];
const FILES = [
    'report.pdf' => ['type' => 'application/pdf', 'body' => '%PDF-1.4 demo report'],
    'readme.txt' => ['type' => 'text/plain', 'body' => 'Welcome to the demo shop.'],
    'price-list.csv' => ['type' => 'text/csv', 'body' => "product,price\nwool socks,9.90\n"],
];
const SESSION_TTL = 3600;

function e(string $s): string
{
    return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE | ENT_HTML5, 'UTF-8');
}

function page(string $title, string $body): void
{
    header('content-type: text/html; charset=utf-8');
    echo '<!doctype html><html><head><meta charset="utf-8"><title>', e($title), '</title></head><body>', $body, '</body></html>';
}

function json(mixed $value, int $status = 200): void
{
    http_response_code($status);
    header('content-type: application/json; charset=utf-8');
    echo json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

function passwordOk(string $login, string $password): bool
{
    // The demo's hashes, computed as the Express app computes them at start-up (sha256 of the password).
    return isset(DEMO_PASSWORDS[$login]) && hash_equals(hash('sha256', DEMO_PASSWORDS[$login], true), hash('sha256', $password, true));
}

function sessionToken(): ?string
{
    $auth = $_SERVER['HTTP_AUTHORIZATION'] ?? '';
    if (str_starts_with($auth, 'Bearer ')) {
        return substr($auth, 7);
    }
    return preg_match('/(?:^|;\s*)sid=([^;]+)/', $_SERVER['HTTP_COOKIE'] ?? '', $m) === 1 ? $m[1] : null;
}

function sessionUser(): ?string
{
    $token = sessionToken();
    if ($token === null) {
        return null;
    }
    $login = apcu_fetch('shop:sid:' . $token);
    return is_string($login) ? $login : null;
}

/** Express's req.accepts(['html', 'json']): json only when the client prefers it. */
function wantsJson(): bool
{
    $accept = $_SERVER['HTTP_ACCEPT'] ?? '*/*';
    return str_contains($accept, 'application/json') && !str_contains($accept, 'text/html');
}

$method = $_SERVER['REQUEST_METHOD'];
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?: '/';
$body = $_POST;
if ($method === 'POST' && str_starts_with((string) ($_SERVER['CONTENT_TYPE'] ?? ''), 'application/json')) {
    $raw = file_get_contents('php://input', false, null, 0, 32768);
    $body = is_string($raw) ? (json_decode($raw, true) ?: []) : [];
}

$who = sessionUser();
if ($who !== null && isset(DEMO_USERS[$who])) {
    $agent?->identify(['key' => DEMO_USERS[$who]['id'], 'identifiers' => ['login' => $who, 'email' => DEMO_USERS[$who]['email']]]);
}

if ($method === 'GET' && $path === '/') {
    page('Demo shop', '<h1>Demo shop</h1>' . ($who !== null ? '<p>Signed in as ' . e($who) . '</p>' : '') . "\n"
        . '<form method="post" action="/login"><input name="username" placeholder="username"><input name="password" type="password" placeholder="password"><button>Sign in</button></form>' . "\n"
        . '<form method="get" action="/search"><input name="q" placeholder="search products"><button>Search</button></form>' . "\n"
        . '<p><a href="/files?name=readme.txt">readme.txt</a> · <a href="/files?name=report.pdf">report.pdf</a></p>');
} elseif ($method === 'POST' && $path === '/login') {
    $username = is_string($body['username'] ?? null) ? $body['username'] : '';
    $password = is_string($body['password'] ?? null) ? $body['password'] : '';
    $user = DEMO_USERS[$username] ?? null;
    if ($user === null || !passwordOk($username, $password)) {
        $agent?->trackLogin(false, ['key' => $user['id'] ?? ($username !== '' ? $username : 'unknown'), 'identifiers' => ['login' => $username]]);
        json(['ok' => false, 'error' => 'invalid username or password'], 401);
    } else {
        $agent?->trackLogin(true, ['key' => $user['id'], 'identifiers' => ['login' => $username, 'email' => $user['email']]]);
        $token = rtrim(strtr(base64_encode(random_bytes(18)), '+/', '-_'), '=');
        apcu_store('shop:sid:' . $token, $username, SESSION_TTL);
        setcookie('sid', $token, ['httponly' => true, 'samesite' => 'Lax', 'path' => '/']);
        json(['ok' => true, 'user' => $username, 'token' => $token]);
    }
} elseif ($method === 'POST' && $path === '/logout') {
    $token = sessionToken();
    if ($token !== null) {
        apcu_delete('shop:sid:' . $token);
    }
    setcookie('sid', '', ['expires' => 1, 'path' => '/']);
    json(['ok' => true]);
} elseif ($method === 'GET' && $path === '/search') {
    $q = is_string($_GET['q'] ?? null) ? substr($_GET['q'], 0, 200) : '';
    $terms = preg_split('/\s+/', strtolower($q), -1, PREG_SPLIT_NO_EMPTY) ?: [];
    $hits = $terms === [] ? [] : array_values(array_filter(PRODUCTS, static function (string $p) use ($terms): bool {
        $p = strtolower($p);
        foreach ($terms as $t) {
            if (!str_contains($p, $t)) {
                return false;
            }
        }
        return true;
    }));
    if (wantsJson()) {
        json(['q' => $q, 'results' => $hits]);
    } else {
        page("Search: $q", '<h1>Results for “' . e($q) . '”</h1><ul>' . implode('', array_map(static fn (string $h) => '<li>' . e($h) . '</li>', $hits)) . '</ul>');
    }
} elseif ($method === 'GET' && $path === '/files') {
    $name = is_string($_GET['name'] ?? null) ? $_GET['name'] : '';
    $file = FILES[$name] ?? null;
    if ($file === null) {
        json(['error' => 'no such file'], 404);
    } else {
        header('content-type: ' . $file['type']);
        echo $file['body'];
    }
} elseif ($method === 'GET' && preg_match('#^/users/([^/]+)$#', $path, $m) === 1) {
    $id = rawurldecode($m[1]);
    $agent?->setPathParams(['id' => $id]);
    $found = null;
    foreach (DEMO_USERS as $u) {
        if ($u['id'] === $id) {
            $found = $u;
        }
    }
    $found === null ? json(['error' => 'no such user'], 404) : json(['id' => $id, 'name' => $found['name']]);
} elseif ($method === 'GET' && $path === '/healthz') {
    json(['ok' => true]);
} else {
    json(['error' => 'not found'], 404);
}
return true;
