# Shared by the scripts in scripts/docker (sourced, not run).

# Downloads and base root filesystems live outside the repository, next to the Maven-resolved stack.
RISK_HUB_CACHE="${RISK_HUB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/risk-hub}"
DOCKER_CACHE="$RISK_HUB_CACHE/docker"

say() { [ "${QUIET:-0}" = 1 ] || echo "[docker] $*" >&2; }
die() { echo "risk-hub: $*" >&2; exit 1; }

# One line naming what to install or start when there is no usable engine, never a stack trace.
require_docker() {
  command -v docker >/dev/null 2>&1 \
    || die "no Docker engine: the 'docker' command is missing. Install one (Debian: apt-get install docker.io) and start it (as root: dockerd &), then retry."
  local err
  if ! err=$(timeout 20 docker info --format '{{.ServerVersion}}' 2>&1 >/dev/null); then
    case "$err" in
      *"permission denied"*) die "the Docker engine refuses this user (permission denied on its socket): run as root or join the 'docker' group." ;;
      *) die "the Docker engine is not running ($(echo "$err" | grep -m1 -v '^$' | cut -c1-160)): start it (as root: dockerd &, or systemctl start docker), then retry." ;;
    esac
  fi
}

# BuildKit is needed (RUN --mount, build secrets). A Docker 23+ client builds with it through the buildx
# plugin; without that plugin, Debian's docker.io client (20.10, /usr/bin/docker) drives the engine's
# built-in BuildKit with DOCKER_BUILDKIT=1.
docker_build() {
  if docker buildx version >/dev/null 2>&1; then
    DOCKER_BUILDKIT=1 docker build "$@"
  elif [ -x /usr/bin/docker ] && /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then
    DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"
  else
    DOCKER_BUILDKIT=1 docker build "$@"
  fi
}

# The value of a label on a local image, empty when the image does not exist.
image_label() {
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
