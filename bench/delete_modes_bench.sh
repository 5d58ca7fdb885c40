#!/usr/bin/env bash
# Delete modes (issue 15; a benchmark, not a test). For each sink.delete_mode: a table of
# INITIAL rows is copied, `run` stops, CHANGES mixed changes (70% inserts of new keys, 20%
# updates, 10% deletes, in transactions of 10,000) wait in the slot, and `run` starts again.
# Reported per mode: the time until the backlog is visible in Iceberg, the peak RSS of `run`,
# the number and size of delete files, and `count(*)` and point-lookup times with DuckDB,
# Iceberg Java and PyIceberg, each next to the same query on an Iceberg table holding only the
# live rows (ratio; the target is within 2x). Compaction is off. A query that does not finish
# in QUERY_TIMEOUT seconds (default 300) reports `timeout`; PyIceberg refuses equality deletes.
#
#   bench/delete_modes_bench.sh [changes=1000000] [initial=300000] [modes="equality position dv"]
#                               [build dir=build/release]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
CHANGES=${1:-1000000}
INITIAL=${2:-300000}
MODES=${3:-equality position dv}
bench_start "${4:-}" delete-modes
bench_query_tools
cd "$TMP"

for mode in $MODES; do
  t="dm_$mode"
  q -c "CREATE TABLE $t (id bigint PRIMARY KEY, v bigint NOT NULL, note text)"
  q -c "INSERT INTO $t SELECT g, g, 'n' || g FROM generate_series(1, $INITIAL) g"
  cat > "$mode.yaml" <<YAML
source:
  postgres: {host: 127.0.0.1, port: $PORT, database: postgres, user: postgres}
  logical: {slot_name: slot_$mode, publication_name: pub_$mode}
state: {coordinator_schema: coord_$mode}
tables:
  - name: public.$t
sink:
  warehouse: file://$TMP/wh_$mode
  delete_mode: $mode
  index_dir: $TMP/index_$mode
  compaction_interval: ""
  flush_interval: 1s
  materializer_interval: 1s
metrics_addr: ""
YAML
  "$BIN" --config "$mode.yaml" run > "run_$mode.log" 2>&1 &
  RUN_PID=$!
  for _ in $(seq 1 600); do
    [[ "$(q -At -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'slot_$mode' AND active")" == 1 ]] && break
    kill -0 $RUN_PID || { cat "run_$mode.log"; exit 1; }
    sleep 0.1
  done
  "$BIN" --config "$mode.yaml" status --wait --timeout 1800s > /dev/null
  kill -TERM $RUN_PID; wait $RUN_PID || true
  RUN_PID=""
  # The backlog: rounds of 7,000 new keys, 2,000 updates and 1,000 deletes of random live keys.
  next=$(( INITIAL + 1 ))
  rounds=$(( CHANGES / 10000 ))
  for (( r = 0; r < rounds; r++ )); do
    q -c "BEGIN;
      INSERT INTO $t SELECT g, g, 'n' || g FROM generate_series($next, $(( next + 6999 ))) g;
      UPDATE $t SET v = v + 1 WHERE id IN (SELECT 1 + (random() * ($next - 2))::bigint FROM generate_series(1, 2000));
      DELETE FROM $t WHERE id IN (SELECT 1 + (random() * ($next - 2))::bigint FROM generate_series(1, 1000));
      COMMIT;"
    next=$(( next + 7000 ))
  done
  t0=$(date +%s.%N)
  "$BIN" --config "$mode.yaml" run > "run2_$mode.log" 2>&1 &
  RUN_PID=$!
  "$BIN" --config "$mode.yaml" status --wait --timeout 3600s > /dev/null
  visible=$(echo "$(date +%s.%N) - $t0" | bc)
  rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$RUN_PID/status)
  kill -TERM $RUN_PID; wait $RUN_PID || true
  RUN_PID=""
  metadata=$(q -At -c "SELECT metadata_location FROM iceberg.iceberg_tables WHERE table_name = '$t'" | sed 's|^file://||')
  # On disk: replaced deletion vectors stay until snapshots expire (live ones: the summary).
  del_files=$(find "$TMP/wh_$mode" \( -name '*del-*.parquet' -o -name '*.puffin' \) | wc -l)
  del_bytes=$(find "$TMP/wh_$mode" \( -name '*del-*.parquet' -o -name '*.puffin' \) -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  live_rows=$(q -At -c "SELECT count(*) FROM $t")
  q -c "\\copy $t TO '$TMP/live_$mode.csv' CSV HEADER"
  live_meta=$("$PY" "$ROOT/tools/python/query_probe.py" --make-live "$TMP/live_$mode.csv" --warehouse "$TMP/live_$mode")
  probe_key=$(q -At -c "SELECT id FROM $t ORDER BY id LIMIT 1 OFFSET $(( live_rows / 2 ))")
  echo "== delete_mode=$mode changes=$CHANGES initial=$INITIAL live_rows=$live_rows"
  printf '   time until visible: %.1f s; peak RSS of run: %d MiB\n' "$visible" $(( rss_kb / 1024 ))
  echo "   delete files on disk: $del_files, $(( del_bytes / 1024 )) KiB; snapshot summary: $("$PY" -c "
import json, sys
m = json.load(open(sys.argv[1]))
s = next(x for x in m['snapshots'] if x['snapshot-id'] == m['current-snapshot-id'])['summary']
print(' '.join('%s=%s' % (k, s.get(k, 0)) for k in ('total-data-files', 'total-delete-files', 'total-position-deletes', 'total-equality-deletes')))
" "$metadata")"
  bench_compare "duckdb java pyiceberg" "$metadata" "$live_meta" "$probe_key" "$live_rows"
done
