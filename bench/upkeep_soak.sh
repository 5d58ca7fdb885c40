#!/usr/bin/env bash
# Upkeep soak (issue 16; a script, not a test): `run` materializes COMMITS commits of 500
# random updates each over a table of ROWS rows, and every REPORT commits prints the table's
# data and delete files, delete rows and metadata size, and DuckDB's `count(*), sum(v)` and
# point-lookup times next to a Parquet file of the live rows only (their ratio is the cost of
# the table's shape). MODE `on` runs with background compaction every 2 s (thresholds 8 data
# files / 4 delete files; orphan grace 10 min, so that a rewrite of a large table may take 5) and
# a `maintain` pass every REPORT commits; `off` without either.
# PARTITIONED=1 partitions the table by day(created).
#
#   bench/upkeep_soak.sh [mode=on|off] [rows=1000000] [commits=2000] [report=200] [build dir=build/release]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
MODE=${1:-on}
ROWS=${2:-1000000}
COMMITS=${3:-2000}
REPORT=${4:-200}
bench_start "${5:-}" soak
PY="$ROOT/.deps/venv/bin/python"
PARTITION=""
if [[ "${PARTITIONED:-0}" == 1 ]]; then
  PARTITION=$'    iceberg:\n      partition:\n        - day(created)'
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
  flush_interval: 100ms
  materializer_interval: 200ms
$UPKEEP
metrics_addr: ""
YAML
cd "$TMP"
"$BIN" --config config.yaml run > run.log 2>&1 &
RUN_PID=$!
bench_wait_streaming run.log
"$BIN" --config config.yaml status --wait --timeout 1800s > /dev/null
echo "mode=$MODE rows=$ROWS commits=$COMMITS partitioned=${PARTITIONED:-0}"
metadata() {
  q -At -c "SELECT metadata_location FROM iceberg.iceberg_tables WHERE table_name = 'soak'" | sed 's|^file://||'
}
mkdir -p live
t0=$(date +%s)
for (( c = 1; c <= COMMITS; c++ )); do
  q -c "UPDATE soak SET v = v + 1 WHERE id IN (SELECT 1 + (random() * ($ROWS - 1))::bigint FROM generate_series(1, 500))"
  "$BIN" --config config.yaml status --wait --timeout 600s > /dev/null
  if (( c % REPORT == 0 )); then
    if [[ "$MODE" == on ]]; then "$BIN" --config config.yaml maintain > maintain.log 2>&1; fi
    printf 'commits=%d elapsed_s=%d ' "$c" "$(( $(date +%s) - t0 ))"
    "$PY" "$ROOT/tools/python/soak_probe.py" --metadata-file "$(metadata)" --live-dir live --probe-key $(( ROWS / 2 ))
  fi
done
"$BIN" --config config.yaml verify | head -3
kill -TERM $RUN_PID; wait $RUN_PID || true
echo "background compactions: $(grep -c 'compacted' run.log || true)"
