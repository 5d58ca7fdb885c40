#!/usr/bin/env python3
"""One measurement of the upkeep soak (bench/upkeep_soak.sh): how an Iceberg table reads next to
a Parquet file of its live rows only, with DuckDB.

  soak_probe.py --metadata-file F --live-dir DIR --key COLUMN --probe-key K [--extension-dir D]

Prints one line of `name=value` pairs: the table's data and delete files, delete rows and
metadata size (from the current snapshot's summary and the metadata folder), and the median of
five timings of `count(*), sum(v)` and of a point lookup on the Iceberg table and on the
live-rows file (written to DIR from the table first), with their ratios.
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import read_duckdb  # noqa: E402


def timed(con, sql, runs=5):
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        con.execute(sql).fetchall()
        ts.append(time.perf_counter() - t)
        if sum(ts) > 2.0:  # slow enough that one run says it
            break
    return statistics.median(ts)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--metadata-file", required=True)
    p.add_argument("--live-dir", required=True)
    p.add_argument("--key", default="id")
    p.add_argument("--probe-key", default="1")
    p.add_argument("--extension-dir", default=os.environ.get("PG2I_DUCKDB_EXTENSION_DIR"))
    a = p.parse_args()
    with open(a.metadata_file) as f:
        meta = json.load(f)
    current = next(s for s in meta["snapshots"] if s["snapshot-id"] == meta["current-snapshot-id"])
    summary = current["summary"]
    meta_dir = os.path.dirname(a.metadata_file)
    meta_bytes = sum(os.path.getsize(os.path.join(meta_dir, n)) for n in os.listdir(meta_dir))
    con = read_duckdb.connect(a.extension_dir, False)
    scan = "iceberg_scan(%s)" % read_duckdb.sql_literal(a.metadata_file)
    live = os.path.join(a.live_dir, "live.parquet")
    con.execute("COPY (SELECT * FROM %s) TO %s (FORMAT parquet)" % (scan, read_duckdb.sql_literal(live)))
    live_scan = "read_parquet(%s)" % read_duckdb.sql_literal(live)
    count_sql = "SELECT count(*), sum(v) FROM %s"
    point_sql = "SELECT * FROM %s WHERE " + read_duckdb.quote_ident(a.key) + " = " + a.probe_key
    ice_count = timed(con, count_sql % scan)
    live_count = timed(con, count_sql % live_scan)
    ice_point = timed(con, point_sql % scan)
    live_point = timed(con, point_sql % live_scan)
    print(
        "data_files=%s delete_files=%s eq_delete_rows=%s metadata_bytes=%d "
        "count_ms=%.1f live_count_ms=%.1f count_ratio=%.2f point_ms=%.1f live_point_ms=%.1f point_ratio=%.2f"
        % (
            summary.get("total-data-files"),
            summary.get("total-delete-files"),
            summary.get("total-equality-deletes"),
            meta_bytes,
            ice_count * 1e3,
            live_count * 1e3,
            ice_count / live_count,
            ice_point * 1e3,
            live_point * 1e3,
            ice_point / live_point,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
