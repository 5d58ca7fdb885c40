#!/usr/bin/env python3
"""Conformance runner: replays the cases in ../shared/cases against the real pg2iceberg binary,
a real PostgreSQL 15 and (configuration `rest`) the Iceberg REST catalog server on versitygw
S3, reads each table back with Iceberg Java (tools/ ReadTable) and compares the case's query
result with its reference. docs/conformance.md describes it.

usage: run_cases.py [--config embedded|rest|both] [--case SUBSTRING] [--keep] [--binary PATH]
                    [--delete-mode equality|position|dv]
       run_cases.py --self-test

--delete-mode sets sink.delete_mode (default: the product's, position). In position and dv
mode (configuration embedded) each table is also read with PyIceberg and DuckDB, which must
print exactly the rows Iceberg Java prints; dv mode also checks that the tables are format v3
and that some case wrote deletion vectors.

Environment (ctest sets it from PG2I_TEST_ENV): PG2I_CASES_DIR, PG2I_BINARY, PG2I_SOURCE_DIR,
PG2I_PG_BINDIR, PG2I_JAVA_LIB_DIR, PG2I_VERSITYGW, PG2I_DUCKDB_PATH; all have defaults relative
to the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
SOURCE = os.environ.get("PG2I_SOURCE_DIR") or os.path.abspath(os.path.join(HERE, "..", ".."))
DUCKDB_PATH = os.environ.get("PG2I_DUCKDB_PATH") or os.path.join(SOURCE, ".deps", "duckdb")
sys.path.insert(0, DUCKDB_PATH)   # DuckDB 1.5.5 (the venv's own duckdb is another version)

import case_format  # noqa: E402
import clickhouse_sql  # noqa: E402
import components  # noqa: E402
import values  # noqa: E402

CASES_DIR = os.environ.get("PG2I_CASES_DIR") or os.path.join(SOURCE, "..", "shared", "cases")
PG_BINDIR = os.environ.get("PG2I_PG_BINDIR") or "/usr/lib/postgresql/15/bin"
JAVA_LIB = os.environ.get("PG2I_JAVA_LIB_DIR") or os.path.join(SOURCE, ".deps", "java", "lib")
VERSITYGW = os.environ.get("PG2I_VERSITYGW") or os.path.join(SOURCE, ".deps", "bin", "versitygw")
READER_JAR = os.path.join(SOURCE, "tools", "java", "target", "pg2iceberg-test-tools.jar")
READER_MAIN = "dev.pg2iceberg.tools.ReadTable"
PY_READERS = {"PyIceberg": os.path.join(SOURCE, "tools", "python", "read_table.py"),
              "DuckDB": os.path.join(SOURCE, "tools", "python", "read_duckdb.py")}
DELETE_MODE: Optional[str] = None   # --delete-mode
SOURCE_MODE = "logical"             # --source-mode
DV_TOTAL = 0                        # deletion vectors the cases wrote (--delete-mode dv)
S3_BUCKET, S3_PREFIX = "conformance", "warehouse"
SLOT_TIMEOUT = 120        # seconds for `run` to connect to its slot
STOP_TIMEOUT = 60         # seconds for `run` to exit after SIGTERM
SLEEP_SLACK = 30          # a SLEEP N step waits with `status --wait --timeout N+30s`

# Settings from the environment would override the per-case config (CONFIG.md, Environment).
FOREIGN_ENV = {"POSTGRES_URL", "TABLES", "MODE", "SLOT_NAME", "PUBLICATION_NAME", "ICEBERG_CATALOG_URL",
               "WAREHOUSE", "NAMESPACE", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_REGION",
               "STATE_POSTGRES_URL", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER",
               "POSTGRES_PASSWORD"}


class CaseFailure(Exception):
    pass


class Interrupted(BaseException):
    pass


def product_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV and not k.startswith("PG2ICEBERG_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def check_binary(binary: str) -> Optional[str]:
    """None when the binary has the `run` and `status --wait` this runner drives, else why not."""
    if not os.access(binary, os.X_OK):
        return "pg2iceberg binary not found or not executable: %s (build it, or pass --binary / PG2I_BINARY)" % binary
    try:
        p = subprocess.run([binary, "--help"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "cannot run %s --help: %s" % (binary, e)
    text = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    m = re.search(r"^Subcommands:\s*$(.*)", text, re.M | re.S)
    listed = re.findall(r"^\s{1,8}([a-z][a-z0-9-]*)\b", m.group(1), re.M) if m else []
    missing = [c for c in ("run", "status") if c not in listed]
    if missing:
        return ("%s has no %s subcommand yet (its --help lists: %s); the conformance cases need "
                "`run --config F` and `status --config F --wait --timeout D`"
                % (binary, " / ".join("`%s`" % c for c in missing), ", ".join(listed) or "nothing"))
    p = subprocess.run([binary, "status", "--help"], capture_output=True, timeout=30)
    help_text = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    for flag in ("--wait", "--timeout"):
        if flag not in help_text:
            return "%s status has no %s flag yet (status --help: %s)" % (binary, flag, help_text.strip()[:300])
    return None


# ------------------------------------------------------------------ one configuration


class Configuration:
    """The servers of one configuration (embedded or rest) and how pg2iceberg and the reader
    reach the catalog."""

    def __init__(self, kind: str, root: str):
        self.kind, self.root = kind, root
        self.pg = self.s3 = self.rest = None
        try:
            self.pg = components.Postgres(root, PG_BINDIR)
            if kind == "rest":
                self.s3 = components.S3Server(root, VERSITYGW)
                self.s3.create_bucket(S3_BUCKET)
                self.rest = components.RestCatalog(root, JAVA_LIB, self.s3, S3_BUCKET, S3_PREFIX)
        except BaseException:
            self.stop()
            raise
        self.warehouse = self.rest.warehouse if self.rest else "file://" + os.path.join(root, "warehouse")

    def describe(self) -> str:
        if self.rest:
            return "PostgreSQL 127.0.0.1:%d, REST catalog %s, warehouse %s on versitygw %s" % (
                self.pg.port, self.rest.uri, self.warehouse, self.s3.endpoint)
        return "PostgreSQL 127.0.0.1:%d, SQL catalog (schema iceberg), warehouse %s" % (self.pg.port, self.warehouse)

    def sink(self) -> List[Tuple[str, object]]:
        mode = [("delete_mode", DELETE_MODE)] if DELETE_MODE else []
        if self.rest:
            return mode + [("catalog_uri", self.rest.uri), ("warehouse", self.warehouse),
                    ("s3_endpoint", self.s3.endpoint), ("s3_access_key", self.s3.access_key),
                    ("s3_secret_key", self.s3.secret_key), ("s3_region", components.REGION)]
        return mode + [("warehouse", self.warehouse)]

    def reader_args(self, table: str) -> List[str]:
        if self.rest:
            return ["--rest-uri", self.rest.uri, "--table", "default." + table,
                    "--prop", "s3.endpoint=" + self.s3.endpoint, "--prop", "s3.path-style-access=true",
                    "--prop", "s3.access-key-id=" + self.s3.access_key,
                    "--prop", "s3.secret-access-key=" + self.s3.secret_key,
                    "--prop", "client.region=" + components.REGION]
        return ["--jdbc-uri", "jdbc:postgresql://127.0.0.1:%d/postgres" % self.pg.port,
                "--jdbc-user", "postgres", "--jdbc-password", "unused", "--jdbc-schema", "iceberg",
                "--catalog-name", "pg2iceberg", "--warehouse", self.warehouse, "--table", "default." + table]

    def stop(self) -> None:
        for c in (self.rest, self.s3, self.pg):
            if c is not None:
                c.stop()


# ------------------------------------------------------------------ one case


class CaseRun:
    def __init__(self, case: case_format.Case, cfg: Configuration, binary: str, workdir: str, wait_timeout: float):
        self.case, self.cfg, self.binary, self.dir = case, cfg, binary, workdir
        self.wait_timeout = wait_timeout
        self.config_path = os.path.join(workdir, "config.yaml")
        self.run_log = os.path.join(workdir, "run.log")
        self.proc: Optional[components.Process] = None
        self.notes: List[str] = []

    def log_tail(self, lines: int = 15) -> str:
        text = components.tail(self.run_log, 6000).rstrip("\n").splitlines()[-lines:]
        return "\n".join(text)

    def psql(self, sql: str, what: str) -> None:
        p = self.cfg.pg.psql_capture(sql, check=False)
        if p.returncode != 0:
            raise CaseFailure("%s failed: %s" % (what, p.stderr.decode("utf-8", "replace").strip()[-800:]))

    def start(self) -> None:
        with open(self.config_path, "w") as f:
            f.write(case_format.make_config(self.case, self.cfg.pg.port, self.cfg.sink(), SOURCE_MODE))
        self.proc = components.Process([self.binary, "run", "--config", self.config_path], self.run_log,
                                       env=product_env(), cwd=self.dir)
        deadline = time.monotonic() + SLOT_TIMEOUT
        if SOURCE_MODE == "query":
            # Polling has started once the table's progress is in the coordinator.
            schema = self.case.coordinator_schema.replace('"', '""')
            while True:
                if not self.proc.alive():
                    raise CaseFailure("`pg2iceberg run` exited with %s before it polled" % self.proc.popen.returncode)
                found = self.cfg.pg.psql_capture(
                    "SELECT count(*) FROM \"%s\".pipeline_meta WHERE key LIKE 'query_cursor:%%'" % schema, check=False)
                if found.returncode == 0 and found.stdout.decode().strip().endswith("1"):
                    return
                if time.monotonic() > deadline:
                    raise CaseFailure("`pg2iceberg run` did not start polling in %ds" % SLOT_TIMEOUT)
                time.sleep(0.2)
        slot = self.case.slot.replace("'", "''")
        while True:
            if not self.proc.alive():
                raise CaseFailure("`pg2iceberg run` exited with %s before its slot was active"
                                  % self.proc.popen.returncode)
            if self.cfg.pg.query("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % slot) == "t":
                return
            if time.monotonic() > deadline:
                raise CaseFailure("slot %s not active %ds after `pg2iceberg run` started" % (self.case.slot, SLOT_TIMEOUT))
            time.sleep(0.2)

    def wait_caught_up(self, timeout: float, what: str) -> float:
        if not self.proc.alive():
            raise CaseFailure("`pg2iceberg run` exited with %s before %s" % (self.proc.popen.returncode, what))
        start = time.monotonic()
        timeout = int(math.ceil(timeout))
        argv = [self.binary, "status", "--config", self.config_path, "--wait", "--timeout", "%ds" % timeout]
        with open(os.path.join(self.dir, "status.log"), "ab") as log:
            log.write(("$ %s  # %s\n" % (" ".join(argv), what)).encode())
            log.flush()
            try:
                rc = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=product_env(), cwd=self.dir,
                                    timeout=timeout + 60).returncode
            except subprocess.TimeoutExpired:
                rc = "killed after %ds" % (timeout + 60)
        elapsed = time.monotonic() - start
        if rc != 0:
            raise CaseFailure("`status --wait` (%s) exited with %s after %.1fs; status.log ends with:\n%s"
                              % (what, rc, elapsed, components.tail(os.path.join(self.dir, "status.log"), 800).strip()))
        return elapsed

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        rc = self.proc.stop(signal.SIGTERM, STOP_TIMEOUT)
        self.proc = None
        return rc

    def read_table(self) -> Tuple[list, list, list]:
        """(schema columns [(name, type)], reader header, reader rows) via Iceberg Java."""
        base = [components.java_path(), "-cp", READER_JAR + os.pathsep + os.path.join(JAVA_LIB, "*"), READER_MAIN]
        args = self.cfg.reader_args(self.case.table)
        procs = {}
        for mode in ("describe", "rows"):
            out = open(os.path.join(self.dir, "reader-%s.out" % mode), "wb+")
            err = open(os.path.join(self.dir, "reader-%s.err" % mode), "wb+")
            extra = ["--describe"] if mode == "describe" else []
            procs[mode] = (subprocess.Popen(base + args + extra, stdout=out, stderr=err, stdin=subprocess.DEVNULL), out, err)
        texts = {}
        for mode, (p, out, err) in procs.items():
            try:
                rc = p.wait(timeout=300)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            out.seek(0)
            err.seek(0)
            texts[mode] = out.read().decode("utf-8")
            msg = err.read().decode("utf-8", "replace").strip()
            out.close()
            err.close()
            if rc != 0:
                raise CaseFailure("reading the table with Iceberg Java failed (exit %s): %s" % (rc, msg[-1200:]))
        d = json.loads(texts["describe"])
        columns = [(c["name"], c["type"]) for c in d["columns"]]
        header, rows = values.parse_reader_tsv(texts["rows"])
        if DELETE_MODE in (None, "position", "dv") and not self.cfg.rest:
            self.check_other_readers(texts["rows"])
        return columns, header, rows

    def check_other_readers(self, java_tsv: str) -> None:
        """PyIceberg and DuckDB must read exactly the rows Iceberg Java read (no _file column)."""
        def without_file(tsv: str) -> List[str]:
            lines = tsv.rstrip("\n").split("\n")
            header = lines[0].split("\t")
            drop = header.index("_file") if "_file" in header else None
            out = []
            for line in lines:
                cells = line.split("\t")
                if drop is not None and len(cells) == len(header):
                    del cells[drop]
                out.append("\t".join(cells))
            return out[:1] + sorted(out[1:])
        expected = without_file(java_tsv)
        location = self.cfg.pg.query("SELECT metadata_location FROM iceberg.iceberg_tables WHERE "
                                     "table_namespace = 'default' AND table_name = '%s'" % self.case.table)
        path = location[len("file://"):] if location.startswith("file://") else location
        if DELETE_MODE == "dv":
            # Deletion vectors need format v3; say how many this case wrote (the run fails if
            # no case wrote any: it would prove nothing about them).
            with open(path) as f:
                meta = json.load(f)
            if meta.get("format-version") != 3:
                raise CaseFailure("delete mode dv wrote a format v%s table" % meta.get("format-version"))
            dvs = sum(int(s.get("summary", {}).get("added-dvs", 0)) for s in meta.get("snapshots", []))
            global DV_TOTAL
            DV_TOTAL += dvs
            if dvs:
                self.notes.append("%d deletion vectors" % dvs)
        for name, script in PY_READERS.items():
            p = subprocess.run([sys.executable, script, "--metadata-file", path, "--no-file-column"],
                               capture_output=True, timeout=300, env=product_env())
            if p.returncode != 0:
                raise CaseFailure("reading the table with %s failed (exit %s): %s" % (
                    name, p.returncode, p.stderr.decode("utf-8", "replace").strip()[-800:]))
            got = without_file(p.stdout.decode("utf-8"))
            if got != expected:
                diff = [l for l in got if l not in expected][:3] + ["--"] + [l for l in expected if l not in got][:3]
                raise CaseFailure("%s reads other rows than Iceberg Java (%d vs %d lines); %s only / Java only:\n%s"
                                  % (name, len(got), len(expected), name, "\n".join(diff)))

    def run(self) -> None:
        case = self.case
        for step in case.setup_steps:
            self.psql(step.sql, "SETUP")
        if SOURCE_MODE == "query":
            self.psql(case_format.query_watermark_sql(case.table), "adding the watermark column")
        self.start()
        sleeps = 0
        for step in case.later_steps:
            if step.kind == "data":
                self.psql(step.sql, "DATA")
            else:
                sleeps += 1
                took = self.wait_caught_up(step.seconds + SLEEP_SLACK, "SLEEP %g" % step.seconds)
                if took > step.seconds:
                    self.notes.append("wait for SLEEP %g took %.1fs" % (step.seconds, took))
        self.wait_caught_up(self.wait_timeout, "the final wait")
        columns, header, rows = self.read_table()
        if SOURCE_MODE == "query":   # the runner's watermark column is not the case's
            drop = [i for i, (n, _) in enumerate(columns) if n == case_format.QUERY_WATERMARK]
            if drop:
                columns = [c for i, c in enumerate(columns) if i not in drop]
                hdrop = [i for i, n in enumerate(header) if n == case_format.QUERY_WATERMARK]
                header = [n for i, n in enumerate(header) if i not in hdrop]
                rows = [[v for i, v in enumerate(r) if i not in hdrop] for r in rows]
        rc = self.stop()
        mismatch = evaluate(case, columns, header, rows, self.dir)
        problems = []
        if rc != 0:
            problems.append("`pg2iceberg run` exited with %s after SIGTERM (expected 0)" % rc)
        if mismatch:
            problems.append("result differs from the reference\n" + mismatch)
        if problems:
            raise CaseFailure("; ".join(problems))


def evaluate(case: case_format.Case, columns, header, rows, scratch: str) -> Optional[str]:
    """Loads the reader's rows into DuckDB, runs the translated query, compares with the reference."""
    import duckdb
    con = duckdb.connect()
    try:
        prepare_duckdb(con)
        values.load_table(con, case.table, columns, header, rows, scratch)
        return run_and_compare(con, case)
    finally:
        con.close()


