# syntax=docker/dockerfile:1
# The API: builds totp-handshake from this repository (native addon included) and runs
# examples/api-server.mjs, which owns the shared key file. Build context: the repository root
# (see docker-compose.yml); api.Dockerfile.dockerignore keeps the context to what is copied here.

FROM node:20-bookworm AS build
WORKDIR /app
# The image ships Node's headers: node-gyp builds against them instead of downloading them.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json binding.gyp tsconfig.json ./
COPY native ./native
COPY src ./src
# `npm ci` compiles the addon (install script) and the TypeScript (prepare script); the full
# node image has the compiler and Python that node-gyp needs. Dev dependencies go afterwards.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/build/Release/totp_handshake.node ./build/Release/
COPY examples/api-server.mjs ./examples/
# uid 1000 (`node`): the client image runs as the same uid, so it can read the 0600 key file and
# connect to the 0600 socket beside it (OTP_SOCKET).
USER node
# TCP: the HEALTHCHECK below, and callers that cannot use the socket.
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=2s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "examples/api-server.mjs"]
