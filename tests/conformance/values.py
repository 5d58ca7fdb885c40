"""Values on both sides of a comparison: the case reference (text written by ClickHouse or
DuckDB), the Iceberg reader's TSV (tools/README.md) loaded into DuckDB with Iceberg types, and
the rules by which a reference cell matches a result value (../shared/cases/README.md)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import decimal
import difflib
import io
import json
import math
import os
import re
import urllib.parse
import uuid
from typing import Any, List, Optional, Sequence, Tuple

NULL = "\\N"
EPOCH = dt.date(1970, 1, 1)
EPOCH_DT = dt.datetime(1970, 1, 1)
FLOAT_REL_TOL = 1e-6

# ------------------------------------------------------------------ reference files


@dataclasses.dataclass
class Reference:
    engine: str                          # "clickhouse" (default) or what `# engine: X` says
    rows: List[List[Optional[str]]]      # decoded cells, None for NULL


def _unescape_tsv(cell: str, escapes: dict) -> str:
    if "\\" not in cell:
        return cell
    out, i = [], 0
    while i < len(cell):
        c = cell[i]
        if c == "\\" and i + 1 < len(cell) and cell[i + 1] in escapes:
            out.append(escapes[cell[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ClickHouse's TSV output escapes these; anything else (e.g. the README's `\xDEADBEEF` form of
# binary values) is left as written.
CLICKHOUSE_TSV_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "0": "\0", "b": "\b",
                          "f": "\f", "'": "'"}
READER_TSV_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def _split_lines(text: str) -> List[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_reference(text: str) -> Reference:
    lines = _split_lines(text)
    engine = "clickhouse"
    while lines and lines[0].startswith("#"):
        m = re.match(r"#\s*engine\s*:\s*(\S+)", lines[0])
        if m:
            engine = m.group(1).lower()
        lines.pop(0)
    if engine == "duckdb":
        # DuckDB's CSV writer with a tab delimiter: fields holding quotes, tabs or newlines are
        # double-quoted with "" inside.
        reader = csv.reader(io.StringIO("\n".join(lines) + "\n"), delimiter="\t", quotechar='"',
                            doublequote=True, strict=False)
        rows = [[None if c == NULL else c for c in r] for r in reader]
    else:
        rows = [[None if c == NULL else _unescape_tsv(c, CLICKHOUSE_TSV_ESCAPES) for c in l.split("\t")]
                for l in lines]
    return Reference(engine, rows)


# ------------------------------------------------------------------ the reader's output


def parse_reader_tsv(text: str) -> Tuple[List[str], List[List[Optional[str]]]]:
    lines = _split_lines(text)
    if not lines:
        raise ValueError("the reader printed nothing (not even a header)")
    header = [_unescape_tsv(h, READER_TSV_ESCAPES) for h in lines[0].split("\t")]
    rows = []
    for l in lines[1:]:
        cells = [None if c == NULL else _unescape_tsv(c, READER_TSV_ESCAPES) for c in l.split("\t")]
        if len(cells) != len(header):
            raise ValueError("reader row has %d fields, header %d: %r" % (len(cells), len(header), l[:200]))
        rows.append(cells)
    return header, rows


def duckdb_type(iceberg_type: str) -> Tuple[str, str]:
    """(DuckDB type, cast template over the reader's text in {}) for an Iceberg type name."""
    t = iceberg_type.strip().lower()
    simple = {"int": "INTEGER", "long": "BIGINT", "float": "DOUBLE", "double": "DOUBLE",
              "boolean": "BOOLEAN", "date": "DATE", "time": "TIME", "timestamp": "TIMESTAMP",
              "timestamp_ns": "TIMESTAMP_NS", "timestamptz": "TIMESTAMPTZ",
              "timestamptz_ns": "TIMESTAMPTZ"}
    if t in simple:
        return simple[t], "CAST({} AS %s)" % simple[t]
    m = re.fullmatch(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)", t)
    if m and int(m.group(1)) <= 38:
        ty = "DECIMAL(%s,%s)" % (m.group(1), m.group(2))
        return ty, "CAST({} AS %s)" % ty
    if t == "binary" or t.startswith("fixed"):
        return "BLOB", "from_hex(substr({}, 3))"
    # string, uuid, nested types (printed as JSON) and anything newer: text
    return "VARCHAR", "{}"


def load_table(con, table: str, columns: Sequence[Tuple[str, str]], header: List[str],
               rows: List[List[Optional[str]]], scratch_dir: str) -> None:
    """Creates DuckDB table `table` from the reader's rows. `columns`: (name, Iceberg type) of the
    table schema; header: the reader's header, ending with _file. The data file path becomes
    the virtual columns _path (full path) and _file (its last component), as in ClickHouse."""
    if not header or header[-1] != "_file":
        raise ValueError("reader header does not end with _file: %r" % header)
    types = dict(columns)
    path = os.path.join(scratch_dir, "rows-%s.jsonl" % re.sub(r"[^A-Za-z0-9_]", "_", table))
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps({"c%d" % i: v for i, v in enumerate(r)}) + "\n")
    raw_cols = ", ".join("c%d: 'VARCHAR'" % i for i in range(len(header)))
    select = []
    for i, name in enumerate(header[:-1]):
        _, cast = duckdb_type(types.get(name, "string"))
        select.append(cast.format("c%d" % i) + " AS " + _ident(name))
    last = "c%d" % (len(header) - 1)
    select.append("%s AS \"_path\"" % last)
    select.append("regexp_extract(%s, '[^/]*$') AS \"_file\"" % last)
    con.execute("CREATE TABLE %s AS SELECT %s FROM read_json(%s, format='newline_delimited', "
                "columns={%s}, maximum_object_size=1073741824)"
                % (_ident(table), ", ".join(select), _lit(path), raw_cols))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# Result types the DuckDB Python client cannot hand back without pytz.
