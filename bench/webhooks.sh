#!/usr/bin/env bash
# Webhook ingestion benchmark: correctly signed Retell call_ended webhooks,
# each a new call with a five-minute transcript (~800 words with word
# timings), accepted and durably committed (database row, raw and meta
# objects) before the answer. On SQLite (synchronous=FULL, the default) and
# on PostgreSQL, with the load generator (examples/webhook_load.rs) on the
# same machine.
#
# Objects are synced files (decision 0009). On ext4 without a journal (the
# machines here) creating a file scans the inodes deleted in the last few
# minutes: run this at least five minutes after deleting many files (the
# previous run's data directories, removed at its exit, included), or the
# first scenarios measure the file system.
#
# The machines here hand free memory back to their hypervisor, and writing
# to such a page again is slow: with gigabytes free, the page cache grows
# into them and the run measures the hypervisor. So the script first holds
# all but FREE_MEMORY_MIB (default 4096) of the available memory
# (bench/hold-memory.py; a minute the first time), then runs each server
# WARMUP seconds (default 10) unmeasured, so the page cache is full and
# reuses its own pages, as on a server that has run for a while.
# FREE_MEMORY_MIB=all skips both and measures a freshly booted machine.
#
# Two scenarios per backend, interleaved over ROUNDS rounds so a noisy
# neighbour hurts all alike: closed loop with CONNECTIONS connections
# (throughput), and open loop at RATE requests/s (latency at a fixed load).
#
# With BASELINE=<another switchboard binary> (say, the previous commit's
# release build), every scenario also runs against that binary's servers,
# interleaved, so the two are compared in one run on one machine.
#
#   bench/webhooks.sh [seconds per run (default 10)] [connections (default 128)] [rounds (default 3)] [open-loop rate (default 1000)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-128}"
ROUNDS="${3:-3}"
RATE="${4:-1000}"
FREE_MEMORY_MIB="${FREE_MEMORY_MIB:-4096}"
WARMUP="${WARMUP:-10}"
PG_ADMIN="${TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
OUT="bench/results/webhooks-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"

cargo build --release --locked -q --bin switchboard --example webhook_load
BIN=target/release/switchboard
LOAD=target/release/examples/webhook_load
RETELL_KEY="bench-retell-signing-key-0001"

export SWITCHBOARD_RATE_LIMITS__PER_IP_PER_SECOND=10000000
export SWITCHBOARD_RATE_LIMITS__WEBHOOKS_PER_AGENT_PER_SECOND=10000000
export SWITCHBOARD_RATE_LIMITS__TENANT_PER_SECOND__ENTERPRISE=10000000
export SWITCHBOARD_LOG__FILTER=warn
# Ingestion alone, as on API nodes whose analysis runs on `switchboard
# worker` nodes: with in-process workers, the analysis of one scenario's
# calls would still be running through the next, interleaved, scenario.
# bench/analysis.sh measures the pipeline; PIPELINE_WORKERS=true measures
# both in one process.
export SWITCHBOARD_PIPELINE__WORKERS="${PIPELINE_WORKERS:-false}"
export SWITCHBOARD_MASTER_KEY; SWITCHBOARD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
unset DATABASE_URL

PIDS=()
DIRS=()
PG_DB="sbwebhooks_$(date +%s)"
PG_DBS=()
cleanup() {
  for pid in "${PIDS[@]}" "${HOLDER:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for dir in "${DIRS[@]}"; do rm -rf "$dir"; done
  for db in "${PG_DBS[@]}"; do
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# Starts a server of binary BIN (DATABASE_URL picks the backend) with a
# tenant, its Retell key and one Retell agent; sets URL to the agent's
# webhook URL.
start() { # name port [database]
  local data; data=$(mktemp -d); DIRS+=("$data")
  if [ -n "${3:-}" ]; then
    psql "$PG_ADMIN" -qc "CREATE DATABASE $3"; PG_DBS+=("$3")
    export DATABASE_URL="${PG_ADMIN%/*}/$3"
  fi
  $BIN tenant create --data "$data" --slug bench --name "Bench Tenant" --plan enterprise >/dev/null
  local key; key=$($BIN apikey create --data "$data" --tenant bench --name bench --scope settings:manage)
  $BIN serve --data "$data" --bind "127.0.0.1:$2" >/dev/null 2>"$OUT/$1-server.log" &
  PIDS+=($!)
  SERVER=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf -X PUT -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d "{\"api_key\": \"$RETELL_KEY\"}" "http://127.0.0.1:$2/api/v1/settings/credentials/retell" >/dev/null
  URL=$(curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    -d '{"name": "Bench agent", "provider": "retell"}' "http://127.0.0.1:$2/api/v1/agents" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["webhook_url"])')
  unset DATABASE_URL
}

if [ "$FREE_MEMORY_MIB" != all ]; then
  rm -f "$OUT/memory-held"
  python3 bench/hold-memory.py "$FREE_MEMORY_MIB" "$OUT/memory-held" 2>"$OUT/memory.txt" &
  HOLDER=$!
  while [ ! -e "$OUT/memory-held" ]; do
    kill -0 "$HOLDER" 2>/dev/null || { cat "$OUT/memory.txt" >&2; exit 1; }
    sleep 1
  done
  cat "$OUT/memory.txt" >&2
fi

SCENARIOS=()
# Both backends of binary BIN: a label, the first of two ports.
servers() {
  start "SQLite$1" "$2"
  local sqlite="$URL|$SERVER"
  start "PostgreSQL$1" "$(($2 + 1))" "${PG_DB}_$(($2 + 1))"
  local pg="$URL|$SERVER"
  SCENARIOS+=(
    "SQLite$1|throughput, $CONNECTIONS connections|$sqlite|--connections $CONNECTIONS"
    "SQLite$1|open loop, ${RATE}/s|$sqlite|--rate $RATE"
    "PostgreSQL$1|throughput, $CONNECTIONS connections|$pg|--connections $CONNECTIONS"
    "PostgreSQL$1|open loop, ${RATE}/s|$pg|--rate $RATE"
  )
}
servers "" 18281
if [ -n "${BASELINE:-}" ]; then
  BIN=$BASELINE servers " (baseline)" 18283
fi

# CPU time (user + system, in clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# The same for all of PostgreSQL's processes (its backends and background
# writers; 0 where there are none).
pg_ticks() {
  local pid
  for pid in $(pgrep -x postgres); do cat "/proc/$pid/stat" 2>/dev/null; done |
    awk '{t += $14 + $15} END {print t + 0}'
}
TICK_MS=$((1000 / $(getconf CLK_TCK)))

if [ "$FREE_MEMORY_MIB" != all ]; then
  for i in "${!SCENARIOS[@]}"; do
    IFS='|' read -r _ _ url _ mode <<<"${SCENARIOS[$i]}"
    case "$mode" in --connections*) ;; *) continue ;; esac
    # shellcheck disable=SC2086
    $LOAD --url "$url" --key "$RETELL_KEY" --duration "$WARMUP" --label "warm$i" $mode >/dev/null 2>&1
    psql "$PG_ADMIN" -qc CHECKPOINT >/dev/null
  done
