"""Canonical TSV rendering shared by the Python readers.

It must produce exactly what tools/java/.../Render.java produces; tools/README.md states the
rules. Values are rendered from an abstract "kind" so that both PyIceberg (Iceberg types) and
DuckDB (Arrow types) results go through the same code:

  ("int",) ("long",) ("float",) ("double",) ("decimal",) ("boolean",) ("string",) ("binary",)
  ("date",) ("time",) ("timestamp",) ("timestamptz",) ("uuid",) ("other",)
  ("struct", [(name, kind), ...]) ("list", kind) ("map", key_kind, value_kind)
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
import struct
import uuid as _uuid
from fractions import Fraction

NULL = "\\N"


# ---------------------------------------------------------------- kinds


def kind_from_iceberg(t) -> tuple:
    """Kind of a pyiceberg type."""
    from pyiceberg import types as it

    simple = [
        (it.IntegerType, "int"),
        (it.LongType, "long"),
        (it.FloatType, "float"),
        (it.DoubleType, "double"),
        (it.DecimalType, "decimal"),
        (it.BooleanType, "boolean"),
        (it.StringType, "string"),
        (it.BinaryType, "binary"),
        (it.FixedType, "binary"),
        (it.DateType, "date"),
        (it.TimeType, "time"),
        (it.TimestamptzType, "timestamptz"),
        (it.TimestampType, "timestamp"),
        (it.UUIDType, "uuid"),
    ]
    for cls, name in simple:
        if isinstance(t, cls):
            return (name,)
    tz_ns = getattr(it, "TimestamptzNanoType", None)
    ts_ns = getattr(it, "TimestampNanoType", None)
    if tz_ns is not None and isinstance(t, tz_ns):
        return ("timestamptz",)
    if ts_ns is not None and isinstance(t, ts_ns):
        return ("timestamp",)
    if isinstance(t, it.StructType):
        return ("struct", [(f.name, kind_from_iceberg(f.field_type)) for f in t.fields])
    if isinstance(t, it.ListType):
        return ("list", kind_from_iceberg(t.element_type))
    if isinstance(t, it.MapType):
        return ("map", kind_from_iceberg(t.key_type), kind_from_iceberg(t.value_type))
    return ("other",)


def kind_from_arrow(t) -> tuple:
    """Kind of a pyarrow type (as DuckDB returns results)."""
    import pyarrow as pa
    import pyarrow.types as pt

    if isinstance(t, pa.ExtensionType):
        if "uuid" in str(t.extension_name).lower():
            return ("uuid",)
        return kind_from_arrow(t.storage_type)
    if pt.is_int8(t) or pt.is_int16(t) or pt.is_int32(t) or pt.is_uint8(t) or pt.is_uint16(t):
        return ("int",)
    if pt.is_integer(t):
        return ("long",)
    if pt.is_float32(t):
        return ("float",)
    if pt.is_float64(t):
        return ("double",)
    if pt.is_decimal(t):
        return ("decimal",)
    if pt.is_boolean(t):
        return ("boolean",)
    if pt.is_string(t) or pt.is_large_string(t) or getattr(pt, "is_string_view", lambda _: False)(t):
        return ("string",)
    if pt.is_binary(t) or pt.is_large_binary(t) or pt.is_fixed_size_binary(t):
        return ("binary",)
    if pt.is_date(t):
        return ("date",)
    if pt.is_time(t):
        return ("time",)
    if pt.is_timestamp(t):
        return ("timestamptz",) if t.tz is not None else ("timestamp",)
    if pt.is_struct(t):
        return ("struct", [(t.field(i).name, kind_from_arrow(t.field(i).type)) for i in range(t.num_fields)])
    if pt.is_map(t):
        return ("map", kind_from_arrow(t.key_type), kind_from_arrow(t.item_type))
    if pt.is_list(t) or pt.is_large_list(t) or pt.is_fixed_size_list(t):
        return ("list", kind_from_arrow(t.value_type))
    return ("other",)


# ---------------------------------------------------------------- scalars


def escape_tsv(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _hex(v) -> str:
    if isinstance(v, _uuid.UUID):
        v = v.bytes
    return "\\x" + bytes(v).hex().upper()


def _f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _f32_from_bits(b: int) -> float:
    return struct.unpack("<f", struct.pack("<I", b))[0]


def _rounds_to_f32(q: Fraction, a: float) -> bool:
    """Whether the positive decimal q rounds (to nearest, ties to even) to the positive float32 a."""
    bits = _f32_bits(a)
    fa = Fraction(a)
    lo = Fraction(_f32_from_bits(bits - 1)) if bits > 0 else Fraction(0)
    hi_bits = bits + 1
    hi = Fraction(2) ** 128 if hi_bits >= 0x7F800000 else Fraction(_f32_from_bits(hi_bits))
    mid_lo = (fa + lo) / 2
    mid_hi = (fa + hi) / 2
    if mid_lo < q < mid_hi:
        return True
    if q == mid_lo or q == mid_hi:
        return bits % 2 == 0
    return False


def _layout(negative: bool, digits: str, exp: int) -> str:
    """Python repr() layout of digits d1.d2d3... x 10^exp."""
    sign = "-" if negative else ""
    if exp >= 16 or exp < -4:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return "%s%se%s%02d" % (sign, mant, "-" if exp < 0 else "+", abs(exp))
    if exp >= 0:
        if len(digits) <= exp + 1:
            return sign + digits + "0" * (exp + 1 - len(digits)) + ".0"
        return sign + digits[: exp + 1] + "." + digits[exp + 1 :]
    return sign + "0." + "0" * (-exp - 1) + digits


def format_float(x: float, single: bool = False) -> str:
    """Shortest digits that round-trip (to float32 if single), laid out like repr()."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    maxp = 9 if single else 17
    s = None
    for p in range(1, maxp + 1):
        s = "%.*e" % (p - 1, x)
        if single:
            if _rounds_to_f32(abs(Fraction(s)), abs(x)):
                break
        elif float(s) == x:
            break
    mant, exp = s.split("e")
    digits = mant.lstrip("-").replace(".", "").rstrip("0") or "0"
    return _layout(x < 0, digits, int(exp))


