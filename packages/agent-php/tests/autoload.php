<?php

declare(strict_types=1);

// What the tests and their fixture apps load: the agent from the Composer project that installed the
// built package (RISK_HUB_AUTOLOAD=/path/to/vendor/autoload.php, as CI does) or from src/; PSR-7/17
// interfaces and nyholm/psr7 from Debian (php-nyholm-psr7); PSR-15's two interfaces from
// psr15-stub.php when no package defines them (Packagist is unreachable here; Debian has no
// php-psr-http-server-* package, and php8.2-psr, which has them, conflicts with Debian's composer).
$autoload = getenv('RISK_HUB_AUTOLOAD');
if (is_string($autoload) && $autoload !== '') {
    require $autoload;
} else {
    spl_autoload_register(static function (string $class): void {
        if (str_starts_with($class, 'RiskHub\\')) {
            // No is_file(): a stat per class is a system call per class per request (Composer's optimised
            // class map does the same).
            $file = __DIR__ . '/../src/' . str_replace('\\', '/', substr($class, 8)) . '.php';
            @include $file;
        }
    });
}
if (is_file('/usr/share/php/Nyholm/Psr7/autoload.php')) {
    require_once '/usr/share/php/Nyholm/Psr7/autoload.php';
}
if (!interface_exists(\Psr\Http\Server\MiddlewareInterface::class)) {
    require_once __DIR__ . '/psr15-stub.php';
}
