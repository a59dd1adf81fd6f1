# syntax=docker/dockerfile:1
#
# stats-refresh image: `docker run IMAGE refresh all` (or warmup, status, clear, ...).
#
# Both stages use the same base, pinned by exact version tag: Node 24.22.3, the current LTS
# line (Node 20 reached its end of life on 2026-04-30), the version .ci/run runs the whole
# suite on (NODE24_VERSION there). Where the build has registry access, also pin the digest
# (append @sha256:… to both FROM lines) so a rebuilt tag can never change the image silently:
#   docker buildx imagetools inspect node:24.22.3-bookworm-slim
# CI builds it with podman on a local stand-in of exactly this base (scripts/base-image.sh)
# and --pull=never, so a FROM naming any other tag fails the build. A digest names the
# official image, which the stand-in is not: pin it where your build pulls the real one
# (docs/deployment.md, "The base image stand-in").

# ---- build: dev dependencies, type check, esbuild bundle -> dist/ -----------------
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /app
# Only the lock decides what is installed; no lifecycle scripts are needed to compile.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY tools/build.mjs ./tools/
COPY src ./src
RUN npm run build

# ---- runtime: the bundle only (it holds every dependency) ----------------------------
FROM node:24.22.3-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="stats-refresh" \
      org.opencontainers.image.description="Keeps the Trends.Earth API's admin statistics cache warm" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production
WORKDIR /app
# package.json says the bundle is an ES module; no node_modules: nothing is installed here.
COPY package.json ./
COPY --from=build /app/dist ./dist
# Everything above is owned by root and read-only to the process: the base image's
# `node` user, by number so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 1000:1000
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--help"]