TEXT_RESULT_TYPES = ("TIMESTAMP WITH TIME ZONE", "TIME WITH TIME ZONE")


def run_query(con, sql: str) -> Tuple[List[str], List[tuple]]:
    """Runs a translated query; returns (column names, rows). Zoned timestamps come back as text
    (UTC, `+00`) because the DuckDB client needs pytz to build them."""
    rel = con.sql(sql)
    names, types = list(rel.columns), [str(t) for t in rel.types]
    if not any(t in TEXT_RESULT_TYPES for t in types):
        return names, rel.fetchall()
    cols = ["c%d" % i for i in range(len(names))]
    proj = ", ".join("CAST(%s AS VARCHAR)" % c if t in TEXT_RESULT_TYPES else c for c, t in zip(cols, types))
    return names, con.sql("SELECT %s FROM (%s) AS _r(%s)" % (proj, sql, ", ".join(cols))).fetchall()


# ------------------------------------------------------------------ rendering


def render_value(v: Any) -> str:
    """A result value as a TSV cell, in the readers' conventions (tools/README.md)."""
    if v is None:
        return NULL
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(v).hex().upper()
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return repr(v)
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time, uuid.UUID)):
        return str(v)
    if isinstance(v, (list, dict)):
        return _unescaped_json(v)
    s = str(v)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def render_expected(c: Optional[str]) -> str:
    """A reference cell for a diff: as the reference wrote it (control characters escaped)."""
    if c is None:
        return NULL
    return c.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _unescaped_json(v: Any) -> str:
    return json.dumps(v, default=str, ensure_ascii=False)


# ------------------------------------------------------------------ parsing text values

NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
SPECIAL_FLOATS = {"nan": math.nan, "+nan": math.nan, "-nan": math.nan, "inf": math.inf, "+inf": math.inf,
                  "-inf": -math.inf, "infinity": math.inf, "+infinity": math.inf, "-infinity": -math.inf}
TS_RE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?"
                   r"\s*(Z|UTC|[+-]\d\d(?::?\d\d)?)?")
