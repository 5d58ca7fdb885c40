#!/usr/bin/env bash
# Benchmark of the initial snapshot (not a test): a table of N rows with varied column types is
# copied by `pg2iceberg snapshot` (default settings: 2 workers, 2048-page chunks) and, as the
# baseline in the same run on the same server, by `COPY (SELECT …) TO STDOUT (FORMAT binary)`
# into /dev/null. Prints rows/s and heap MB/s for both (ratio), rows per CPU-second of
# pg2iceberg, time until the copy is visible in Iceberg, and peak RSS.
#
#   bench/snapshot_bench.sh [rows=1000000] [build dir=build/release]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
N=${1:-1000000}
bench_start "${2:-}" snapbench
COLS="id, v, n, ts, d, f, b, j, u, bin, arr, i2"
q -c "CREATE TABLE bench (id bigint PRIMARY KEY, v text, n numeric(12,2), ts timestamptz, d date,
        f float8, b bool, j jsonb, u uuid, bin bytea, arr int[], i2 smallint)"
echo "loading $N rows"
for (( s = 1; s <= N; s += 500000 )); do
  e=$(( s + 499999 < N ? s + 499999 : N ))
  q -c "INSERT INTO bench SELECT g, 'customer ' || g, g * 1.25,
          timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', date '2020-01-01' + (g % 1000)::int,
          g / 7.0, g % 2 = 0, jsonb_build_object('g', g, 'tag', 'x'), md5(g::text)::uuid,
          decode(md5(g::text), 'hex'), ARRAY[g::int, g::int + 1], (g % 30000)::smallint
        FROM generate_series($s, $e) g"
done
q -c "VACUUM ANALYZE bench" -c "CHECKPOINT"
HEAP_MB=$(q -At -c "SELECT pg_relation_size('bench') / 1048576.0")
# Warm the cache for both contenders alike.
q -c "COPY (SELECT $COLS FROM bench) TO STDOUT (FORMAT binary)" > /dev/null

t0=$(date +%s.%N)
q -c "COPY (SELECT $COLS FROM bench) TO STDOUT (FORMAT binary)" > /dev/null
copy_s=$(echo "$(date +%s.%N) - $t0" | bc -l)

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
/usr/bin/time -f "%e %U %S %M" -o time.txt "$BIN" --config config.yaml --log-format json snapshot > snap.log 2>&1 \
  || { tail -20 snap.log; exit 1; }
read -r wall user sys rss_kb < time.txt
copy_only_s=$(grep '"snapshot finished"' snap.log | sed -E 's/.*"seconds":"([0-9.]+)".*/\1/')
"$BIN" --config config.yaml verify | head -3

printf 'rows:                               %d (heap %.0f MB)\n' "$N" "$HEAP_MB"
printf 'COPY … TO STDOUT (FORMAT binary):   %8.2f s %10.0f rows/s %7.1f MB/s\n' "$copy_s" \
  "$(echo "$N / $copy_s" | bc -l)" "$(echo "$HEAP_MB / $copy_s" | bc -l)"
printf 'pg2iceberg snapshot (staged):       %8.2f s %10.0f rows/s %7.1f MB/s\n' "$copy_only_s" \
  "$(echo "$N / $copy_only_s" | bc -l)" "$(echo "$HEAP_MB / $copy_only_s" | bc -l)"
printf 'ratio (pg2iceberg / COPY throughput): %.2f\n' "$(echo "$copy_s / $copy_only_s" | bc -l)"
printf 'visible in Iceberg (whole command): %8.2f s\n' "$wall"
printf 'pg2iceberg CPU: %.2f s user + %.2f s sys = %.0f rows per CPU-second (whole command)\n' \
  "$user" "$sys" "$(echo "$N / ($user + $sys)" | bc -l)"
printf 'peak RSS of pg2iceberg:             %8.1f MB\n' "$(echo "$rss_kb / 1024" | bc -l)"
