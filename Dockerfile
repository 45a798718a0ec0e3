# Risk Hub image: `DOCKER_BUILDKIT=1 docker build -t risk-hub:0.1.0 .` (docs/kubernetes.md).
# Where no image registry is reachable, scripts/docker/build.sh --local-bases builds the bases
# locally (scripts/docker/local-bases.sh) and passes them as NODE_IMAGE and RUNTIME_IMAGE.
# No `# syntax=` line: it would pull a Dockerfile frontend image from Docker Hub; the frontend built
# into Docker 20.10+ knows everything used here (RUN --mount for the npm cache and build secrets).
# One image for every process; the command picks the role (the Helm chart passes the arguments):
#   docker run risk-hub:0.1.0 scorer | notifier --channel slack | topics apply | schemas register | --help
#
# Three stages: `build` runs `npm run build` (dev dependencies), `deps` installs the server's production
# dependencies only, and the runtime stage is distroless: no shell, no package manager, running as
# the unprivileged user 65532 ("nonroot"), which the chart's securityContext matches.

# Public bases by default; both on Debian 12 (bookworm), Node.js 24 (the current LTS line).
ARG NODE_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# -- build: TypeScript → dist/ (`npm run build`: the agent workspace, the server, the vendored kafkajs) ---
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The workspace's package.json with the root's: `npm ci` checks the lockfile against every member.
COPY package.json package-lock.json ./
COPY packages/agent/package.json ./packages/agent/
# prepare (scripts/postinstall.mjs) applies patches/ to node_modules/kafkajs (see patches/README.md);
# the build then copies that patched kafkajs into dist/vendor/kafkajs, which the server runs.
COPY scripts/postinstall.mjs ./scripts/
COPY patches ./patches
# Native modules (classic-level, @datadog/native-appsec) use the prebuilt binaries in their packages.
# Optional build secrets for networks that need them (never stored in a layer): `npmrc` (a registry
# mirror or token: --secret id=npmrc,src=$HOME/.npmrc) and `npm_ca` (extra CA certificates, e.g. a
# TLS-inspecting egress proxy's: --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt).
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
RUN --mount=type=cache,target=/root/.npm \
    --mount=type=secret,id=npmrc,target=/root/.npmrc \
    --mount=type=secret,id=npm_ca,target=/run/secrets/npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
 && npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# The server's compile needs the agent's type declarations (the demo imports it), so the agent is
# built first (tsup), as `npm run build` does; the image itself does not carry the agent.
COPY packages/agent/tsconfig.json packages/agent/tsup.config.ts ./packages/agent/
COPY packages/agent/src ./packages/agent/src
COPY src ./src
COPY scripts/vendor-kafkajs.mjs ./scripts/
RUN npm run build \
 && test -f dist/cli/main.js && test -f dist/vendor/kafkajs/index.js \
 && mkdir -p /rootfs/var/lib/risk-hub/state

# -- deps: production node_modules of the server ---------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production NPM_CONFIG_UPDATE_NOTIFIER=false
COPY package.json package-lock.json ./
COPY packages/agent/package.json ./packages/agent/
# prepare runs scripts/postinstall.mjs, which has nothing to do here (no patches/: the server runs the
# patched kafkajs from dist/vendor). npm installs the workspace's dependencies even with --omit=dev;
# prune-deps.mjs then keeps only what the server's dependencies reach (no @datadog/native-appsec,
# no kafkajs, no link to packages/agent).
COPY scripts/postinstall.mjs ./scripts/
COPY scripts/docker/prune-deps.mjs ./scripts/docker/
RUN --mount=type=cache,target=/root/.npm \
    --mount=type=secret,id=npmrc,target=/root/.npmrc \
    --mount=type=secret,id=npm_ca,target=/run/secrets/npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
 && npm ci --omit=dev --no-audit --no-fund \
 && node scripts/docker/prune-deps.mjs

# -- runtime ---------------------------------------------------------------------------------------
# Same Debian release (bookworm / debian12) as the stages above, so the native modules' glibc matches.
# It must have node at /nodejs/bin/node (as distroless has; so does the local runtime base).
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="risk-hub" \
      org.opencontainers.image.description="Real-time per-user risk scoring on Apache Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
# MALLOC_ARENA_MAX=2: LevelDB's and libuv's threads would each get a glibc malloc arena (up to 8 per
# core), and the freed memory they keep showed as RSS; 2 lowered the scorer's peak (docs/benchmarks.md).
ENV NODE_ENV=production \
    STATE_DIR=/var/lib/risk-hub/state \
    MALLOC_ARENA_MAX=2
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
# dist/ holds the compiled server and dist/vendor/kafkajs (the patched Kafka client it runs).
COPY --from=build --chown=0:0 /app/dist ./dist
# package.json: `--version` reads it; bin/risk-hub.js runs dist/cli/main.js when dist/ is present.
COPY --chown=0:0 package.json ./
COPY --chown=0:0 bin ./bin
COPY --chown=0:0 schemas ./schemas
COPY --chown=0:0 topology ./topology
# STATE_DIR for `docker run`; on Kubernetes a PersistentVolumeClaim is mounted over it.
COPY --from=build --chown=65532:65532 /rootfs/var/lib/risk-hub /var/lib/risk-hub
# Files are owned by root and read-only for the process; only the state volume and /tmp are written.
USER 65532:65532
EXPOSE 9464
# Node handles SIGTERM itself (graceful shutdown of consumers and transactional producers) and
# starts no child processes, so it can run as PID 1 without an init.
# --max-semi-space-size=16 (MiB), the young generation bounded inside the scorer's memory budget
# (docs/kubernetes.md "Sizing"): 64 cut the scorer's CPU per event by ~10 % with all users cached, but
# with the cache bounded (scorer.cacheMaxBytes) 16 and 32 measured the same at 1,000,000 users, and 16
# peaked 25 MiB lower (docs/benchmarks.md "Memory"). Raise it with more memory.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=16", "dist/cli/main.js"]
CMD ["--help"]
