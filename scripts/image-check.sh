#!/usr/bin/env bash
# Proves the container image's contents are enough, without a Docker engine.
#
#   bash scripts/image-check.sh
#
# 1. Rebuilds the Dockerfile's stages as folders (test/deploy/reproduce-image.ts): the
#    build stage's `npm ci` + `npm run build` (type check, esbuild bundle) from the copied
#    sources, then the runtime stage's package.json and dist/ from the build stage,
#    exactly as the Dockerfile says.
# 2. Checks the runtime folder holds only those files: no node_modules, so the bundle
#    must carry every dependency it loads (step 3 proves it does).
# 3. Runs the entrypoint as the image would (its ENV, its WORKDIR, its numeric USER when
#    this runs as root, an otherwise empty environment, the node the stages were built
#    with as /usr/local/bin/node): `--help`, then a real
#    `refresh all` against a freshly seeded database and Redis db 14.
# 4. Drops the database, flushes Redis db 14 and removes the folders, whatever happened.
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379,
# as .ci/run provides; PG_ADMIN_URL and REDIS_HOST_URL override them.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_HOST_URL="${REDIS_HOST_URL:-redis://127.0.0.1:6379}"
REDIS_DB=14
DB_NAME="sr_image_check_$$"
DB_URL="${PG_ADMIN_URL%/*}/${DB_NAME}"
TTL=300

say() { echo "image-check: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stats-refresh-image.XXXXXX")"
cleanup() {
  local code=$?
  psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"${DB_NAME}\" WITH (FORCE)" >/dev/null 2>&1 \
    || say "warning: could not drop database ${DB_NAME}"
  redis-cli -u "${REDIS_HOST_URL}/${REDIS_DB}" flushdb >/dev/null 2>&1 || say "warning: could not flush Redis db ${REDIS_DB}"
  rm -rf "$WORK"
  if [ "$code" -eq 0 ]; then say "OK"; fi
  exit "$code"
}
trap cleanup EXIT

# ---- 1. the stages ----------------------------------------------------------------------
say "reproducing the Dockerfile's stages in $WORK"
node --import tsx test/deploy/reproduce-image.ts --out "$WORK/stages" >"$WORK/final.json"

# One JSON object describing the final stage; read fields with node, not jq.
field() { node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); const v=process.argv[2].split(".").reduce((a,k)=>a?.[k],o); process.stdout.write(Array.isArray(v)?v.join("\n"):typeof v==="object"&&v!==null?Object.entries(v).map(([k,x])=>k+"="+x).join("\n"):String(v??""))' "$WORK/final.json" "$1"; }

ROOT="$(field root)"
APP="$(field workdir)"
IMAGE_USER="$(field user)"
NODE_VERSION="$(field node_version)"
BASE_VERSION="$(field base_version)"
mapfile -t ENTRYPOINT < <(field entrypoint)
mapfile -t IMAGE_ENV < <(field env | grep -v "^$" || true)
say "final stage '$(field stage)': workdir $APP, user ${IMAGE_USER:-root}, entrypoint ${ENTRYPOINT[*]}"
if [ "$NODE_VERSION" != "$BASE_VERSION" ]; then
  say "warning: this machine runs Node $NODE_VERSION, the image's base is $BASE_VERSION"
  say "  (.ci/run runs this check with the base's version first on PATH)"
fi
# The base image's node is /usr/local/bin/node: put the one the stages were built with
# there in the reproduced root, so the entrypoint runs on it too (readable by USER).
mkdir -p "$ROOT/usr/local/bin"
cp "$(command -v node)" "$ROOT/usr/local/bin/node"

# ---- 2. what is in the runtime stage ----------------------------------------------------
actual="$(cd "$APP" && ls -A | sort | tr '\n' ' ')"
expected="dist package.json "
[ "$actual" = "$expected" ] || fail "runtime WORKDIR holds '$actual', expected '$expected'"
[ -f "$APP/dist/cli.js" ] || fail "dist/cli.js missing from the runtime stage"
# Nothing above /app may lend it modules either: the stages live in a folder of their own.
for dir in "$ROOT" "$(dirname "$ROOT")"; do
  [ ! -e "$dir/node_modules" ] || fail "$dir/node_modules exists: the bundle would not be tested alone"
