#!/usr/bin/env bash
# Smoke test: the built CLI, used as an operator would, against a small seeded database.
#
#   bash scripts/smoke.sh          (builds dist/ first if it is missing)
#
# 1. Seeds a fresh database (300 users, 40 scripts, 5000 executions); flushes Redis db 13.
# 2. `node dist/cli.js all` with DATABASE_URL and REDIS_URL set: must exit 0.
# 3. `node dist/cli.js status --json`: must exit 0 and show every covered key present
#    with a TTL in 1..STATS_CACHE_TTL, every key the run wrote among them, and a last run
#    for each family.
# 4. Deletes one covered key: `status --json` must then exit 1 and count it missing.
# 5. Drops the database and flushes Redis db 13, whatever happened.
#
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379,
# as .ci/run provides; PG_ADMIN_URL and REDIS_HOST_URL override them.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_HOST_URL="${REDIS_HOST_URL:-redis://127.0.0.1:6379}"
REDIS_DB=13
DB_NAME="sr_smoke_$$"
TTL=300

say() { echo "smoke: $*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

export DATABASE_URL="${PG_ADMIN_URL%/*}/${DB_NAME}"
export REDIS_URL="${REDIS_HOST_URL}/${REDIS_DB}"
export STATS_CACHE_TTL="$TTL"
export LOG_LEVEL=warn

WORK="$(mktemp -d "${TMPDIR:-/tmp}/stats-refresh-smoke.XXXXXX")"
cleanup() {
  local code=$?
  psql "$PG_ADMIN_URL" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"${DB_NAME}\" WITH (FORCE)" >/dev/null 2>&1 \
    || say "warning: could not drop database ${DB_NAME}"
  redis-cli -u "$REDIS_URL" flushdb >/dev/null 2>&1 || say "warning: could not flush Redis db ${REDIS_DB}"
  rm -rf "$WORK"
  if [ "$code" -eq 0 ]; then say "OK"; fi
  exit "$code"
}
trap cleanup EXIT

if [ ! -f dist/cli.js ]; then
  say "dist/cli.js missing: npm run build"
  npm run build --silent
fi

# ---- 1. data ----------------------------------------------------------------------------
say "seeding ${DB_NAME}; Redis db ${REDIS_DB}"
node --import tsx tools/seed.ts --create --database-url "$DATABASE_URL" --users 300 --scripts 40 --executions 5000 >/dev/null
redis-cli -u "$REDIS_URL" flushdb >/dev/null

# ---- 2. refresh everything --------------------------------------------------------------
set +e
node dist/cli.js all >"$WORK/all.json" 2>"$WORK/all.log"
code=$?
set -e
if [ "$code" -ne 0 ]; then
  cat "$WORK/all.log" >&2
  fail "\`stats-refresh all\` exited $code, expected 0"
fi
say "\`stats-refresh all\`: exit 0"

# ---- 3. status: every covered key present, with a TTL --------------------------------------
set +e
node dist/cli.js status --json >"$WORK/status.json" 2>"$WORK/status.log"
code=$?
set -e
if [ "$code" -ne 0 ]; then
  cat "$WORK/status.log" >&2
  head -c 2000 "$WORK/status.json" >&2 || true
  fail "\`stats-refresh status --json\` exited $code, expected 0"
fi

node -e '
  const fs = require("fs");
  const [allFile, statusFile, ttlText] = process.argv.slice(1);
  const maxTtl = Number(ttlText);
  const lastLine = (file) => fs.readFileSync(file, "utf8").trim().split("\n").at(-1);
  const summary = JSON.parse(lastLine(allFile));
  let status;
  try { status = JSON.parse(lastLine(statusFile)); } catch (error) { console.error("smoke: FAIL: status --json is not one JSON object: " + error.message); process.exit(1); }
  const problems = [];
  if (!Array.isArray(status.covered) || status.covered.length === 0) problems.push("no covered keys listed");
  const covered = Array.isArray(status.covered) ? status.covered : [];
  for (const row of covered) {
    if (row.present !== true) problems.push(`${row.key}: missing`);
    else if (!Number.isInteger(row.ttl_seconds) || row.ttl_seconds <= 0 || row.ttl_seconds > maxTtl) problems.push(`${row.key}: ttl_seconds ${row.ttl_seconds}, expected 1..${maxTtl}`);
    if (!row.key?.startsWith("stats_service:")) problems.push(`${row.key}: not a stats_service key`);
  }
  if (status.missing !== 0) problems.push(`missing is ${status.missing}, expected 0`);
  const listed = new Set(covered.map((row) => row.key));
  const unlisted = (summary.cache_keys ?? []).filter((key) => !listed.has(key));
  if (unlisted.length) problems.push(`written but not covered by status: ${unlisted.join(", ")}`);
  for (const family of ["dashboard", "executions", "users"]) {
    if (!status.families?.[family]) problems.push(`no last run recorded for ${family}`);
  }
  if (problems.length) { console.error("smoke: FAIL: status --json:\n  " + problems.join("\n  ")); process.exit(1); }
  const ttls = covered.map((row) => row.ttl_seconds);
  console.error(`smoke: status --json: ${covered.length} covered keys present, TTL ${Math.min(...ttls)}..${Math.max(...ttls)} s, ${(status.extra_keys ?? []).length} extra keys`);
  fs.writeFileSync(process.argv[1] + ".first-key", covered[0].key);
' "$WORK/all.json" "$WORK/status.json" "$TTL"

# ---- 4. a missing key makes status exit 1 ---------------------------------------------------
victim="$(cat "$WORK/all.json.first-key")"
redis-cli -u "$REDIS_URL" del "$victim" >/dev/null
set +e
node dist/cli.js status --json >"$WORK/status-missing.json" 2>"$WORK/status-missing.log"
code=$?
set -e
[ "$code" -eq 1 ] || fail "status with ${victim} deleted exited $code, expected 1"
node -e '
  const fs = require("fs");
  const status = JSON.parse(fs.readFileSync(process.argv[1], "utf8").trim().split("\n").at(-1));
  const row = status.covered.find((candidate) => candidate.key === process.argv[2]);
  if (status.missing !== 1 || !row || row.present !== false) {
    console.error(`smoke: FAIL: after deleting ${process.argv[2]}: missing=${status.missing}, row=${JSON.stringify(row)}`);
    process.exit(1);
  }
' "$WORK/status-missing.json" "$victim"
say "status with one key deleted: exit 1, missing 1"
