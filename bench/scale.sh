#!/usr/bin/env bash
# Department-scale benchmark (issue 17): a demo database with a synthetic department of
# CLIENTS clients (default 1,000,000), and the latency of what the service does all day.
#
#   bench/scale.sh [--postgres] [CLIENTS]
#
# Builds the release binary and creates, or reuses, the database: `casebridge seed-demo`
# then `casebridge seed-synthetic --clients CLIENTS --seed SEED --audit-rows AUDIT_ROWS`,
# kept under $SCALE_DB_DIR (default target/scale), one per backend, size, seed and audit
# rows (PostgreSQL: a database named likewise on $PG_URL). It then starts the server on it
# and runs bench/scale_client.py, which logs in as the demo accounts (they log in with the
# password alone on a demo database, so no TOTP step) and prints p50 and p99 over REQUESTS
# sequential requests per scenario:
#   profile search with and without a date of birth, for a common and a rare name; client
#   create; note create; first and deep (cursor halfway through the ids) pages of /clients
#   and /cases for caseworker, teamleader and csp-north; /clients and /cases under each
#   filter; the access log of the busiest client; one user's month of audit events; the
#   outdated-notices report; the access-request bundle of a client with 500 notes (created
#   here); a breach's affected individuals for an account that read READS clients (read
#   here); a retention dry run (schedules created here); a note's latency while clients
#   are created concurrently; the writer's worst hold over the run (from its debug log).
# Then `GET /clients/{id}` as csp-north at 64 connections with wrk for DURATION seconds, on
# this database and on a fresh demo-size one, for the throughput ratio: ROUNDS rounds, the two
# sizes alternating (a fresh server each run, pinned to core 0, wrk to core 1), because this
# machine's speed drifts more between minutes than the two sizes differ.
# THROUGHPUT_ONLY=1 skips the latency scenarios (the database is still generated if need be).
#
# The measured requests change the database (clients, notes, schedules, a breach, reads in
# the audit trail): a reused database carries the previous runs' too.
#
# Settings (environment):
#   SEED=1  AUDIT_ROWS=1000000  SCALE_DB_DIR=target/scale  PG_URL=postgres://postgres@127.0.0.1:5432
#   REQUESTS=100  MAX_SECONDS=120  READS=10000  DURATION=15  CONNECTIONS=64  ROUNDS=3  PORT=18180
#   FRESH=1 regenerates the database even if one is cached
#   CASEBRIDGE_BIN=path runs that binary instead of building this tree's (to compare builds A/B
#   on one database)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench/scale.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "bench/scale.sh needs taskset (apt-get install util-linux)" >&2; exit 1; }

backend=sqlite
clients=1000000
for arg in "$@"; do
  case "$arg" in
    --postgres) backend=postgres ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *[!0-9]* | "") echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
    *) clients="$arg" ;;
  esac
done
SEED=${SEED:-1}
AUDIT_ROWS=${AUDIT_ROWS:-1000000}
SCALE_DB_DIR=${SCALE_DB_DIR:-target/scale}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18180}

if [ -n "${CASEBRIDGE_BIN:-}" ]; then
  bin="$CASEBRIDGE_BIN"
else
  cargo build --release --locked -q
  bin="$PWD/target/release/casebridge"
fi
key="$backend-c$clients-s$SEED-a$AUDIT_ROWS"
dir="$(mkdir -p "$SCALE_DB_DIR/$key" && cd "$SCALE_DB_DIR/$key" && pwd)"
export CASEBRIDGE_DATA_DIR="$dir" CASEBRIDGE_LOG=warn
if [ "$backend" = postgres ]; then
  db="casebridge_scale_${key//-/_}"
  # Loopback needs no TLS, which libpq would otherwise negotiate (as bench/load.sh).
  export DATABASE_URL="$PG_URL/$db?sslmode=disable"
else
  export DATABASE_URL="$dir/casebridge.db"
fi

if [ ! -f "$dir/complete" ] || [ "${FRESH:-0}" = 1 ]; then
  rm -f "$dir/complete" "$dir"/casebridge.db*
  if [ "$backend" = postgres ]; then
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
    psql "$PG_URL/postgres" -qc "CREATE DATABASE $db"
  fi
  python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$dir/password"
  chmod 600 "$dir/password"
  export CASEBRIDGE_DEMO_PASSWORD="$(cat "$dir/password")"
  "$bin" seed-demo >/dev/null
  echo "generating: seed-synthetic --clients $clients --seed $SEED --audit-rows $AUDIT_ROWS ($backend)"
  started=$(date +%s)
  "$bin" seed-synthetic --clients "$clients" --seed "$SEED" --audit-rows "$AUDIT_ROWS" \
    >"$dir/seed.out" 2>"$dir/seed.log"
  echo "generated in $(( $(date +%s) - started )) s: $(head -1 "$dir/seed.out")"
  # After a bulk load PostgreSQL plans without statistics, and its pages are not yet marked
  # all-visible, until autovacuum gets to the tables (this machine's server runs without
  # autovacuum), and the checkpointer is still writing the load out: a running department's
  # database has long been through all three. Do them now, as an operator does after a load,
  # so that the measurements do not wait behind them. (SQLite gathers no statistics unless
  # asked, and the service never asks.)
  if [ "$backend" = postgres ]; then
    psql "$DATABASE_URL" -qc "VACUUM (ANALYZE)" -c CHECKPOINT
  fi
  touch "$dir/complete"
