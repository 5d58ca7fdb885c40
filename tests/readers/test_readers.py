#!/usr/bin/env python3
"""Proves the independent readers right without the project's C++ writer.

Iceberg Java (dev.pg2iceberg.tools.MakeFixtureTable) writes small tables into a temp dir; the
readers must print exactly the TSV written by hand below from the values MakeFixtureTable
inserts (tools/java/src/main/java/dev/pg2iceberg/tools/MakeFixtureTable.java).

usage: test_readers.py PART   where PART is one of
  fixture  Java reader + PyIceberg reader on metadata files, --describe / --files, error paths
  jdbc     both readers through a JDBC / SQL catalog on a throw-away PostgreSQL cluster
  rest     both readers through the Iceberg REST catalog server (RESTCatalogServer)
  s3       all readers on tables written to S3 (versitygw), DuckDB only if available
  duckdb   the DuckDB reader (skipped, exit 77, when DuckDB's iceberg extension is unavailable)

Environment (ctest sets it from PG2I_TEST_ENV): PG2I_SOURCE_DIR, PG2I_JAVA_LIB_DIR, PG2I_VENV,
PG2I_PG_BINDIR, PG2I_VERSITYGW. The reader jar must have been built: mvn -q -B -f tools/java/pom.xml package.
"""

from __future__ import annotations

