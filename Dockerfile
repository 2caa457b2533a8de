# fanout: one image for every role (`gateway`, `publisher`, `dev`); the command picks the role.
#   docker build -t fanout .
#   docker run --rm -e REDIS_URL=redis://redis:6379/0 -e FANOUT_JWT_SECRET=… -p 8080:8080 fanout gateway
#
# Two ways to build it:
# - `docker build -t fanout .` (the last stage, `runtime`): everything happens inside the build, which
#   pulls node:20-bookworm-slim and runs `npm ci` against the npm registry.
# - `scripts/docker-images.sh app` (the first stage, `runtime-prebuilt`): no registry from inside the
#   build. The host's build (`npm ci && npm run build`) is staged in .tmp/image with production
#   node_modules (`npm ci --omit=dev --offline`, from the npm cache), and that directory is the
#   build context; the base is NODE_IMAGE (the script imports fanout-test/node:20-local from this
#   host's node binary, or pass any image with node 20 as NODE_IMAGE). The runtime files, user,
#   ports and entrypoint are the same as the `runtime` stage's. Production dependencies are pure
#   JavaScript, so the staged tree does not depend on the host's platform.
ARG NODE_IMAGE=node:20-bookworm-slim

# --- runtime-prebuilt: the staged host build (context .tmp/image), nothing fetched
FROM ${NODE_IMAGE} AS runtime-prebuilt
ENV NODE_ENV=production
WORKDIR /app
COPY --chown=root:root . ./
USER node
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "apps/cli/dist/main.js"]
CMD ["gateway"]

# --- build: install every dependency, compile the TypeScript project references, bundle the dashboard
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The manifests first, so the dependency layer is cached until one of them changes.
COPY package.json package-lock.json ./
COPY libs/contracts/package.json libs/contracts/
COPY libs/observability/package.json libs/observability/
COPY libs/sse/package.json libs/sse/
COPY libs/http/package.json libs/http/
COPY libs/bus/package.json libs/bus/
COPY libs/client/package.json libs/client/
COPY libs/producer/package.json libs/producer/
COPY libs/archive/package.json libs/archive/
COPY apps/publisher/package.json apps/publisher/
COPY apps/gateway/package.json apps/gateway/
COPY apps/server/package.json apps/server/
COPY apps/cli/package.json apps/cli/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.base.json ./
COPY scripts/build-dashboard.js scripts/
COPY libs libs
COPY apps apps
# The dashboard is bundled (esbuild, a dev dependency) into apps/gateway/dist/public before the prune.
RUN npx tsc -b \
 && node scripts/build-dashboard.js \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf libs/*/src apps/*/src libs/*/test apps/*/test apps/gateway/dashboard

# --- runtime: compiled JavaScript, the built dashboard and production dependencies, as a non-root user
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/libs ./libs
# apps/*/dist, the gateway's with the dashboard bundle in dist/public (served at GET /).
COPY --from=build --chown=root:root /app/apps ./apps
# The image's files belong to root and are read-only to the process, which runs as `node` (uid 1000).
USER node
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "apps/cli/dist/main.js"]
CMD ["gateway"]
