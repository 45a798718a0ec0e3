#!/usr/bin/env bash
# For CI on a machine like this one (Debian, root): makes sure a Docker engine runs and debootstrap is
# there for local-bases.sh. Installs Debian's docker.io (and debootstrap) when missing, starts dockerd
# in the background when it is not running (log: $RISK_HUB_CACHE/docker/dockerd.log), and waits for
# `docker info`, at most 60 s. A running engine is left alone; an engine this script starts keeps running.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: install it (apt-get install ${missing[*]}) as root, then retry."
  say "installing ${missing[*]} from Debian…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed: install it by hand, then retry."
fi

if timeout 20 docker info >/dev/null 2>&1; then
  say "Docker engine running: $(docker version --format '{{.Server.Version}}')"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "the Docker engine is not running and only root can start it here: run 'dockerd &' as root (or systemctl start docker)."
mkdir -p "$DOCKER_CACHE"
say "starting dockerd…"
setsid nohup dockerd >"$DOCKER_CACHE/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if timeout 5 docker info >/dev/null 2>&1; then
    say "Docker engine started: $(docker version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
die "dockerd did not answer within 60 s: see $DOCKER_CACHE/dockerd.log"
