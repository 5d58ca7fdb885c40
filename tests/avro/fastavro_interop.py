#!/usr/bin/env python3
"""Interop checks between pg2iceberg's Avro codec and fastavro (run by avro_interop_test).

  fastavro_interop.py check PATH CODEC   read a file our writer produced; verify every record,
                                         the metadata and that field ids survived
  fastavro_interop.py write PATH         write the same records with fastavro (deflate codec)
                                         for our reader to verify

The records follow one formula, mirrored in src/avro/interop_test.cc (ExpectedRecord).
"""
import datetime
import json
import sys

import fastavro

N = 50
SUITS = ["SPADES", "HEARTS", "DIAMONDS", "CLUBS"]

METADATA = {
    "schema": '{"type":"struct","schema-id":0,"fields":[{"id":1,"name":"id","required":true,"type":"long"}]}',
    "partition-spec": '[{"name":"id_bucket","transform":"bucket[16]","source-id":1,"field-id":1000}]',
    "partition-spec-id": "0",
    "format-version": "2",
    "content": "data",
}


def kv_map(name, key_id, value_id, value_type):
    return {
        "type": "array",
        "logicalType": "map",
        "items": {
            "type": "record",
            "name": name,
            "fields": [
                {"name": "key", "type": "int", "field-id": key_id},
                {"name": "value", "type": value_type, "field-id": value_id},
            ],
        },
    }


SCHEMA = {
    "type": "record",
    "name": "manifest_entry",
    "fields": [
        {"name": "status", "type": "int", "field-id": 0},
        {"name": "snapshot_id", "type": ["null", "long"], "default": None, "field-id": 1},
        {
            "name": "data_file",
            "field-id": 2,
            "type": {
                "type": "record",
                "name": "r2",
                "fields": [
                    {"name": "file_path", "type": "string", "doc": "Location URI with FS scheme", "field-id": 100},
                    {"name": "file_format", "type": "string", "field-id": 101},
                    {
                        "name": "partition",
                        "field-id": 102,
                        "type": {
                            "type": "record",
                            "name": "r102",
                            "fields": [
                                {"name": "id_bucket", "type": ["null", "int"], "default": None, "field-id": 1000},
                                {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None, "field-id": 1001},
                            ],
                        },
                    },
                    {"name": "record_count", "type": "long", "field-id": 103},
                    {"name": "file_size_in_bytes", "type": "long", "field-id": 104},
                    {"name": "column_sizes", "type": ["null", kv_map("k117_v118", 117, 118, "long")], "default": None, "field-id": 108},
                    {"name": "lower_bounds", "type": ["null", kv_map("k126_v127", 126, 127, "bytes")], "default": None, "field-id": 125},
                    {"name": "split_offsets", "type": ["null", {"type": "array", "items": "long", "element-id": 133}], "default": None, "field-id": 132},
                    {"name": "sort_order_id", "type": ["null", "int"], "default": None, "field-id": 140},
                ],
            },
        },
        {
            "name": "extras",
            "field-id": 3,
            "type": {
                "type": "record",
                "name": "extras",
                "fields": [
                    {"name": "f", "type": "float", "field-id": 200},
                    {"name": "d", "type": "double", "field-id": 201},
                    {"name": "e", "type": {"type": "enum", "name": "Suit", "symbols": SUITS}, "field-id": 202},
                    {"name": "fx", "type": {"type": "fixed", "name": "four", "size": 4}, "field-id": 203},
                    {"name": "m", "type": {"type": "map", "values": "string", "key-id": 205, "value-id": 206}, "field-id": 204},
                    {"name": "flag", "type": "boolean", "field-id": 207},
                ],
            },
        },
    ],
}

EPOCH = datetime.date(1970, 1, 1)


def expected_record(i, decoded_dates):
    day = None if i % 7 == 0 else 19000 + i
    if day is not None and decoded_dates:
        day = EPOCH + datetime.timedelta(days=day)
    return {
        "status": i % 3,
        "snapshot_id": None if i % 5 == 0 else 1000 + i,
        "data_file": {
            "file_path": "s3://bucket/db/t/data/%05d.parquet" % i,
            "file_format": "PARQUET",
            "partition": {"id_bucket": None if i % 4 == 0 else i % 16, "day": day},
            "record_count": i * 100,
            "file_size_in_bytes": (1 << 33) + i,
            "column_sizes": None if i % 2 else [{"key": k, "value": k * i} for k in range(1, 4)],
            "lower_bounds": None if i % 6 == 0 else [{"key": 1, "value": bytes([i % 256, 0, 255])}],
            "split_offsets": None if i % 3 == 0 else [4, 4 + i * 1000],
            "sort_order_id": None if i % 2 == 0 else 0,
        },
        "extras": {
            "f": i * 0.5,
            "d": -i / 4.0,
            "e": SUITS[i % 4],
            "fx": bytes([(i + k) % 256 for k in range(4)]),
            "m": {"k%d" % i: "v", "\u00e9": "\u00fc"},
            "flag": i % 2 == 0,
        },
    }


def field_ids(schema, out):
    """Collects (path, attribute, value) for every id attribute in a parsed schema."""
    if isinstance(schema, list):
        for branch in schema:
            field_ids(branch, out)
    elif isinstance(schema, dict):
        for key in ("element-id", "key-id", "value-id"):
            if key in schema:
                out.append((key, schema[key]))
        if schema.get("type") in ("record", "error"):
            for f in schema["fields"]:
                out.append((f["name"], f.get("field-id")))
                field_ids(f["type"], out)
        elif schema.get("type") == "array":
            field_ids(schema["items"], out)
        elif schema.get("type") == "map":
            field_ids(schema["values"], out)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(path, codec):
    with open(path, "rb") as f:
        reader = fastavro.reader(f)
        records = list(reader)
        meta = reader.metadata
        writer_schema = reader.writer_schema
    if meta.get("avro.codec") != codec:
        fail("avro.codec is %r, want %r" % (meta.get("avro.codec"), codec))
    for key, value in METADATA.items():
        if meta.get(key) != value:
            fail("metadata %r is %r, want %r" % (key, meta.get(key), value))
    want_ids = []
    field_ids(SCHEMA, want_ids)
    for name, schema in (("parsed writer schema", writer_schema),
                         ("avro.schema", json.loads(meta["avro.schema"]))):
        got_ids = []
        field_ids(schema, got_ids)
        if got_ids != want_ids:
            fail("%s ids %r, want %r" % (name, got_ids, want_ids))
    if json.loads(meta["avro.schema"])["fields"][2]["type"]["fields"][5]["type"][1].get("logicalType") != "map":
        fail("logicalType map did not survive")
    if len(records) != N:
        fail("%d records, want %d" % (len(records), N))
    for i, rec in enumerate(records):
        want = expected_record(i, decoded_dates=True)
        if rec != want:
            fail("record %d:\n got %r\nwant %r" % (i, rec, want))
    print("fastavro read %d records, %d ids, codec %s: OK" % (len(records), len(want_ids), codec))


def write(path):
    parsed = fastavro.parse_schema(SCHEMA)
    with open(path, "wb") as f:
        fastavro.writer(f, parsed, [expected_record(i, decoded_dates=False) for i in range(N)],
                        codec="deflate", metadata=METADATA, sync_interval=2000)
    print("fastavro wrote %d records to %s" % (N, path))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        fail("usage: fastavro_interop.py check PATH CODEC | write PATH")


if __name__ == "__main__":
    main()
