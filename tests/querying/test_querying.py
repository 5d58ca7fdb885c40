#!/usr/bin/env python3
"""Runs the snippets of docs/querying.md against tables the real pg2iceberg binary wrote.

For one configuration (`embedded`: SQL catalog in PostgreSQL, local warehouse; `rest`: the
Iceberg REST catalog server on versitygw S3) it starts the servers, creates two tables
(`events` copied by the initial snapshot only, `orders` with streamed inserts, updates and
deletes, so merge-on-read position deletes), runs `pg2iceberg run`, waits with
`pg2iceberg status --wait`, stops it with SIGTERM, and then, for every engine:

  1. the doc's snippet, its placeholders filled with this run's values, must equal what
     `pg2iceberg catalog-info --engine X` prints (Spark and Trino: this check only, neither
     engine is installed here);
  2. the snippet is run: DuckDB 1.5.5 (.deps/duckdb; `INSTALL/LOAD iceberg` replaced by loads
     by path, as DuckDB cannot download extensions here), PyIceberg 0.12 (the venv) and Iceberg
     Java (a JDK 17 single-file program on .deps/java/lib), and the rows it reads must equal
     `SELECT ... FROM orders` in PostgreSQL (PyIceberg also reads `events`).

usage: test_querying.py embedded|rest --binary PATH [--keep]

Environment (ctest sets it from PG2I_TEST_ENV): PG2I_SOURCE_DIR, PG2I_PG_BINDIR,
PG2I_JAVA_LIB_DIR, PG2I_VERSITYGW, PG2I_DUCKDB_PATH; all default to paths in the repository.
Exit codes: 0 pass, 1 fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import difflib
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("PG2I_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
PG_BINDIR = os.environ.get("PG2I_PG_BINDIR") or "/usr/lib/postgresql/15/bin"
JAVA_LIB = os.environ.get("PG2I_JAVA_LIB_DIR") or os.path.join(SOURCE, ".deps", "java", "lib")
VERSITYGW = os.environ.get("PG2I_VERSITYGW") or os.path.join(SOURCE, ".deps", "bin", "versitygw")
DOC = os.path.join(SOURCE, "docs", "querying.md")
sys.path.insert(0, os.path.join(SOURCE, "tests", "conformance"))   # components: the servers
sys.path.insert(0, os.path.join(SOURCE, "tools", "python"))        # read_duckdb: loads by path

import components  # noqa: E402
import read_duckdb  # noqa: E402  (puts DuckDB 1.5.5 from .deps/duckdb first on sys.path)

ENGINES = ("duckdb", "pyiceberg", "java", "spark", "trino")
BUCKET, PREFIX = "lake", "warehouse"
SLOT_TIMEOUT = 60
FAKE_PASSWORD = "unused-with-trust-auth"

SETUP_SQL = """
CREATE TABLE public.orders (
  id bigint PRIMARY KEY,
  customer text,
  amount numeric(10,2),
  paid boolean,
  created_at timestamptz,
  ship_date date,
  score double precision
);
CREATE TABLE public.events (id integer PRIMARY KEY, kind text NOT NULL);
INSERT INTO public.events SELECT g, 'kind-' || g FROM generate_series(1, 7) g;
INSERT INTO public.orders SELECT g, 'customer-' || g, g * 1.25, g % 2 = 0,
  timestamptz '2025-01-01 10:00:00.123456+00' + g * interval '1 hour 1 second',
  date '2025-01-15' + g, g * 0.5 FROM generate_series(1, 10) g;
"""
# Streamed after `run` started: inserts, then (in a later commit to Iceberg) updates and
# deletes, so the table carries position deletes of rows in older data files.
STREAM_SQL_1 = """
INSERT INTO public.orders SELECT g, 'customer-' || g, g * 1.25, g % 3 = 0,
  timestamptz '2025-02-01 00:00:00+00' + g * interval '1 day', date '2025-03-01' + g, g / 4.0
  FROM generate_series(11, 40) g;
