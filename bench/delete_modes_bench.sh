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
PY="$ROOT/.deps/venv/bin/python"
QUERY_TIMEOUT=${QUERY_TIMEOUT:-300}
JAR="$ROOT/tools/java/target/pg2iceberg-test-tools.jar"
[[ -f "$JAR" ]] || mvn -q -B -o -f "$ROOT/tools/java/pom.xml" -DskipTests package
JAVA_CP="$JAR:$ROOT/.deps/java/lib/*"
cd "$TMP"

# One engine's timings of one metadata file, as JSON (or {"error": ...}).
probe() {
  local engine=$1 metadata=$2 probe_key=$3 out rc=0
  if [[ "$engine" == java ]]; then
    out=$(timeout "$QUERY_TIMEOUT" java -cp "$JAVA_CP" dev.pg2iceberg.tools.TimeQueries \
      --metadata-file "$metadata" --key id --probe "$probe_key" 2>/dev/null) || rc=$?
  else
    out=$(timeout "$QUERY_TIMEOUT" "$PY" "$ROOT/tools/python/query_probe.py" --engine "$engine" \
      --metadata-file "$metadata" --key id --probe "$probe_key" 2>/dev/null) || rc=$?
  fi
  if (( rc == 124 )); then echo '{"error": "timeout"}'
  elif (( rc == 3 )); then echo '{"error": "refused (equality deletes)"}'
  elif (( rc != 0 )); then echo "{\"error\": \"exit $rc\"}"
  else echo "$out" | tr -d '\n'; echo; fi
}

ratio() {  # ratio KEY TABLE_JSON LIVE_JSON
  "$PY" - "$1" "$2" "$3" <<'PY'
import json, sys
k, t, l = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
if "error" in t: print(t["error"])
elif "error" in l: print("baseline " + l["error"])
else: a, b = float(t[k]), float(l[k]); print("%.1f ms vs %.1f ms (%.2fx)" % (a, b, a / max(b, 0.1)))
PY
}

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
  for engine in duckdb java pyiceberg; do
    tj=$(probe "$engine" "$metadata" "$probe_key")
    lj=$(probe "$engine" "$live_meta" "$probe_key")
    echo "   $engine count(*): $(ratio count_ms "$tj" "$lj"); point lookup: $(ratio point_ms "$tj" "$lj")"
    rows=$("$PY" -c 'import json, sys; j = json.loads(sys.argv[1]); print(int(float(j["rows"])) if "rows" in j else "-")' "$tj")
    [[ "$rows" == "-" || "$rows" == "$live_rows" ]] || echo "   WRONG: $engine counted $rows rows, PostgreSQL has $live_rows"
  done
done
