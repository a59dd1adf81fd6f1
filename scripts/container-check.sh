#!/usr/bin/env bash
# The container part of CI, run once per CI run by .ci/run (and by hand the same way):
#
#   bash scripts/container-check.sh
#
# 1. The base stand-in node:<version>-bookworm-slim (scripts/base-image.sh) and the image
#    localhost/stats-refresh:dev from the Dockerfile (scripts/image.sh, `npm run image`),
#    both reused from the cache when their inputs did not change.
# 2. The container checks (vitest.container.config.ts, test/container/): the image inspected
#    and run as production runs it, the Compose deployment brought up with docker-compose
#    on podman's socket, the Kubernetes pod specs run with `podman kube play`.
# 3. Whatever happens: removes the checks' containers, pods, networks and secret, stops
#    the podman service a check started, and removes its temporary files.
#
# Needs podman, debootstrap, netavark, runc, catatonit and docker-compose (.ci/run installs
# them), PostgreSQL on 127.0.0.1:5432 and redis-server; root, for debootstrap and rootful
# podman. Prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "container-check: $*" >&2; }
for tool in podman debootstrap docker-compose catatonit runc redis-server; do
  command -v "$tool" >/dev/null 2>&1 || { say "$tool is missing (.ci/run installs it)"; exit 1; }
done
[ -x /usr/lib/podman/netavark ] || { say "netavark is missing (.ci/run installs it)"; exit 1; }
[ -f dist/cli.js ] || npm run build --silent

# The checks' temporary files (and the pid files of the services they start) in one folder.
CHECK_TMP="$(mktemp -d "${TMPDIR:-/tmp}/stats-refresh-container-check.XXXXXX")"
cleanup() {
  local code=$?
  for pidfile in "$CHECK_TMP"/*/podman-service.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  # Only what the checks create: their label, their Compose projects, the manifests' Secret.
  mapfile -t pods < <(scripts/podman pod ps --quiet --filter label=stats-refresh-check 2>/dev/null || true)
  [ "${#pods[@]}" -eq 0 ] || scripts/podman pod rm --force "${pods[@]}" >/dev/null 2>&1 || true
  mapfile -t containers < <(
    scripts/podman ps --all --format '{{.ID}} {{.Names}} {{index .Labels "com.docker.compose.project"}}' 2>/dev/null \
      | awk '$2 ~ /^sr-image-/ || $3 ~ /^srcompose/ { print $1 }' || true
  )
  [ "${#containers[@]}" -eq 0 ] || scripts/podman rm --force --time 0 "${containers[@]}" >/dev/null 2>&1 || true
  mapfile -t networks < <(scripts/podman network ls --format '{{.Name}}' 2>/dev/null | grep '^srcompose' || true)
  [ "${#networks[@]}" -eq 0 ] || scripts/podman network rm --force "${networks[@]}" >/dev/null 2>&1 || true
  scripts/podman secret rm stats-refresh-secrets >/dev/null 2>&1 || true
  rm -rf "$CHECK_TMP"
  if [ "$code" -eq 0 ]; then say "OK in $((SECONDS - start_all)) s (base $base_s s, image $image_s s, checks $checks_s s)"; fi
  exit "$code"
}
start_all=$SECONDS
base_s=0 image_s=0 checks_s=0
trap cleanup EXIT

t=$SECONDS
bash scripts/base-image.sh >/dev/null
base_s=$((SECONDS - t))

t=$SECONDS
bash scripts/image.sh localhost/stats-refresh:dev
image_s=$((SECONDS - t))

t=$SECONDS
TMPDIR="$CHECK_TMP" STATS_REFRESH_TEST_IMAGE=localhost/stats-refresh:dev npx vitest run --config vitest.container.config.ts
checks_s=$((SECONDS - t))
