#!/usr/bin/env python3
"""Query timings for benchmarks (bench/delete_modes_bench.sh): `count(*)` and a point lookup on
an Iceberg table's key with one engine, the median of a few runs.

  query_probe.py --engine duckdb|pyiceberg --metadata-file F [--key id] --probe K [--runs 3]
                 [--sum COLUMN]
  query_probe.py --make-live CSV --warehouse DIR [--partition-day COLUMN]
                                                      (an Iceberg table of CSV's rows)

Prints JSON: rows, count_ms, point_rows, point_ms. With --make-live: writes the rows of a CSV
file (PostgreSQL's COPY ... CSV HEADER; columns among id bigint, v bigint, created date and
note text) into a new Iceberg table without deletes (PyIceberg, SQLite catalog in DIR) and
prints its metadata file: the live-rows baseline each engine's timings are compared with.
Exit codes: 0 ok, 1 error, 3 the engine refuses the table (PyIceberg and equality deletes).
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def timed(fn, runs):
    ts, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        ts.append(time.perf_counter() - t)
        if sum(ts) > 20.0:  # slow enough that what was measured says it
            break
    return statistics.median(ts) * 1e3, result


def duckdb_probe(a):
    import read_duckdb
    con = read_duckdb.connect(os.environ.get("PG2I_DUCKDB_EXTENSION_DIR"), False)
    scan = "iceberg_scan(%s)" % read_duckdb.sql_literal(a.metadata_file)
    key = read_duckdb.quote_ident(a.key)
    total = ", sum(%s)" % read_duckdb.quote_ident(a.sum) if a.sum else ""
    count_sql = "SELECT count(*)%s FROM %s" % (total, scan)
    count_ms, rows = timed(lambda: con.execute(count_sql).fetchone()[0], a.runs)
    point_ms, point = timed(
        lambda: con.execute("SELECT count(*) FROM %s WHERE %s = %s" % (scan, key, a.probe)).fetchone()[0], a.runs)
    return rows, count_ms, point, point_ms


def pyiceberg_probe(a):
    from pyiceberg.expressions import EqualTo
    from pyiceberg.table import StaticTable
    table = StaticTable.from_metadata(a.metadata_file)
    try:
        fields = (a.key, a.sum) if a.sum else (a.key,)
        count_ms, rows = timed(lambda: table.scan(selected_fields=fields).to_arrow().num_rows,
                               a.runs)
    except ValueError as e:
        if "equality" in str(e).lower():
            print(json.dumps({"refused": str(e)}))
            sys.exit(3)
        raise
    point_ms, point = timed(lambda: table.scan(row_filter=EqualTo(a.key, int(a.probe))).to_arrow().num_rows, a.runs)
    return rows, count_ms, point, point_ms


TYPES = {"id": "int64", "v": "int64", "created": "date32", "note": "string"}


def make_live(csv_path, warehouse, partition_day):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from pyiceberg.catalog.sql import SqlCatalog

    with open(csv_path) as f:
        header = f.readline().strip().split(",")
    unknown = [c for c in header if c not in TYPES]
    if unknown:
        raise SystemExit("query_probe.py: no type known for column(s) %s" % ", ".join(unknown))
    schema = pa.schema([pa.field(c, getattr(pa, TYPES[c])(), nullable=(c != "id")) for c in header])
    rows = pacsv.read_csv(csv_path, convert_options=pacsv.ConvertOptions(column_types=schema))
    rows = rows.cast(schema)
    os.makedirs(warehouse, exist_ok=True)
    cat = SqlCatalog("live", uri="sqlite:///%s/catalog.db" % warehouse, warehouse="file://%s" % warehouse)
    cat.create_namespace_if_not_exists("bench")
    if cat.table_exists("bench.live"):
        cat.drop_table("bench.live")
    t = cat.create_table("bench.live", schema=schema)
    if partition_day:
        # The files of a day()-partitioned table, one per day (PyIceberg needs pyiceberg-core to
        # write the transform itself; the readers' cost is in the files).
        import pyarrow.compute as pc
        for day in pc.unique(rows.column(partition_day)).to_pylist():
            t.append(rows.filter(pc.equal(rows.column(partition_day), day)))
    else:
        t.append(rows)
    loc = cat.load_table("bench.live").metadata_location
    print(loc[len("file://"):] if loc.startswith("file://") else loc)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--engine", choices=("duckdb", "pyiceberg"))
    p.add_argument("--metadata-file")
    p.add_argument("--key", default="id")
    p.add_argument("--probe", default="1")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--sum",
                   help="count(*) also sums this column (reads it: no answer from metadata)")
    p.add_argument("--make-live")
    p.add_argument("--warehouse")
    p.add_argument("--partition-day",
                   help="with --make-live: one file per day of COLUMN, as day(COLUMN) "
                        "partitions hold them")
    a = p.parse_args()
    if a.make_live:
        make_live(a.make_live, a.warehouse, a.partition_day)
        return 0
    if not a.engine or not a.metadata_file:
        p.error("--engine and --metadata-file are required")
    rows, count_ms, point, point_ms = (duckdb_probe if a.engine == "duckdb" else pyiceberg_probe)(a)
    print(json.dumps({"rows": rows, "count_ms": round(count_ms, 1), "point_rows": point,
                      "point_ms": round(point_ms, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