def prepare_duckdb(con) -> None:
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET default_null_order = 'nulls_last'")   # ClickHouse's default, both directions
    for m in clickhouse_sql.DUCKDB_MACROS:
        con.execute(m)


def run_and_compare(con, case: case_format.Case) -> Optional[str]:
    sql = clickhouse_sql.translate(case.query, case.table)
    try:
        names, got = values.run_query(con, sql)
    except Exception as e:  # noqa: BLE001 - DuckDB's errors are not one class
        return "the query failed in DuckDB: %s\n  translated query: %s" % (str(e).strip(), sql)
    ref = values.parse_reference(case.reference)
    keys = clickhouse_sql.order_by_keys(case.query)
    if keys is None and re.search(r"\bORDER\s+BY\b", case.query, re.I) is None:
        key_idx: Optional[List[int]] = []           # no ORDER BY: compare as a multiset
    elif keys is None:
        key_idx = None                              # ORDER BY expressions: strict order
    else:
        aliases = [clickhouse_sql.item_alias(i) for i in clickhouse_sql.select_items(case.query)]
        key_idx = []
        for k in keys:
            if k.startswith("#"):
                key_idx.append(int(k[1:]) - 1)
            elif k in aliases:
                key_idx.append(aliases.index(k))
            elif k in names:
                key_idx.append(names.index(k))
            else:
                key_idx = None                      # ordered by a column not selected: strict
                break
    return values.compare_results(ref.rows, got, clickhouse_sql.path_columns(case.query), key_idx)


