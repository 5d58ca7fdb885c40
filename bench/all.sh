#!/usr/bin/env bash
# Issue 17's benchmarks in one run (not a test; ~15 minutes on 2 cores): catch-up of a
# 1,000,000-change backlog at the default intervals (staging next to pg_recvlogical, time until
# visible, CPU), freshness at 2,000 and 20,000 changes/s, the 5,000,000-row copy next to
# `COPY (FORMAT binary)`, and the peak RSS of each memory case next to the 512 MiB budget.
# Every ratio is measured against a baseline taken in the same run. Each benchmark's whole
# output is kept in the directory printed at the end.
#
#   bench/all.sh [build dir=build/release]
#
# BACKLOG=, COPY_ROWS=, FRESH_SECONDS= change the sizes (defaults 1000000, 5000000, 60).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD=${1:-build/release}
OUT=$(mktemp -d /tmp/pg2i-bench-all.XXXXXX)
BACKLOG=${BACKLOG:-1000000}
COPY_ROWS=${COPY_ROWS:-5000000}
FRESH_SECONDS=${FRESH_SECONDS:-60}

run() {  # name, command…
  local name=$1; shift
  echo "== $name: $*" >&2
  if ! "$@" > "$OUT/$name.log" 2>&1; then
    echo "   FAILED (see $OUT/$name.log)" >&2
  fi
}
line() {  # log, pattern: the matching lines of a benchmark's output
  grep -E "$2" "$OUT/$1.log" | sed 's/^/  /'
}

INTERVALS=default run backlog "$HERE/pipeline_bench.sh" "$BACKLOG" "$BUILD"
run fresh2k "$HERE/freshness_bench.sh" 2000 "$FRESH_SECONDS" "$BUILD"
run fresh20k "$HERE/freshness_bench.sh" 20000 "$FRESH_SECONDS" "$BUILD"
run copy "$HERE/snapshot_bench.sh" "$COPY_ROWS" "$BUILD"
run rows "$HERE/memory_bench.sh" rows "$BUILD"
run wide "$HERE/memory_bench.sh" wide "$BUILD"

budget=512
rss_line() {  # log, pattern of the RSS line in MB or MiB: the RSS next to the budget
  local v
  v=$(grep -E "$2" "$OUT/$1.log" | grep -oE '[0-9]+\.[0-9]+ MiB|[0-9]+\.[0-9]+ MB' | head -1)
  [[ -n "$v" ]] && printf '  peak RSS %s (budget %d MiB)\n' "$v" "$budget"
}
echo
echo "## catch-up: $BACKLOG changes waiting in the slot, default intervals (target: visible <= 10 s)"
line backlog 'recvlogical drain|staged|ratio|visible|CPU'
rss_line backlog 'peak RSS'
echo "## freshness at 2,000 changes/s (target p99 <= 1 s)"
line fresh2k 'reached|freshness|CPU'
echo "## freshness at 20,000 changes/s (target p99 <= 2 s)"
line fresh20k 'reached|freshness|CPU'
echo "## copy of $COPY_ROWS rows (targets: ratio >= 0.9, >= 400,000 rows per CPU-second)"
line copy 'FORMAT binary|staged|ratio|visible|CPU'
rss_line copy 'peak RSS'
echo "## one transaction of 10,000,000 rows"
line rows 'visible|peak RSS'
echo "## one transaction of 2,000,000 rows of ~1 kB"
line wide 'visible|peak RSS'
echo
echo "whole outputs: $OUT"
