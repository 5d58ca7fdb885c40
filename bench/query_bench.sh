#!/usr/bin/env bash
# Benchmark of query mode (not a test): a table of N rows with an updated_at watermark (and an
# index on (updated_at, id)) is copied by `pg2iceberg run` in source.mode query, then M rows are
# updated in one transaction and polled. The baseline, measured in the same run on the same
# server, is a plain `SELECT` of the same rows into /dev/null (psql, text). Prints rows/s of the
# initial copy (until the copy is staged, and until it is in Iceberg) and of steady polling
# (update committed -> in Iceberg, `status --wait`), each next to the SELECT (ratio).
#
#   bench/query_bench.sh [rows=1000000] [updated rows=100000] [build dir=build/release]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
N=${1:-1000000}
M=${2:-100000}
bench_start "${3:-}" querybench
COLS="id, updated_at, v, n, d, f, b"
q -c "CREATE TABLE bench (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, v text,
        n numeric(12,2), d date, f float8, b bool)"
echo "loading $N rows"
for (( s = 1; s <= N; s += 500000 )); do
  e=$(( s + 499999 < N ? s + 499999 : N ))
  q -c "INSERT INTO bench SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 ms',
          'customer ' || g, g * 1.25, date '2020-01-01' + (g % 1000)::int, g / 7.0, g % 2 = 0
        FROM generate_series($s, $e) g"
done
q -c "CREATE INDEX ON bench (updated_at, id)" -c "VACUUM ANALYZE bench" -c "CHECKPOINT"
q -c "SELECT $COLS FROM bench" > /dev/null   # warm the cache for both
t0=$(date +%s.%N)
q -c "SELECT $COLS FROM bench" > /dev/null
select_s=$(echo "$(date +%s.%N) - $t0" | bc -l)

cat > "$TMP/config.yaml" <<YAML
source:
  mode: query
  postgres: {host: 127.0.0.1, port: $PORT, database: postgres, user: postgres}
  query: {poll_interval: 200ms}
tables:
  - {name: public.bench, watermark_column: updated_at}
sink:
  warehouse: file://$TMP/warehouse
  materializer_interval: 200ms
metrics_addr: ""
YAML
cd "$TMP"
t0=$(date +%s.%N)
"$BIN" --config config.yaml --log-format json run > run.log 2>&1 &
RUN_PID=$!
# The coordinator exists once run has started; then status --wait follows the copy.
until q -At -c "SELECT 1 FROM pg_namespace WHERE nspname = '_pg2iceberg'" | grep -q 1; do
  kill -0 "$RUN_PID" 2>/dev/null || { tail -20 run.log; exit 1; }
  sleep 0.2
done
"$BIN" --config config.yaml status --wait --timeout 3600s > wait1.log 2>&1 || { tail -20 run.log wait1.log; exit 1; }
copy_iceberg_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
copy_staged_s=$(grep '"snapshot of table complete"' run.log >/dev/null &&
  python3 - "$t0" <<'PY'
import json, sys, datetime
t0 = float(sys.argv[1])
for line in open("run.log"):
    if '"snapshot of table complete"' in line:
        ts = json.loads(line)["ts"]
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
        print("%.3f" % (t.timestamp() - t0))
        break
PY
)

q -c "SELECT $COLS FROM bench WHERE id <= $M" > /dev/null
t0=$(date +%s.%N)
q -c "SELECT $COLS FROM bench WHERE id <= $M" > /dev/null
select_m_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
q -c "UPDATE bench SET updated_at = now(), v = v || '!' WHERE id <= $M"
t0=$(date +%s.%N)
"$BIN" --config config.yaml status --wait --timeout 3600s > wait2.log 2>&1 || { tail -20 run.log; exit 1; }
poll_s=$(echo "$(date +%s.%N) - $t0" | bc -l)
"$BIN" --config config.yaml verify | head -3

printf 'rows: %d, updated: %d\n' "$N" "$M"
printf 'plain SELECT of the table:            %8.2f s %10.0f rows/s\n' "$select_s" "$(echo "$N / $select_s" | bc -l)"
printf 'initial copy, staged:                 %8.2f s %10.0f rows/s  ratio %.2f\n' "$copy_staged_s" \
  "$(echo "$N / $copy_staged_s" | bc -l)" "$(echo "$select_s / $copy_staged_s" | bc -l)"
printf 'initial copy, in Iceberg:             %8.2f s %10.0f rows/s  ratio %.2f\n' "$copy_iceberg_s" \
  "$(echo "$N / $copy_iceberg_s" | bc -l)" "$(echo "$select_s / $copy_iceberg_s" | bc -l)"
printf 'plain SELECT of the updated rows:     %8.2f s %10.0f rows/s\n' "$select_m_s" "$(echo "$M / $select_m_s" | bc -l)"
printf 'steady polling, update -> Iceberg:    %8.2f s %10.0f rows/s  ratio %.2f\n' "$poll_s" \
  "$(echo "$M / $poll_s" | bc -l)" "$(echo "$select_m_s / $poll_s" | bc -l)"
printf 'peak RSS of pg2iceberg run:           %8.1f MB\n' \
  "$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$RUN_PID/status" 2>/dev/null || echo 0)"