INSERT INTO public.orders VALUES (41, NULL, NULL, NULL, NULL, NULL, NULL);
"""
STREAM_SQL_2 = """
UPDATE public.orders SET amount = amount * 2, customer = 'O''Brien, "Jr." \\ co' WHERE id <= 4;
UPDATE public.orders SET paid = NOT paid, score = -score WHERE id BETWEEN 12 AND 14;
UPDATE public.orders SET id = 1000 WHERE id = 20;
DELETE FROM public.orders WHERE id IN (5, 15, 25, 35);
"""
ORDERS_QUERY = ("SELECT id, customer, amount, paid, created_at, ship_date, score "
                "FROM public.orders ORDER BY id")
EVENTS_QUERY = "SELECT id, kind FROM public.events ORDER BY id"
# How each column of `orders` is read back from the Java snippet's tab-separated output.
JAVA_PARSERS: Dict[str, List[Callable[[str], object]]] = {
    "orders": [int, str, decimal.Decimal, lambda s: s == "true", dt.datetime.fromisoformat,
               dt.date.fromisoformat, float],
    "events": [int, str],
}


class Failure(Exception):
    pass


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------ the doc's snippets


def doc_snippets(path: str) -> Dict[str, str]:
    """`<!-- snippet: NAME -->` followed by a fenced block: NAME -> the block's text."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = {}
    for m in re.finditer(r"<!-- snippet: ([a-z0-9-]+) -->\s*\n```[a-z]*\n(.*?)^```", text, re.S | re.M):
        if m.group(1) in found:
            raise Failure("%s: snippet %s appears twice" % (path, m.group(1)))
        found[m.group(1)] = m.group(2)
    return found


def fill(snippet: str, values: Dict[str, str]) -> str:
    for placeholder, value in values.items():
        snippet = snippet.replace(placeholder, value)
    return snippet


def check_equal(what: str, want: str, got: str) -> None:
    if want != got:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            "docs/querying.md", "catalog-info"))
        raise Failure("%s: the doc's snippet differs from `pg2iceberg catalog-info`:\n%s" % (what, diff))


# ------------------------------------------------------------------ canonical rows


