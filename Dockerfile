# syntax=docker/dockerfile:1
# mcpbus image: one image for every role (ingress, worker, runner) and for the demo fixture.
# mcpbus runs from TypeScript source through tsx (no build step), so the image is the workspace's
# production dependencies plus its sources.
#
#   docker build -t mcpbus .
#   docker run --rm -v ./my-config.yaml:/app/config/config.yaml:ro \
#     -e NATS_URL=nats://nats:4222 -e REDIS_URL=redis://redis:6379 -p 4000:4000 mcpbus
#
# No config is baked in: mount one at /app/config/config.yaml (docker-compose.yml does).

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
ENV CI=true
# pnpm 12's own binary is native (glibc), which is why the base is Debian and not Alpine.
RUN npm i -g pnpm@12.21.0
WORKDIR /app

# Manifests first, so the dependency layer is rebuilt only when one of them changes. A frozen
# install needs every workspace member's package.json (packages/*, services/*, test); the
# compose-file test fails when one is missing here.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY packages/access/package.json packages/access/
COPY packages/bus/package.json packages/bus/
COPY packages/catalog/package.json packages/catalog/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
COPY packages/config/package.json packages/config/
COPY packages/fixture-server/package.json packages/fixture-server/
COPY packages/jobs/package.json packages/jobs/
COPY packages/logging/package.json packages/logging/
COPY packages/protocol/package.json packages/protocol/
COPY packages/runtime/package.json packages/runtime/
COPY packages/upstream/package.json packages/upstream/
COPY services/ingress/package.json services/ingress/
COPY services/runner/package.json services/runner/
COPY services/worker/package.json services/worker/
COPY test/package.json test/
# Its dependencies are development ones (the conformance suite, Node 22): --prod leaves them out.
COPY scripts/conformance/package.json scripts/conformance/
RUN --mount=type=cache,id=mcpbus-pnpm-store,target=/pnpm/store \
    pnpm install --frozen-lockfile --prod --store-dir /pnpm/store

# `node --import tsx` (the entrypoint, and stdio servers such as the fixture in the config) resolves
# tsx from /app: it is a root production dependency. Fail the build here if it is not.
RUN node --import tsx -e ""

COPY tsconfig.json tsconfig.base.json ./
COPY packages packages
COPY services services

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Root-owned and read-only for the app user; tsx keeps its transform cache under /tmp.
COPY --from=build /app /app
USER node
EXPOSE 4000
# Liveness only (a 200 whenever the process serves HTTP). Only the ingress role has an HTTP
# port; docker-compose.yml gives worker and runner containers their own check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:4000/health/liveliness').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--import", "tsx", "packages/cli/src/main.ts"]
CMD ["start", "--config", "/app/config/config.yaml", "--host", "0.0.0.0"]
