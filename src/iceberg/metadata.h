// Iceberg table metadata (the `metadata.json` of the table spec): the data model, JSON
// reading (format v1, v2 and v3 written by any engine) and writing (in the table's own format
// version). The pure edits pg2iceberg makes (add a snapshot, evolve the schema or the
// partition spec, set refs and properties) are in metadata_edit.h. See docs/metadata.md.
//
// Reading never fails on things this build does not use: unknown types are kept verbatim in
// the schema (schema.h), unknown transforms as their text, and unknown top-level keys in
// `extra` so that a table written by another engine round-trips. What we write is
// byte-stable: ToJson(FromJson(ToJson(m))) == ToJson(m).
//
// Plain values; no I/O; not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "iceberg/file_names.h"
#include "iceberg/schema.h"

namespace pg2iceberg::iceberg {

struct PartitionField {
  int32_t source_id = 0;
  int32_t field_id = 0;  // 1000 and up
  std::string name;
  std::string transform;  // "identity", "day", "bucket[16]", …, kept as written
  bool operator==(const PartitionField&) const = default;
};

struct PartitionSpec {
  int32_t spec_id = 0;
  std::vector<PartitionField> fields;
  bool unpartitioned() const { return fields.empty(); }
  bool operator==(const PartitionSpec&) const = default;
};

struct SortField {
  std::string transform;
  int32_t source_id = 0;
  std::string direction = "asc";         // asc | desc
  std::string null_order = "nulls-first";  // nulls-first | nulls-last
  bool operator==(const SortField&) const = default;
};

struct SortOrder {
  int32_t order_id = 0;
  std::vector<SortField> fields;
  bool operator==(const SortOrder&) const = default;
};

struct Snapshot {
  int64_t snapshot_id = 0;
  std::optional<int64_t> parent_snapshot_id;
  int64_t sequence_number = 0;
  int64_t timestamp_ms = 0;
  std::string manifest_list;
  // "operation" (append, replace, overwrite, delete) plus the standard totals.
  std::map<std::string, std::string> summary;
  std::optional<int32_t> schema_id;
  // v3 row lineage.
  std::optional<int64_t> first_row_id;
  std::optional<int64_t> added_rows;
  // Snapshot keys this build does not model (v1 "manifests", v3 "key-id", …): key → raw JSON
  // text, written back unchanged.
  std::map<std::string, std::string> extra;
  bool operator==(const Snapshot&) const = default;
};

struct SnapshotRef {
  int64_t snapshot_id = 0;
  std::string type = "branch";  // branch | tag
  std::optional<int64_t> max_ref_age_ms;
  std::optional<int64_t> max_snapshot_age_ms;
  std::optional<int32_t> min_snapshots_to_keep;
  bool operator==(const SnapshotRef&) const = default;
};

struct SnapshotLogEntry {
  int64_t timestamp_ms = 0;
  int64_t snapshot_id = 0;
  bool operator==(const SnapshotLogEntry&) const = default;
};

struct MetadataLogEntry {
  int64_t timestamp_ms = 0;
  std::string metadata_file;
  bool operator==(const MetadataLogEntry&) const = default;
};

struct TableMetadata {
  int32_t format_version = 2;
  std::string table_uuid;
  std::string location;
  int64_t last_sequence_number = 0;
  int64_t last_updated_ms = 0;
  int32_t last_column_id = 0;
  std::vector<Schema> schemas;
  int32_t current_schema_id = 0;
  std::vector<PartitionSpec> partition_specs;
  int32_t default_spec_id = 0;
  int32_t last_partition_id = 999;
  std::map<std::string, std::string> properties;
  std::optional<int64_t> current_snapshot_id;  // absent (or -1 in v1 files) when empty
  std::vector<Snapshot> snapshots;
  std::vector<SnapshotLogEntry> snapshot_log;
  std::vector<MetadataLogEntry> metadata_log;
  std::vector<SortOrder> sort_orders;
  int32_t default_sort_order_id = 0;
  std::map<std::string, SnapshotRef> refs;
  std::optional<int64_t> next_row_id;  // v3
  // Top-level keys this build does not model (statistics, partition-statistics,
  // encryption-keys, …): key → raw JSON text, written back unchanged.
  std::map<std::string, std::string> extra;

  const Schema* CurrentSchema() const;
  const Schema* SchemaById(int32_t id) const;
  const PartitionSpec* DefaultSpec() const;
  const PartitionSpec* SpecById(int32_t id) const;
  const Snapshot* CurrentSnapshot() const;
  const Snapshot* SnapshotById(int64_t id) const;

  bool operator==(const TableMetadata&) const = default;
};

// Parses metadata JSON of format version 1, 2 or 3. InvalidArgument names the key that is
// missing or malformed ("schemas[0].fields[3].type"), or says the text is not JSON;
// Unimplemented for a format version above 3. See docs/metadata.md for what v1 files may
// omit and the defaults used then.
Result<TableMetadata> ParseTableMetadata(std::string_view json);
// Serialises in the form of m.format_version with a fixed key order (docs/metadata.md), so
// the output is byte-stable; pretty = false gives one line, true indents by two spaces.
// Raw JSON text in `extra` and in the defaults of fields is re-emitted (as null if it is not
// valid JSON).
std::string SerializeTableMetadata(const TableMetadata& m, bool pretty = false);

// Schema and partition-spec JSON on their own (used by the REST catalog and by manifests'
// key/value metadata, which carry the schema and spec as JSON text).
std::string SerializeSchema(const Schema& s);
Result<Schema> ParseSchema(std::string_view json);
std::string SerializePartitionSpecFields(const PartitionSpec& spec);  // the "fields" array only
std::string SerializePartitionSpec(const PartitionSpec& spec);
Result<PartitionSpec> ParsePartitionSpec(std::string_view json);

}  // namespace pg2iceberg::iceberg
