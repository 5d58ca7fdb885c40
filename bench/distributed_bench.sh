#!/usr/bin/env bash
# Distributed mode against one process (issue 18; a benchmark, not a test): a backlog of N
# mixed changes (70% inserts, 20% updates, 10% deletes, in transactions of 10,000) over 8 busy
# tables waits in two slots of two pipelines. Pipeline A drains it with one `run`; pipeline B
# with `stream-only` and 2 `materializer-only` workers. For each: the time until the backlog is
# visible in Iceberg (`status --wait`), and the CPU time and peak RSS of every process; then
# the ratio of the times. On one machine the processes share its cores: the ratio says what the
# split costs or brings here, not what separate machines would give.
#
#   bench/distributed_bench.sh [changes=1000000] [build dir=build/release]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
N=${1:-1000000}
bench_start "${2:-}" distbench
TABLES=8
PIDS=()
cleanup_pids() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap 'cleanup_pids; pg_stop "$TMP/pg"; rm -rf "$TMP"' EXIT

table_list=""
for (( t = 0; t < TABLES; ++t )); do
  q -c "CREATE TABLE bench$t (id bigint PRIMARY KEY, name text NOT NULL, amount numeric(12,2), created_at timestamptz NOT NULL, flag boolean)"
  table_list+="  - name: public.bench$t"$'\n'
done
config() {  # config NAME: a pipeline of its own (slot, publication, coordinator, catalog, warehouse)
  cat > "$TMP/$1.yaml" <<YAML
source:
  postgres: {host: 127.0.0.1, port: $PORT, database: postgres, user: postgres}
  logical: {slot_name: slot_$1, publication_name: pub_$1}
state: {coordinator_schema: _coord_$1}
tables:
$table_list
sink:
  warehouse: file://$TMP/wh_$1
  catalog_schema: cat_$1
  flush_rows: 100000
  flush_interval: 2s
  materializer_interval: 2s
metrics_addr: ""
YAML
}
config a
config b
cd "$TMP"
# First starts: create each pipeline's slot (and copy the empty tables), then stop.
start_once() {  # start_once NAME COMMAND
  "$BIN" --config "$1.yaml" "$2" > "$1-first.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do
    [[ "$(q -At -c "SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = 'slot_$1'")" == 1 ]] && break
    sleep 0.1
  done
  kill -TERM $pid; wait $pid || true
}
start_once a run
start_once b stream-only

per=$(( N / TABLES )); inserts=$(( per * 7 / 10 )); updates=$(( per * 2 / 10 )); deletes=$(( per - inserts - updates ))
echo "writing $N changes over $TABLES tables ($inserts inserts, $updates updates, $deletes deletes each)"
for (( t = 0; t < TABLES; ++t )); do
  for (( s = 1; s <= inserts; s += 10000 )); do
    e=$(( s + 9999 < inserts ? s + 9999 : inserts ))
    q -c "INSERT INTO bench$t SELECT g, 'customer-' || g, g * 1.25, '2025-01-01'::timestamptz + g * interval '1 minute', g % 2 = 0 FROM generate_series($s, $e) g"
  done
  for (( s = 1; s <= updates; s += 10000 )); do
    e=$(( s + 9999 < updates ? s + 9999 : updates ))
    q -c "UPDATE bench$t SET amount = amount + 1, name = name || '!' WHERE id BETWEEN $s AND $e"
  done
  for (( s = inserts - deletes + 1; s <= inserts; s += 10000 )); do
    e=$(( s + 9999 < inserts ? s + 9999 : inserts ))
    q -c "DELETE FROM bench$t WHERE id BETWEEN $s AND $e"
  done
done

cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
rss_mb() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
report() {  # report LABEL PID
  printf '  %-22s cpu %8.1f s   peak RSS %8s MB\n' "$1" "$(cpu_s "$2")" "$(rss_mb "$2")"
}

echo "A: one run"
t0=$(date +%s.%N)
"$BIN" --config a.yaml run > a.log 2>&1 &
A=$!; PIDS+=("$A")
"$BIN" --config a.yaml status --wait --timeout 3600s > /dev/null
a_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
report run "$A"
kill -TERM "$A"; wait "$A" || true

echo "B: stream-only + 2 materializer-only workers"
t0=$(date +%s.%N)
"$BIN" --config b.yaml stream-only > b-stream.log 2>&1 &
S=$!; PIDS+=("$S")
"$BIN" --config b.yaml materializer-only --worker-id w1 > b-w1.log 2>&1 &
W1=$!; PIDS+=("$W1")
"$BIN" --config b.yaml materializer-only --worker-id w2 > b-w2.log 2>&1 &
W2=$!; PIDS+=("$W2")
# status --wait needs a live worker: give the workers their first heartbeat.
sleep 2
"$BIN" --config b.yaml status --wait --timeout 3600s > /dev/null
b_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
report stream-only "$S"
report "worker w1" "$W1"
report "worker w2" "$W2"
kill -TERM "$W1" "$W2" "$S"; wait "$W1" "$W2" "$S" || true

"$BIN" --config b.yaml verify | tail -n "$TABLES" | grep -c "duplicates=0 OK" | xargs printf 'B: %s of 8 tables verify clean\n'
printf 'changes: %d over %d tables\n' "$N" "$TABLES"
printf 'A (run) visible after:                      %8.2f s\n' "$a_s"
printf 'B (stream-only + 2 workers) visible after:  %8.2f s\n' "$b_s"
printf 'ratio (A time / B time): %.2f\n' "$(echo "$a_s / $b_s" | bc -l)"
