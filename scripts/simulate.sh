#!/usr/bin/env bash
# The deterministic simulation (tests/sim) over many seeds, on the release build, one process
# per core: each runs a contiguous range of seeds. Prints every failing seed (reproduce it with
# `build/release/tests/sim/pg2iceberg_sim --seed N --verbose`) and the total seeds per second.
# CI runs a smaller budget through ctest (tests `simulation`, `simulation_short`).
#
#   scripts/simulate.sh [seeds=100000] [first=1]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
SEEDS=${1:-100000}
FIRST=${2:-1}
"$ROOT/scripts/bootstrap.sh" >/dev/null
cmake --preset release -S "$ROOT" >/dev/null
cmake --build --preset release -j "$JOBS" --target pg2iceberg_sim >/dev/null
SIM="$ROOT/build/release/tests/sim/pg2iceberg_sim"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
per=$(( (SEEDS + JOBS - 1) / JOBS ))
start=$(date +%s.%N)
pids=()
for (( j = 0; j < JOBS; j++ )); do
  from=$(( FIRST + j * per ))
  n=$(( SEEDS - j * per < per ? SEEDS - j * per : per ))
  (( n > 0 )) || break
  "$SIM" --seeds "$n" --first "$from" > "$OUT/$j.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
end=$(date +%s.%N)
cat "$OUT"/*.log | grep -v ' seeds (' || true
grep -h ' seeds (' "$OUT"/*.log
failed=$(grep -h ' seeds (' "$OUT"/*.log | sed -E 's/.*: ([0-9]+) failed.*/\1/' | awk '{ t += $1 } END { print t + 0 }')
awk -v s="$SEEDS" -v a="$start" -v b="$end" -v f="$failed" -v j="$JOBS" \
  'BEGIN { printf "simulate.sh: %d seeds, %d failed, %.0f s on %d processes, %.1f seeds/s\n", s, f, b - a, j, s / (b - a) }'
exit $status
