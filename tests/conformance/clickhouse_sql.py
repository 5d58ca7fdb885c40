"""Translates a case query from ClickHouse SQL (the engine upstream read the tables with) into
DuckDB SQL over a local table holding the rows the Iceberg reader printed.

Handled: the table reference (iceberg.`default.t`, lake.default.t, any qualifier ending in the
namespace `default` and the table), backquoted identifiers, ClickHouse string-literal escapes
(so '\\\\1' reaches DuckDB's regexp_replace as the backreference \\1), the functions listed in
FUNCTIONS, `SELECT *` (which must not show the virtual columns _path and _file), aliases that are
DuckDB keywords (AS partition), `LIMIT offset, count`, and trailing FORMAT / SETTINGS / FINAL.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Dict, List, Optional, Tuple

VIRTUAL_COLUMNS = ("_path", "_file")

# ClickHouse's length() of a String counts bytes; the cases README asks for characters on text
# (what DuckDB's length does) and bytes on binary, which DuckDB's length refuses.
DUCKDB_MACROS = [
    "CREATE OR REPLACE MACRO ch_length(x) AS CASE WHEN typeof(x) = 'BLOB' "
    "THEN octet_length(CAST(x AS BLOB)) ELSE length(CAST(x AS VARCHAR)) END",
]

TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
      |(?P<comment>--[^\n]*|/\*.*?\*/)
      |(?P<str>'(?:[^'\\]|\\.|'')*')
      |(?P<bq>`(?:[^`\\]|\\.|``)*`)
      |(?P<dq>"(?:[^"\\]|\\.|"")*")
      |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      |(?P<ident>[A-Za-z_][A-Za-z0-9_$]*)
      |(?P<op>::|<=|>=|<>|!=|==|\|\||->|[-+*/%(),.;=<>\[\]{}:?!^&|~@])""",
    re.S | re.X)

CH_ESCAPES = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0", "a": "\a", "v": "\v"}


class TranslateError(Exception):
    pass


