#!/usr/bin/env bash
# The PHP agent (packages/agent-php) on a clean Debian machine: installs PHP 8.2 (cli, curl, zip),
# APCu (the default send_mode where it is enabled), Composer, PHPUnit and nyholm/psr7 (with the PSR-7/17 interfaces) from Debian, builds the Composer
# package (composer archive), installs it from the built file into a throwaway project (an "artifact"
# repository; Packagist disabled: nothing is downloaded), and runs the PHPUnit suite against the
# INSTALLED package (RISK_HUB_AUTOLOAD). With RISK_HUB_RELAY_URL set (a running relay;
# RISK_HUB_RELAY_TOKEN, RISK_HUB_RELAY_APPLICATION, RISK_HUB_RELAY_ENVIRONMENT) the end-to-end and
# conformance tests run too; without it they are skipped.
# Not php8.2-psr: that extension (the only Debian package with the PSR-15 interfaces) conflicts with
# Composer's dependencies; the tests declare the two PSR-15 interfaces themselves (tests/psr15-stub.php).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need=(php8.2-cli php8.2-curl php8.2-zip php8.2-apcu composer phpunit php-nyholm-psr7)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "== $(php -v | head -1)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export COMPOSER_HOME="$work/composer-home" COMPOSER_ALLOW_SUPERUSER=1 COMPOSER_NO_INTERACTION=1

echo "== composer validate, composer archive"
(cd packages/agent-php && composer validate --no-check-publish --quiet && \
  composer archive --quiet --format=zip --dir="$work/dist" --file=risk-hub-agent)
ls -l "$work/dist"

echo "== composer install from the built package (artifact repository, Packagist off)"
mkdir -p "$work/app"
cat > "$work/app/composer.json" <<JSON
{
  "name": "ci/app",
  "require": { "risk-hub/agent": "*" },
  "repositories": [ { "type": "artifact", "url": "$work/dist" }, { "packagist.org": false } ]
}
JSON
(cd "$work/app" && composer install --no-progress --quiet)
ls "$work/app/vendor/risk-hub/agent/src" >/dev/null

echo "== PHPUnit against the installed package"
cd packages/agent-php
RISK_HUB_AUTOLOAD="$work/app/vendor/autoload.php" phpunit --do-not-cache-result
