"""`run_cases.py --self-test`: the runner's own pieces, without the pg2iceberg binary or any
server. Case-file splitting and names, config generation, the comparison rules, loading the
reader's TSV into DuckDB, and the ClickHouse-to-DuckDB translation of every case's query, run in
DuckDB over a table synthesized from the case's reference (the result must match the reference,
and a mutated table must not)."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import re
import stat
import tempfile
import traceback
from typing import List, Optional, Tuple

import case_format
import clickhouse_sql
import values

failures: List[str] = []
checks = 0


def check(cond: bool, what: str) -> None:
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL " + what, flush=True)


def section(name: str) -> None:
    print("-- " + name, flush=True)


def new_duckdb():
    import duckdb
    import run_cases
    con = duckdb.connect()
    run_cases.prepare_duckdb(con)
    return con


# ------------------------------------------------------------------ case files


def test_splitting() -> None:
    section("SQL step splitting")
    text = """-- a header comment
-- spanning lines

-- SETUP --
CREATE TABLE public."MyTable" (id int PRIMARY KEY, s text DEFAULT '-- DATA --');
-- not a marker: -- DATA -- inside a comment line
CREATE PUBLICATION my_pub FOR TABLE "MyTable";
-- DATA --
INSERT INTO "MyTable" VALUES (1, 'x');
-- SLEEP 2.5 --
--   DATA   --
-- only a comment
-- SLEEP 3 --
UPDATE "MyTable" SET s = 'y';
"""
    steps = case_format.split_steps(text)
    kinds = [(s.kind, s.seconds) if s.kind == "sleep" else s.kind for s in steps]
    check(kinds == ["setup", "data", ("sleep", 2.5), ("sleep", 3.0), "data"], "steps of the sample: %r" % kinds)
    check("CREATE PUBLICATION" in steps[0].sql and "-- not a marker" in steps[0].sql, "SETUP keeps its lines")
    check(steps[-1].sql.strip() == "UPDATE \"MyTable\" SET s = 'y';", "SQL after SLEEP continues as DATA")
    check(case_format.replicated_table(steps) == "MyTable", "quoted, schema-qualified table name")
    check(case_format.setup_publication(steps) == "my_pub", "publication created by SETUP")
    check(case_format.replicated_table(case_format.split_steps(
        "-- SETUP --\n-- CREATE TABLE commented (x int);\ncreate unlogged table IF NOT EXISTS Foo(x int);")) == "foo",
        "commented-out CREATE TABLE skipped, unquoted name folded")
    for bad, why in (("SELECT 1;\n-- SETUP --\nCREATE TABLE t (x int);", "SQL before the first marker"),
                     ("-- DATA --\nSELECT 1;\n-- SETUP --\nCREATE TABLE t(x int);", "SETUP after DATA")):
        try:
            case_format.split_steps(bad)
            check(False, "rejects " + why)
        except case_format.CaseError:
            check(True, "rejects " + why)


def test_case_files(cases_dir: str) -> List[case_format.Case]:
    section("case files in %s" % cases_dir)
    cases = []
    for name in case_format.list_cases(cases_dir):
        try:
            c = case_format.load_case(cases_dir, name)
        except Exception as e:  # noqa: BLE001
            check(False, "%s: cannot load: %s" % (name, e))
            continue
        cases.append(c)
        data = [s for s in c.steps if s.kind == "data"]
        check(len(data) >= 1, "%s: has a DATA step" % name)
        check(re.search(r"\b%s\b" % re.escape(c.table), c.query) is not None, "%s: query names table %s" % (name, c.table))
        check(c.slot == "pg2iceberg_slot_" + c.table and c.coordinator_schema == "_pg2iceberg_" + c.table,
              "%s: derived names" % name)
        for s in c.steps:
            if s.kind != "sleep":
                check(not case_format.MARKER_RE.search(s.sql), "%s: no marker left inside a step" % name)
        cfg = case_format.make_config(c, 5432, [("warehouse", "file:///tmp/wh")])
        check_config_text(name, c, cfg)
    check(len(cases) >= 1, "found cases")
    print("   %d cases loaded" % len(cases), flush=True)
    return cases


def check_config_text(name: str, c: case_format.Case, cfg: str) -> None:
    lines = cfg.splitlines()
    check(lines[0] == "tables:" and lines[1] == '  - name: "public.%s"' % c.table, "%s: config tables entry" % name)
    extra = [l for l in lines[2:] if l.startswith("    ")]
    want = [l for l in case_format.reindent(c.extra_yaml, 4) if l]
    check(extra[: len(want)] == want, "%s: extra YAML under the table entry: %r" % (name, extra))
    for key in ('    publication_name: "%s"' % c.publication, '    slot_name: "%s"' % c.slot,
                '  coordinator_schema: "%s"' % c.coordinator_schema, "  namespace: default",
                "  flush_interval: 1s", "  materializer_interval: 1s", 'metrics_addr: ""',
                '  warehouse: "file:///tmp/wh"', "    port: 5432"):
        check(key in lines, "%s: config has %r" % (name, key))


def test_reindent() -> None:
    section("extra YAML indentation")
    check(case_format.reindent("iceberg:\n  partition:\n    - day(ts)\n", 4) ==
          ["    iceberg:", "      partition:", "        - day(ts)"], "unindented extra is moved under the table")
    check(case_format.reindent("\n    skip_snapshot: true\n\n", 4) == ["    skip_snapshot: true"],
          "blank lines around the extra are dropped")


# ------------------------------------------------------------------ comparison rules


def test_comparison_rules() -> None:
    section("comparison rules")
    D = decimal.Decimal
    yes = [
        ("25.3", D("25.30")), ("100.5", D("100.50")), ("300", D("300.00")), ("25.30", "25.3"),
        ("3000000000", 3000000000), ("-9223372036854775808", -9223372036854775808),
        ("99999999999999999999999999999999999999", D("99999999999999999999999999999999999999")),
        ("0.000000000000000001", D("1E-18")), ("2.718281828459045", 2.7182818284590451),
        ("1.5", 1.5), ("0.1", 0.10000000149011612), ("1e+16", 1e16), ("NaN", float("nan")),
        ("-Infinity", float("-inf")), ("inf", float("inf")), ("1.0000001", 1.0),
        ("true", True), ("false", False), ("1", True), ("0", False), ("true", 1), ("true", "1"),
        ("\\xDEADBEEF", b"\xde\xad\xbe\xef"), ("\\xDE\\xAD\\xBE\\xEF", b"\xde\xad\xbe\xef"),
        ("\\x00\\xFF", b"\x00\xff"), ("\\x", b""), ("\\x01ab", b"\x01ab"), ("\\xDE\\xAD", "\\xDEAD"),
        ("2025-06-15 14:30:45.123456+00", "2025-06-15 14:30:45.123456+00"),
        ("2025-06-15 14:30:45.123456", dt.datetime(2025, 6, 15, 14, 30, 45, 123456)),
        ("2025-06-15 14:30:45.123456+00", dt.datetime(2025, 6, 15, 14, 30, 45, 123456)),
        ("2025-06-15 16:30:45.123456+02:00", "2025-06-15 14:30:45.123456+00"),
        ("1970-01-01 00:00:00", dt.datetime(1970, 1, 1)), ("2024-03-15", dt.date(2024, 3, 15)),
        ("14:30:45.123456", dt.time(14, 30, 45, 123456)), ("23:59:59.999999", "23:59:59.999999+00"),
        ("00:00:00", dt.time(0, 0)), ("12:00:00", "12:00:00.000000"),
        ('{"key": "value"}', '{"key":"value"}'), ("[]", "[]"), ('{"a": null}', '{"a": null}'),
        ("padded    ", "padded    "), ("", ""), ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (None, None),
    ]
    no = [
        ("25.3", D("25.31")), ("100", 101), ("1.001", 1.0), ("true", False), ("1", False),
        ("\\xDEADBEEF", b"\xde\xad"), ("2025-06-15 14:30:45", dt.datetime(2025, 6, 15, 14, 30, 46)),
        ("2024-03-15", dt.date(2024, 3, 16)), ("padded", "padded    "), ("", None), (None, ""),
        ("\\N", None), ("alice", "bob"), ("abc", 0), ('{"a": 1}', '{"a": 2}'), ("14:30:45", dt.time(14, 30, 44)),
        ("NaN", 1.0), ("2", "two"),
    ]
    for e, g in yes:
        check(values.cell_matches(e, g), "%r matches %r" % (e, g))
    for e, g in no:
        check(not values.cell_matches(e, g), "%r does not match %r" % (e, g))

    part_yes = [
        ("created_at_day=20103", "created_at_day=2025-01-15"), ("created_at_day=20103", "created_at_day=20103"),
        ("created_at_month=660", "created_at_month=2025-01"), ("created_at_month=662", "created_at_month=2025-03"),
        ("created_at_year=55", "created_at_year=2025"), ("created_at_year=55", "created_at_year=55"),
        ("created_at_hour=482482", "created_at_hour=2025-01-15-10"), ("created_at_hour=482492", "created_at_hour=2025-01-15-20"),
        ("d_day=-1", "d_day=1969-12-31"), ("region=us-east", "region=us-east"), ("id_bucket=3", "id_bucket=3"),
        ("name_trunc=ali", "name_trunc=ali"), ("amount_trunc=-100", "amount_trunc=-100"),
        ("data_trunc=%2FwD%2F", "data_trunc=%2FwD%2F"), ("data_trunc=%2FwD%2F", "data_trunc=/wD/"),
        ("data_trunc=3q2%2B", "data_trunc=3q2+"), ("data_trunc=AQI%3D", "data_trunc=AQI="),
        ("region=us/created_at_day=20103", "region=us/created_at_day=2025-01-15"),
        ("created_at=20103", "created_at=2025-01-15"), ("region=null", "region=null"),
    ]
    part_no = [
        ("created_at_day=20103", "created_at_day=2025-01-16"), ("created_at_month=660", "created_at_month=2025-02"),
        ("created_at_year=55", "created_at_year=2024"), ("created_at_hour=482482", "created_at_hour=2025-01-15-11"),
        ("id_bucket=0", "id_bucket=3"), ("region=us", "region=eu"), ("region=us", "zone=us"),
        ("name_trunc=ali", "name_trunc=al"), ("region=us/created_at_day=20103", "region=us"),
        ("created_at_day=20103", "s3://b/wh/default/t/data/00000.parquet"),
    ]
    for e, g in part_yes:
        check(values.cell_matches(e, g, path_column=True), "partition %s matches %s" % (e, g))
    for e, g in part_no:
        check(not values.cell_matches(e, g, path_column=True), "partition %s does not match %s" % (e, g))


def test_reference_parsing() -> None:
    section("reference parsing")
    r = values.parse_reference("1\talice\t\\N\n2\ta\\tb\\\\c\t\\xDEADBEEF\n")
    check(r.engine == "clickhouse" and r.rows == [["1", "alice", None], ["2", "a\tb\\c", "\\xDEADBEEF"]],
          "ClickHouse TSV: escapes and NULL: %r" % r.rows)
    r = values.parse_reference("1\tx")
    check(r.rows == [["1", "x"]], "no trailing newline")
    check(values.parse_reference("").rows == [], "empty reference = no rows")
    r = values.parse_reference('# engine: duckdb\n# another comment\n3\t"{""a"": null}"\t\t\\N\t"x\ty"\n')
    check(r.engine == "duckdb" and r.rows == [["3", '{"a": null}', "", None, "x\ty"]],
          "DuckDB reference: comments, CSV quoting, empty vs NULL: %r" % r.rows)


def test_result_comparison() -> None:
    section("result comparison (order, ties, diff)")
    exp = [["1", "a"], ["2", "b"], ["2", "c"], ["3", "d"]]
    check(values.compare_results(exp, [(1, "a"), (2, "b"), (2, "c"), (3, "d")], [], None) is None, "same order")
    check(values.compare_results(exp, [(1, "a"), (2, "c"), (2, "b"), (3, "d")], [], None) is not None,
          "strict order rejects a swap")
    check(values.compare_results(exp, [(1, "a"), (2, "c"), (2, "b"), (3, "d")], [], [0]) is None,
          "ties on the ORDER BY key may come in any order")
    check(values.compare_results(exp, [(1, "a"), (3, "d"), (2, "b"), (2, "c")], [], [0]) is not None,
          "rows with different keys may not swap")
    check(values.compare_results(exp, [(3, "d"), (2, "c"), (1, "a"), (2, "b")], [], []) is None,
          "no ORDER BY: multiset")
    diff = values.compare_results(exp, [(1, "a"), (2, "b"), (3, "d")], [], None)
    check(diff is not None and "-2\tc" in diff and "4 rows expected, 3 got" in diff, "diff names the missing row: %r" % diff)
    diff = values.compare_results([["1", "100.5"]], [(1, decimal.Decimal("100.50"))], [], None)
    check(diff is None, "value-equal rows make no diff")
    diff = values.compare_results([["1", "x"]], [(1, "x", "extra")], [], None)
    check(diff is not None and "column count" in diff, "column count mismatch reported")


# ------------------------------------------------------------------ reader TSV -> DuckDB


def test_reader_loading(tmp: str) -> None:
    section("reader TSV loaded into DuckDB with Iceberg types")
    columns = [("id", "int"), ("l", "long"), ("f", "float"), ("d", "double"), ("dec", "decimal(10, 2)"),
               ("b", "boolean"), ("s", "string"), ("bin", "binary"), ("fx", "fixed[2]"), ("dt", "date"),
               ("t", "time"), ("ts", "timestamp"), ("tz", "timestamptz"), ("u", "uuid"),
               ("st", "struct<1: a: optional int>"), ("big", "decimal(38, 0)")]
    header = [c for c, _ in columns] + ["_file"]
    tsv = "\t".join(header) + "\n" + "\n".join([
        "1\t9007199254740993\t0.1\t1e-07\t12.30\ttrue\ttab\\there\\nnew\\\\back\t\\x00ABFF\t\\x0102\t2025-01-15\t"
        "13:45:30.123456\t2025-01-15 10:00:00\t2025-01-15 08:00:00.500000+00\t123e4567-e89b-12d3-a456-426614174000\t"
        '{"a": 1}\t99999999999999999999999999999999999999\ts3://b/wh/default/t/data/p=1/f1.parquet',
        "2\t\\N\tNaN\t-Infinity\t-0.05\tfalse\t\\\\N\t\\x\t\\N\t1970-01-01\t00:00:00\t1969-12-31 23:59:59.999999\t"
        "2000-01-01 00:00:00+00\t\\N\t\\N\t\\N\tfile:/tmp/wh/default/t/data/f2.parquet",
        "3\t\\N\t\\N\t\\N\t\\N\t\\N\t\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t/tmp/wh/default/t/data/f3.parquet",
    ]) + "\n"
    h, rows = values.parse_reader_tsv(tsv)
    check(h == header and len(rows) == 3, "reader TSV parsed")
    check(rows[1][6] == "\\N" and rows[2][6] == "" and rows[2][1] is None, "text \\\\N, empty text and NULL differ")
    con = new_duckdb()
    values.load_table(con, "t", columns, h, rows, tmp)
    got = con.execute("SELECT * EXCLUDE (tz) FROM t ORDER BY id").fetchall()
    types = {r[0]: r[1] for r in con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                              "WHERE table_name = 't'").fetchall()}
    check(types["l"] == "BIGINT" and types["dec"] == "DECIMAL(10,2)" and types["bin"] == "BLOB"
          and types["tz"] == "TIMESTAMP WITH TIME ZONE" and types["big"] == "DECIMAL(38,0)"
          and types["_path"] == "VARCHAR" and types["_file"] == "VARCHAR", "column types: %r" % types)
    r1 = con.execute("SELECT l, dec, s, bin, fx, t, ts, ch_length(s), ch_length(bin), _path, _file, big "
                     "FROM t WHERE id = 1").fetchone()
    check(r1 == (9007199254740993, decimal.Decimal("12.30"), "tab\there\nnew\\back", b"\x00\xab\xff", b"\x01\x02",
                 dt.time(13, 45, 30, 123456), dt.datetime(2025, 1, 15, 10, 0), 17, 3,
                 "s3://b/wh/default/t/data/p=1/f1.parquet", "f1.parquet",
                 decimal.Decimal("99999999999999999999999999999999999999")), "row 1 values: %r" % (r1,))
    check(len(got) == 3, "three rows loaded")
    names, res = values.run_query(con, "SELECT id, tz FROM t ORDER BY id")
    check(res == [(1, "2025-01-15 08:00:00.5+00"), (2, "2000-01-01 00:00:00+00"), (3, None)],
          "timestamptz results come back as UTC text: %r" % res)
    check(values.cell_matches("2025-01-15 08:00:00.500000+00", res[0][1]), "timestamptz text compares as instant")
    r2 = con.execute("SELECT s, bin, f, ch_length(bin) FROM t WHERE id = 2").fetchone()
    check(r2[0] == "\\N" and r2[1] == b"" and r2[2] != r2[2] and r2[3] == 0, "row 2 values: %r" % (r2,))
    con.execute("CREATE TABLE big AS SELECT (random() * 1e9)::BIGINT AS k, now()::TIMESTAMPTZ AS ts FROM range(100000)")
    _, res = values.run_query(con, "SELECT k, ts FROM big ORDER BY k DESC")
    check(all(res[i][0] >= res[i + 1][0] for i in range(len(res) - 1)), "order survives the timestamptz projection")
    con.close()


# ------------------------------------------------------------------ query translation


def test_translation_units() -> None:
    section("translation of ClickHouse constructs")
    t = clickhouse_sql.translate
    cases = [
        ("SELECT id FROM iceberg.`default.tbl` ORDER BY id", 'SELECT id FROM "tbl" ORDER BY id'),
        ("SELECT id FROM lake.default.tbl", 'SELECT id FROM "tbl"'),
        ("SELECT id FROM `default`.`tbl` AS x FINAL", 'SELECT id FROM "tbl" AS "x"'),
        ("SELECT id FROM iceberg.`default.other`", "SELECT id FROM iceberg.\"default.other\""),
        ("SELECT replaceRegexpOne(_path, '.*/data/(.*)/.*', '\\\\1') AS partition FROM lake.default.tbl",
         "SELECT regexp_replace(_path, '.*/data/(.*)/.*', '\\1') AS \"partition\" FROM \"tbl\""),
        ("SELECT length(p), substr(s, 2, 3), round(x, 2) FROM lake.default.tbl",
         'SELECT ch_length(p), substr(s, 2, 3), round(x, 2) FROM "tbl"'),
        ("SELECT count() FROM lake.default.tbl FORMAT TabSeparated", 'SELECT count(*) FROM "tbl"'),
        ("SELECT * FROM lake.default.tbl LIMIT 1, 2 SETTINGS max_threads = 1;",
         'SELECT * EXCLUDE ("_path", "_file") FROM "tbl" LIMIT 2 OFFSET 1'),
        ("SELECT 'it''s', 'a\\'b', 'tab\\t' FROM lake.default.tbl", "SELECT 'it''s', 'a''b', 'tab\t' FROM \"tbl\""),
        ("SELECT toString(id), uniqExact(x), ifNull(a, 'z') FROM lake.default.tbl",
         "SELECT CAST(id AS VARCHAR), count(DISTINCT x), coalesce(a, 'z') FROM \"tbl\""),
        ("SELECT count(*), a * b, format FROM lake.default.tbl", 'SELECT count(*), a * b, format FROM "tbl"'),
    ]
    for src, want in cases:
        got = t(src, "tbl")
        check(got == want, "translate %r\n     got  %r\n     want %r" % (src, got, want))
    q = "SELECT id, name AS n, replaceRegexpOne(_path, 'x', 'y') AS p FROM lake.default.t ORDER BY id DESC, n"
    check(clickhouse_sql.order_by_keys(q) == ["id", "n"], "ORDER BY keys")
    check(clickhouse_sql.path_columns(q) == [False, False, True], "_path columns")
    check([clickhouse_sql.item_alias(i) for i in clickhouse_sql.select_items(q)] == ["id", "n", "p"], "aliases")
    check(clickhouse_sql.order_by_keys("SELECT a FROM t ORDER BY length(a)") is None, "ORDER BY expression: strict")


def sniff_type(cells: List[Optional[str]]) -> str:
    vals = [c for c in cells if c is not None]
    if not vals:
        return "string"
    if all(re.fullmatch(r"-?\d+", v) for v in vals):
        return "long" if all(-2**63 <= int(v) < 2**63 for v in vals) else "decimal(38, 0)"
    if all(re.fullmatch(r"-?\d+\.\d+", v) for v in vals):
        scale = max(len(v.split(".")[1]) for v in vals)
        digits = max(len(v.lstrip("-").split(".")[0]) for v in vals)
        return "decimal(38, %d)" % scale if digits + scale <= 38 else "double"
    if all(v in ("true", "false") for v in vals):
        return "boolean"
    if all(re.fullmatch(r"\d{4}-\d\d-\d\d", v) for v in vals):
        return "date"
    if all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00", v) for v in vals):
        return "timestamptz"
    if all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?", v) for v in vals):
        return "timestamp"
    if all(re.fullmatch(r"\d\d:\d\d:\d\d(\.\d+)?", v) for v in vals):
        return "time"
    if all(v.startswith("\\x") and values.parse_binary(v) for v in vals):
        return "binary"
    return "string"


def reader_text(cell: Optional[str], ty: str) -> Optional[str]:
    """A reference cell as the Iceberg reader would print the value (tools/README.md)."""
    if cell is None:
        return None
    if ty.startswith("decimal"):
        scale = int(re.search(r"(\d+)\)", ty).group(1))
        with decimal.localcontext() as ctx:
            ctx.prec = 100
            return format(decimal.Decimal(cell).quantize(decimal.Decimal(1).scaleb(-scale)), "f")
    if ty == "binary":
        return "\\x" + values.parse_binary(cell)[-1].hex().upper()
    return cell


def human_partition(dir_: str) -> str:
    """Upstream's ordinal partition directory in Iceberg Java's human-readable form."""
    out = []
    for name, v in values.parse_partition_path(dir_) or []:
        n = int(v) if re.fullmatch(r"-?\d+", v) else None
        day = lambda k: values.EPOCH + dt.timedelta(days=k)  # noqa: E731
        if n is not None and name.endswith("_day"):
            v = day(n).isoformat()
        elif n is not None and name.endswith("_month"):
            v = "%04d-%02d" % (1970 + n // 12, n % 12 + 1)
        elif n is not None and name.endswith("_year"):
            v = "%04d" % (1970 + n)
        elif n is not None and name.endswith("_hour"):
            v = "%s-%02d" % (day(n // 24).isoformat(), n % 24)
        out.append("%s=%s" % (name, v))
    return "/".join(out)


class NotInvertible(Exception):
    pass


def synthesize(case: case_format.Case, human: bool) -> Tuple[list, list, list]:
    """(Iceberg columns, reader header, reader rows) from which the case's query yields its
    reference: each select item is a column, length(col), or replaceRegexpOne(_path, ...)."""
    ref = values.parse_reference(case.reference)
    items = clickhouse_sql.select_items(case.query)
    ncol = len(items)
    if any(len(r) != ncol for r in ref.rows):
        raise NotInvertible("reference rows do not have %d columns" % ncol)
    columns, sources = [], []
    for k, item in enumerate(items):
        expr = item[:-2] if len(item) >= 3 and item[-2].is_kw("AS") else item
        if len(expr) == 1 and expr[0].kind in ("ident", "bq", "dq"):
            cells = [r[k] for r in ref.rows]
            ty = sniff_type(cells)
            columns.append((expr[0].value, ty))
            sources.append(("col", k, ty))
        elif len(expr) == 4 and expr[0].value.lower() == "length" and expr[2].kind == "ident":
            columns.append((expr[2].value, "string"))
            sources.append(("len", k, "string"))
        elif expr and expr[0].value == "replaceRegexpOne" and any(t.value == "_path" for t in expr):
            sources.append(("path", k, None))
        else:
            raise NotInvertible("select item %d" % (k + 1))
    header = [c for c, _ in columns] + ["_file"]
    rows = []
    base = "s3://bucket/wh/default/%s/data/" % case.table
    for n, r in enumerate(ref.rows):
        row, path = [], base + "00000-%d.parquet" % n
        for kind, k, ty in sources:
            if kind == "col":
                row.append(reader_text(r[k], ty))
            elif kind == "len":
                row.append(None if r[k] is None else "x" * int(r[k]))
            else:
                path = base + (human_partition(r[k]) if human else r[k]) + "/00000-%d.parquet" % n
        rows.append(row + [path])
    rows.reverse()   # the query's ORDER BY must do the work
    return columns, header, rows


def mutate(rows: list) -> Optional[list]:
    """The rows with one value of the first row changed (not its _file unless that is all)."""
    if not rows:
        return None
    out = [list(r) for r in rows]
    r = out[0]
    k = len(r) - 2 if len(r) > 1 else 0
    v = r[k]
    if v is None:
        r[k] = "1"
    elif re.fullmatch(r"-?\d+", v):
        r[k] = str(int(v) + 1)
    elif re.fullmatch(r"-?\d+\.\d+", v):
        r[k] = str(decimal.Decimal(v) + 1)
    elif v in ("true", "false"):
        r[k] = "false" if v == "true" else "true"
    elif v.startswith("\\x"):
        r[k] = v + "00"
    elif set(v) == {"x"}:
        r[k] = v + "x"
    else:
        r[k] = v + "X"
    return out


def test_case_queries(cases: List[case_format.Case], tmp: str) -> None:
    section("every case query, translated and run in DuckDB over its synthesized table")
    import run_cases
    for case in cases:
        sql = clickhouse_sql.translate(case.query, case.table)
        has_path = any(clickhouse_sql.path_columns(case.query))
        for human in ((False, True) if has_path else (False,)):
            label = "%s%s" % (case.name, " (Iceberg Java partition names)" if human else "")
            try:
                columns, header, rows = synthesize(case, human)
            except NotInvertible as e:
                check(False, "%s: cannot synthesize a table (%s); translated: %s" % (label, e, sql))
                continue
            con = new_duckdb()
            try:
                values.load_table(con, case.table, columns, header, rows, tmp)
                diff = run_cases.run_and_compare(con, case)
                check(diff is None, "%s: query over the synthesized table\n%s" % (label, diff))
                if diff is None:
                    print("ok   %s: %s" % (label, sql), flush=True)
                bad = mutate(rows)
                if bad is not None:
                    con.execute('DROP TABLE "%s"' % case.table)
                    values.load_table(con, case.table, columns, header, bad, tmp)
                    check(run_cases.run_and_compare(con, case) is not None, "%s: a mutated table must not match" % label)
                    con.execute('DROP TABLE "%s"' % case.table)
                    values.load_table(con, case.table, columns, header, rows[1:], tmp)
                    check(run_cases.run_and_compare(con, case) is not None, "%s: a missing row must not match" % label)
            except Exception:  # noqa: BLE001
                check(False, "%s: %s" % (label, traceback.format_exc()))
            finally:
                con.close()


def test_binary_check(tmp: str) -> None:
    section("binary detection")
    import run_cases
    fake = os.path.join(tmp, "fake-pg2iceberg")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\ncat <<'EOF'\nUsage: pg2iceberg [OPTIONS] SUBCOMMAND\n\nSubcommands:\n"
                "  config                      print the effective configuration\n"
                "  connect-pg                  connect to the source PostgreSQL\nEOF\n")
    os.chmod(fake, os.stat(fake).st_mode | stat.S_IXUSR)
    msg = run_cases.check_binary(fake)
    check(msg is not None and "no `run` / `status` subcommand" in msg and "config, connect-pg" in msg,
          "a binary without run/status is refused clearly: %r" % msg)
    with open(fake, "w") as f:
        f.write("#!/bin/sh\nif [ \"$1\" = status ]; then echo '  --wait  --timeout D'; exit 0; fi\n"
                "printf 'Subcommands:\\n  run   x\\n  status  y\\n'\n")
    check(run_cases.check_binary(fake) is None, "a binary with run and status --wait is accepted")
    check("not found" in (run_cases.check_binary(os.path.join(tmp, "missing")) or ""), "a missing binary is named")


def main(cases_dir: str) -> int:
    with tempfile.TemporaryDirectory(prefix="pg2i-conformance-selftest-") as tmp:
        test_splitting()
        test_reindent()
        cases = test_case_files(cases_dir) if os.path.isdir(cases_dir) else []
        if not os.path.isdir(cases_dir):
            check(False, "cases directory %s exists (set PG2I_CASES_DIR)" % cases_dir)
        test_comparison_rules()
        test_reference_parsing()
        test_result_comparison()
        test_reader_loading(tmp)
        test_translation_units()
        test_case_queries(cases, tmp)
        test_binary_check(tmp)
    print("self-test: %d checks, %d failed" % (checks, len(failures)), flush=True)
    return 1 if failures else 0