# ------------------------------------------------------------------ main

TEMP_PREFIX = "pg2i-conformance-"
OWNER_FILE = ".pg2i-owner"


def sweep_orphaned_dirs() -> None:
    """Removes temp dirs of runs that were killed outright (their owner process is gone)."""
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        owner = os.path.join(tmp, name, OWNER_FILE)
        if not name.startswith(TEMP_PREFIX) or not os.path.isfile(owner):
            continue
        try:
            with open(owner) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if not os.path.exists("/proc/%d" % pid):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)


# Cases whose reference expects behaviour pg2iceberg does not have yet, with the issue that
# brings it. Such a case failing is reported (XFAIL) but does not fail the run; such a case
# passing fails the run (XPASS), so the entry is removed when the fix lands.
EXPECTED_FAILURES: Dict[str, str] = {}


def run_configuration(kind: str, cases: List[str], binary: str, root: str, wait_timeout: float,
                      keep: bool) -> Tuple[int, int]:
    print("== configuration %s" % kind, flush=True)
    passed = failed = expected = 0
    cfg_root = os.path.join(root, kind)
    os.makedirs(cfg_root)
    os.chmod(cfg_root, 0o711)   # the PostgreSQL server user must traverse it
    try:
        cfg = Configuration(kind, cfg_root)
    except components.ComponentError as e:
        print("FAIL %s setup: %s" % (kind, e), flush=True)
        print("%d passed, %d failed" % (0, len(cases)), flush=True)
        return 0, len(cases)
    try:
        print("   %s" % cfg.describe(), flush=True)
        for name in cases:
            start = time.monotonic()
            workdir = os.path.join(cfg_root, "cases", name)
            os.makedirs(workdir)
            run = None
            try:
                case = case_format.load_case(CASES_DIR, name)
                run = CaseRun(case, cfg, binary, workdir, wait_timeout)
                run.run()
                note = ("; " + "; ".join(run.notes)) if run.notes else ""
                if name in EXPECTED_FAILURES:
                    failed += 1
                    print("XPASS %s (%.1fs%s): listed as an expected failure (%s) but passes; "
                          "remove it from EXPECTED_FAILURES in %s" %
                          (name, time.monotonic() - start, note, EXPECTED_FAILURES[name], __file__), flush=True)
                    continue
                print("PASS %s (%.1fs%s)" % (name, time.monotonic() - start, note), flush=True)
                passed += 1
            except (CaseFailure, case_format.CaseError, clickhouse_sql.TranslateError, components.ComponentError,
                    ValueError, subprocess.SubprocessError, OSError) as e:
                msg = str(e).replace("\n", "\n    ")
                if name in EXPECTED_FAILURES:
                    expected += 1
                    print("XFAIL %s (expected: %s): %s" % (name, EXPECTED_FAILURES[name], msg.splitlines()[0]),
                          flush=True)
                    continue
                failed += 1
                if run is not None and run.notes:
                    msg += "\n    (%s)" % "; ".join(run.notes)
                print("FAIL %s: %s" % (name, msg), flush=True)
                if run is not None and run.log_tail().strip():
                    where = run.run_log if keep else "--keep keeps it"
                    print("    run.log (%s) ends with:\n      %s" % (where, run.log_tail().replace("\n", "\n      ")),
                          flush=True)
            finally:
                if run is not None:
                    run.stop()
    finally:
        cfg.stop()
    if DELETE_MODE == "dv" and not cfg.rest and passed and DV_TOTAL == 0:
        failed += 1
        print("FAIL delete mode dv: no case wrote a deletion vector", flush=True)
    # Expected failures are reported as skipped: known, listed, and not counted against the run.
    print("%d passed, %d failed, %d skipped" % (passed, failed, expected), flush=True)
    return passed, failed


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", choices=("embedded", "rest", "both"), default="both")
    ap.add_argument("--case", action="append", default=[], help="run only cases whose name contains this (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs, warehouse)")
    ap.add_argument("--binary", default=os.environ.get("PG2I_BINARY"))
    ap.add_argument("--cases-dir", default=None, help="default: $PG2I_CASES_DIR or <repo>/../shared/cases")
    ap.add_argument("--wait-timeout", type=float, default=120, help="seconds for the final status --wait")
    ap.add_argument("--self-test", action="store_true", help="test the runner itself (no binary, no servers)")
    ap.add_argument("--source-mode", choices=("logical", "query"), default="logical",
                    help="source.mode; query runs the cases without deletes, truncations or DDL, "
                         "with a watermark column the runner adds and keeps on every change")
    ap.add_argument("--delete-mode", choices=("equality", "position", "dv"), default=None,
                    help="sink.delete_mode (default: the product's, position, which is also read with "
                         "PyIceberg and DuckDB in configuration embedded)")
    args = ap.parse_args(argv)
    global CASES_DIR, DELETE_MODE, SOURCE_MODE
    DELETE_MODE = args.delete_mode
    SOURCE_MODE = args.source_mode
    CASES_DIR = os.path.abspath(args.cases_dir or CASES_DIR)

    try:
        import duckdb  # noqa: F401
    except ImportError as e:
        print("error: cannot import DuckDB (%s); it is expected in %s (scripts/bootstrap.sh installs it, "
              "or set PG2I_DUCKDB_PATH)" % (e, DUCKDB_PATH), flush=True)
        return 1
    if args.self_test:
        import self_test
        return self_test.main(CASES_DIR)

    if not os.path.isdir(CASES_DIR):
        print("error: no cases directory at %s (set PG2I_CASES_DIR or --cases-dir)" % CASES_DIR)
        return 2
    names = [n for n in case_format.list_cases(CASES_DIR) if not args.case or any(s in n for s in args.case)]
    if not names:
        print("error: no case in %s matches %s" % (CASES_DIR, args.case))
        return 2
    if SOURCE_MODE == "query":
        kept = []
        for n in names:
            why = case_format.query_mode_skip(case_format.load_case(CASES_DIR, n))
            if why:
                print("not in query mode: %s (%s)" % (n, why), flush=True)
            else:
                kept.append(n)
        names = kept
        print("query mode: %d cases" % len(names), flush=True)
    kinds = ["embedded", "rest"] if args.config == "both" else [args.config]
    binary = os.path.abspath(args.binary) if args.binary else None
    problem = check_binary(binary) if binary else "no pg2iceberg binary given (--binary PATH or PG2I_BINARY)"
    if problem is None and not os.path.exists(READER_JAR):
        problem = "the Iceberg Java reader is not built: %s (mvn -q -B -f tools/java/pom.xml package)" % READER_JAR
    if problem:
        print("error: " + problem, flush=True)
        for kind in kinds:
            print("== configuration %s: not run\n%d passed, %d failed" % (kind, 0, len(names)), flush=True)
        return 1

    def interrupted(signum, _frame):
        raise Interrupted("signal %d" % signum)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    sweep_orphaned_dirs()
    root = tempfile.mkdtemp(prefix=TEMP_PREFIX)
    os.chmod(root, 0o711)
    with open(os.path.join(root, OWNER_FILE), "w") as f:
        f.write(str(os.getpid()))
    failed_total = 0
    try:
        for kind in kinds:
            _, failed = run_configuration(kind, names, binary, root, args.wait_timeout, args.keep)
            failed_total += failed
    except Interrupted as e:
        print("interrupted (%s); servers stopped" % e, flush=True)
        return 130
    finally:
        if args.keep:
            os.unlink(os.path.join(root, OWNER_FILE))
            print("kept %s" % root, flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if failed_total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
