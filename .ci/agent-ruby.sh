#!/usr/bin/env bash
# The Ruby agent (packages/agent-ruby) on a clean Debian machine: installs Ruby, Rack, Sinatra, Puma,
# WEBrick and minitest from Debian, builds the gem, installs it from the built .gem file into a private
# GEM_HOME, and runs the minitest suite against the INSTALLED gem. With RISK_HUB_RELAY_URL set (a
# running relay; RISK_HUB_RELAY_TOKEN, RISK_HUB_RELAY_APPLICATION, RISK_HUB_RELAY_ENVIRONMENT) the
# end-to-end and conformance tests run too; without it they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need=(ruby ruby-rack ruby-sinatra puma ruby-webrick ruby-minitest)
missing=()
for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "== $(ruby -v)"

echo "== gem build"
build=$(mktemp -d)
gem_home="$build/gems"
trap 'rm -rf "$build"' EXIT
(cd packages/agent-ruby && gem build risk_hub_agent.gemspec --output "$build/risk_hub_agent.gem" >/dev/null)
ls -l "$build/risk_hub_agent.gem"

echo "== gem install from the built file (GEM_HOME=$gem_home)"
rm -rf "$gem_home"
system_gems=$(ruby -e 'print Gem.path.join(":")')
GEM_HOME="$gem_home" GEM_PATH="$gem_home:$system_gems" gem install --local --no-document "$build/risk_hub_agent.gem"

echo "== minitest against the installed gem"
# Run from outside the source tree so that nothing but the installed gem can be loaded.
cd "$build"
GEM_HOME="$gem_home" GEM_PATH="$gem_home:$system_gems" RISK_HUB_USE_INSTALLED_GEM=1 \
  ruby "$root/packages/agent-ruby/test/all.rb"
