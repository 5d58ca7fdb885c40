// A data or delete file as a manifest entry describes it (Iceberg spec, "Manifests": the
// data_file struct). Produced by the Parquet writers, stored in manifests, read back by
// scans, compaction and verify. Plain value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "types/value.h"

namespace pg2iceberg::iceberg {

enum class FileContent : int32_t { kData = 0, kPositionDeletes = 1, kEqualityDeletes = 2 };

struct DataFile {
  FileContent content = FileContent::kData;
  std::string file_path;  // absolute URI, e.g. s3://bucket/wh/db/t/data/….parquet
  std::string file_format = "PARQUET";
  int32_t spec_id = 0;
  // One value per field of the partition spec, in spec order (transformed values).
  std::vector<Value> partition;
  int64_t record_count = 0;
  int64_t file_size_in_bytes = 0;
  // Column metrics keyed by field id. Bounds are in the spec's single-value serialization
  // (iceberg/single_value.h), truncated as Iceberg Java does for strings and binary.
  std::map<int32_t, int64_t> column_sizes;
  std::map<int32_t, int64_t> value_counts;
  std::map<int32_t, int64_t> null_value_counts;
  std::map<int32_t, int64_t> nan_value_counts;
  std::map<int32_t, std::string> lower_bounds;
  std::map<int32_t, std::string> upper_bounds;
  std::vector<int64_t> split_offsets;
  std::vector<int32_t> equality_ids;  // kEqualityDeletes: the identifier field ids
  std::optional<int32_t> sort_order_id;
  // Position deletes that all target one data file may say so (v2 optional; v3 deletion
  // vectors always do).
  std::optional<std::string> referenced_data_file;
  // v3: where a deletion vector's blob is in its Puffin file.
  std::optional<int64_t> content_offset;
  std::optional<int64_t> content_size_in_bytes;
  // v3 row lineage: the row id of the file's first row (null: inherited from the manifest).
  std::optional<int64_t> first_row_id;

  bool operator==(const DataFile&) const = default;
};

// A deletion vector: position deletes in a Puffin blob rather than Parquet rows.
inline bool IsDeletionVector(const DataFile& f) {
  return f.content == FileContent::kPositionDeletes &&
         (f.content_offset.has_value() || f.file_format == "PUFFIN" || f.file_format == "puffin");
}

// What names one live file of a table: its path, and for a deletion vector also its blob's
// offset (several vectors share one Puffin file).
inline std::string FileKey(const DataFile& f) {
  return IsDeletionVector(f) ? f.file_path + "#" + std::to_string(f.content_offset.value_or(0)) : f.file_path;
}

// Reserved field ids of the v3 row lineage columns (spec: "Row Lineage").
inline constexpr int32_t kRowIdFieldId = 2147483540;
inline constexpr int32_t kLastUpdatedSequenceNumberFieldId = 2147483539;

// Reserved field ids of position delete files (spec: "Position Delete Files").
inline constexpr int32_t kPositionDeleteFilePathId = 2147483546;
inline constexpr int32_t kPositionDeletePosId = 2147483545;

}  // namespace pg2iceberg::iceberg