fi

for round in $(seq 1 "$ROUNDS"); do
  for i in "${!SCENARIOS[@]}"; do
    IFS='|' read -r backend label url server mode <<<"${SCENARIOS[$i]}"
    file="$OUT/s$i-r$round.txt"
    before=$(cpu_ticks "$server")
    pg_before=$(pg_ticks)
    # shellcheck disable=SC2086
    $LOAD --url "$url" --key "$RETELL_KEY" --duration "$DURATION" --label "s$i-r$round" $mode >"$file" 2>"$file.err"
    # The server's CPU per accepted webhook, whatever the machine's other
    # tenants took: what two cores of its own would allow is 2,000 ms/s
    # divided by it (less the load generator's share).
    used_ms=$(( ($(cpu_ticks "$server") - before) * TICK_MS ))
    # PostgreSQL's own share, which the server's leaves out; on SQLite
    # scenarios whatever the idle database did meanwhile (next to nothing).
    pg_ms=$(( ($(pg_ticks) - pg_before) * TICK_MS ))
    sed -i -E "s/\$/ server_cpu_ms=$used_ms postgres_cpu_ms=$pg_ms/" "$file"
    # An overloaded server times requests out: counted, reported, not fatal.
    echo "round $round: $backend $label: $(cat "$file")" >&2
    # PostgreSQL writes out what a run left dirty (checkpoint, background
    # writer) for seconds after it: do it now, not during the next scenario.
    psql "$PG_ADMIN" -qc CHECKPOINT >/dev/null
    sleep 2
  done
done

field() { sed -E "s/.*$1=([0-9.]+).*/\1/" "$2"; }
# Each column's own median over the rounds: at a fixed offered rate every
# round accepts about the same, so the latency of the round with the median
# throughput would be an arbitrary one.
median() { sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p"; }
{
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(if [ "$FREE_MEMORY_MIB" = all ]; then echo "memory not held"; else echo "all but $FREE_MEMORY_MIB MiB of memory held, ${WARMUP}s warm-up per server"; fi), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), ${DURATION}s runs, medians of $ROUNDS interleaved rounds, $(head -c 200 "$OUT/s0-r1.txt.err")"
  echo
  echo "| backend | scenario | accepted/s | p50 | p99 | failed | server CPU per webhook | PostgreSQL CPU per webhook | load generator CPU per webhook | every round: accepted/s (p99 ms) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for i in "${!SCENARIOS[@]}"; do
    IFS='|' read -r backend label _ _ _ <<<"${SCENARIOS[$i]}"
    column() { for round in $(seq 1 "$ROUNDS"); do field "$1" "$OUT/s$i-r$round.txt"; done; }
    all=$(for round in $(seq 1 "$ROUNDS"); do
      f="$OUT/s$i-r$round.txt"
      echo "$(field ok_per_sec "$f") ($(field p99_ms "$f"))"
    done | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')
    failed=$(column failed | awk '{n += $1} END {print n}')
    per_webhook() { # the column of CPU milliseconds to divide
      for round in $(seq 1 "$ROUNDS"); do
        f="$OUT/s$i-r$round.txt"
        awk -v ms="$(field "$1" "$f")" -v n="$(field requests "$f")" -v bad="$(field failed "$f")" \
          'BEGIN {printf "%.3f\n", ms / (n - bad > 0 ? n - bad : 1)}'
      done | median
    }
    printf '| %s | %s | %s | %s ms | %s ms | %s | %s ms | %s ms | %s ms | %s |\n' "$backend" "$label" \
      "$(column ok_per_sec | median)" "$(column p50_ms | median)" "$(column p99_ms | median)" "$failed" \
      "$(per_webhook server_cpu_ms)" "$(per_webhook postgres_cpu_ms)" "$(per_webhook load_cpu_ms)" "$all"
  done
} | tee "$OUT/summary.md"
