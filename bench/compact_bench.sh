#!/usr/bin/env bash
# Compaction speed (issue 16; a benchmark, not a test). Two identical tables of ROWS rows get
# COMMITS materializer commits of 500 random updates each (the same rows in both; position
# deletes, compaction off), then `compact --all` rewrites each: table a with the BASELINE
# binary, table b with this build's, and the order is swapped for a second pair of tables so
# that neither gets the warm page cache alone. Prints each rewrite's wall time, CPU and peak
# RSS, rows per CPU-second, and this build's CPU against the baseline's (ratio). `verify` checks
# every table afterwards. PARTITIONED=1 partitions the tables by day(created) (30 days);
# ROUNDS=N repeats updates and rewrites N times (from round 2 on, the files rewritten are the
# large files the previous round wrote).
#
#   bench/compact_bench.sh [rows=1000000] [commits=20] [build dir=build/release] [baseline binary]
#
# The baseline binary defaults to this build's (a ratio near 1: the noise of the machine); to
# compare with another commit, build it elsewhere and pass its src/cli/pg2iceberg.
# COMPACT_WRAP="heaptrack -o /tmp/ht" (or perf record …) runs each compaction under a tool.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
ROWS=${1:-1000000}
COMMITS=${2:-20}
bench_start "${3:-}" compact
BASELINE=$(realpath "${4:-$BIN}")
PARTITION=""
if [[ "${PARTITIONED:-0}" == 1 ]]; then
  PARTITION=$'    iceberg:\n      partition:\n        - day(created)'
fi
TABLES=(a1 b1 b2 a2)
for t in "${TABLES[@]}"; do
  q -c "CREATE TABLE c_$t (id bigint PRIMARY KEY, v bigint NOT NULL, created date NOT NULL, note text)"
  q -c "INSERT INTO c_$t SELECT g, g, date '2025-01-01' + (g % 30)::int, 'n' || g FROM generate_series(1, $ROWS) g"
done
{
  cat <<YAML
source:
  postgres: {host: 127.0.0.1, port: $PORT, database: postgres, user: postgres}
tables:
YAML
  for t in "${TABLES[@]}"; do printf '  - name: public.c_%s\n%s\n' "$t" "$PARTITION"; done
  cat <<YAML
sink:
  warehouse: file://$TMP/warehouse
  compaction_interval: ""
  flush_interval: 100ms
  materializer_interval: 200ms
metrics_addr: ""
YAML
} > "$TMP/config.yaml"
cd "$TMP"
updates() {  # COMMITS commits of 500 random updates, the same rows in every table
  for (( c = 1; c <= COMMITS; c++ )); do
    ids="SELECT 1 + (random() * ($ROWS - 1))::bigint FROM generate_series(1, 500)"
    q -c "CREATE TEMP TABLE ids AS $ids;
          $(for t in "${TABLES[@]}"; do echo "UPDATE c_$t SET v = v + 1 WHERE id IN (SELECT * FROM ids);"; done)"
    "$BIN" --config config.yaml status --wait --timeout 600s > /dev/null
  done
}
echo "rows=$ROWS commits=$COMMITS partitioned=${PARTITIONED:-0} rounds=${ROUNDS:-1}"
declare -A CPU
for (( round = 1; round <= ${ROUNDS:-1}; round++ )); do
  if [[ -z "${RUN_PID:-}" ]]; then
    "$BIN" --config config.yaml run > "run_$round.log" 2>&1 &
    RUN_PID=$!
    bench_wait_streaming "run_$round.log"
    "$BIN" --config config.yaml status --wait --timeout 1800s > /dev/null
  fi
  updates
  kill -TERM $RUN_PID; wait $RUN_PID || true
  RUN_PID=""
  echo "round $round:"
  for t in "${TABLES[@]}"; do
    bin=$BIN; which=build
    [[ "$t" == a* ]] && { bin=$BASELINE; which=baseline; }
    /usr/bin/time -f "%e %U %S %M" -o "time_$t" ${COMPACT_WRAP:-} "$bin" --config config.yaml compact --all \
      --table "public.c_$t" > "compact_$t.log" 2>&1 \
      || { cat "compact_$t.log"; exit 1; }
    read -r wall user sys rss_kb < "time_$t"
    cpu=$(echo "$user + $sys" | bc)
    CPU[$t]=$cpu
    printf '%-8s c_%s: %6.2f s wall, %6.2f s CPU, %7.0f rows per CPU-second, peak RSS %d MiB (%s)\n' \
      "$which" "$t" "$wall" "$cpu" "$(echo "$ROWS / $cpu" | bc -l)" $(( rss_kb / 1024 )) \
      "$(grep -o 'data_files=[0-9]*->[0-9]*' "compact_$t.log" | head -1)"
  done
  printf 'build CPU / baseline CPU: %.2f (pairs: %.2f, %.2f)\n' \
    "$(echo "(${CPU[b1]} + ${CPU[b2]}) / (${CPU[a1]} + ${CPU[a2]})" | bc -l)" \
    "$(echo "${CPU[b1]} / ${CPU[a1]}" | bc -l)" "$(echo "${CPU[b2]} / ${CPU[a2]}" | bc -l)"
done
"$BIN" --config config.yaml verify | head -4
