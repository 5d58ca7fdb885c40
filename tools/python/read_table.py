#!/usr/bin/env python3
"""Independent PyIceberg reader for tests: prints a table's live rows as sorted TSV.

Same output as the Java reader (dev.pg2iceberg.tools.ReadTable), including the trailing _file
column: each planned file scan task is read on its own, so every row is tagged with the data file
it came from. PyIceberg cannot apply equality deletes, so a table whose snapshot has any live
equality delete file is refused (exit code 3) instead of printing wrong rows.

Sources (exactly one):
  --rest-uri URI [--warehouse W]                 Iceberg REST catalog
  --sql-uri postgresql+psycopg2://u:p@h:port/db  pyiceberg SqlCatalog (SQLAlchemy URI), or
  --jdbc-uri jdbc:postgresql://h:port/db --jdbc-user U --jdbc-password P   (converted to the above)
      [--jdbc-schema S (default iceberg)] [--catalog-name N (default pg2iceberg)]
  --metadata-file PATH|URI                       StaticTable from a metadata JSON file
Common: --table NS.NAME, --snapshot-id N, --prop k=v (repeatable; catalog / FileIO properties,
e.g. s3.endpoint, s3.path-style-access, s3.access-key-id, s3.secret-access-key, s3.region),
--no-file-column.

Exit codes: 0 ok, 1 error, 2 usage error, 3 table has equality deletes (unsupported).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pg2i_tsv  # noqa: E402

EXIT_EQUALITY_DELETES = 3


class EqualityDeletesError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description="PyIceberg reader: live rows as sorted TSV")
    p.add_argument("--rest-uri")
    p.add_argument("--sql-uri")
    p.add_argument("--jdbc-uri")
    p.add_argument("--jdbc-user")
    p.add_argument("--jdbc-password")
    p.add_argument("--jdbc-schema", default="iceberg")
    p.add_argument("--catalog-name")
    p.add_argument("--warehouse")
    p.add_argument("--metadata-file")
    p.add_argument("--table")
    p.add_argument("--snapshot-id", type=int)
    p.add_argument("--prop", action="append", default=[], metavar="K=V")
    p.add_argument("--no-file-column", action="store_true")
    a = p.parse_args(argv)
    sources = [x for x in (a.rest_uri, a.sql_uri, a.jdbc_uri, a.metadata_file) if x]
    if len(sources) != 1:
        p.error("give exactly one of --rest-uri, --sql-uri, --jdbc-uri, --metadata-file")
    if not a.metadata_file and not a.table:
        p.error("--table NS.NAME is required with a catalog")
    props = {}
    for kv in a.prop:
        if "=" not in kv or kv.startswith("="):
            p.error("--prop needs K=V, got: " + kv)
        k, v = kv.split("=", 1)
        props[k] = v
    a.props = props
    return a


def jdbc_to_sqlalchemy(jdbc_uri, user, password, schema):
    """jdbc:postgresql://host:port/db?x=y -> postgresql+psycopg2://user:pw@host:port/db?..."""
    if not jdbc_uri.startswith("jdbc:postgresql://"):
        raise ValueError("--jdbc-uri must start with jdbc:postgresql://, got " + jdbc_uri)
    rest = jdbc_uri[len("jdbc:postgresql://"):]
    hostpart, _, query = rest.partition("?")
    params = urllib.parse.parse_qsl(query)
    cred = ""
    if user:
        cred = urllib.parse.quote(user, safe="")
        if password:
            cred += ":" + urllib.parse.quote(password, safe="")
        cred += "@"
    out = []
    has_schema = False
    for k, v in params:
        if k == "currentSchema":
            has_schema = True
            out.append(("options", "-csearch_path=" + v))
        elif k in ("user", "password"):
            continue
        else:
            out.append((k, v))
    if schema and not has_schema:
        out.append(("options", "-csearch_path=" + schema))
    q = urllib.parse.urlencode(out)
    return "postgresql+psycopg2://" + cred + hostpart + ("?" + q if q else "")


