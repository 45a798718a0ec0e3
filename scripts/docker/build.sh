#!/usr/bin/env bash
# Builds the Risk Hub image from the repository root's Dockerfile.
#   scripts/docker/build.sh [--local-bases] [-t TAG] [extra docker build arguments…]
# --local-bases builds (scripts/docker/local-bases.sh, cached) and uses the local Debian + Node.js 24
# bases instead of the public node:24-bookworm-slim and distroless images, for machines with no image
# registry. The build stages run `npm ci` against the npm registry this machine uses: ~/.npmrc is
# passed as the `npmrc` build secret when present, and the CA bundle Node.js is told to trust here
# (NODE_EXTRA_CA_CERTS, else npm's cafile) as `npm_ca`, so a TLS-inspecting proxy is trusted inside
# the build as on the host. Secrets are mounted for that RUN only and never stored in a layer.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$here/lib.sh"

tag=risk-hub:dev
local_bases=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --local-bases) local_bases=1 ;;
    -t|--tag) tag="$2"; shift ;;
    *) extra+=("$1") ;;
  esac
  shift
done

require_docker
args=(-t "$tag" -f "$root/Dockerfile")
if [ "$local_bases" = 1 ]; then
  "$here/local-bases.sh"
  args+=(--build-arg NODE_IMAGE=risk-hub-local/node:24-bookworm --build-arg RUNTIME_IMAGE=risk-hub-local/nodejs24:nonroot)
fi
# ~/.npmrc: only its registry and auth lines (host paths such as cafile or nodedir mean nothing inside).
npmrc_tmp=""
trap '[ -n "$npmrc_tmp" ] && rm -f "$npmrc_tmp"' EXIT
if [ -f "$HOME/.npmrc" ] && grep -q -E '^\s*(registry|@[^:]+:registry|//[^=]+:_|//[^=]+:always-auth)' "$HOME/.npmrc"; then
  npmrc_tmp="$(mktemp)"
  grep -E '^\s*(registry|@[^:]+:registry|//[^=]+:_|//[^=]+:always-auth)' "$HOME/.npmrc" >"$npmrc_tmp"
  args+=(--secret "id=npmrc,src=$npmrc_tmp")
fi
ca="${NODE_EXTRA_CA_CERTS:-}"
if [ -z "$ca" ]; then ca="$(npm config get cafile 2>/dev/null || true)"; [ "$ca" = null ] && ca=""; fi
[ -n "$ca" ] && [ -s "$ca" ] && args+=(--secret "id=npm_ca,src=$ca")

t0=$(date +%s)
say "building $tag…"
docker_build "${args[@]}" "${extra[@]}" "$root"
size=$(docker image inspect --format '{{.Size}}' "$tag")
say "built $tag in $(( $(date +%s) - t0 )) s: $(( size / 1000000 )) MB ($size bytes)"