def canonical(value: object) -> str:
    """One spelling per value, whatever the engine's Python or Java type for it."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def canonical_rows(rows) -> List[tuple]:
    return sorted((tuple(canonical(v) for v in row) for row in rows), key=lambda r: int(r[0]))


def compare_rows(what: str, want: List[tuple], got: List[tuple]) -> None:
    if want == got:
        return
    w = ["\t".join(r) + "\n" for r in want]
    g = ["\t".join(r) + "\n" for r in got]
    diff = "".join(difflib.unified_diff(w, g, "PostgreSQL", what))
    raise Failure("%s: rows differ from PostgreSQL (%d vs %d rows):\n%s" % (what, len(want), len(got), diff))


# ------------------------------------------------------------------ one configuration


class Setup:
    """The servers, the pg2iceberg configuration and the placeholder values of one kind."""

    def __init__(self, kind: str, root: str, binary: str):
        self.kind, self.root, self.binary = kind, root, binary
        self.pg = self.s3 = self.rest = None
        try:
            self.pg = components.Postgres(root, PG_BINDIR)
            if kind == "rest":
                self.s3 = components.S3Server(root, VERSITYGW)
                self.s3.create_bucket(BUCKET)
                self.rest = components.RestCatalog(root, JAVA_LIB, self.s3, BUCKET, PREFIX)
        except BaseException:
            self.stop()
            raise
        self.workdir = os.path.join(root, "work")
        os.makedirs(self.workdir)
        self.config = os.path.join(self.workdir, "config.yaml")
        with open(self.config, "w") as f:
            f.write(self.config_yaml())

    def config_yaml(self) -> str:
        lines = ["source:",
                 "  postgres: {host: 127.0.0.1, port: %d, database: postgres, user: postgres}" % self.pg.port,
                 "sink:", "  flush_interval: 1s", "  materializer_interval: 1s"]
        if self.rest:
            lines += ["  catalog_uri: " + self.rest.uri, "  warehouse: " + self.rest.warehouse,
                      "  s3_endpoint: " + self.s3.endpoint, "  s3_access_key: " + self.s3.access_key,
                      "  s3_secret_key: " + self.s3.secret_key, "  s3_region: " + components.REGION]
        lines += ['metrics_addr: ""', "tables:", "  - name: public.orders", "  - name: public.events"]
        return "\n".join(lines) + "\n"

    def placeholders(self) -> Dict[str, str]:
        """What the doc's placeholders stand for in this run (all but the secrets)."""
        if self.rest:
            endpoint = self.s3.endpoint
            return {"<catalog-uri>": self.rest.uri, "<warehouse>": self.rest.warehouse,
                    "<s3-endpoint>": endpoint, "<s3-host-port>": endpoint.split("://", 1)[1],
                    "<s3-access-key>": self.s3.access_key}
        return {"<host>": "127.0.0.1", "<port>": str(self.pg.port), "<database>": "postgres",
                "<user>": "postgres", "<warehouse>": "file://" + os.path.join(self.workdir, "warehouse"),
                "<metadata-location>": self.metadata_location("orders")}

    def secrets(self) -> Dict[str, str]:
        """Filled in only to run a snippet: catalog-info never prints them."""
        if self.rest:
            return {"<s3-secret-key>": self.s3.secret_key}
        return {"<password>": FAKE_PASSWORD}

    def metadata_location(self, table: str) -> str:
        return self.pg.query("SELECT metadata_location FROM iceberg.iceberg_tables WHERE catalog_name = "
                             "'pg2iceberg' AND table_namespace = 'default' AND table_name = '%s'" % table)

    def pg2iceberg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run([self.binary, "--config", self.config, *args], capture_output=True, text=True,
                           cwd=self.workdir, timeout=300, env=components_env())
        if check and p.returncode != 0:
            raise Failure("pg2iceberg %s exited with %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
        return p

    def replicate(self) -> None:
        self.pg.query(SETUP_SQL)
        run = components.Process([self.binary, "--config", self.config, "run"],
                                 os.path.join(self.workdir, "run.log"), env=components_env(), cwd=self.workdir)
        try:
            components.wait_until("the replication slot", SLOT_TIMEOUT, lambda: self.pg.query(
                "SELECT count(*) FROM pg_replication_slots WHERE active") == "1", run)
            for sql in (STREAM_SQL_1, STREAM_SQL_2):
                self.pg.query(sql)
                self.pg2iceberg("status", "--wait", "--timeout", "120s")
        finally:
            rc = run.stop(signal.SIGTERM, 60)
        if rc != 0:
            raise Failure("pg2iceberg run exited with %s after SIGTERM; run.log ends with:\n%s"
                          % (rc, components.tail(run.log_path)))

    def expected(self, query: str) -> List[tuple]:
        import psycopg2  # the venv's; the server runs with TimeZone=UTC
        con = psycopg2.connect(host="127.0.0.1", port=self.pg.port, user="postgres", dbname="postgres")
        try:
            with con.cursor() as cur:
                cur.execute(query)
                return canonical_rows(cur.fetchall())
        finally:
            con.close()

    def stop(self) -> None:
        for c in (self.rest, self.s3, self.pg):
            if c is not None:
                c.stop()


def components_env() -> Dict[str, str]:
    """The environment without settings that would override the test's config file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG2ICEBERG_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


# ------------------------------------------------------------------ running snippets


def run_duckdb(sql: str, on_s3: bool) -> List[tuple]:
    """Runs the snippet's statements in order; the last one's rows are the result."""
    if "INSTALL iceberg;\nLOAD iceberg;\n" not in sql:
        raise Failure("duckdb: the snippet does not start with INSTALL iceberg; LOAD iceberg;")
    sql = sql.replace("INSTALL iceberg;\nLOAD iceberg;\n", "").replace("INSTALL httpfs;\nLOAD httpfs;\n", "")
    try:
        con = read_duckdb.connect(os.environ.get("PG2I_DUCKDB_EXTENSION_DIR"), on_s3)
        result = None
        for statement in (s for s in sql.split(";\n") if s.strip()):
            result = con.execute(statement)
        table = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.fetch_arrow_table()
    except Exception as e:  # noqa: BLE001 - DuckDB's errors, read_duckdb.Unavailable
        raise Failure("duckdb: %s: %s" % (type(e).__name__, e)) from None
    return canonical_rows(tuple(r.values()) for r in table.to_pylist())


def run_pyiceberg(code: str, scratch: str) -> subprocess.CompletedProcess:
    """Runs the snippet as a script, then pickles the rows it scanned for the comparison."""
    out = os.path.join(scratch, "pyiceberg-rows.pickle")
    script = os.path.join(scratch, "pyiceberg_snippet.py")
    with open(script, "w") as f:
        f.write(code + "\nimport pickle\nwith open(%r, 'wb') as _f:\n"
                "    pickle.dump([tuple(r.values()) for r in table.scan().to_arrow().to_pylist()], _f)\n" % out)
    return subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=300,
                          env=components_env(), cwd=scratch)


def pyiceberg_rows(scratch: str) -> List[tuple]:
    with open(os.path.join(scratch, "pyiceberg-rows.pickle"), "rb") as f:
        return canonical_rows(pickle.load(f))


def run_java(code: str, scratch: str, table: str) -> List[tuple]:
    path = os.path.join(scratch, "QueryTable.java")
    with open(path, "w") as f:
        f.write(code)
    p = subprocess.run([components.java_path(), "-cp", os.path.join(JAVA_LIB, "*"), path], capture_output=True,
                       text=True, timeout=300, env=components_env(), cwd=scratch)
    if p.returncode != 0:
        raise Failure("java: QueryTable.java exited with %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    parsers = JAVA_PARSERS[table]
    rows = []
    for line in p.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) != len(parsers):
            raise Failure("java: a line with %d fields, expected %d: %r" % (len(fields), len(parsers), line))
        rows.append(tuple(None if v == "null" else parse(v) for parse, v in zip(parsers, fields)))
    return canonical_rows(rows)


# ------------------------------------------------------------------ the checks


def engine_snippet(setup: Setup, docs: Dict[str, str], engine: str, table: str = "") -> str:
    """The doc's snippet for `engine`, checked against catalog-info (secrets still placeholders)."""
    name = "%s-%s" % (engine, setup.kind)
    if name not in docs:
        raise Failure("docs/querying.md has no `<!-- snippet: %s -->` block" % name)
    want = fill(docs[name], setup.placeholders())
    if table:
        want = want.replace("default.orders", "default." + table).replace('"orders"', '"%s"' % table)
    args = ["catalog-info", "--engine", engine] + (["--table", table] if table else [])
    check_equal(name + (" --table " + table if table else ""), want, setup.pg2iceberg(*args).stdout)
    return want


def check_engines(setup: Setup, docs: Dict[str, str], scratch: str) -> None:
    orders = setup.expected(ORDERS_QUERY)
    events = setup.expected(EVENTS_QUERY)
    secrets = setup.secrets()
    on_s3 = setup.kind == "rest"

    for engine in ("spark", "trino"):
        engine_snippet(setup, docs, engine)
        log("ok   %s: doc snippet equals catalog-info (not run: %s is not installed here)" % (engine, engine))

    sql = engine_snippet(setup, docs, "duckdb")
    compare_rows("duckdb", orders, run_duckdb(fill(sql, secrets), on_s3))
    log("ok   duckdb: doc snippet equals catalog-info; read %d rows of orders, position deletes applied"
        % len(orders))

    code = engine_snippet(setup, docs, "java")
    compare_rows("java", orders, run_java(fill(code, secrets), scratch, "orders"))
    log("ok   java: doc snippet equals catalog-info; read %d rows of orders, position deletes applied"
        % len(orders))

    code = engine_snippet(setup, docs, "pyiceberg")
    p = run_pyiceberg(fill(code, secrets), scratch)
    if p.returncode != 0:
        raise Failure("pyiceberg: reading orders exited with %d:\n%s" % (p.returncode, p.stderr[-3000:]))
    compare_rows("pyiceberg", orders, pyiceberg_rows(scratch))
    log("ok   pyiceberg: doc snippet equals catalog-info; read %d rows of orders, position deletes applied"
        % len(orders))
    code = engine_snippet(setup, docs, "pyiceberg", "events")
    p = run_pyiceberg(fill(code, secrets), scratch)
    if p.returncode != 0:
        raise Failure("pyiceberg: reading events (initial copy only) exited with %d:\n%s"
                      % (p.returncode, p.stderr[-3000:]))
    compare_rows("pyiceberg", events, pyiceberg_rows(scratch))
    log("ok   pyiceberg: read %d rows of events (initial copy only)" % len(events))


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=("embedded", "rest"))
    ap.add_argument("--binary", required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, config, warehouse)")
    a = ap.parse_args(argv)
    start = time.monotonic()
    root = tempfile.mkdtemp(prefix="pg2i-querying-")
    os.chmod(root, 0o711)   # the PostgreSQL server user must traverse it
    setup: Optional[Setup] = None
    try:
        docs = doc_snippets(DOC)
        setup = Setup(a.kind, root, os.path.abspath(a.binary))
        setup.replicate()
        log("replicated orders (initial copy, streamed inserts, updates, deletes) and events (initial "
            "copy) with pg2iceberg run (%.1fs)" % (time.monotonic() - start))
        check_engines(setup, docs, setup.workdir)
    except (Failure, components.ComponentError, subprocess.SubprocessError, OSError) as e:
        log("FAIL %s: %s" % (a.kind, e))
        return 1
    finally:
        if setup is not None:
            setup.stop()
        if a.keep:
            log("kept %s" % root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    log("PASS %s (%.1fs)" % (a.kind, time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