else
  echo "reusing $dir ($(head -1 "$dir/seed.out" 2>/dev/null || echo 'no summary'))"
fi
export CASEBRIDGE_DEMO_PASSWORD="$(cat "$dir/password")"
if [ "$backend" = postgres ]; then
  size=$(psql "$PG_URL/postgres" -Atc "SELECT pg_size_pretty(pg_database_size('$db'))")
else
  size=$(du -ch "$dir"/casebridge.db* | tail -1 | cut -f1)
fi
echo "backend=$backend clients=$clients seed=$SEED audit_rows=$AUDIT_ROWS database size=$size"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"

server=""
demo_dir=""
demo_db="casebridge_scale_demo_$$"
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  [ -n "$demo_dir" ] && rm -rf "$demo_dir"
  if [ -n "$demo_dir" ] && [ "$backend" = postgres ]; then
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $demo_db WITH (FORCE)" || true
  fi
  return 0
}
trap cleanup EXIT

# Starts the server on $DATABASE_URL (pinned to core $2 if given) and waits until it is ready.
start_server() {
  taskset -c "${2:-0-$(($(nproc) - 1))}" "$bin" serve --bind "127.0.0.1:$PORT" >"$1" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null && return 0; sleep 0.2; done
  echo "the server did not start:"; tail -20 "$1"; exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }

# wrk: GET /clients/{id} as csp-north (a client allocated to Northside) at $CONNECTIONS.
throughput() {
  local token client
  token=$(curl -fs -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"csp-north\",\"password\":\"$CASEBRIDGE_DEMO_PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  # A page looks at a bounded number of rows, so the first may be empty with a next cursor.
  client=$(python3 - "http://127.0.0.1:$PORT/api/v1/clients?limit=1" "$token" <<'PY'
import json, sys, urllib.parse, urllib.request
url, token = sys.argv[1], sys.argv[2]
cursor = None
while True:
    page_url = url + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
    request = urllib.request.Request(page_url, headers={"Authorization": "Bearer " + token})
    page = json.load(urllib.request.urlopen(request))
    if page["items"]:
        print(page["items"][0]["id"])
        break
    cursor = page["next_cursor"]
PY
)
  taskset -c 1 wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$PORT/api/v1/clients/$client" |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
         END {printf "%s req/s, p50 %s, p99 %s, non-2xx %s", rps, p50, p99, (bad == "" ? 0 : bad)}'
}

# The writer logs each batch at debug level: how long it held the writer until its commit
# (held_us) and its slowest job (slowest_job_us); a job over 50 ms is also a warning.
if [ "${THROUGHPUT_ONLY:-0}" != 1 ]; then
  CASEBRIDGE_LOG="warn,casebridge::db::writer=debug" start_server "$dir/serve.log"
  python3 bench/scale_client.py "http://127.0.0.1:$PORT" "$DATABASE_URL" | tee "$dir/latency.md"
  stop_server
  # The log is coloured (ANSI escapes between a field's name and its value): strip them first.
  sed 's/\x1b\[[0-9;]*m//g' "$dir/serve.log" >"$dir/serve.plain.log"
  worst() { grep -o "$1=[0-9]*" "$dir/serve.plain.log" | cut -d= -f2 | sort -n | tail -1; }
  echo
  echo "| the writer over the run | result |"
  echo "|---|---|"
  echo "| batches | $(grep -c 'writer batch' "$dir/serve.plain.log" || true) |"
  echo "| worst hold of a batch (until commit) | $(( $(worst held_us || echo 0) / 1000 )) ms |"
  echo "| worst job | $(( $(worst slowest_job_us || echo 0) / 1000 )) ms |"
  echo "| jobs and batches over 50 ms | $(grep -c 'held the writer longer' "$dir/serve.plain.log" || true) |"
fi

# The same request on a demo-size database, alternating with this one.
demo_dir=$(mktemp -d)
scale_url="$DATABASE_URL"
if [ "$backend" = postgres ]; then
  psql "$PG_URL/postgres" -qc "CREATE DATABASE $demo_db"
  demo_url="$PG_URL/$demo_db?sslmode=disable"
else
  demo_url="$demo_dir/casebridge.db"
fi
CASEBRIDGE_DATA_DIR="$demo_dir" DATABASE_URL="$demo_url" "$bin" seed-demo >/dev/null
# wrk's summary of one run on database $1 (data directory $2), on a fresh server on core 0.
rate_on() {
  DATABASE_URL="$1" CASEBRIDGE_DATA_DIR="$2" start_server "$2/throughput.log" 0
  local line
  line=$(throughput)
  stop_server
  echo "$line"
}
echo
echo "| GET /clients/{id} as csp-north, $CONNECTIONS connections, ${DURATION} s | $clients clients | demo size | ratio |"
echo "|---|---|---|---:|"
ratios=()
for round in $(seq 1 "$ROUNDS"); do
  scale_rate=$(rate_on "$scale_url" "$dir")
  demo_rate=$(rate_on "$demo_url" "$demo_dir")
  ratio=$(python3 -c 'import sys; print(f"{100 * float(sys.argv[1]) / float(sys.argv[2]):.1f}")' \
    "${scale_rate%% *}" "${demo_rate%% *}")
  ratios+=("$ratio")
  echo "| round $round | $scale_rate | $demo_rate | $ratio % |"
done
echo "| mean | | | $(python3 -c 'import sys; r = list(map(float, sys.argv[1:])); print(f"{sum(r) / len(r):.1f}")' "${ratios[@]}") % |"
