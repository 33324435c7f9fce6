#!/usr/bin/env bash
# Load benchmark of casebridge: one command, SQLite (default) or PostgreSQL.
#
#   bench/load.sh [--postgres] [--unaudited]
#
# Builds the release binary, starts `casebridge serve --demo` on a fresh database pinned to
# one core, drives it with wrk pinned to the other, and prints one markdown table row per
# scenario (req/s, p50 and p99 latency, non-2xx responses, the server's peak resident memory
# during the measured runs, and the CPU that other processes took meanwhile):
#
#   get-client  GET  /api/v1/clients/{id}       as csp-north (a client allocated to Northside)
#   post-note   POST /api/v1/cases/{id}/notes   as caseworker (a Housing case)
#
# --postgres   use a new database on $PG_URL (created and dropped here with psql) instead of
#              SQLite in a temporary data directory
# --unaudited  build with the `bench-unaudited` feature (reads leave no audit row) into
#              target/bench-unaudited, to measure what the audit trail costs. Writes are
#              still recorded in their own transaction either way.
#
# Settings (environment):
#   DURATION=30        seconds of each measured wrk run
#   WARMUP=5           seconds of unmeasured load before each scenario (0: none)
#   RUNS=1             measured runs per scenario; with more, each figure is the median
#   CONNECTIONS=64     wrk connections      THREADS=2   wrk threads
#   SERVER_CPU=0       core for the server  CLIENT_CPU=1  core for wrk
#   PORT=18080         port the server listens on (127.0.0.1)
#   PG_URL=postgres://postgres@127.0.0.1:5432   server for --postgres (trust auth)
#   PG_OPTIONS=sslmode=disable   connection options of the service's DATABASE_URL: loopback
#                      needs no TLS, which libpq would otherwise negotiate (sslmode=prefer)
#   PG_PIN=1           also pin the PostgreSQL backends serving the benchmark database to
#                      SERVER_CPU, so the service and its database share one core as with SQLite
#   QUIET_WAIT=600     seconds to wait, before starting, for the machine to be quiet: at most
#   QUIET_BUSY=5       percent of its CPU busy (compilers, test suites, other benchmarks)
#   SCENARIOS="get-client post-note"
#   KEEP=0             1 keeps the temporary directory (server log, raw wrk output)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

backend=sqlite
audit=audited
for arg in "$@"; do
  case "$arg" in
    --postgres) backend=postgres ;;
    --unaudited) audit=unaudited ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
RUNS=${RUNS:-1}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18080}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_PIN=${PG_PIN:-1}
PG_OPTIONS=${PG_OPTIONS:-sslmode=disable}
QUIET_WAIT=${QUIET_WAIT:-600}
QUIET_BUSY=${QUIET_BUSY:-5}
SCENARIOS=${SCENARIOS:-get-client post-note}
KEEP=${KEEP:-0}

