#!/usr/bin/env bash
# Peak memory of `pg2iceberg run` against the memory budget (not a test): one large source
# transaction is written while pg2iceberg is stopped, then `run` stages and materializes it;
# prints the time until it is visible in Iceberg and the run's peak RSS next to 512 MiB (the
# budget of issue 17), and checks the table with `verify`.
#
#   bench/memory_bench.sh [case=rows] [build dir=build/release]
#
# Cases: `rows` = one transaction of 10,000,000 narrow rows (ROWS= to change),
#        `wide` = one transaction of 2,000,000 rows of ~1 kB (ROWS= to change).
# The 1,000,000-change backlog is bench/pipeline_bench.sh, the 5,000,000-row copy
# bench/snapshot_bench.sh 5000000; both print their peak RSS too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
CASE=${1:-rows}
bench_start "${2:-}" membench
BUDGET_MIB=512
case "$CASE" in
  rows)
    N=${ROWS:-10000000}
    q -c "CREATE TABLE bench (id bigint PRIMARY KEY, v int NOT NULL, ts timestamptz NOT NULL)"
    FILL="SELECT g, (g % 1000)::int, '2025-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $N) g"
    ;;
  wide)
    N=${ROWS:-2000000}
    q -c "CREATE TABLE bench (id bigint PRIMARY KEY, pad text NOT NULL)"
    # ~1 kB per row that PostgreSQL does not compress away (md5 chains), below the TOAST limit.
    FILL="SELECT g, repeat(md5(g::text) || md5((g + 1)::text), 16) FROM generate_series(1, $N) g"
    ;;
  *) echo "unknown case $CASE (rows | wide)" >&2; exit 2 ;;
esac
cat > "$TMP/config.yaml" <<YAML
source:
  postgres: {host: 127.0.0.1, port: $PORT, database: postgres, user: postgres}
tables:
  - name: public.bench
sink:
  warehouse: file://$TMP/warehouse
metrics_addr: ""
YAML
cd "$TMP"
bench_set_up_slot

echo "case $CASE: one transaction of $N rows"
q -c "INSERT INTO bench $FILL"
echo "source table: $(q -At -c "SELECT pg_size_pretty(pg_total_relation_size('bench'))")"

t0=$(date +%s.%N)
${RUN_WRAP:-} "$BIN" --config config.yaml run > run.log 2>&1 &
RUN_PID=$!
"$BIN" --config config.yaml status --wait --timeout 3600s > /dev/null || { tail -20 run.log; exit 1; }
visible_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$RUN_PID/status)
"$BIN" --config config.yaml verify | head -3
kill -TERM $RUN_PID; wait $RUN_PID || true
[[ -n "${RUN_LOG:-}" ]] && cp run.log "$RUN_LOG"

rss_mib=$(echo "$rss_kb / 1024" | bc -l)
printf 'case:                         %s (%d rows in one transaction)\n' "$CASE" "$N"
printf 'visible in Iceberg after:     %8.2f s\n' "$visible_s"
printf 'peak RSS of pg2iceberg run:   %8.1f MiB  (budget %d MiB, ratio %.2f)\n' \
  "$rss_mib" "$BUDGET_MIB" "$(echo "$rss_mib / $BUDGET_MIB" | bc -l)"
