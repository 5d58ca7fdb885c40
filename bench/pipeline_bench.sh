#!/usr/bin/env bash
# End-to-end benchmark of `pg2iceberg run` (not a test): N mixed changes (70% inserts, 20%
# updates, 10% deletes, in transactions of 10,000) are written while pg2iceberg is stopped, so
# they wait in its slot; an identical slot is drained by PostgreSQL's pg_recvlogical in the
# same run as the baseline. Then `run` starts and we time how long until every change is
# staged (coordinator offsets) and until everything is visible in Iceberg (`status --wait`),
# and read the CPU time and peak RSS of the run process. A third slot is drained first, untimed,
# so that both timed readers find the WAL in the page cache (without it the first reader paid
# for reading it from disk: the order changed the ratio).
#
#   bench/pipeline_bench.sh [changes=1000000] [build dir=build/release]
#
# INTERVALS=default runs with the product's default flush and materializer intervals (10 s)
# instead of 2 s (issue 17's catch-up target is stated at the defaults).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
N=${1:-1000000}
bench_start "${2:-}" bench
INTERVAL_LINES="  flush_interval: 2s
  materializer_interval: 2s"
[[ "${INTERVALS:-}" == default ]] && INTERVAL_LINES=""

q -c "CREATE TABLE bench (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), created_at timestamptz NOT NULL, flag boolean)"
cat > "$TMP/config.yaml" <<YAML
source:
  postgres: {host: 127.0.0.1, port: $PORT, database: postgres, user: postgres}
tables:
  - name: public.bench
sink:
  warehouse: file://$TMP/warehouse
  flush_rows: 100000
$INTERVAL_LINES
metrics_addr: ""
YAML
cd "$TMP"
bench_set_up_slot
q -c "SELECT pg_create_logical_replication_slot('bench_recv', 'pgoutput')" >/dev/null
q -c "SELECT pg_create_logical_replication_slot('bench_warm', 'pgoutput')" >/dev/null

inserts=$(( N * 7 / 10 )); updates=$(( N * 2 / 10 )); deletes=$(( N - inserts - updates ))
echo "writing $N changes ($inserts inserts, $updates updates, $deletes deletes)"
for (( s = 1; s <= inserts; s += 10000 )); do
  e=$(( s + 9999 < inserts ? s + 9999 : inserts ))
  q -c "INSERT INTO bench SELECT g, 'customer-' || g, g * 1.25, '2025-01-01'::timestamptz + g * interval '1 minute', g % 2 = 0 FROM generate_series($s, $e) g"
done
for (( s = 1; s <= updates; s += 10000 )); do
  e=$(( s + 9999 < updates ? s + 9999 : updates ))
  q -c "UPDATE bench SET amount = amount + 1, name = name || '!' WHERE id BETWEEN $s AND $e"
done
for (( s = inserts - deletes + 1; s <= inserts; s += 10000 )); do
  e=$(( s + 9999 < inserts ? s + 9999 : inserts ))
  q -c "DELETE FROM bench WHERE id BETWEEN $s AND $e"
done
END_LSN=$(q -At -c "SELECT pg_current_wal_lsn()")

recvlogical() {
  /usr/lib/postgresql/15/bin/pg_recvlogical -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
    --slot="$1" --start --no-loop -o proto_version=2 -o publication_names=pg2iceberg_pub \
    -o streaming=on -E "$END_LSN" -f /dev/null
}
recvlogical bench_warm
q -c "SELECT pg_drop_replication_slot('bench_warm')" >/dev/null
t0=$(date +%s.%N)
recvlogical bench_recv
t1=$(date +%s.%N)
recv_s=$(echo "$t1 - $t0" | bc -l)

t2=$(date +%s.%N)
${RUN_WRAP:-} "$BIN" --config config.yaml run > run.log 2>&1 &
RUN_PID=$!
staged_s=""
while true; do
  off=$(q -At -c "SELECT coalesce(max(next_offset), 0) FROM _pg2iceberg.log_seq")
  if (( off >= N )); then staged_s=$(echo "$(date +%s.%N) - $t2" | bc -l); break; fi
  kill -0 $RUN_PID || { cat run.log; exit 1; }
  sleep 0.05
done
"$BIN" --config config.yaml status --wait --timeout 1800s > /dev/null
visible_s=$(echo "$(date +%s.%N) - $t2" | bc -l)
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$RUN_PID/status)
cpu_ticks=$(awk '{print $14 + $15}' /proc/$RUN_PID/stat)
"$BIN" --config config.yaml verify | head -3
kill -TERM $RUN_PID; wait $RUN_PID || true
# RUN_WRAP="heaptrack -o F" runs `run` under a profiler. RUN_LOG=path keeps the run's log (per-cycle timings) for a look after the scratch dir is gone.
[[ -n "${RUN_LOG:-}" ]] && cp run.log "$RUN_LOG"

printf 'changes:                      %d\n' "$N"
printf 'pg_recvlogical drain:         %8.2f s  %10.0f changes/s\n' "$recv_s" "$(echo "$N / $recv_s" | bc -l)"
printf 'pg2iceberg staged:            %8.2f s  %10.0f changes/s\n' "$staged_s" "$(echo "$N / $staged_s" | bc -l)"
printf 'ratio (staging / recvlogical throughput): %.2f\n' "$(echo "$recv_s / $staged_s" | bc -l)"
printf 'visible in Iceberg after:     %8.2f s\n' "$visible_s"
printf 'CPU of pg2iceberg run:        %8.2f s  (until visible)\n' "$(echo "$cpu_ticks / $(getconf CLK_TCK)" | bc -l)"
printf 'peak RSS of pg2iceberg run:   %8.1f MB\n' "$(echo "$rss_kb / 1024" | bc -l)"