TIME_RE = re.compile(r"(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d\d(?::?\d\d)?)?")
DATE_RE = re.compile(r"(-?\d{4,})-(\d\d)-(\d\d)")


def parse_number(s: str):
    """Decimal for finite numbers, float for NaN/Infinity, None when not a number."""
    t = s.strip()
    if NUMBER_RE.fullmatch(t):
        return decimal.Decimal(t)
    return SPECIAL_FLOATS.get(t.lower())


def parse_bool(s: str) -> Optional[bool]:
    return {"true": True, "false": False, "1": True, "0": False}.get(s.strip().lower())


def _offset_seconds(tz: Optional[str]) -> int:
    if not tz or tz in ("Z", "UTC"):
        return 0
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)


def _frac_nanos(frac: Optional[str]) -> int:
    return int((frac or "0").ljust(9, "0"))


def parse_timestamp(s: str) -> Optional[Tuple[int, int]]:
    """(UTC epoch seconds, nanoseconds); a value without an offset is taken as UTC."""
    m = TS_RE.fullmatch(s.strip())
    if not m:
        return None
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    try:
        base = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(sec or 0))
    except ValueError:
        return None
    secs = (base - EPOCH_DT) // dt.timedelta(seconds=1) - _offset_seconds(tz)
    return secs, _frac_nanos(frac)


def parse_time(s: str) -> Optional[int]:
    """Nanoseconds since midnight UTC (a zone offset is applied, none means UTC)."""
    m = TIME_RE.fullmatch(s.strip())
    if not m:
        return None
    h, mi, sec, frac, tz = m.groups()
    secs = int(h) * 3600 + int(mi) * 60 + int(sec or 0) - _offset_seconds(tz)
    return (secs % 86400) * 10**9 + _frac_nanos(frac)


def parse_date(s: str) -> Optional[int]:
    """Days since 1970-01-01."""
    m = DATE_RE.fullmatch(s.strip())
    if not m:
        return None
    try:
        return (dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))) - EPOCH).days
    except ValueError:
        return None


def parse_binary(s: str) -> List[bytes]:
    """Possible byte strings a text stands for: `\\xDEADBEEF` (the readers and the README) or
    DuckDB's rendering (`\\xDE\\xAD`, printable bytes as themselves)."""
    out = []
    if re.fullmatch(r"\\x(?:[0-9A-Fa-f]{2})*", s):
        out.append(bytes.fromhex(s[2:]))
    if "\\x" in s:
        b, i = bytearray(), 0
        while i < len(s):
            if s.startswith("\\x", i) and re.fullmatch(r"[0-9A-Fa-f]{2}", s[i + 2:i + 4]):
                b.append(int(s[i + 2:i + 4], 16))
                i += 4
            elif s.startswith("\\\\", i):
                b.append(0x5C)
                i += 2
            else:
                b.extend(s[i].encode("utf-8"))
                i += 1
        out.append(bytes(b))
    return out


# ------------------------------------------------------------------ partition directories

HOUR_RE = re.compile(r"(-?\d{4,})-(\d\d)-(\d\d)-(\d\d)")
MONTH_RE = re.compile(r"(-?\d{4,})-(\d\d)")


def _int(s: str) -> Optional[int]:
    return int(s) if re.fullmatch(r"[+-]?\d+", s) else None