done
say "runtime stage: $(du -sh "$APP" | cut -f1), the bundle and package.json only"

# ---- 3. run it as the image would -------------------------------------------------------
# The image's numeric USER, when we are root and can switch: proves root-owned, read-only
# files are enough. Elsewhere it runs as the current user.
AS_USER=()
if [ "$(id -u)" -eq 0 ] && [[ "$IMAGE_USER" =~ ^([0-9]+)(:([0-9]+))?$ ]] && command -v setpriv >/dev/null; then
  uid="${BASH_REMATCH[1]}"; gid="${BASH_REMATCH[3]:-$uid}"
  chmod 755 "$WORK" "$WORK/stages" "$ROOT"
  AS_USER=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups)
  say "running as uid $uid gid $gid, as USER $IMAGE_USER in the image"
fi

run_image() { # args...: the image's entrypoint with these arguments, in an empty environment
  (cd "$APP" && env -i PATH="$ROOT/usr/local/bin:/usr/local/bin:/usr/bin:/bin" HOME=/nonexistent "${IMAGE_ENV[@]}" "${RUN_ENV[@]}" \
    "${AS_USER[@]}" "${ENTRYPOINT[@]}" "$@")
}

RUN_ENV=()
help="$(run_image --help)" || fail "--help exited $?"
grep -q 'refresh' <<<"$help" || fail "--help does not describe the refresh command"
say "--help: ok, on Node $("$ROOT/usr/local/bin/node" --version)"

say "seeding ${DB_NAME}"
node --import tsx tools/seed.ts --create --database-url "$DB_URL" --users 300 --scripts 40 --executions 5000 >/dev/null
redis-cli -u "${REDIS_HOST_URL}/${REDIS_DB}" flushdb >/dev/null

RUN_ENV=(DATABASE_URL="$DB_URL" REDIS_URL="${REDIS_HOST_URL}/${REDIS_DB}" STATS_CACHE_TTL="$TTL" LOG_LEVEL=warn)
set +e
run_image refresh all >"$WORK/summary.json" 2>"$WORK/stderr.log"
code=$?
set -e
if [ "$code" -ne 0 ]; then
  cat "$WORK/stderr.log" >&2
  fail "refresh all exited $code"
fi

# The summary says every config was written, and Redis holds every key with its TTL.
keys_file="$WORK/keys.txt"
node -e '
  const fs = require("fs");
  const lines = fs.readFileSync(process.argv[1], "utf8").trim().split("\n");
  const summary = JSON.parse(lines.at(-1));
  const bad = [];
  if (summary.failed !== 0) bad.push(`failed=${summary.failed}`);
  if (summary.successful !== summary.total_refreshed || summary.total_refreshed < 1) bad.push(`successful=${summary.successful} of ${summary.total_refreshed}`);
  if (!Array.isArray(summary.cache_keys) || summary.cache_keys.length === 0) bad.push("no cache_keys");
  if (bad.length) { console.error("image-check: FAIL: refresh all summary: " + bad.join(", ")); process.exit(1); }
  fs.writeFileSync(process.argv[2], summary.cache_keys.join("\n") + "\n");
  console.error(`image-check: refresh all: ${summary.successful} configs, ${summary.cache_keys.length} keys in ${summary.duration_ms} ms`);
' "$WORK/summary.json" "$keys_file"

missing=0
while IFS= read -r key; do
  ttl="$(redis-cli -u "${REDIS_HOST_URL}/${REDIS_DB}" ttl "$key")"
  if ! [[ "$ttl" =~ ^[0-9]+$ ]] || [ "$ttl" -le 0 ] || [ "$ttl" -gt "$TTL" ]; then
    say "key $key has TTL $ttl (expected 1..$TTL)"
    missing=$((missing + 1))
  fi
done <"$keys_file"
[ "$missing" -eq 0 ] || fail "$missing written keys are missing or have a wrong TTL in Redis db $REDIS_DB"
say "Redis db $REDIS_DB: all $(wc -l <"$keys_file") keys present with TTL <= $TTL"