say() { echo "bench: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# --- tools -----------------------------------------------------------------------------
need_apt=()
command -v wrk > /dev/null || need_apt+=(wrk)
command -v curl > /dev/null || need_apt+=(curl)
command -v jq > /dev/null || need_apt+=(jq)
command -v taskset > /dev/null || need_apt+=(util-linux)
if [[ $backend == postgres ]] && ! command -v psql > /dev/null; then need_apt+=(postgresql-client); fi
if ((${#need_apt[@]})); then
  say "installing ${need_apt[*]}"
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" > /dev/null
fi

# --- build -----------------------------------------------------------------------------
if [[ $audit == unaudited ]]; then
  target_dir=target/bench-unaudited
  say "building the release binary with --features bench-unaudited into $target_dir"
  cargo build --release --locked --features bench-unaudited --target-dir "$target_dir" >&2
  export CASEBRIDGE_BENCHMARK_ONLY=1
else
  target_dir=target
  say "building the release binary"
  cargo build --release --locked >&2
fi
binary=$root/$target_dir/release/casebridge

# --- a quiet machine ---------------------------------------------------------------------
# Busy share of the whole machine over 3 s, in percent: compilers, test suites and other
# benchmarks all show here.
machine_busy() {
  local a b
  read -r -a a < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  sleep 3
  read -r -a b < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
  echo $((100 * (b[0] - a[0]) / ((b[0] - a[0]) + (b[1] - a[1]) + 1)))
}
waited=0
while busy=$(machine_busy) && ((busy > QUIET_BUSY && waited < QUIET_WAIT)); do
  ((waited == 0)) && say "the machine is ${busy}% busy; waiting up to ${QUIET_WAIT}s for it to be quiet"
  waited=$((waited + 3))
done
if ((busy > QUIET_BUSY)); then
  say "WARNING: the machine is still ${busy}% busy; the figures below share the CPU with that work"
fi

# --- server ----------------------------------------------------------------------------
work=$(mktemp -d /tmp/casebridge-bench.XXXXXX)
server_pid=
pg_db=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2> /dev/null; then
    kill "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true
  fi
  if [[ -n $pg_db ]]; then
    psql "$PG_URL/postgres" -qAt -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" > /dev/null 2>&1 ||
      say "could not drop database $pg_db"
  fi
  if [[ $KEEP == 1 ]]; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
export CASEBRIDGE_DEMO_PASSWORD=$password
export CASEBRIDGE_DATA_DIR=$work/data
unset CASEBRIDGE_JWT_SECRET
if [[ $backend == postgres ]]; then
  pg_db=casebridge_bench_$$
  psql "$PG_URL/postgres" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE $pg_db" > /dev/null ||
    die "cannot create database $pg_db on $PG_URL"
  export DATABASE_URL=$PG_URL/$pg_db${PG_OPTIONS:+?$PG_OPTIONS}
else
  export DATABASE_URL=$work/data/casebridge.db
fi

base=http://127.0.0.1:$PORT
curl -s -o /dev/null "$base/health" && die "something already listens on port $PORT (set PORT)"
say "starting casebridge serve --demo ($backend, $audit) on core $SERVER_CPU"
taskset -c "$SERVER_CPU" "$binary" serve --demo --bind "127.0.0.1:$PORT" \
  --policy-dir "$root/policies" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  curl -s -o /dev/null "$base/health" && break
  kill -0 "$server_pid" 2> /dev/null || {
    cat "$work/server.log" >&2
    die "the server stopped"
  }
  sleep 0.1
done
curl -s -o /dev/null "$base/health" || die "the server did not answer /health within 60 s"

# The processes that make up the service: the server and, on PostgreSQL, the backends
# serving the benchmark database (pinned to SERVER_CPU unless PG_PIN=0).
service_pids=
find_service() {
  service_pids=$server_pid
  [[ $backend == postgres ]] || return 0
  local pids pid
  pids=$(psql "$PG_URL/postgres" -qAt -c \
    "SELECT pid FROM pg_stat_activity WHERE datname = '$pg_db' AND pid <> pg_backend_pid()")
  service_pids="$server_pid $pids"
  [[ $PG_PIN == 1 ]] || return 0
  for pid in $pids; do
    taskset -pc "$SERVER_CPU" "$pid" > /dev/null 2>&1 || {
      say "cannot pin PostgreSQL backend $pid (not local, or not permitted); left unpinned"
      return 0
    }
  done
}

login() {
  curl -sf -X POST "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"$1\",\"password\":\"$password\"}" | jq -er .access_token
}

north=$(login csp-north) || die "csp-north cannot log in"
caseworker=$(login caseworker) || die "caseworker cannot log in"
client_id=$(curl -sf "$base/api/v1/clients?limit=1" -H "Authorization: Bearer $north" |
  jq -er '.items[0].id') || die "csp-north sees no client"
case_id=$(curl -sf "$base/api/v1/cases?limit=1" -H "Authorization: Bearer $caseworker" |
  jq -er '.items[0].id') || die "caseworker sees no case"
note_body='{"note_type":"contact","body":"benchmark note"}'
say "client $client_id (first of csp-north's list), case $case_id (first of caseworker's list)"

# Both requests must succeed once before they are measured.
status=$(curl -s -o /dev/null -w '%{http_code}' "$base/api/v1/clients/$client_id" \
  -H "Authorization: Bearer $north")
[[ $status == 200 ]] || die "GET /api/v1/clients/$client_id as csp-north answered $status"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$base/api/v1/cases/$case_id/notes" \
  -H "Authorization: Bearer $caseworker" -H 'content-type: application/json' -d "$note_body")
[[ $status == 201 ]] || die "POST /api/v1/cases/$case_id/notes as caseworker answered $status"

# --- scenarios -------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p"; }

# CPU time in clock ticks: of the whole machine, and of some processes (all their threads).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
process_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] && total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}

# seconds token method body url -> wrk's output, whose RESULT line gets other_cpu=N: the
# CPU that neither the service nor wrk used during the run, in percent of one core. More
# than a few percent means something else ran on the machine and the figures are suspect.
run_wrk() {
  local hz machine service start wrk_seconds elapsed other
  hz=$(getconf CLK_TCK)
  machine=$(machine_ticks)
  # shellcheck disable=SC2086
  service=$(process_ticks $service_pids)
  start=$(date +%s%N)
  TIMEFORMAT='%3U %3S'
  { time BENCH_TOKEN=$2 BENCH_METHOD=$3 BENCH_BODY=$4 taskset -c "$CLIENT_CPU" \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1"s --latency -s "$here/report.lua" "$5" \
    > "$work/wrk.out" 2> /dev/null; } 2> "$work/wrk.time"
  elapsed=$(($(date +%s%N) - start))
  machine=$(($(machine_ticks) - machine))
  # shellcheck disable=SC2086
  service=$(($(process_ticks $service_pids) - service))
  wrk_seconds=$(awk '{ print $1 + $2 }' "$work/wrk.time")
  other=$(awk -v m="$machine" -v s="$service" -v w="$wrk_seconds" -v hz="$hz" -v ns="$elapsed" \
    'BEGIN { o = (m - s - w * hz) / hz / (ns / 1e9) * 100; printf "%.0f", (o < 0 ? 0 : o) }')
  sed "s/^RESULT .*/& other_cpu=$other/" "$work/wrk.out"
}

echo "| backend | audit | scenario | conns | req/s | p50 ms | p99 ms | non-2xx | peak RSS MiB | other CPU % |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for scenario in $SCENARIOS; do
  case $scenario in
    get-client) user=csp-north method=GET body='' url=$base/api/v1/clients/$client_id ;;
    post-note) user=caseworker method=POST body=$note_body url=$base/api/v1/cases/$case_id/notes ;;
    *) die "unknown scenario $scenario" ;;
  esac
  # A fresh token per scenario: access tokens live 15 minutes at most.
  token=$(login "$user") || die "$user cannot log in"
  find_service
  if ((WARMUP > 0)); then
    say "$scenario: warming up for ${WARMUP}s"
    run_wrk "$WARMUP" "$token" "$method" "$body" "$url" > "$work/$scenario-warmup.txt"
  fi
  # Peak memory of this scenario: writing 5 to clear_refs resets VmHWM (Linux >= 4.0).
  echo 5 > "/proc/$server_pid/clear_refs" 2> /dev/null || true
  : > "$work/$scenario.results"
  for run in $(seq 1 "$RUNS"); do
    say "$scenario: run $run of $RUNS, ${DURATION}s, $CONNECTIONS connections"
    run_wrk "$DURATION" "$token" "$method" "$body" "$url" > "$work/$scenario-$run.txt"
    grep '^RESULT' "$work/$scenario-$run.txt" | tee -a "$work/$scenario.results" >&2
  done
  kill -0 "$server_pid" 2> /dev/null || die "the server died during $scenario"
  hwm_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
  rps=$(field rps < "$work/$scenario.results" | median)
  p50=$(field p50_ms < "$work/$scenario.results" | median)
  p99=$(field p99_ms < "$work/$scenario.results" | median)
  non2xx=$(field non2xx < "$work/$scenario.results" | awk '{ s += $1 } END { print s }')
  errors=$(field socket_errors < "$work/$scenario.results" | awk '{ s += $1 } END { print s }')
  other=$(field other_cpu < "$work/$scenario.results" | sort -g | tail -1)
  ((errors == 0)) || non2xx="$non2xx (+$errors socket errors)"
  ((other <= 10)) || say "WARNING: $scenario: up to $other% of a core went to other processes during a run"
  printf '| %s | %s | %s %s | %s | %.0f | %.2f | %.2f | %s | %.1f | %s |\n' \
    "$backend" "$audit" "$scenario" "$method" "$CONNECTIONS" "$rps" "$p50" "$p99" "$non2xx" \
    "$(awk -v k="$hwm_kib" 'BEGIN { print k / 1024 }')" "$other"
done
if ((RUNS > 1)); then
  say "req/s, p50 and p99 are medians of $RUNS runs; non-2xx is their sum; other CPU the largest"
fi