def partition_value_forms(name: str, value: str) -> set:
    """Every normalized form a partition value can stand for. Time transforms: upstream wrote
    ordinals since 1970 (day 20103, month 660, year 55, hour 482482), Iceberg Java writes
    2025-01-15, 2025-01, 2025, 2025-01-15-10; both forms of the same value share a form here."""
    forms = {("text", value)}
    for decoded in {urllib.parse.unquote(value), urllib.parse.unquote_plus(value)}:
        forms.add(("text", decoded))
    if value in ("null", "__HIVE_DEFAULT_PARTITION__"):
        forms.add(("null",))
    n = _int(value)
    lname = name.lower()
    if lname.endswith("_year"):
        if n is not None:
            forms.add(("year", n))
            if re.fullmatch(r"\d{4}", value):
                forms.add(("year", n - 1970))
    elif lname.endswith("_month"):
        if n is not None:
            forms.add(("month", n))
        m = MONTH_RE.fullmatch(value)
        if m:
            forms.add(("month", (int(m.group(1)) - 1970) * 12 + int(m.group(2)) - 1))
    elif lname.endswith("_hour"):
        if n is not None:
            forms.add(("hour", n))
        m = HOUR_RE.fullmatch(value)
        if m:
            d = parse_date("%s-%s-%s" % m.groups()[:3])
            if d is not None:
                forms.add(("hour", d * 24 + int(m.group(4))))
    else:
        # _day, and identity partitions of date columns (ordinal days or ISO dates)
        if n is not None:
            forms.add(("day", n))
        d = parse_date(value)
        if d is not None:
            forms.add(("day", d))
        ts = parse_timestamp(urllib.parse.unquote(value))
        if ts is not None:
            forms.add(("micros", ts[0] * 10**6 + ts[1] // 1000))
        if n is not None:
            forms.add(("micros", n))
    return forms


def parse_partition_path(s: str) -> Optional[List[Tuple[str, str]]]:
    segs: List[List[str]] = []
    for part in s.split("/"):
        if "=" in part:
            name, _, value = part.partition("=")
            segs.append([urllib.parse.unquote(name), value])
        elif segs:
            segs[-1][1] += "/" + part
        else:
            return None
    return [(n, v) for n, v in segs] if segs else None


def partition_dirs_equal(expected: str, got: str) -> bool:
    if expected == got:
        return True
    pe, pg = parse_partition_path(expected), parse_partition_path(got)
    if pe is None or pg is None or len(pe) != len(pg):
        return False
    for (ne, ve), (ng, vg) in zip(pe, pg):
        if ne != ng or not (partition_value_forms(ne, ve) & partition_value_forms(ng, vg)):
            return False
    return True


# ------------------------------------------------------------------ cell comparison


def _floats_close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or math.isclose(a, b, rel_tol=FLOAT_REL_TOL, abs_tol=0.0)


def numbers_equal(a, b, approximate: bool) -> bool:
    """a, b: Decimal / int / float. Exact unless one side is a float (within 1e-6 relative)."""
    if isinstance(a, float) or isinstance(b, float) or approximate:
        return _floats_close(float(a), float(b))
    return decimal.Decimal(a) == decimal.Decimal(b)


def _looks_float(s: str) -> bool:
    return bool(re.search(r"[eE]", s)) or s.strip().lower() in SPECIAL_FLOATS


def text_values_equal(e: str, g: str) -> bool:
    """Two values known only as text: equal as text, or as numbers, booleans, binary,
    timestamps, times, dates or JSON."""
    if e == g:
        return True
    ne, ng = parse_number(e), parse_number(g)
    if ne is not None and ng is not None:
        return numbers_equal(ne, ng, _looks_float(e) or _looks_float(g))
    be, bg = parse_bool(e), parse_bool(g)
    if be is not None and bg is not None and (ne is None or ng is None):
        return be == bg
    if "\\x" in e and "\\x" in g:
        return bool(set(parse_binary(e)) & set(parse_binary(g)))
    for parse in (parse_timestamp, parse_time, parse_date):
        pe, pg = parse(e), parse(g)
        if pe is not None and pg is not None:
            return pe == pg
    if e[:1] in "[{" and g[:1] in "[{":
        try:
            return json.loads(e) == json.loads(g)
        except ValueError:
            return False
    return False


def cell_matches(expected: Optional[str], got: Any, path_column: bool = False) -> bool:
    """Does the reference cell (decoded text, None for NULL) match the result value?"""
    if expected is None or got is None:
        return expected is None and got is None
    if path_column:
        return partition_dirs_equal(expected, str(got))
    if isinstance(got, bool):
        b = parse_bool(expected)
        return b is not None and b == got
    if isinstance(got, (int, float, decimal.Decimal)):
        n = parse_number(expected)
        if n is None:
            b = parse_bool(expected)
            return b is not None and isinstance(got, int) and int(b) == got
        return numbers_equal(n, got, _looks_float(expected))
    if isinstance(got, (bytes, bytearray, memoryview)):
        return bytes(got) in parse_binary(expected)
    if isinstance(got, dt.datetime):
        e = parse_timestamp(expected)
        if got.tzinfo is not None:
            got = got.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return e is not None and e == ((got - EPOCH_DT) // dt.timedelta(seconds=1), got.microsecond * 1000)
    if isinstance(got, dt.date):
        d = parse_date(expected)
        return d is not None and d == (got - EPOCH).days
    if isinstance(got, dt.time):
        t = parse_time(expected)
        return t is not None and t == ((got.hour * 60 + got.minute) * 60 + got.second) * 10**9 + got.microsecond * 1000
    if isinstance(got, (list, dict)):
        try:
            return json.loads(expected) == json.loads(_unescaped_json(got))
        except ValueError:
            return False
    return text_values_equal(expected, str(got))


def rows_match(expected: Sequence[Optional[str]], got: Sequence[Any], path_cols: Sequence[bool]) -> bool:
    if len(expected) != len(got):
        return False
    return all(cell_matches(e, g, i < len(path_cols) and path_cols[i])
               for i, (e, g) in enumerate(zip(expected, got)))


# ------------------------------------------------------------------ result comparison


def _match_group(expected: Sequence[Sequence[Optional[str]]], got: Sequence[Sequence[Any]],
                 path_cols: Sequence[bool]) -> bool:
    """Multiset match (greedy: cell matching is an equivalence in practice)."""
    if len(expected) != len(got):
        return False
    free = list(range(len(got)))
    for e in expected:
        k = next((k for k in free if rows_match(e, got[k], path_cols)), None)
        if k is None:
            return False
        free.remove(k)
    return True


def compare_results(expected: List[List[Optional[str]]], got: List[tuple], path_cols: Sequence[bool],
                    keys: Optional[List[int]], max_diff_lines: int = 24) -> Optional[str]:
    """None when the result matches the reference, else a short diff.

    keys None: rows must match in order. keys a list of column indices: the ORDER BY columns;
    rows may be permuted among rows with equal keys (the order of ties is arbitrary in any
    engine). keys []: no ORDER BY, rows compare as a multiset."""
    exp_lines = ["\t".join(render_expected(c) for c in r) for r in expected]
    got_lines = ["\t".join(render_value(v) for v in r) for r in got]
    widths = {len(r) for r in got} | {len(r) for r in expected}
    if len(widths) > 1:
        header = "column count differs: expected %s, got %s" % (
            sorted({len(r) for r in expected}), sorted({len(r) for r in got}))
    else:
        header = None
    canon = list(got_lines)
    for i in range(min(len(expected), len(got))):
        if rows_match(expected[i], got[i], path_cols):
            canon[i] = exp_lines[i]
    if keys is not None:
        start = 0
        while start < len(got):
            end = start + 1
            while end < len(got) and all(got[end][k] == got[start][k] for k in keys):
                end += 1
            if _match_group(expected[start:end], got[start:end], path_cols):
                canon[start:end] = exp_lines[start:end]
            start = end
    if canon == exp_lines and header is None:
        return None
    diff = list(difflib.unified_diff(exp_lines, canon, "expected", "got", n=1, lineterm=""))[2:]
    if len(diff) > max_diff_lines:
        diff = diff[:max_diff_lines] + ["... (%d more diff lines)" % (len(diff) - max_diff_lines)]
    lines = ([header] if header else []) + ["%d rows expected, %d got" % (len(expected), len(got))] + diff
    return "\n".join(lines)