import difflib
import json
import os
import pwd
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("PG2I_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
JAVA_LIB = os.environ.get("PG2I_JAVA_LIB_DIR") or os.path.join(SOURCE, ".deps", "java", "lib")
VENV = os.environ.get("PG2I_VENV") or os.path.join(SOURCE, ".deps", "venv")
JAR = os.path.join(SOURCE, "tools", "java", "target", "pg2iceberg-test-tools.jar")
PY = os.path.join(VENV, "bin", "python")
READ_TABLE_PY = os.path.join(SOURCE, "tools", "python", "read_table.py")
READ_DUCKDB_PY = os.path.join(SOURCE, "tools", "python", "read_duckdb.py")
N = "\\N"


class Failure(Exception):
    pass


class Skip(Exception):
    pass


checks = 0


def log(msg: str) -> None:
    print(msg, flush=True)


def check(cond: bool, what: str) -> None:
    global checks
    checks += 1
    if not cond:
        raise Failure(what)


def check_text(what: str, got: str, want: str) -> None:
    global checks
    checks += 1
    if got != want:
        diff = "".join(
            difflib.unified_diff(
                want.splitlines(True), got.splitlines(True), "expected", "got (" + what + ")"
            )
        )
        raise Failure("%s: output differs\n%s" % (what, diff))
    log("ok   " + what)


def run(argv, *, want_rc=0, env=None, what=None):
    what = what or " ".join(os.path.basename(a) if i < 2 else a for i, a in enumerate(argv[:6]))
    p = subprocess.run(argv, capture_output=True, env=env, timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    if want_rc is not None and p.returncode != want_rc:
        raise Failure(
            "%s: exit code %d, wanted %d\n--- stdout\n%s--- stderr\n%s" % (what, p.returncode, want_rc, out[-4000:], err[-4000:])
        )
    return p.returncode, out, err


def java_cp() -> str:
    return JAR + os.pathsep + os.path.join(JAVA_LIB, "*")


def java(main_class: str, *args, **kw):
    return run(["java", "-cp", java_cp(), main_class, *args], **kw)


def read_java(*args, **kw):
    return java("dev.pg2iceberg.tools.ReadTable", *args, **kw)


def read_py(*args, **kw):
    return run([PY, READ_TABLE_PY, *args], **kw)


def tsv(header, rows) -> str:
    return "".join("\t".join(r) + "\n" for r in [header] + rows)


# ------------------------------------------------------------------ expected output, by hand

ALL_TYPES_HEADER = ["id", "c_long", "c_float", "c_double", "c_decimal", "c_bool", "c_string", "c_binary",
                    "c_date", "c_time", "c_ts", "c_tstz", "c_uuid", "_file"]
KV_HEADER = ["id", "name", "v", "_file"]
NESTED_HEADER = ["id", "s", "l", "m", "_file"]
PART_HEADER = ["id", "cat", "ts", "_file"]


def expected(loc: dict) -> dict:
    """loc: table name -> table location (data files are LOCATION/data/NAME)."""
    a1 = loc["all_types"] + "/data/all_types-1.parquet"
    a2 = loc["all_types"] + "/data/all_types-2.parquet"
    ka = loc["with_deletes"] + "/data/kv-a.parquet"
    kb = loc["with_deletes"] + "/data/kv-b.parquet"
    pa = loc["pos_deletes"] + "/data/pd-a.parquet"
    nf = loc["nested"] + "/data/nested.parquet"
    pta = loc["partitioned"] + "/data/cat=a/ts_day=2025-01-15/part-a.parquet"
    ptb = loc["partitioned"] + "/data/cat=b/ts_day=2025-01-16/part-b.parquet"
    return {
        "all_types": tsv(ALL_TYPES_HEADER, [
            ["1", "9007199254740993", "0.1", "0.1", "12.30", "true", r"tab\there\nnew\\back", r"\x00ABFF",
             "2025-01-15", "13:45:30.123456", "2025-01-15 10:00:00", "2025-01-15 08:00:00.500000+00",
             "123e4567-e89b-12d3-a456-426614174000", a1],
            ["2"] + [N] * 12 + [a1],
            ["3", "-1", "-32500000000.0", "1e-07", "-0.05", "false", "ünïcødé 😀", r"\x", "1970-01-01",
             "00:00:00", "1999-12-31 23:59:59.000001", "2000-01-01 00:00:00+00",
             "00000000-0000-0000-0000-000000000000", a1],
            ["4", "-9223372036854775808", "NaN", "-Infinity", "99999999.99", "true", "", N, "1900-02-28",
             "23:59:59.999999", "1969-12-31 23:59:59.999999", "1969-12-31 23:59:59.999999+00",
             "ffffffff-ffff-ffff-ffff-ffffffffffff", a2],
            ["5", "0", "-0.0", "1e+16", "0.00", "false", r"\\N", r"\x5C"] + [N] * 5 + [a2],
            ["6", "9223372036854775807", "3.4028235e+38", "1.7976931348623157e+308"] + [N] * 9 + [a2],
            ["7", N, "1e-45", "5e-324"] + [N] * 9 + [a2],
            ["8", N, "16777216.0", "123456789.125", N, N, r"a\rb"] + [N] * 6 + [a2],
        ]),
        # snapshot 2: id 2 replaced (equality delete + new row in kv-b), id 3 position-deleted
        "with_deletes": tsv(KV_HEADER, [
            ["1", "a", "10", ka],
            ["2", "b2", "21", kb],
            ["4", "d", "40", ka],
        ]),
        "with_deletes@1": tsv(KV_HEADER, [
            ["1", "a", "10", ka],
            ["2", "b", "20", ka],
            ["3", "c", "30", ka],
            ["4", "d", "40", ka],
        ]),
        "pos_deletes": tsv(KV_HEADER, [
            ["2", "y", "2", pa],
            ["3", "z", "3", pa],
        ]),
        "nested": tsv(NESTED_HEADER, [
            ["1", r'{"a": 1, "b": "x\\"y"}', r'[1.5, "NaN"]', r'{"k1": 10, "k2": null}', nf],
            ["2", N, "[]", "{}", nf],
            ["3", r'{"a": null, "b": "tab\\t"}', "[null, 2.0]", N, nf],
        ]),
        # identity(cat), day(ts); row 3 was written as 01:30+01:00
        "partitioned": tsv(PART_HEADER, [
            ["1", "a", "2025-01-15 10:00:00+00", pta],
            ["2", "a", "2025-01-15 23:00:00+00", pta],
            ["3", "b", "2025-01-16 00:30:00+00", ptb],
        ]),
    }


def strip_file_column(text: str) -> str:
    return "".join(line.rsplit("\t", 1)[0] + "\n" for line in text.splitlines())


# ------------------------------------------------------------------ fixture


def make_fixture(tmp: str, *extra) -> dict:
    if not os.path.isfile(JAR):
        raise Failure("reader jar missing: %s (build it: mvn -q -B -f tools/java/pom.xml package)" % JAR)
    out = os.path.join(tmp, "fx")
    java("dev.pg2iceberg.tools.MakeFixtureTable", out, *extra, what="MakeFixtureTable")
    with open(os.path.join(out, "fixture.json"), encoding="utf-8") as f:
        fx = json.load(f)
    log("fixture tables written under " + fx["warehouse"])
    return fx


def locations(fx: dict) -> dict:
    return {name: t["location"] for name, t in fx["tables"].items()}


def meta(fx: dict, name: str) -> str:
    return fx["tables"][name]["metadata-file"]


def test_fixture(tmp: str) -> None:
    fx = make_fixture(tmp)
    exp = expected(locations(fx))
    snap1 = str(fx["tables"]["with_deletes"]["snapshot-ids"][0])

    # Java reader: every table, all deletes applied.
    for name in ("all_types", "with_deletes", "pos_deletes", "nested", "partitioned"):
        _, out, _ = read_java("--metadata-file", meta(fx, name))
        check_text("java " + name, out, exp[name])
    _, out, _ = read_java("--metadata-file", meta(fx, "with_deletes"), "--snapshot-id", snap1)
    check_text("java with_deletes --snapshot-id first", out, exp["with_deletes@1"])
    _, out, _ = read_java("--metadata-file", meta(fx, "all_types"), "--no-file-column")
    check_text("java all_types --no-file-column", out, strip_file_column(exp["all_types"]))

    # PyIceberg reader: tables without equality deletes; refuses the one with them.
    for name in ("all_types", "pos_deletes", "nested", "partitioned"):
        _, out, _ = read_py("--metadata-file", meta(fx, name))
        check_text("pyiceberg " + name, out, exp[name])
    _, out, _ = read_py("--metadata-file", meta(fx, "with_deletes"), "--snapshot-id", snap1)
    check_text("pyiceberg with_deletes --snapshot-id first", out, exp["with_deletes@1"])
    _, out, _ = read_py("--metadata-file", meta(fx, "all_types"), "--no-file-column")
    check_text("pyiceberg all_types --no-file-column", out, strip_file_column(exp["all_types"]))
    _, out, err = read_py("--metadata-file", meta(fx, "with_deletes"), want_rc=3)
    check(out == "" and "equality delete" in err, "pyiceberg must refuse with_deletes loudly, got stderr: " + err)
    log("ok   pyiceberg refuses the equality-delete table: " + err.strip().splitlines()[-1])

    check_floats(fx)
    check_describe(fx)
    check_files(fx)
    check_errors(fx, tmp)


def check_floats(fx: dict) -> None:
    """Java and Python float rendering agree; doubles equal Python's repr (shortest round-trip)."""
    import pyarrow.parquet as pq

    m = meta(fx, "floats")
    _, jout, _ = read_java("--metadata-file", m, "--no-file-column")
    _, pout, _ = read_py("--metadata-file", m, "--no-file-column")
    check_text("floats: java == pyiceberg", pout, jout)
    raw = pq.read_table(fx["tables"]["floats"]["location"] + "/data/floats.parquet").to_pylist()
    by_id = {r["id"]: r for r in raw}
    lines = jout.splitlines()[1:]
    check(len(lines) == len(raw) == 3000, "floats: %d rows rendered, %d written" % (len(lines), len(raw)))
    bad = []
    for line in lines:
        i, f_text, d_text = line.split("\t")
        r = by_id[int(i)]
        d = r["d"]
        if d != d:
            want_d = "NaN"
        elif d in (float("inf"), float("-inf")):
            want_d = "Infinity" if d > 0 else "-Infinity"
        else:
            want_d = repr(d)
        if d_text != want_d:
            bad.append("id %s: double rendered %s, repr %s" % (i, d_text, want_d))
        f = r["f"]
        if f != f:
            if f_text != "NaN":
                bad.append("id %s: float NaN rendered %s" % (i, f_text))
        elif f_text not in ("Infinity", "-Infinity"):
            back = struct.unpack("<f", struct.pack("<f", float(f_text)))[0]
            if not (back == f and str(back) == str(f)):
                bad.append("id %s: float %r rendered %s" % (i, f, f_text))
    check(not bad, "floats: %d bad renderings, e.g. %s" % (len(bad), bad[:5]))
    log("ok   floats: 3000 rows, doubles == repr(), floats round-trip")


def check_describe(fx: dict) -> None:
    _, out, _ = read_java("--metadata-file", meta(fx, "all_types"), "--describe")
    d = json.loads(out)
    check(d["format-version"] == 2, "describe: format-version %r" % d.get("format-version"))
    cols = [(c["id"], c["name"], c["type"], c["required"]) for c in d["columns"]]
    want = [(1, "id", "int", True), (2, "c_long", "long", False), (3, "c_float", "float", False),
            (4, "c_double", "double", False), (5, "c_decimal", "decimal(10, 2)", False),
            (6, "c_bool", "boolean", False), (7, "c_string", "string", False), (8, "c_binary", "binary", False),
            (9, "c_date", "date", False), (10, "c_time", "time", False), (11, "c_ts", "timestamp", False),
            (12, "c_tstz", "timestamptz", False), (13, "c_uuid", "uuid", False)]
    check(cols == want, "describe all_types columns: %r" % cols)
    check(d["identifier-field-names"] == ["id"] and d["identifier-field-ids"] == [1],
          "describe identifier fields: %r" % d["identifier-field-names"])
    check(d["schema"]["identifier-field-ids"] == [1], "describe schema JSON identifier-field-ids")
    check(d["partition-spec"]["fields"] == [], "describe: unpartitioned")
    check(d["current-snapshot-id"] == fx["tables"]["all_types"]["snapshot-ids"][-1], "describe current-snapshot-id")
    s = d["snapshot"]
    check(s["operation"] == "append" and s["summary"]["total-records"] == "8"
          and s["summary"]["total-data-files"] == "2", "describe all_types summary: %r" % s)

    _, out, _ = read_java("--metadata-file", meta(fx, "with_deletes"), "--describe")
    d = json.loads(out)
    sm = d["snapshot"]["summary"]
    check(d["snapshot-ids"] == fx["tables"]["with_deletes"]["snapshot-ids"], "describe with_deletes snapshot-ids")
    check(sm["total-equality-deletes"] == "1" and sm["total-position-deletes"] == "1"
          and sm["total-records"] == "5" and sm["total-delete-files"] == "2",
          "describe with_deletes summary: %r" % sm)
    first = str(fx["tables"]["with_deletes"]["snapshot-ids"][0])
    _, out, _ = read_java("--metadata-file", meta(fx, "with_deletes"), "--describe", "--snapshot-id", first)
    d = json.loads(out)
    check(str(d["snapshot"]["snapshot-id"]) == first and d["snapshot"]["summary"]["total-records"] == "4",
          "describe --snapshot-id: %r" % d["snapshot"])
    log("ok   --describe")


def check_files(fx: dict) -> None:
    loc = fx["tables"]["with_deletes"]["location"]
    _, out, _ = read_java("--metadata-file", meta(fx, "with_deletes"), "--files")
    d = json.loads(out)
    data = {f["path"]: f for f in d["data-files"]}
    check(sorted(data) == sorted([loc + "/data/kv-a.parquet", loc + "/data/kv-b.parquet"]),
          "files: data paths %r" % sorted(data))
    a = data[loc + "/data/kv-a.parquet"]
    check(a["record-count"] == 4 and a["lower-bounds"]["id"] == "1" and a["upper-bounds"]["id"] == "4"
          and a["lower-bounds"]["name"] == "a" and a["null-value-counts"]["v"] == 0
          and a["data-sequence-number"] == 1, "files: kv-a metrics %r" % a)
    dels = {f["content"]: f for f in d["delete-files"]}
    check(sorted(dels) == ["EQUALITY_DELETES", "POSITION_DELETES"], "files: delete kinds %r" % sorted(dels))
    eq = dels["EQUALITY_DELETES"]
    check(eq["equality-field-names"] == ["id"] and eq["lower-bounds"]["id"] == "2"
          and eq["data-sequence-number"] == 2, "files: equality delete %r" % eq)
    pos = dels["POSITION_DELETES"]
    check(pos["lower-bounds"].get("file_path") == loc + "/data/kv-a.parquet" and pos["lower-bounds"].get("pos") == "2",
          "files: position delete bounds %r" % pos["lower-bounds"])
    _, out, _ = read_java("--metadata-file", meta(fx, "partitioned"), "--files")
    parts = sorted((f["partition"]["cat"], f["partition"]["ts_day"], f["record-count"]) for f in json.loads(out)["data-files"])
    check(parts == [("a", "2025-01-15", 2), ("b", "2025-01-16", 1)], "files: partition values %r" % parts)
    _, out, _ = read_java("--metadata-file", meta(fx, "partitioned"), "--describe")
    fields = [(f["name"], f["transform"], f["source-name"]) for f in json.loads(out)["partition-spec"]["fields"]]
    check(fields == [("cat", "identity", "cat"), ("ts_day", "day", "ts")], "describe partition spec %r" % fields)
    log("ok   --files")


def check_errors(fx: dict, tmp: str) -> None:
    missing = os.path.join(tmp, "no-such.metadata.json")
    _, _, err = read_java("--metadata-file", missing, want_rc=1)
    check("ReadTable: error" in err, "java missing file message: " + err)
    _, _, err = read_java("--metadata-file", meta(fx, "all_types"), "--snapshot-id", "12345", want_rc=1)
    check("snapshot 12345 not found" in err, "java bad snapshot message: " + err)
    _, _, err = read_java("--table", "a.b", want_rc=2)
    check("exactly one of" in err, "java usage message: " + err)
    _, _, err = read_py("--metadata-file", missing, want_rc=1)
    check("read_table.py: error" in err, "pyiceberg missing file message: " + err)
    log("ok   error paths")


# ------------------------------------------------------------------ jdbc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout, what):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            last = e
            time.sleep(0.3)
    raise Failure("%s not ready after %ds: %s" % (what, timeout, last))


CATALOG_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE {schema}.iceberg_tables (
  catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,
  table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000),
  previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5),
  PRIMARY KEY (catalog_name, table_namespace, table_name));
