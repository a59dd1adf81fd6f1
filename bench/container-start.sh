#!/usr/bin/env bash
# The container's cold start: wall time of `podman run --rm` of the image, as production runs
# it (read-only root, user 1000, no capabilities, no-new-privileges, host network), from the
# command to the container's exit, for `--help` and for `refresh all` on the golden fixture.
#
#   bash bench/container-start.sh [RUNS]      # default 7 runs of each; prints median (min-max)
#
# Every run creates a new container from the image (what a CronJob's pod does), so the
# engine's start-up is included: with the vfs storage driver that is a copy of the image's
# files. Needs the image (npm run image), PostgreSQL on 127.0.0.1:5432 and redis-server; uses
# a database and a redis-server of its own, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-7}"
IMAGE="${STATS_REFRESH_TEST_IMAGE:-localhost/stats-refresh:dev}"
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

FLAGS=(--rm --pull=never --network host --read-only --tmpfs /tmp:size=16m --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges)
ENV=(--env "DATABASE_URL=$DB_URL" --env "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" --env LOG_LEVEL=warn)

measure() { # label, args...: one line "label: median (min-max) s over N runs"
  local label="$1"; shift
  local times=() start end
  for _ in $(seq 1 "$RUNS"); do
    start=$(date +%s%N)
    scripts/podman run "${FLAGS[@]}" "${ENV[@]}" "$IMAGE" "$@" >"$WORK/out" 2>"$WORK/err" \
      || { cat "$WORK/err" >&2; echo "container-start: $label failed" >&2; exit 1; }
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" -v n="$RUNS" '
    { t[NR] = $1 } END { m = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
      printf "%s: median %.2f s (%.2f-%.2f) over %d runs\n", label, m / 1000, t[1] / 1000, t[n] / 1000, n }'
}

measure "--help" --help
measure "refresh all (golden fixture)" refresh all --now "$NOW"
# The same CLI on this machine, outside any container, for comparison: the engine's share.
node24="$(node -e 'process.stdout.write(process.version)')"
start=$(date +%s%N); DATABASE_URL="$DB_URL" REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" LOG_LEVEL=warn node dist/cli.js refresh all --now "$NOW" >/dev/null
end=$(date +%s%N); echo "without a container (node $node24, dist/cli.js): refresh all $(( (end - start) / 1000000 )) ms"
