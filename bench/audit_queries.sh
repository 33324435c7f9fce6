#!/usr/bin/env bash
# Times the audit queries an investigation runs most, over a large trail:
#   - the access log of one client          GET /api/v1/clients/{id}/access-log
#   - one user's events over one month       GET /api/v1/audit/events?actor_user_id=&from=&to=
#   - the unusual-activity report over a day, a week and 31 days (its first page: every
#     page runs the rules over the whole period)
#                                            GET /api/v1/reports/unusual-activity?from=&to=
# Usage: [BASELINE_BIN=CHECKOUT/target/release/casebridge] [ROUNDS=N] bench/audit_queries.sh [--postgres] [ROWS]
#        ROWS defaults to 10,000,000. BASELINE_BIN repeats the queries on the same rows with a
#        release build of another checkout (`git worktree add ../base REV`, build it there),
#        using that checkout's policies: an A/B that does not depend on the machine's speed.
#        ROUNDS (default 1) measures the builds that many times in turn, each on a fresh
#        server, so that the machine's drift falls on both. Each measurement ends with the
#        server's peak memory (VmHWM), which the 31-day report sets.
# The synthetic rows are generated in SQL, spread evenly over the year before now in time
# order (as the service appends them), 2,000 actors and 20,000 clients (each event discloses
# one client). They sit in their own chain whose hashes are
# placeholders: `audit verify` is not expected to pass on a benchmark database.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite
rows=10000000
for arg in "$@"; do
  case "$arg" in
    --postgres) backend=postgres ;;
    *) rows="$arg" ;;
  esac
done

cargo build --release --locked -q
bin=target/release/casebridge
work="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
export CASEBRIDGE_DATA_DIR="$work" CASEBRIDGE_DEMO_PASSWORD="$password" CASEBRIDGE_LOG=warn
pg_admin="postgres://postgres@127.0.0.1:5432/postgres"
if [ "$backend" = postgres ]; then
  db="casebridge_bench_$$"
  psql "$pg_admin" -qc "CREATE DATABASE $db"
  # Loopback needs no TLS, which libpq would otherwise negotiate (as bench/load.sh).
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
else
  export DATABASE_URL="$work/casebridge.db"
fi
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  if [ "$backend" = postgres ]; then psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" seed-demo >/dev/null

# Row i: actor i % 2000, client i % 20000, at (rows - i) / rows of a year before now.
read -r -d '' generate_sqlite <<SQL || true
PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO audit_events
SELECT printf('00000000-0000-7000-8000-%012d', i), 'bench', i,
       strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ((($rows - i) * 31536000) / $rows) || ' seconds'),
       printf('req-%d', i), printf('00000000-0000-7000-a000-%012d', i % 2000), NULL, '["dept_caseworker"]', 'user',
       'GET', '/api/v1/clients/{id}', '/api/v1/clients/x', 200, 'allowed', NULL, 'client', NULL,
       printf('["00000000-0000-7000-b000-%012d"]', i % 20000), '["id","given_name"]', NULL, NULL,
       '127.0.0.1', 'bench', 1, 'bench', 'bench'
FROM n;
INSERT INTO audit_event_clients
SELECT printf('00000000-0000-7000-b000-%012d', sequence % 20000), occurred_at, id FROM audit_events WHERE chain_id = 'bench';
COMMIT;
ANALYZE;
SQL
read -r -d '' generate_postgres <<SQL || true
INSERT INTO audit_events
SELECT format('00000000-0000-7000-8000-%s', lpad(i::text, 12, '0')), 'bench', i,
       (now() at time zone 'utc') - ((($rows - i)::bigint * 31536000) / $rows) * interval '1 second',
       'req-' || i, format('00000000-0000-7000-a000-%s', lpad((i % 2000)::text, 12, '0')), NULL, '["dept_caseworker"]', 'user',
       'GET', '/api/v1/clients/{id}', '/api/v1/clients/x', 200, 'allowed', NULL, 'client', NULL,
       format('["00000000-0000-7000-b000-%s"]', lpad((i % 20000)::text, 12, '0')), '["id","given_name"]', NULL, NULL,
       '127.0.0.1', 'bench', 1, 'bench', 'bench'
