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
# build on a fresh clone downloads nothing. An image built from the same inputs is kept (see
# input_key); layers of earlier builds are pruned. With Docker: docs/deployment.md.
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
# What the build reads: the Dockerfile, .dockerignore, the base image, and every file under
# the paths .dockerignore lets in (its `!` lines: a superset of the context, as long as it is
# an allow-list, first rule `*`). The image carries this key as a label; with vfs even a build
# whose every layer is cached costs minutes, so an image built from the same inputs is kept.
input_key() {
  [ "$(grep -v -e '^#' -e '^[[:space:]]*$' .dockerignore | head -1)" = "*" ] || { echo "not-an-allow-list-$RANDOM$RANDOM"; return; }
  {
    sha256sum Dockerfile .dockerignore
    scripts/podman image inspect --format '{{.Id}}' "docker.io/library/node:$(sed -nE 's/^FROM[[:space:]]+node:([^[:space:]@]+).*/\1/p' Dockerfile | head -1)"
    sed -n 's/^!//p' .dockerignore | while IFS= read -r path; do
      [ -e "$path" ] && find "$path" -type f -print0 | sort -z | xargs -0 -r sha256sum
    done
  } | sha256sum | cut -c1-16
}
key="$(input_key)"
start=$SECONDS
done="built in"
if [ "$(scripts/podman image inspect --format '{{ index .Config.Labels "org.stats-refresh.inputs" }}' "$TAG" 2>/dev/null || true)" = "$key" ]; then
  done="current (inputs $key), checked in"
else
  scripts/podman build --pull=never --network=host --layers "${mounts[@]}" --label "org.stats-refresh.inputs=$key" \
    --tag "$TAG" --file Dockerfile . >&2
  # Earlier builds' layers no tag needs: vfs stores each one whole.
  scripts/podman image prune --force >/dev/null
fi
size="$(scripts/podman image inspect --format '{{.Size}}' "$TAG")"
echo "image: $TAG $done $((SECONDS - start)) s, $(awk -v b="$size" 'BEGIN { printf "%.1f MB (%d bytes)", b / 1e6, b }') uncompressed" >&2
