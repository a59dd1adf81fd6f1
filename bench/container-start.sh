#!/usr/bin/env bash
# The container's cold start: wall time of `podman run --rm` of the image, as production runs
# it (read-only root, user 1000, no capabilities, no-new-privileges, host network), from the
# command to the container's exit, for `--help` and for `refresh all` on the golden fixture.
#
#   bash bench/container-start.sh [RUNS]      # default 7 runs of each; prints median (min-max)
#
# STATS_REFRESH_PODMAN_STATE (scripts/podman) measures another podman store, e.g. one with
# another storage driver.
#
# Every run creates a new container from the image (what a CronJob's pod does), so the
# engine's start-up is included: with the vfs storage driver that is a copy of the image's
# files. Needs the image (npm run image), PostgreSQL on 127.0.0.1:5432 and redis-server; uses
# a database and a redis-server of its own, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-7}"
IMAGE="${STATS_REFRESH_TEST_IMAGE:-localhost/stats-refresh:dev}"
PODMAN="${PODMAN:-scripts/podman}"   # another engine set-up to compare with
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DB_NAME="sr_container_start_$$"
DB_URL="${PG_ADMIN_URL%/*}/$DB_NAME"
NOW="2026-06-15T12:34:56Z" # the golden fixture's instant (test/fixtures/golden/README.md)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stats-refresh-start.XXXXXX")"
REDIS_PID=""
cleanup() {
  [ -z "$REDIS_PID" ] || kill "$REDIS_PID" 2>/dev/null || true
  psql "$PG_ADMIN_URL" -q -c "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

psql "$PG_ADMIN_URL" -q -c "CREATE DATABASE \"$DB_NAME\"" >/dev/null
psql "$DB_URL" -q -v ON_ERROR_STOP=1 -f test/fixtures/golden/database.sql >/dev/null
REDIS_PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
REDIS_PID=$!
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

FLAGS=(--pull=never --network host --read-only --tmpfs /tmp:size=16m --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges)
ENV=(--env "DATABASE_URL=$DB_URL" --env "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" --env LOG_LEVEL=warn)

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# median (min-max) in seconds of the numbers (ms) on stdin.
stats() {
  sort -n | awk '{ t[NR] = $1 } END { n = NR; m = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
    printf "%.2f s (%.2f-%.2f)", m / 1000, t[1] / 1000, t[n] / 1000 }'
}

# One line per command: the whole `podman run --rm`, and its parts: `podman create` (the
# engine makes the container; with vfs it copies the image's files) and `podman start
# --attach` (the process in the container, to its exit).
measure() { # label, args...
  local label="$1"; shift
  local total=() create=() run=() t0 t1 id
  for _ in $(seq 1 "$RUNS"); do
    t0=$(date +%s%N)
    id="$("$PODMAN" create "${FLAGS[@]}" "${ENV[@]}" "$IMAGE" "$@")"
    create+=("$(ms_since "$t0")")
    t1=$(date +%s%N)
    "$PODMAN" start --attach "$id" >"$WORK/out" 2>"$WORK/err" \
      || { cat "$WORK/err" >&2; echo "container-start: $label failed" >&2; exit 1; }
    run+=("$(ms_since "$t1")")
    total+=("$(ms_since "$t0")")
    "$PODMAN" rm --force "$id" >/dev/null
  done
  echo "$label: podman run $(printf '%s\n' "${total[@]}" | stats) = create $(printf '%s\n' "${create[@]}" | stats)" \
    "+ start to exit $(printf '%s\n' "${run[@]}" | stats), median (min-max) of $RUNS runs"
}

measure "--help" --help
measure "refresh all (golden fixture)" refresh all --now "$NOW"
# The same CLI on this machine, outside any container, for comparison: the engine's share.
node_version="$(node -e 'process.stdout.write(process.version)')"
start=$(date +%s%N); DATABASE_URL="$DB_URL" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" LOG_LEVEL=warn node dist/cli.js refresh all --now "$NOW" >/dev/null
echo "without a container (node $node_version, dist/cli.js): refresh all $(ms_since "$start") ms"