@dataclasses.dataclass
class Tok:
    kind: str    # ws comment str bq dq num ident op sql (already DuckDB text)
    text: str    # source text
    value: str   # decoded literal / identifier

    def is_kw(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


def unescape_ch(body: str) -> str:
    """ClickHouse literal escapes: \\b \\f \\r \\n \\t \\0 \\a \\v \\xHH, and \\c -> c otherwise."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            d = body[i + 1]
            if d == "x" and re.match(r"[0-9A-Fa-f]{2}", body[i + 2:i + 4]):
                out.append(chr(int(body[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append(CH_ESCAPES.get(d, d))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokenize(sql: str) -> List[Tok]:
    toks, pos = [], 0
    while pos < len(sql):
        m = TOKEN_RE.match(sql, pos)
        if not m:
            raise TranslateError("cannot tokenize query at: %r" % sql[pos:pos + 30])
        kind, text = m.lastgroup, m.group()
        value = text
        if kind == "str":
            value = unescape_ch(text[1:-1].replace("''", "\\'"))
        elif kind == "bq":
            value = unescape_ch(text[1:-1].replace("``", "\\`"))
        elif kind == "dq":
            value = unescape_ch(text[1:-1].replace('""', '\\"'))
        toks.append(Tok(kind, text, value))
        pos = m.end()
    return toks


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def significant(toks: List[Tok]) -> List[Tok]:
    return [t for t in toks if t.kind not in ("ws", "comment")]


# ------------------------------------------------------------------ functions


def _cast(duck_type: str) -> Callable[[List[str]], str]:
    return lambda a: "CAST(%s AS %s)" % (a[0], duck_type)


def _rename(name: str) -> Callable[[List[str]], str]:
    return lambda a: "%s(%s)" % (name, ", ".join(a))


FUNCTIONS: Dict[str, Callable[[List[str]], str]] = {
    "replaceregexpone": lambda a: "regexp_replace(%s, %s, %s)" % tuple(a),
    "replaceregexpall": lambda a: "regexp_replace(%s, %s, %s, 'g')" % tuple(a),
    "length": lambda a: "ch_length(%s)" % a[0],
    "lengthutf8": lambda a: "length(CAST(%s AS VARCHAR))" % a[0],
    "substring": _rename("substr"),
    "substringutf8": _rename("substr"),
    "mid": _rename("substr"),
    "empty": lambda a: "(ch_length(%s) = 0)" % a[0],
    "notempty": lambda a: "(ch_length(%s) > 0)" % a[0],
    "lowerutf8": _rename("lower"),
    "upperutf8": _rename("upper"),
    "tostring": _cast("VARCHAR"),
    "toint8": _cast("TINYINT"),
    "toint16": _cast("SMALLINT"),
    "toint32": _cast("INTEGER"),
    "toint64": _cast("BIGINT"),
    "touint8": _cast("UTINYINT"),
    "touint16": _cast("USMALLINT"),
    "touint32": _cast("UINTEGER"),
    "touint64": _cast("UBIGINT"),
    "tofloat32": _cast("FLOAT"),
    "tofloat64": _cast("DOUBLE"),
    "todate": _cast("DATE"),
    "todatetime": _cast("TIMESTAMP"),
    "todatetime64": lambda a: "CAST(%s AS TIMESTAMP)" % a[0],
    "toyear": _rename("year"),
    "tomonth": _rename("month"),
    "todayofmonth": _rename("day"),
    "tohour": _rename("hour"),
    "isnull": lambda a: "(%s IS NULL)" % a[0],
    "isnotnull": lambda a: "(%s IS NOT NULL)" % a[0],
    "ifnull": _rename("coalesce"),
    "uniqexact": lambda a: "count(DISTINCT %s)" % ", ".join(a),
    "countdistinct": lambda a: "count(DISTINCT %s)" % ", ".join(a),
    "any": _rename("any_value"),
    "startswith": _rename("starts_with"),
    "endswith": _rename("ends_with"),
    "position": _rename("strpos"),
    "match": _rename("regexp_matches"),
    "count": lambda a: "count(%s)" % (", ".join(a) if a else "*"),
}

def split_args(toks: List[Tok], start: int) -> Tuple[List[List[Tok]], int]:
    """toks[start] is '('; returns the top-level argument token lists and the index after ')'."""
    depth, args, cur = 0, [], []
    i = start
    while i < len(toks):
        t = toks[i]
        if t.kind == "op" and t.text in "([":
            depth += 1
            if depth > 1:
                cur.append(t)
        elif t.kind == "op" and t.text in ")]":
            depth -= 1
            if depth == 0:
                if cur or args:
                    args.append(cur)
                return args, i + 1
            cur.append(t)
        elif t.kind == "op" and t.text == "," and depth == 1:
            args.append(cur)
            cur = []
        else:
            cur.append(t)
        i += 1
    raise TranslateError("unbalanced parentheses")


def _name_parts(t: Tok) -> Optional[List[str]]:
    if t.kind == "ident":
        return [t.text]
    if t.kind == "bq":
        return t.value.split(".")   # iceberg.`default.t`: one identifier naming namespace.table
    if t.kind == "dq":
        return [t.value]
    return None


def replace_table_refs(toks: List[Tok], table: str) -> List[Tok]:
    """Dotted names whose last two parts are `default` and the table become the local table."""
    out, i = [], 0
    while i < len(toks):
        parts = _name_parts(toks[i])
        if parts is None:
            out.append(toks[i])
            i += 1
            continue
        j = i + 1
        while j + 1 < len(toks) and toks[j].kind == "op" and toks[j].text == "." and _name_parts(toks[j + 1]):
            parts = parts + _name_parts(toks[j + 1])
            j += 2
        low = [p.lower() for p in parts]
        if len(low) >= 2 and low[-2] == "default" and parts[-1] == table:
            out.append(Tok("sql", sql_ident(table), table))
        else:
            out.extend(toks[i:j])
        i = j
    return out


def render(toks: List[Tok]) -> str:
    out = []
    sig_prev: Optional[Tok] = None
    i, depth = 0, 0
    while i < len(toks):
        t = toks[i]
        nxt = next((k for k in range(i + 1, len(toks)) if toks[k].kind not in ("ws", "comment")), None)
        if t.kind == "ident" and nxt is not None and toks[nxt].kind == "op" and toks[nxt].text == "(" \
                and t.text.lower() in FUNCTIONS and not (sig_prev and sig_prev.kind == "op" and sig_prev.text == "."):
            args, end = split_args(toks, nxt)
            out.append(FUNCTIONS[t.text.lower()]([render(a).strip() for a in args]))
            sig_prev, i = Tok("sql", ")", ")"), end
            continue
        if t.kind == "str":
            out.append(sql_string(t.value))
        elif t.kind in ("bq", "dq"):
            out.append(sql_ident(t.value))
        elif t.kind == "ident" and depth == 0 and sig_prev is not None and sig_prev.is_kw("AS"):
            out.append(sql_ident(t.text))   # an alias: may be a DuckDB keyword (AS partition)
        elif t.kind == "op" and t.text == "*" and _is_select_star(sig_prev, toks, nxt):
            out.append("* EXCLUDE (%s)" % ", ".join(sql_ident(c) for c in VIRTUAL_COLUMNS))
        elif t.kind == "comment":
            out.append(" ")
        else:
            out.append(t.text)
            if t.kind == "op" and t.text in "([":
                depth += 1
            elif t.kind == "op" and t.text in ")]":
                depth -= 1
        if t.kind not in ("ws", "comment"):
            sig_prev = t
        i += 1
    return "".join(out)


def _is_select_star(prev: Optional[Tok], toks: List[Tok], nxt: Optional[int]) -> bool:
    if prev is None or not (prev.is_kw("SELECT", "DISTINCT") or (prev.kind == "op" and prev.text in (",", "."))):
        return False
    return nxt is None or (toks[nxt].kind == "op" and toks[nxt].text == ",") or toks[nxt].is_kw("FROM")


def _strip_tail(toks: List[Tok]) -> List[Tok]:
    """Drops a trailing ';', `FORMAT <name>`, `SETTINGS k = v, ...` and the FINAL modifier."""
    sig = [k for k, t in enumerate(toks) if t.kind not in ("ws", "comment")]
    while sig and toks[sig[-1]].kind == "op" and toks[sig[-1]].text == ";":
        toks = toks[: sig[-1]]
        sig.pop()
    depth, cut = 0, None
    for n, k in enumerate(sig):
        t = toks[k]
        if t.kind == "op" and t.text == "(":
            depth += 1
        elif t.kind == "op" and t.text == ")":
            depth -= 1
        elif depth == 0 and n + 1 < len(sig) and toks[sig[n + 1]].kind == "ident" and (
                (t.is_kw("FORMAT") and (n + 2 == len(sig) or toks[sig[n + 2]].is_kw("SETTINGS")))
                or (t.is_kw("SETTINGS") and n + 2 < len(sig) and toks[sig[n + 2]].text == "=")):
            cut = k
            break
    if cut is not None:
        toks = toks[:cut]
    return [t for t in toks if not t.is_kw("FINAL")]


def _limit_offset(toks: List[Tok]) -> List[Tok]:
    """ClickHouse `LIMIT a, b` (offset a, count b) -> `LIMIT b OFFSET a`."""
    sig = [k for k, t in enumerate(toks) if t.kind not in ("ws", "comment")]
    for n, k in enumerate(sig):
        if toks[k].is_kw("LIMIT") and n + 3 < len(sig):
            a, comma, b = (toks[sig[n + 1]], toks[sig[n + 2]], toks[sig[n + 3]])
            if a.kind == "num" and comma.text == "," and b.kind == "num":
                repl = Tok("sql", " %s OFFSET %s" % (b.text, a.text), "")
                return toks[: k + 1] + [repl] + toks[sig[n + 3] + 1:]
    return toks


def translate(query: str, table: str) -> str:
    toks = tokenize(query)
    toks = _strip_tail(toks)
    toks = _limit_offset(toks)
    toks = replace_table_refs(toks, table)
    return render(toks).strip()


# ------------------------------------------------------------------ query structure


def _top_level_split(toks: List[Tok]) -> List[List[Tok]]:
    items, cur, depth = [], [], 0
    for t in toks:
        if t.kind == "op" and t.text in "([":
            depth += 1
        elif t.kind == "op" and t.text in ")]":
            depth -= 1
        if depth == 0 and t.kind == "op" and t.text == ",":
            items.append(cur)
            cur = []
        else:
            cur.append(t)
    items.append(cur)
    return [i for i in items if i]


def _top_level_clause(sig: List[Tok], start_kw: str, end_kws: tuple) -> Optional[List[Tok]]:
    """Tokens of the last top-level clause that starts with start_kw (e.g. ORDER BY)."""
    depth, start, result = 0, None, None
    for k, t in enumerate(sig):
        if t.kind == "op" and t.text == "(":
            depth += 1
        elif t.kind == "op" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.is_kw(start_kw) and start is None:
            start = k + 1
        elif depth == 0 and start is not None and t.is_kw(*end_kws):
            result, start = sig[start:k], None
    if start is not None:
        result = sig[start:]
    return result


def select_items(query: str) -> List[List[Tok]]:
    """The top-level select list of the (ClickHouse) query, as significant tokens per item."""
    sig = significant(_strip_tail(tokenize(query)))
    items = _top_level_clause(sig, "SELECT", ("FROM",)) or []
    if items and items[0].is_kw("DISTINCT"):
        items = items[1:]
    return _top_level_split(items)


def path_columns(query: str) -> List[bool]:
    """For each select item: does it read the virtual column _path (or _file)?"""
    return [any(t.kind in ("ident", "bq", "dq") and t.value in VIRTUAL_COLUMNS for t in item)
            for item in select_items(query)]


def item_alias(item: List[Tok]) -> Optional[str]:
    if len(item) >= 3 and item[-2].is_kw("AS") and item[-1].kind in ("ident", "bq", "dq"):
        return item[-1].value
    if len(item) == 1 and item[0].kind in ("ident", "bq", "dq"):
        return item[0].value
    return None


def order_by_keys(query: str) -> Optional[List[str]]:
    """The ORDER BY items when each is a plain column name (or 1-based position as '#N');
    None when there is no ORDER BY or an item is an expression."""
    sig = significant(_strip_tail(tokenize(query)))
    depth, start = 0, None
    for k, t in enumerate(sig):
        if t.kind == "op" and t.text == "(":
            depth += 1
        elif t.kind == "op" and t.text == ")":
            depth -= 1
        elif depth == 0 and t.is_kw("ORDER") and k + 1 < len(sig) and sig[k + 1].is_kw("BY"):
            start = k + 2
    if start is None:
        return None
    clause = []
    for t in sig[start:]:
        if t.is_kw("LIMIT", "OFFSET", "WITH"):
            break
        clause.append(t)
    keys = []
    for item in _top_level_split(clause):
        while item and (item[-1].is_kw("ASC", "DESC", "FIRST", "LAST", "NULLS")):
            item = item[:-1]
        if len(item) == 1 and item[0].kind in ("ident", "bq", "dq"):
            keys.append(item[0].value)
        elif len(item) == 1 and item[0].kind == "num" and item[0].text.isdigit():
            keys.append("#" + item[0].text)
        else:
            return None
    return keys
