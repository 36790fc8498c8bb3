#!/usr/bin/env bash
# Webhook received → analysis stored, end to end, on SQLite: correctly
# signed Retell call_ended webhooks (a five-minute transcript each) at RATE
# per second, open loop; the load generator listens to the tenant's live
# events and times each call from when its webhook was due to its
# `call.analysed` event (analysis row, rollup, enriched and final objects
# committed). Target: median < 100 ms and p99 < 500 ms at 200 calls/s.
#
#   bench/analysis.sh [seconds per run (default 10)] [rounds (default 3)] [rate (default 200)]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
ROUNDS="${2:-3}"
RATE="${3:-200}"
OUT="bench/results/analysis-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"

cargo build --release --locked -q --bin switchboard --example webhook_load
BIN=target/release/switchboard
LOAD=target/release/examples/webhook_load
RETELL_KEY="bench-retell-signing-key-0001"

export SWITCHBOARD_RATE_LIMITS__PER_IP_PER_SECOND=10000000
export SWITCHBOARD_RATE_LIMITS__WEBHOOKS_PER_AGENT_PER_SECOND=10000000
export SWITCHBOARD_RATE_LIMITS__TENANT_PER_SECOND__ENTERPRISE=10000000
export SWITCHBOARD_LOG__FILTER=warn
export SWITCHBOARD_MASTER_KEY; SWITCHBOARD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
unset DATABASE_URL

DATA=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

$BIN tenant create --data "$DATA" --slug bench --name "Bench Tenant" --plan enterprise >/dev/null
KEY=$($BIN apikey create --data "$DATA" --tenant bench --name bench --scope settings:manage --scope calls:view_all)
$BIN serve --data "$DATA" --bind 127.0.0.1:18283 >/dev/null 2>"$OUT/server.log" &
PID=$!
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:18283/readyz >/dev/null && break; sleep 0.2; done
curl -sf -X PUT -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d "{\"api_key\": \"$RETELL_KEY\"}" http://127.0.0.1:18283/api/v1/settings/credentials/retell >/dev/null
URL=$(curl -sf -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d '{"name": "Bench agent", "provider": "retell"}' http://127.0.0.1:18283/api/v1/agents |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["webhook_url"])')

for round in $(seq 1 "$ROUNDS"); do
  $LOAD --url "$URL" --key "$RETELL_KEY" --duration "$DURATION" --rate "$RATE" \
    --events-token "$KEY" --label "r$round" >"$OUT/r$round.txt" 2>"$OUT/r$round.err"
  echo "round $round: $(cat "$OUT/r$round.txt")" >&2
done

field() { sed -E "s/.* $1=([0-9.]+).*/\1/" "$2"; }
{
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), SQLite, ${RATE}/s for ${DURATION}s, median of $ROUNDS rounds"
  echo
  echo "| round | webhooks accepted/s | webhook p50 / p99 | analysed | missing | received → analysed p50 | p99 | max |"
  echo "|---|---|---|---|---|---|---|---|"
  for round in $(seq 1 "$ROUNDS"); do
    f="$OUT/r$round.txt"
    printf '| %s | %s | %s / %s ms | %s | %s | %s ms | %s ms | %s ms |\n' "$round" \
      "$(field ok_per_sec "$f")" "$(field p50_ms "$f")" "$(field p99_ms "$f")" \
      "$(field analysed "$f")" "$(field missing "$f")" \
      "$(field e2e_p50_ms "$f")" "$(field e2e_p99_ms "$f")" "$(field e2e_max_ms "$f")"
  done
} | tee "$OUT/summary.md"