FROM generate_series(1, $rows) AS i;
INSERT INTO audit_event_clients
SELECT format('00000000-0000-7000-b000-%s', lpad((sequence % 20000)::text, 12, '0')), occurred_at, id FROM audit_events WHERE chain_id = 'bench';
ANALYZE;
SQL
started=$(date +%s)
if [ "$backend" = postgres ]; then
  psql "$DATABASE_URL" -q -v ON_ERROR_STOP=1 -c "$generate_postgres"
else
  python3 - "$DATABASE_URL" "$generate_sqlite" <<'PY'
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.executescript(sys.argv[2])
PY
fi
echo "generated $rows audit rows in $(( $(date +%s) - started )) s"

# Starts `$1` on the generated database and logs in as the auditor. The server is not pinned
# to a core: each query is one request at a time, and the unusual-activity report reads its
# period in parts on every core (bench/load.sh pins, because its load generator needs a core).
start_server() {
  "$1" serve --bind "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
  curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { echo "the server did not start:"; tail -20 "$work/serve.log"; exit 1; }
  token=$(curl -fs -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"auditor\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}

client="00000000-0000-7000-b000-000000000042"
actor="00000000-0000-7000-a000-000000000042"
from=$(date -u -d '-45 days' +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d '-15 days' +%Y-%m-%dT%H:%M:%SZ)
median_ms() {
  local url="$1" runs="${2:-21}" times=()
  for _ in $(seq 1 "$runs"); do
    times+=("$(curl -fs -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "$url")")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f ms (median of %d; max %.1f ms)", a[int((NR+1)/2)]*1000, NR, a[NR]*1000}'
}
findings() { curl -fs -H "Authorization: Bearer $token" "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
report() { echo "http://127.0.0.1:$port/api/v1/reports/unusual-activity?from=$(date -u -d "-$1 days -15 days" +%Y-%m-%dT%H:%M:%SZ)&to=$to"; }
items() { curl -fs -H "Authorization: Bearer $token" "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'; }
access_log="http://127.0.0.1:$port/api/v1/clients/$client/access-log?limit=50"
month="http://127.0.0.1:$port/api/v1/audit/events?actor_user_id=$actor&from=$from&to=$to&limit=50"
measure() {
  echo "backend=$backend rows=$rows"
  echo "| query | items in first page | latency |"
  echo "|---|---|---|"
  echo "| access log of one client ($(( rows / 20000 )) events in all), first page | $(items "$access_log") | $(median_ms "$access_log") |"
  echo "| one user's events over 30 days ($(( rows / 2000 )) in the year), first page | $(items "$month") | $(median_ms "$month") |"
  for days in 1 7 31; do
    url="$(report "$days")"
    echo "| unusual-activity report over $days day(s) (about $(( rows * days / 365 )) events), first page | $(findings "$url") findings | $(median_ms "$url" 5) |"
  done
}
# Measures build `$1` on a fresh server, then stops it.
measure_build() {
  start_server "$1"
  echo "build: $1"
  measure
  echo "peak memory of the server: $(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$server/status")"
  kill "$server"; wait "$server" 2>/dev/null || true
  server=""
}
# BASELINE_BIN: the same queries on the same rows with that build, for an A/B that does not
# depend on how fast the machine is running today. Each run's own requests are in the trail
# the next reads (a few dozen rows; they show in the access log's first page).
for round in $(seq 1 "${ROUNDS:-1}"); do
  echo "round $round"
  measure_build "$bin"
  if [ -n "${BASELINE_BIN:-}" ]; then
    # The build's own checkout (…/target/release/casebridge) holds the policy it understands.
    CASEBRIDGE_POLICY_DIR="$(cd "$(dirname "$BASELINE_BIN")/../.." && pwd)/policies" \
      measure_build "$BASELINE_BIN"
  fi
done
