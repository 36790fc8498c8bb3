#!/usr/bin/env bash
# VADER throughput: the Rust port against the reference Python
# vaderSentiment on the same corpus (the 5,796 sentences of the agreement
# test), interleaved in one run, as a ratio. Each side reports its best of
# PASSES passes over the corpus; ROUNDS rounds, median ratio.
#
#   bench/vader.sh [passes (default 5)] [rounds (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
PASSES="${1:-5}"
ROUNDS="${2:-3}"
OUT="$PWD/bench/results/vader-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
python3 -c 'import vaderSentiment' 2>/dev/null || pip3 install -q vaderSentiment >&2
VADER_CORPUS_OUT="$OUT/corpus.txt" cargo test --release --locked -q -p switchboard-analysis --test vader_reference >/dev/null
cargo build --release --locked -q -p switchboard-analysis --example vader_throughput
for round in $(seq 1 "$ROUNDS"); do
  rust=$(target/release/examples/vader_throughput "$OUT/corpus.txt" "$PASSES" | sed -E 's/.*per_sec=([0-9]+).*/\1/')
  python=$(python3 - "$OUT/corpus.txt" "$PASSES" <<'PY'
import sys, time
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
a = SentimentIntensityAnalyzer()
best = float("inf")
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    for l in lines:
        a.polarity_scores(l)["compound"]
    best = min(best, time.perf_counter() - t0)
print(int(len(lines) / best))
PY
)
  echo "$rust $python" >> "$OUT/rounds.txt"
  echo "round $round: rust $rust/s, python $python/s" >&2
done
read -r rust python <<<"$(awk '{print $1/$2, $0}' "$OUT/rounds.txt" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p" | awk '{print $2, $3}')"
{
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(wc -l <"$OUT/corpus.txt") sentences, best of $PASSES passes, median of $ROUNDS rounds"
  echo
  echo "| implementation | sentences/s |"
  echo "|---|---|"
  echo "| Rust port | $rust |"
  echo "| Python vaderSentiment $(python3 -c 'import importlib.metadata as m; print(m.version("vaderSentiment"))') | $python |"
  echo "| ratio | $(awk -v r="$rust" -v p="$python" 'BEGIN {printf "%.1f×", r / p}') |"
  echo
  echo "every round (rust python): $(paste -sd';' "$OUT/rounds.txt")"
} | tee "$OUT/summary.md"