def _fraction(us: int) -> str:
    return ".%06d" % us if us else ""


def _time(t: _dt.time) -> str:
    return "%02d:%02d:%02d%s" % (t.hour, t.minute, t.second, _fraction(t.microsecond))


def _timestamp(ts: _dt.datetime) -> str:
    return "%04d-%02d-%02d %s" % (ts.year, ts.month, ts.day, _time(ts.time()))


def scalar(kind: tuple, v) -> str:
    """Text of a non-null primitive value, before TSV escaping."""
    k = kind[0]
    if k == "boolean":
        return "true" if v else "false"
    if k in ("int", "long"):
        return str(int(v))
    if k == "float":
        return format_float(float(v), single=True)
    if k == "double":
        return format_float(float(v))
    if k == "decimal":
        s = format(_decimal.Decimal(v), "f")
        if s.startswith("-") and _decimal.Decimal(v) == 0:
            s = s[1:]
        return s
    if k == "string":
        return v if isinstance(v, str) else str(v)
    if k == "binary":
        return _hex(v)
    if k == "date":
        return "%04d-%02d-%02d" % (v.year, v.month, v.day)
    if k == "time":
        return _time(v)
    if k == "timestamp":
        return _timestamp(v)
    if k == "timestamptz":
        if v.tzinfo is None:  # already UTC
            return _timestamp(v) + "+00"
        return _timestamp(v.astimezone(_dt.timezone.utc).replace(tzinfo=None)) + "+00"
    if k == "uuid":
        if isinstance(v, (bytes, bytearray)):
            return str(_uuid.UUID(bytes=bytes(v)))
        return str(v).lower()
    return str(v)


# ---------------------------------------------------------------- nested


def json_string(s: str) -> str:
    out = ['"']
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\b":
            out.append("\\b")
        elif c == "\f":
            out.append("\\f")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def to_json(kind: tuple, v) -> str:
    if v is None:
        return "null"
    k = kind[0]
    if k == "struct":
        parts = []
        for name, fk in kind[1]:
            parts.append(json_string(name) + ": " + to_json(fk, v.get(name) if isinstance(v, dict) else getattr(v, name)))
        return "{" + ", ".join(parts) + "}"
    if k == "list":
        return "[" + ", ".join(to_json(kind[1], e) for e in v) + "]"
    if k == "map":
        items = v.items() if isinstance(v, dict) else v
        parts = []
        for key, val in items:
            ks = "null" if key is None else (scalar(kind[1], key) if kind[1][0] not in ("struct", "list", "map") else to_json(kind[1], key))
            parts.append(json_string(ks) + ": " + to_json(kind[2], val))
        return "{" + ", ".join(parts) + "}"
    if k in ("boolean", "int", "long", "decimal"):
        return scalar(kind, v)
    if k in ("float", "double"):
        s = scalar(kind, v)
        return json_string(s) if s in ("NaN", "Infinity", "-Infinity") else s
    return json_string(scalar(kind, v))


def tsv_field(kind: tuple, v) -> str:
    if v is None:
        return NULL
    k = kind[0]
    if k == "binary":
        return _hex(v)
    if k in ("struct", "list", "map"):
        return escape_tsv(to_json(kind, v))
    return escape_tsv(scalar(kind, v))


def render_rows(names, kinds, rows, file_column=None):
    """Header line plus sorted row lines (without trailing newlines).

    rows: iterable of sequences of Python values (aligned with names/kinds); file_column: None,
    or an iterable of _file values aligned with rows.
    """
    header = "\t".join(escape_tsv(n) for n in names)
    if file_column is not None:
        header = header + ("\t" if names else "") + "_file"
    lines = []
    files = iter(file_column) if file_column is not None else None
    for row in rows:
        line = "\t".join(tsv_field(k, v) for k, v in zip(kinds, row))
        if files is not None:
            f = next(files)
            line = line + ("\t" if names else "") + (NULL if f is None else escape_tsv(f))
        lines.append(line)
    lines.sort()
    return [header] + lines
