#!/usr/bin/env bash
# Builds the image from the Dockerfile with the project's podman (scripts/podman), as
# `npm run image` does, and reports its size:
#
#   bash scripts/image.sh [TAG]       # default localhost/stats-refresh:dev
#
# The base, node:<version>-bookworm-slim, is the local stand-in (scripts/base-image.sh),
# built or reused first; --pull=never so no registry is asked. The build stage's `npm ci`
# needs the npm registry: the build runs on the host's network. Its cache mount
# (/root/.npm) lives in TMPDIR, which scripts/podman keeps in the CI cache, so a second
# build on a fresh clone downloads nothing. Layers of earlier builds that no tag needs are
# pruned afterwards. With Docker: docs/deployment.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG="${1:-localhost/stats-refresh:dev}"

bash scripts/base-image.sh >/dev/null
# Where this machine's npm trusts an extra CA (a TLS-inspecting proxy), the build's npm must
# too: the CA file and an npmrc naming it are mounted for the RUN steps only, never stored in
# a layer. Docker builds elsewhere need none of it.
mounts=()
cafile="$(npm config get cafile 2>/dev/null || true)"
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
  npmrc="$(mktemp "${TMPDIR:-/tmp}/stats-refresh-npmrc.XXXXXX")"
  trap 'rm -f "$npmrc"' EXIT
  echo "cafile=/run/host-npm-ca.crt" >"$npmrc"
  chmod 644 "$npmrc"
  mounts=(--volume "$cafile:/run/host-npm-ca.crt:ro" --volume "$npmrc:/usr/local/etc/npmrc:ro")
fi
start=$SECONDS
build=(scripts/podman build --pull=never --network=host --layers "${mounts[@]}" --file Dockerfile .)
# The build stage gets a tag of its own, so that pruning the layers of earlier builds (vfs
# stores each one whole) keeps its cache: untagged, nothing would refer to it.
"${build[@]}" --target build --tag "$TAG-build" >&2
"${build[@]}" --tag "$TAG" >&2
scripts/podman image prune --force >/dev/null
size="$(scripts/podman image inspect --format '{{.Size}}' "$TAG")"
echo "image: $TAG built in $((SECONDS - start)) s, $(awk -v b="$size" 'BEGIN { printf "%.1f MB (%d bytes)", b / 1e6, b }') uncompressed" >&2
