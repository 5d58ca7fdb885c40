#!/usr/bin/env python3
"""Independent DuckDB reader for tests: prints a table's live rows as sorted TSV, read with
DuckDB's iceberg extension (iceberg_scan on a metadata file), in the same format as the Java
reader (dev.pg2iceberg.tools.ReadTable) and read_table.py.

DuckDB normally downloads extensions from its own server, which is unreachable here; the
extension binaries come from PyPI instead (packages duckdb-extension-iceberg and
duckdb-extension-avro, plus duckdb-extension-httpfs for s3://). Those are built for one exact
DuckDB version (1.5.5 at the time of writing: duckdb 2.0.0 refuses them), so the matching duckdb
module can be put first on the path with PG2I_DUCKDB_PATH (e.g. a `pip install --target DIR
duckdb==1.5.5 duckdb-extension-iceberg==1.5.5 duckdb-extension-avro==1.5.5`). Extensions are
LOADed by file path; nothing is installed into ~/.duckdb and autoinstall is off.

usage: read_duckdb.py --metadata-file PATH|URI [--snapshot-id N] [--no-file-column]
                      [--extension-dir DIR] [--prop k=v ...]
  --extension-dir DIR (or $PG2I_DUCKDB_EXTENSION_DIR): a folder holding NAME.duckdb_extension
      files; otherwise the duckdb_extension_NAME Python packages are used.
  --prop: s3.endpoint, s3.access-key-id, s3.secret-access-key, s3.path-style-access,
      s3.region / client.region (an S3 secret is created when any s3.* property is given).
The _file column is DuckDB's `filename` virtual column (a table with its own column named
"filename" needs --no-file-column).

Exit codes: 0 ok, 1 error, 2 usage error, 4 DuckDB or its iceberg extension unavailable.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
# Where a DuckDB build matching the PyPI extension packages lives: $PG2I_DUCKDB_PATH, else
# <repo>/.deps/duckdb if present; otherwise whatever `import duckdb` finds.
_duckdb_path = os.environ.get("PG2I_DUCKDB_PATH") or os.path.join(_here, "..", "..", ".deps", "duckdb")
if os.path.isdir(_duckdb_path):
    sys.path.insert(0, os.path.abspath(_duckdb_path))

import pg2i_tsv  # noqa: E402

EXIT_UNAVAILABLE = 4


class Unavailable(Exception):
    pass


def sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def quote_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def find_extension(duckdb, name: str, ext_dir: str | None, tried: list) -> str | None:
    if ext_dir:
        p = os.path.join(ext_dir, name + ".duckdb_extension")
        tried.append(p)
        if os.path.isfile(p):
            return p
    try:
        mod = __import__("duckdb_extension_" + name)
    except ImportError as e:
        tried.append("python package duckdb_extension_%s: %s" % (name, e))
        return None
    base = os.path.join(os.path.dirname(mod.__file__), "extensions")
    p = os.path.join(base, "v" + duckdb.__version__, name + ".duckdb_extension")
    tried.append(p)
    if os.path.isfile(p):
        return p
    have = sorted(os.listdir(base)) if os.path.isdir(base) else []
    tried.append(
        "duckdb_extension_%s ships builds for %s, not for duckdb %s" % (name, ", ".join(have) or "nothing", duckdb.__version__)
    )
    return None


def connect(ext_dir: str | None, need_httpfs: bool):
    try:
        import duckdb
    except ImportError as e:
        raise Unavailable("cannot import duckdb: %s" % e)
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
        }
    )
    names = ["avro", "iceberg"] + (["httpfs"] if need_httpfs else [])
    for name in names:
        tried: list = []
        path = find_extension(duckdb, name, ext_dir, tried)
        if path is None:
            raise Unavailable(
                "DuckDB %s extension '%s' not found; tried:\n  %s" % (duckdb.__version__, name, "\n  ".join(tried))
            )
        try:
            con.execute("LOAD " + sql_literal(path))
        except Exception as e:  # noqa: BLE001
            raise Unavailable("LOAD %s failed: %s" % (path, e))
    con.execute("SET TimeZone='UTC'")
    return con


def create_s3_secret(con, props: dict) -> None:
    parts = ["TYPE s3"]
    if "s3.access-key-id" in props:
        parts.append("KEY_ID " + sql_literal(props["s3.access-key-id"]))
    if "s3.secret-access-key" in props:
        parts.append("SECRET " + sql_literal(props["s3.secret-access-key"]))
    region = props.get("s3.region") or props.get("client.region")
    if region:
        parts.append("REGION " + sql_literal(region))
    if "s3.endpoint" in props:
        u = urllib.parse.urlparse(props["s3.endpoint"])
        if u.scheme in ("http", "https"):
            parts.append("ENDPOINT " + sql_literal(u.netloc + u.path.rstrip("/")))
            parts.append("USE_SSL " + ("true" if u.scheme == "https" else "false"))
        else:
            parts.append("ENDPOINT " + sql_literal(props["s3.endpoint"]))
    if props.get("s3.path-style-access", "").lower() == "true":
        parts.append("URL_STYLE 'path'")
    con.execute("CREATE SECRET pg2i_s3 (" + ", ".join(parts) + ")")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="DuckDB iceberg reader: live rows as sorted TSV")
    p.add_argument("--metadata-file", required=True)
    p.add_argument("--snapshot-id", type=int)
    p.add_argument("--no-file-column", action="store_true")
    p.add_argument("--extension-dir", default=os.environ.get("PG2I_DUCKDB_EXTENSION_DIR"))
    p.add_argument("--prop", action="append", default=[], metavar="K=V")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    props = {}
    for kv in a.prop:
        if "=" not in kv or kv.startswith("="):
            p.error("--prop needs K=V, got: " + kv)
        k, v = kv.split("=", 1)
        props[k] = v
    loc = a.metadata_file
    if "://" not in loc:
        loc = os.path.abspath(loc)
    try:
        need_s3 = any(k.startswith("s3.") for k in props) or loc.startswith(("s3://", "s3a://"))
        con = connect(a.extension_dir, need_s3)
        if any(k.startswith("s3.") for k in props):
            create_s3_secret(con, props)
        args = [sql_literal(loc)]
        if a.snapshot_id is not None:
            args.append("snapshot_from_id=%d" % a.snapshot_id)
        src = "iceberg_scan(%s)" % ", ".join(args)
        cols = [d[0] for d in con.execute("SELECT * FROM %s LIMIT 0" % src).description]
        file_column = not a.no_file_column
        if file_column and "filename" in cols:
            raise ValueError('table has a column named "filename", which hides DuckDB\'s virtual filename column; use --no-file-column')
        select = ", ".join(quote_ident(c) for c in cols)
        if file_column:
            select = (select + ", " if select else "") + "filename"
        result = con.execute("SELECT %s FROM %s" % (select, src))
        table = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.fetch_arrow_table()
        kinds = [pg2i_tsv.kind_from_arrow(table.schema.field(i).type) for i in range(len(cols))]
        data = [table.column(i).to_pylist() for i in range(len(cols))]
        rows = [[c[r] for c in data] for r in range(table.num_rows)]
        files = table.column(len(cols)).to_pylist() if file_column else None
        lines = pg2i_tsv.render_rows(cols, kinds, rows, files)
    except Unavailable as e:
        print("read_duckdb.py: unavailable: %s" % e, file=sys.stderr)
        return EXIT_UNAVAILABLE
    except Exception as e:  # noqa: BLE001
        print("read_duckdb.py: error: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        if os.environ.get("PG2I_READER_DEBUG"):
            raise
        return 1
    out = sys.stdout.buffer
    out.write(("\n".join(lines) + "\n").encode("utf-8"))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
