#!/usr/bin/env python3
"""Freshness of a replicated table (bench/freshness_bench.sh): for every row, the time from its
`created_at` (set by the writer with clock_timestamp() just before its transaction commits) to
the first Iceberg snapshot that contains it.

  freshness.py --metadata-file F [--id id] [--created created_at] [--since EPOCH_SECONDS]

Reads every data file each snapshot added (a row rewritten later, by compaction or an update,
counts from its first snapshot) with PyArrow, so no snapshot is scanned whole. Rows created
before --since (the initial copy) are left out. Prints JSON: rows, p50_s, p90_s, p99_s, max_s.
"""
import argparse
import json
import os
import sys
from urllib.parse import urlparse


def local(path):
    u = urlparse(path)
    return u.path if u.scheme in ("file", "") else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--metadata-file", required=True)
    ap.add_argument("--id", default="id")
    ap.add_argument("--created", default="created_at")
    ap.add_argument("--since", type=float, default=0.0)
    a = ap.parse_args()

    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from pyiceberg.manifest import DataFileContent, ManifestEntryStatus
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(a.metadata_file)
    io = table.io
    first_seen = {}  # id -> (seconds of the first snapshot that has it, created_at seconds)
    seen_files = set()
    for snap in sorted(table.metadata.snapshots, key=lambda s: s.sequence_number or 0):
        visible = snap.timestamp_ms / 1000.0
        for manifest in snap.manifests(io):
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
                f = entry.data_file
                if (entry.status != ManifestEntryStatus.ADDED or entry.snapshot_id != snap.snapshot_id
                        or f.content != DataFileContent.DATA or f.file_path in seen_files):
                    continue
                seen_files.add(f.file_path)
                path = local(f.file_path)
                if path is None or not os.path.exists(path):
                    continue
                t = pq.read_table(path, columns=[a.id, a.created])
                ids = t.column(a.id).to_pylist()
                created = pc.divide(pc.cast(pc.cast(t.column(a.created), "timestamp[us]"), "int64"),
                                    1e6).to_pylist()
                for i, c in zip(ids, created):
                    if c is None or c < a.since:
                        continue
                    old = first_seen.get(i)
                    if old is None or visible < old[0]:
                        first_seen[i] = (visible, c)
    lat = sorted(v - c for v, c in first_seen.values())
    if not lat:
        print(json.dumps({"rows": 0}))
        return 1

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))], 3)

    print(json.dumps({"rows": len(lat), "p50_s": pct(50), "p90_s": pct(90), "p99_s": pct(99),
                      "max_s": round(lat[-1], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
