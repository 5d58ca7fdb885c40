// Iceberg manifests and manifest lists (table spec, "Manifests" and "Manifest Lists"): Avro
// object container files with the spec's field ids and key/value metadata, written and read
// through the project's Avro codec (avro/). Pure: bytes in, bytes out.
//
// Sequence numbers follow the spec's inheritance rules: entries added by a commit are written
// with null sequence numbers and inherit the manifest's, which the manifest list records, so
// a manifest survives a commit retry unchanged and only the manifest list is rewritten.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "iceberg/data_file.h"
#include "iceberg/metadata.h"

namespace pg2iceberg::iceberg {

enum class ManifestContent : int32_t { kData = 0, kDeletes = 1 };

struct ManifestEntry {
  enum class EntryStatus : int32_t { kExisting = 0, kAdded = 1, kDeleted = 2 };
  EntryStatus status = EntryStatus::kAdded;
  std::optional<int64_t> snapshot_id;
  std::optional<int64_t> sequence_number;       // data sequence number
  std::optional<int64_t> file_sequence_number;
  DataFile file;
  bool operator==(const ManifestEntry&) const = default;
};

struct FieldSummary {
  bool contains_null = false;
  std::optional<bool> contains_nan;
  std::optional<std::string> lower_bound;  // single-value serialization
  std::optional<std::string> upper_bound;
  bool operator==(const FieldSummary&) const = default;
};

struct ManifestFile {
  std::string manifest_path;
  int64_t manifest_length = 0;
  int32_t partition_spec_id = 0;
  ManifestContent content = ManifestContent::kData;
  int64_t sequence_number = 0;
  int64_t min_sequence_number = 0;
  int64_t added_snapshot_id = 0;
  int32_t added_files_count = 0;
  int32_t existing_files_count = 0;
  int32_t deleted_files_count = 0;
  int64_t added_rows_count = 0;
  int64_t existing_rows_count = 0;
  int64_t deleted_rows_count = 0;
  std::vector<FieldSummary> partitions;
  std::optional<int64_t> first_row_id;  // v3
  bool operator==(const ManifestFile&) const = default;
};

// `v` as a value of partition field type `t`, from what a reader of another writer's manifest
// may hold for it (a day ordinal read as a date, an int where a long is due, …); an error for a
// value of an unrelated type.
Result<Value> PartitionValueAs(const Type& t, const Value& v);

// The partition tuple's field types for `spec` over `schema` (transform result types).
Result<std::vector<Type>> PartitionTypes(const Schema& schema, const PartitionSpec& spec);

struct ManifestWriteResult {
  std::string bytes;
  // Everything but manifest_path, manifest_length and sequence numbers, which the committer
  // fills in (sequence numbers at commit time; min_sequence_number from existing entries).
  ManifestFile summary;
};

// Writes a manifest of `entries` (all data files, or all delete files).
Result<ManifestWriteResult> WriteManifest(int32_t format_version, const Schema& schema,
                                          const PartitionSpec& spec, ManifestContent content,
                                          int64_t snapshot_id,
                                          const std::vector<ManifestEntry>& entries);

// Reads a manifest and applies inheritance from its manifest-list entry: a null snapshot id
// becomes `from.added_snapshot_id`; a null sequence number of an ADDED entry becomes
// `from.sequence_number`. `schema` supplies the partition types when the file's own metadata
// lacks them.
Result<std::vector<ManifestEntry>> ReadManifest(const std::string& bytes,
                                                const ManifestFile& from);

Result<std::string> WriteManifestList(int32_t format_version, int64_t snapshot_id,
                                      std::optional<int64_t> parent_snapshot_id,
                                      int64_t sequence_number,
                                      const std::vector<ManifestFile>& manifests);
Result<std::vector<ManifestFile>> ReadManifestList(const std::string& bytes);

}  // namespace pg2iceberg::iceberg
