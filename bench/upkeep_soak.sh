#!/usr/bin/env bash
# Upkeep soak (issue 16; a script, not a test): `run` materializes COMMITS commits of 500
# random updates each over a table of ROWS rows, and every REPORT commits prints the table's
# data and delete files, delete rows and metadata size, and DuckDB's `count(*), sum(v)` and
# Iceberg Java's `count(*)` (both read every row) and point-lookup times next to the same
# queries on an Iceberg table of the live rows only, in the files its partitioning gives (their
# ratio is the cost of the table's shape). MODE `on` runs with background compaction every 2 s
# (thresholds 8 data files / 4 delete files; orphan grace 10 min, so that a rewrite of a large
# table may take 5) and a `maintain` pass every REPORT commits; `off` without either.
# PARTITIONED=1 partitions the table by day(created). FLUSH_INTERVAL and MATERIALIZER_INTERVAL
# (default 100ms and 200ms) set the commit cadence; DELETE_MODE (default position) the
# sink.delete_mode; ENGINES (default "duckdb java") the readers.
#
#   bench/upkeep_soak.sh [mode=on|off] [rows=1000000] [commits=2000] [report=200] [build dir=build/release]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
MODE=${1:-on}
ROWS=${2:-1000000}
COMMITS=${3:-2000}
REPORT=${4:-200}
bench_start "${5:-}" soak
bench_query_tools
ENGINES=${ENGINES:-duckdb java}
PROBE_SUM=v  # DuckDB's count is `count(*), sum(v)`, as the issue measured
PARTITION=""
LIVE_PARTITION=()
if [[ "${PARTITIONED:-0}" == 1 ]]; then
  PARTITION=$'    iceberg:\n      partition:\n        - day(created)'
  LIVE_PARTITION=(--partition-day created)
fi
q -c "CREATE TABLE soak (id bigint PRIMARY KEY, v bigint NOT NULL, created date NOT NULL, note text)"
q -c "INSERT INTO soak SELECT g, g, date '2025-01-01' + (g % 30)::int, 'n' || g FROM generate_series(1, $ROWS) g"
if [[ "$MODE" == on ]]; then
  UPKEEP=$'  compaction_interval: 2s\n  maintenance_retention: 1m\n  maintenance_grace: 10m'
else
  UPKEEP=$'  compaction_interval: ""'
fi
cat > "$TMP/config.yaml" <<YAML
source:
  postgres: {host: 127.0.0.1, port: $PORT, database: postgres, user: postgres}
tables:
  - name: public.soak
$PARTITION
sink:
  warehouse: file://$TMP/warehouse
  delete_mode: ${DELETE_MODE:-position}
  flush_interval: ${FLUSH_INTERVAL:-100ms}
  materializer_interval: ${MATERIALIZER_INTERVAL:-200ms}
$UPKEEP
metrics_addr: ""
YAML
cd "$TMP"
"$BIN" --config config.yaml run > run.log 2>&1 &
RUN_PID=$!
bench_wait_streaming run.log
"$BIN" --config config.yaml status --wait --timeout 1800s > /dev/null
echo "mode=$MODE rows=$ROWS commits=$COMMITS partitioned=${PARTITIONED:-0} delete_mode=${DELETE_MODE:-position}"
metadata() {
  q -At -c "SELECT metadata_location FROM iceberg.iceberg_tables WHERE table_name = 'soak'" | sed 's|^file://||'
}
# One report: the table's shape (current snapshot's summary, metadata folder), then each engine's
# timings next to a table of the live rows (copied from PostgreSQL, which `status --wait` has
# caught up with).
report() {
  local metadata live_meta
  metadata=$(metadata)
  "$PY" - "$metadata" <<'PY'
import json, os, sys
m = json.load(open(sys.argv[1]))
s = next(x for x in m["snapshots"] if x["snapshot-id"] == m["current-snapshot-id"])["summary"]
d = os.path.dirname(sys.argv[1])
size = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
print("   " + " ".join("%s=%s" % (k, s.get(k, 0)) for k in (
    "total-data-files", "total-delete-files", "total-position-deletes", "total-equality-deletes"))
    + " metadata_files=%d metadata_bytes=%d" % (len(os.listdir(d)), size))
PY
  rm -rf live live.csv
  q -c "\\copy soak TO '$TMP/live.csv' CSV HEADER"
  live_meta=$("$PY" "$ROOT/tools/python/query_probe.py" --make-live "$TMP/live.csv" \
    --warehouse "$TMP/live" "${LIVE_PARTITION[@]}")
  bench_compare "$ENGINES" "$metadata" "$live_meta" $(( ROWS / 2 )) "$ROWS"
}
t0=$(date +%s)
for (( c = 1; c <= COMMITS; c++ )); do
  q -c "UPDATE soak SET v = v + 1 WHERE id IN (SELECT 1 + (random() * ($ROWS - 1))::bigint FROM generate_series(1, 500))"
  "$BIN" --config config.yaml status --wait --timeout 600s > /dev/null
  if (( c % REPORT == 0 )); then
    if [[ "$MODE" == on ]]; then "$BIN" --config config.yaml maintain > maintain.log 2>&1; fi
    echo "commits=$c elapsed_s=$(( $(date +%s) - t0 ))"
    report
  fi
done
"$BIN" --config config.yaml verify | head -3
kill -TERM $RUN_PID; wait $RUN_PID || true
echo "background compactions: $(grep -c 'compacted' run.log || true)"