CREATE TABLE {schema}.iceberg_namespace_properties (
  catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL,
  property_key VARCHAR(255) NOT NULL, property_value VARCHAR(1000),
  PRIMARY KEY (catalog_name, namespace, property_key));
"""


def test_jdbc(tmp: str) -> None:
    bindir = os.environ.get("PG2I_PG_BINDIR", "/usr/lib/postgresql/15/bin")
    if not os.path.isfile(os.path.join(bindir, "initdb")):
        raise Skip("no PostgreSQL server binaries in " + bindir)
    import psycopg2

    fx = make_fixture(tmp)
    exp = expected(locations(fx))
    pgdir = os.path.join(tmp, "pg")
    os.makedirs(pgdir)
    user = None
    if os.geteuid() == 0:  # initdb refuses root; run the cluster as an unprivileged account
        for name in ("postgres", "nobody"):
            try:
                user = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if user is None:
            raise Skip("running as root and no unprivileged account for PostgreSQL")
        os.chmod(tmp, 0o755)
        os.chown(pgdir, user.pw_uid, user.pw_gid)
    kw = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    data = os.path.join(pgdir, "data")
    p = subprocess.run([os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--no-sync", "--locale=C"], capture_output=True, timeout=300, **kw)
    if p.returncode != 0:
        raise Failure("initdb failed: " + p.stderr.decode(errors="replace"))
    port = free_port()
    server = subprocess.Popen([os.path.join(bindir, "postgres"), "-D", data, "-p", str(port), "-k", pgdir,
                               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "pg.log"), "wb"), **kw)
    try:
        conn = wait_until(lambda: psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres"),
                          60, "PostgreSQL")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(CATALOG_DDL.format(schema="iceberg"))
            # A decoy catalog in public: same names, other tables. A reader that ignores the
            # schema setting reads these and fails the comparisons.
            cur.execute(CATALOG_DDL.format(schema="public"))
            for name in ("all_types", "with_deletes", "pos_deletes", "nested"):
                cur.execute("INSERT INTO iceberg.iceberg_tables VALUES ('pg2iceberg', 'fixture', %s, %s, NULL, 'TABLE')",
                            (name, meta(fx, name)))
                cur.execute("INSERT INTO public.iceberg_tables VALUES ('pg2iceberg', 'fixture', %s, %s, NULL, 'TABLE')",
                            (name, meta(fx, "pos_deletes" if name != "pos_deletes" else "nested")))
            for schema in ("iceberg", "public"):
                cur.execute("INSERT INTO %s.iceberg_namespace_properties VALUES ('pg2iceberg', 'fixture', 'exists', 'true')"
                            % schema)
        conn.close()
        uri = "jdbc:postgresql://127.0.0.1:%d/postgres" % port
        creds = ["--jdbc-user", "postgres", "--jdbc-password", "unused"]
        for name in ("all_types", "with_deletes", "nested"):
            _, out, _ = read_java("--jdbc-uri", uri, *creds, "--table", "fixture." + name)
            check_text("java jdbc (--jdbc-schema default iceberg) " + name, out, exp[name])
        _, out, _ = read_java("--jdbc-uri", uri + "?currentSchema=iceberg", *creds, "--jdbc-schema", "",
                              "--table", "fixture.all_types")
        check_text("java jdbc (?currentSchema=iceberg in the URI) all_types", out, exp["all_types"])
        _, out, _ = read_java("--jdbc-uri", uri, *creds, "--prop", "jdbc.currentSchema=iceberg", "--jdbc-schema", "",
                              "--table", "fixture.all_types")
        check_text("java jdbc (--prop jdbc.currentSchema=iceberg) all_types", out, exp["all_types"])
        _, out, _ = read_java("--jdbc-uri", uri, *creds, "--jdbc-schema", "public", "--table", "fixture.all_types")
        check_text("java jdbc --jdbc-schema public reads the decoy", out, exp["pos_deletes"])
        _, _, err = read_java("--jdbc-uri", uri, *creds, "--table", "fixture.missing", want_rc=1)
        check("NoSuchTableException" in err, "java jdbc missing table message: " + err)

        for name in ("all_types", "nested"):
            _, out, _ = read_py("--jdbc-uri", uri, *creds, "--table", "fixture." + name)
            check_text("pyiceberg sql catalog " + name, out, exp[name])
        _, out, _ = read_py("--sql-uri", "postgresql+psycopg2://postgres@127.0.0.1:%d/postgres?options=-csearch_path%%3Diceberg" % port,
                            "--table", "fixture.pos_deletes")
        check_text("pyiceberg --sql-uri pos_deletes", out, exp["pos_deletes"])
        _, out, err = read_py("--jdbc-uri", uri, *creds, "--table", "fixture.with_deletes", want_rc=3)
        check(out == "", "pyiceberg must print nothing for with_deletes")
        log("ok   pyiceberg sql catalog refuses with_deletes")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# ------------------------------------------------------------------ rest


def http_json(method: str, url: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
        return json.loads(text) if text else None


def test_rest(tmp: str) -> None:
    fx = make_fixture(tmp)
    exp = expected(locations(fx))
    port = free_port()
    env = dict(os.environ)
    env.update({
        "CATALOG_REST_PORT": str(port),
        "CATALOG_URI": "jdbc:sqlite:file:" + os.path.join(tmp, "rest-catalog.db"),
        "CATALOG_WAREHOUSE": "file://" + os.path.join(tmp, "rest-warehouse"),
    })
    log_file = open(os.path.join(tmp, "rest.log"), "wb")
    server = subprocess.Popen(["java", "-Djava.io.tmpdir=" + tmp, "-cp", java_cp(),
                               "org.apache.iceberg.rest.RESTCatalogServer"],
                              env=env, stdout=log_file, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    try:
        wait_until(lambda: http_json("GET", base + "/v1/config"), 120, "REST catalog server")
        http_json("POST", base + "/v1/namespaces", {"namespace": ["fixture"]})
        for name in ("all_types", "with_deletes", "pos_deletes", "nested"):
            http_json("POST", base + "/v1/namespaces/fixture/register",
                      {"name": name, "metadata-location": meta(fx, name)})
        for name in ("all_types", "with_deletes", "nested"):
            _, out, _ = read_java("--rest-uri", base, "--table", "fixture." + name)
            check_text("java rest " + name, out, exp[name])
        for name in ("all_types", "pos_deletes"):
            _, out, _ = read_py("--rest-uri", base, "--table", "fixture." + name)
            check_text("pyiceberg rest " + name, out, exp[name])
        _, out, _ = read_py("--rest-uri", base, "--table", "fixture.with_deletes", want_rc=3)
        log("ok   pyiceberg rest refuses with_deletes")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()


# ------------------------------------------------------------------ s3


def test_s3(tmp: str) -> None:
    gw = os.environ.get("PG2I_VERSITYGW") or os.path.join(SOURCE, ".deps", "bin", "versitygw")
    if not os.access(gw, os.X_OK):
        raise Skip("no versitygw at " + gw)
    import pyarrow.fs as pafs

    root = os.path.join(tmp, "s3root")
    os.makedirs(root)
    port = free_port()
    key, secret = "PG2IREADERS", "readers-secret-0123456789"
    env = dict(os.environ, ROOT_ACCESS_KEY_ID=key, ROOT_SECRET_ACCESS_KEY=secret)
    log_file = open(os.path.join(tmp, "versitygw.log"), "wb")
    server = subprocess.Popen([gw, "--port", "127.0.0.1:%d" % port, "--health", "/health", "--quiet", "posix", root],
                              env=env, stdout=log_file, stderr=subprocess.STDOUT)
    endpoint = "http://127.0.0.1:%d" % port
    try:
        wait_until(lambda: urllib.request.urlopen(endpoint + "/health", timeout=5).read(), 60, "versitygw")
        s3 = pafs.S3FileSystem(access_key=key, secret_key=secret, endpoint_override=endpoint,
                               region="us-east-1", allow_bucket_creation=True)
        s3.create_dir("readers")
        java_props = ["--prop", "s3.endpoint=" + endpoint, "--prop", "s3.path-style-access=true",
                      "--prop", "s3.access-key-id=" + key, "--prop", "s3.secret-access-key=" + secret,
                      "--prop", "client.region=us-east-1"]
        py_props = ["--prop", "s3.endpoint=" + endpoint, "--prop", "s3.access-key-id=" + key,
                    "--prop", "s3.secret-access-key=" + secret, "--prop", "s3.region=us-east-1"]
        fx = make_fixture(tmp, "--warehouse", "s3://readers/wh", *java_props)
        check(meta(fx, "all_types").startswith("s3://readers/wh/"), "fixture on S3: " + meta(fx, "all_types"))
        exp = expected(locations(fx))
        for name in ("all_types", "with_deletes", "pos_deletes", "nested", "partitioned"):
            _, out, _ = read_java("--metadata-file", meta(fx, name), *java_props)
            check_text("java s3 " + name, out, exp[name])
        for name in ("all_types", "pos_deletes", "nested"):
            _, out, _ = read_py("--metadata-file", meta(fx, name), *py_props)
            check_text("pyiceberg s3 " + name, out, exp[name])
        read_py("--metadata-file", meta(fx, "with_deletes"), *py_props, want_rc=3)
        log("ok   pyiceberg s3 refuses with_deletes")
        rc, out, err = run([PY, READ_DUCKDB_PY, "--metadata-file", meta(fx, "with_deletes"), *java_props], want_rc=None)
        if rc == 4:
            log("skip duckdb s3 (unavailable): " + err.strip().splitlines()[0])
        else:
            check(rc == 0, "read_duckdb.py s3 failed (%d): %s" % (rc, err))
            check_text("duckdb s3 with_deletes", out, exp["with_deletes"])
            for name in ("all_types", "nested"):
                _, out, _ = run([PY, READ_DUCKDB_PY, "--metadata-file", meta(fx, name), *java_props])
                check_text("duckdb s3 " + name, out, exp[name])
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()


# ------------------------------------------------------------------ duckdb


def test_duckdb(tmp: str) -> None:
    fx = make_fixture(tmp)
    exp = expected(locations(fx))
    rc, out, err = run([PY, READ_DUCKDB_PY, "--metadata-file", meta(fx, "pos_deletes")], want_rc=None)
    if rc == 4:
        raise Skip("DuckDB iceberg extension unavailable: " + err.strip())
    if rc != 0:
        raise Failure("read_duckdb.py failed (%d): %s" % (rc, err))
    for name in ("all_types", "with_deletes", "pos_deletes", "nested", "partitioned"):
        _, out, _ = run([PY, READ_DUCKDB_PY, "--metadata-file", meta(fx, name)])
        check_text("duckdb " + name, out, exp[name])
    snap1 = str(fx["tables"]["with_deletes"]["snapshot-ids"][0])
    _, out, _ = run([PY, READ_DUCKDB_PY, "--metadata-file", meta(fx, "with_deletes"), "--snapshot-id", snap1])
    check_text("duckdb with_deletes --snapshot-id first", out, exp["with_deletes@1"])
    _, jout, _ = read_java("--metadata-file", meta(fx, "floats"))
    _, dout, _ = run([PY, READ_DUCKDB_PY, "--metadata-file", meta(fx, "floats")])
    check_text("floats: duckdb == java", dout, jout)


PARTS = {"fixture": test_fixture, "jdbc": test_jdbc, "rest": test_rest, "s3": test_s3, "duckdb": test_duckdb}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in PARTS:
        print(__doc__, file=sys.stderr)
        return 2
    part = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="pg2i-readers-%s-" % part)
    try:
        PARTS[part](tmp)
    except Skip as e:
        print("SKIP readers %s: %s" % (part, e), flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return SKIP
    except Failure as e:
        print("FAIL readers %s: %s" % (part, e), flush=True)
        print("%d passed, 1 failed" % checks)
        print("(temp dir kept: %s)" % tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, 0 failed" % checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
