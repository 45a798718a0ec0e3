# Build base for the Dockerfile's build stages where no registry is reachable (see local-bases.sh):
# Debian bookworm minbase + Node.js and npm unpacked from their npm packages. Context: the node cache dir.
ARG BASE=risk-hub-local/debian:bookworm
FROM ${BASE}
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
CMD ["node"]
