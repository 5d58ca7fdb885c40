#!/usr/bin/env python3
"""Independent reader for parquet_io_integration_test: pyarrow dumps Parquet files as JSON.

usage: parquet_io_check.py --out OUT.json FILE [FILE ...]

FILE is a local path or s3://bucket/key; for S3 the endpoint and keys come from the
environment (PG2I_S3_ENDPOINT=http://host:port, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_REGION). For each file the output holds the Parquet schema (name, field id, physical and
logical type, max definition level) and every row with each value rendered canonically:

  boolean "true"/"false"; int/long, date (days), time/timestamp (micros) as decimal integers;
  float/double as the little-endian IEEE bytes in hex ("NaN" for any NaN); decimal as its
  unscaled integer; string as is; uuid/binary as lowercase hex; NULL as null.
"""
import argparse
import json
import os
import struct
import sys

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def open_file(path):
    if not path.startswith("s3://"):
        return path
    endpoint = os.environ["PG2I_S3_ENDPOINT"]
    scheme, host = endpoint.split("://", 1)
    fs = pafs.S3FileSystem(
        endpoint_override=host,
        scheme=scheme,
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION", "us-east-1"),
        force_virtual_addressing=False,
    )
    return fs.open_input_file(path[len("s3://"):])


def unscaled(value, scale):
    sign, digits, exponent = value.as_tuple()
    n = int("".join(map(str, digits))) if digits else 0
    shift = exponent + scale
    n = n * 10**shift if shift >= 0 else n // 10**(-shift)
    return str(-n if sign else n)


def render_column(column, arrow_type):
    if isinstance(arrow_type, pa.BaseExtensionType):  # arrow.uuid for the UUID logical type
        column = pa.chunked_array([c.storage for c in column.chunks],
                                  type=arrow_type.storage_type)
        arrow_type = arrow_type.storage_type
    if pa.types.is_date32(arrow_type):
        return [None if v is None else str(v) for v in column.cast(pa.int32()).to_pylist()]
    if pa.types.is_time64(arrow_type) or pa.types.is_timestamp(arrow_type):
        return [None if v is None else str(v) for v in column.cast(pa.int64()).to_pylist()]
    values = column.to_pylist()
    if pa.types.is_boolean(arrow_type):
        return [None if v is None else ("true" if v else "false") for v in values]
    if pa.types.is_integer(arrow_type):
        return [None if v is None else str(v) for v in values]
    if pa.types.is_float32(arrow_type) or pa.types.is_float64(arrow_type):
        fmt = "<f" if pa.types.is_float32(arrow_type) else "<d"
        return [None if v is None else ("NaN" if v != v else struct.pack(fmt, v).hex())
                for v in values]
    if pa.types.is_decimal(arrow_type):
        return [None if v is None else unscaled(v, arrow_type.scale) for v in values]
    if pa.types.is_string(arrow_type):
        return values
    if pa.types.is_binary(arrow_type) or pa.types.is_fixed_size_binary(arrow_type):
        return [None if v is None else v.hex() for v in values]
    raise ValueError(f"unexpected Arrow type {arrow_type}")


def dump(path):
    pf = pq.ParquetFile(open_file(path))
    arrow_schema = pf.schema_arrow
    columns = []
    for i in range(pf.metadata.num_columns):
        c = pf.schema.column(i)
        field = arrow_schema.field(i)
        metadata = field.metadata or {}
        field_id = metadata.get(b"PARQUET:field_id")
        columns.append({
            "name": c.name,
            "field_id": int(field_id) if field_id is not None else None,
            "physical": c.physical_type,
            "logical": str(c.logical_type),
            "max_definition_level": c.max_definition_level,
            "arrow_type": str(field.type),
        })
    table = pf.read()
    rendered = [render_column(table.column(i), table.schema.field(i).type)
                for i in range(table.num_columns)]
    rows = [list(r) for r in zip(*rendered)] if rendered else []
    compression = sorted({pf.metadata.row_group(g).column(c).compression
                          for g in range(pf.metadata.num_row_groups)
                          for c in range(pf.metadata.num_columns)})
    return {"path": path, "num_rows": pf.metadata.num_rows,
            "num_row_groups": pf.metadata.num_row_groups, "compression": compression,
            "columns": columns, "rows": rows}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    try:
        result = [dump(path) for path in args.files]
    except Exception as e:  # the test prints the log; say which file failed
        print(f"parquet_io_check: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
