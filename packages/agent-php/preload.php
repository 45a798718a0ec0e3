<?php

// opcache.preload for the agent, the production setup (README, "Production setup"):
// `opcache.preload=/path/to/vendor/risk-hub/agent/preload.php` and `opcache.preload_user`. Its classes are
// then in shared memory from the start: a request loads no file of the agent. Psr15Middleware is left
// out: it implements PSR-15 interfaces that may not be loadable at preload time.
declare(strict_types=1);

foreach (glob(__DIR__ . '/src/*.php') ?: [] as $file) {
    if (basename($file) !== 'Psr15Middleware.php') {
        opcache_compile_file($file);
    }
}
