#!/usr/bin/env bash
# HTTP load benchmark of the foundation: authenticated GET /api/v1/me with an
# API key, and a cursor-paginated list of 50 members, on SQLite and on
# PostgreSQL, with wrk on the same machine.
#
# Both servers run side by side; every scenario is measured ROUNDS times,
# interleaved, so that a noisy neighbour hurts all scenarios alike. The table
# gives the median round of each (by requests/s) and every round's figure;
# raw wrk output stays under bench/results/.
#
#   bench/http.sh [seconds per run (default 10)] [connections (default 32)] [rounds (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
ROUNDS="${3:-3}"
PG_ADMIN="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
OUT="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2; }
cargo build --release --locked -q
BIN=target/release/switchboard

# Rate limits are raised: this measures the server, not the limiter's refusals.
export SWITCHBOARD_RATE_LIMITS__PER_IP_PER_SECOND=10000000
export SWITCHBOARD_RATE_LIMITS__TENANT_PER_SECOND__ENTERPRISE=10000000
export SWITCHBOARD_LOG__FILTER=warn
unset DATABASE_URL

PIDS=()
DIRS=()
PG_DB="sbbench_$(date +%s)"
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for dir in "${DIRS[@]}"; do rm -rf "$dir"; done
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

seed() { # data dir -> prints the API key (honours DATABASE_URL)
  local data="$1"
  $BIN tenant create --data "$data" --slug bench --name "Bench Tenant" --plan enterprise >/dev/null
  for i in $(seq 1 60); do
    echo "bench password $i long" | $BIN user add --data "$data" --tenant bench --email "agent$i@bench.example" --role member --password-stdin >/dev/null
  done
  $BIN apikey create --data "$data" --tenant bench --name bench --scope users:manage
}

# Starts a server on a fresh data directory (DATABASE_URL picks the backend)
# and sets KEY to an API key of its seeded tenant. Not run in a $(…)
# subshell: the server must be a child of this shell, and must not hold a
# command substitution's pipe open.
start() { # name port
  local data; data=$(mktemp -d); DIRS+=("$data")
  KEY=$(seed "$data")
  $BIN serve --data "$data" --bind "127.0.0.1:$2" >/dev/null 2>"$OUT/$1-server.log" &
  PIDS+=($!)
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && break; sleep 0.2; done
  local first_page; first_page=$(curl -sf -H "Authorization: Bearer $KEY" "http://127.0.0.1:$2/api/v1/members?limit=50")
  [[ "$first_page" == *next_cursor\":\"* ]] || { echo "$1: the list did not page: $first_page" >&2; exit 1; }
}

start SQLite 18181
SQLITE_KEY=$KEY
psql "$PG_ADMIN" -qc "CREATE DATABASE $PG_DB"
PG_URL="${PG_ADMIN%/*}/$PG_DB"
DATABASE_URL="$PG_URL" start PostgreSQL 18182
PG_KEY=$KEY
# Planner statistics, as autovacuum would gather within a minute of seeding.
psql "$PG_URL" -qc "ANALYZE"

SCENARIOS=(
  "SQLite|GET /api/v1/me|18181|/api/v1/me|$SQLITE_KEY"
  "SQLite|GET /api/v1/members?limit=50|18181|/api/v1/members?limit=50|$SQLITE_KEY"
  "PostgreSQL|GET /api/v1/me|18182|/api/v1/me|$PG_KEY"
  "PostgreSQL|GET /api/v1/members?limit=50|18182|/api/v1/members?limit=50|$PG_KEY"
)

for round in $(seq 1 "$ROUNDS"); do
  for i in "${!SCENARIOS[@]}"; do
    IFS='|' read -r backend label port path key <<<"${SCENARIOS[$i]}"
    file="$OUT/s$i-r$round.txt"
    wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $key" "http://127.0.0.1:$port$path" >"$file"
    if grep -q "Non-2xx" "$file"; then echo "$backend $label: non-2xx answers, see $file" >&2; exit 1; fi
    echo "round $round: $backend $label $(awk '/^Requests\/sec/ {print $2}' "$file") req/s" >&2
  done
done

{
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), wrk -t1 -c$CONNECTIONS -d${DURATION}s, median of $ROUNDS interleaved rounds"
  echo
  echo "| backend | scenario | requests/s (median) | p50 | p99 | every round, requests/s |"
  echo "|---|---|---|---|---|---|"
  for i in "${!SCENARIOS[@]}"; do
    IFS='|' read -r backend label _ _ _ <<<"${SCENARIOS[$i]}"
    # one line per round: rps p50 p99, sorted by rps; the middle one is the median round
    rows=$(for round in $(seq 1 "$ROUNDS"); do
      awk '/^Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print r, p50, p99}' "$OUT/s$i-r$round.txt"
    done | sort -n)
    median=$(echo "$rows" | sed -n "$(( (ROUNDS + 1) / 2 ))p")
    read -r rps p50 p99 <<<"$median"
    all=$(echo "$rows" | awk '{printf "%s%s", sep, $1; sep=", "}')
    printf '| %s | %s | %s | %s | %s | %s |\n' "$backend" "$label" "$rps" "$p50" "$p99" "$all"
  done
} | tee "$OUT/summary.md"