def open_table(a):
    if a.metadata_file:
        from pyiceberg.table import StaticTable

        loc = a.metadata_file
        if "://" not in loc:
            loc = os.path.abspath(loc)
        return StaticTable.from_metadata(loc, properties=a.props)
    if a.rest_uri:
        from pyiceberg.catalog.rest import RestCatalog

        props = {"uri": a.rest_uri}
        if a.warehouse:
            props["warehouse"] = a.warehouse
        props.update(a.props)
        catalog = RestCatalog(a.catalog_name or "rest", **props)
        return catalog.load_table(a.table)
    from pyiceberg.catalog.sql import SqlCatalog

    uri = a.sql_uri or jdbc_to_sqlalchemy(a.jdbc_uri, a.jdbc_user, a.jdbc_password, a.jdbc_schema)
    props = {"uri": uri, "init_catalog_tables": "false"}
    if a.warehouse:
        props["warehouse"] = a.warehouse
    props.update(a.props)
    catalog = SqlCatalog(a.catalog_name or "pg2iceberg", **props)
    return catalog.load_table(a.table)


def check_no_equality_deletes(table, snapshot):
    """Refuse tables whose snapshot has live equality delete files (PyIceberg ignores none of
    them silently today, but this must not depend on that)."""
    from pyiceberg.manifest import DataFileContent, ManifestContent, ManifestEntryStatus

    for manifest in snapshot.manifests(table.io):
        if manifest.content != ManifestContent.DELETES:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            if entry.status == ManifestEntryStatus.DELETED:
                continue
            if entry.data_file.content == DataFileContent.EQUALITY_DELETES:
                raise EqualityDeletesError(
                    "table has equality delete files (e.g. %s); PyIceberg cannot apply them, "
                    "use the Java reader" % entry.data_file.file_path
                )


def read_rows(table, snapshot_id, file_column):
    from pyiceberg.io.pyarrow import ArrowScan

    scan = table.scan(snapshot_id=snapshot_id) if snapshot_id is not None else table.scan()
    schema = scan.projection()
    names = [f.name for f in schema.fields]
    kinds = [pg2i_tsv.kind_from_iceberg(f.field_type) for f in schema.fields]

    snapshot = table.metadata.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
    if snapshot_id is not None and snapshot is None:
        raise ValueError("snapshot %d not found" % snapshot_id)
    rows = []
    files = []
    if snapshot is not None:
        check_no_equality_deletes(table, snapshot)
        arrow_scan = ArrowScan(table.metadata, table.io, schema, scan.row_filter, scan.case_sensitive, None)
        for task in scan.plan_files():
            for d in task.delete_files:
                if d.content.name == "EQUALITY_DELETES":  # belt and braces
                    raise EqualityDeletesError("equality delete file " + d.file_path)
            t = arrow_scan.to_table([task])
            cols = [t.column(n).to_pylist() for n in names]
            for i in range(t.num_rows):
                rows.append([c[i] for c in cols])
                files.append(task.file.file_path)
    return pg2i_tsv.render_rows(names, kinds, rows, files if file_column else None)


def main(argv=None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        table = open_table(a)
        lines = read_rows(table, a.snapshot_id, not a.no_file_column)
    except EqualityDeletesError as e:
        print("read_table.py: refused: " + str(e), file=sys.stderr)
        return EXIT_EQUALITY_DELETES
    except Exception as e:  # noqa: BLE001 - report any failure as a clear one-line error
        msg = str(e)
        if "equality deletes" in msg.lower():
            print("read_table.py: refused: " + msg, file=sys.stderr)
            return EXIT_EQUALITY_DELETES
        print("read_table.py: error: %s: %s" % (type(e).__name__, msg), file=sys.stderr)
        if os.environ.get("PG2I_READER_DEBUG"):
            raise
        return 1
    out = sys.stdout.buffer
    out.write(("\n".join(lines) + "\n").encode("utf-8"))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
