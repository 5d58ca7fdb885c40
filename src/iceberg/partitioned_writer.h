// Writes rows of a table into Parquet files per partition of the table's default spec:
// "<location>/data/<field>=<value>/…/<uuid>.parquet" (Iceberg Java's human-readable partition
// paths), one DataFileWriter per partition, DataFile.partition and spec_id filled in.
//
// Data rows carry every column, so their partition is computed from them. Equality-delete
// rows carry only the key columns, so the caller names the partition each delete belongs to
// (the partition of the row it deletes). Not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "iceberg/data_file.h"
#include "iceberg/metadata.h"
#include "iceberg/parquet_io.h"
#include "iceberg/transform.h"
#include "io/file_io.h"

namespace pg2iceberg::iceberg {

class PartitionedWriter {
 public:
  // Data files of `metadata`'s current schema and default spec.
  static Result<std::unique_ptr<PartitionedWriter>> MakeData(std::shared_ptr<io::FileIO> io,
                                                             const TableMetadata& metadata,
                                                             ParquetWriteOptions options = {});
  // Equality-delete files on `equality_ids` (default: the schema's identifier fields).
  static Result<std::unique_ptr<PartitionedWriter>> MakeEqualityDeletes(
      std::shared_ptr<io::FileIO> io, const TableMetadata& metadata,
      std::vector<int32_t> equality_ids = {}, ParquetWriteOptions options = {});

  // Data: full rows in schema order; the partition comes from the row.
  Status Write(std::span<const std::vector<Value>> rows);
  // Rows of the writer's columns (for deletes: the equality columns) into `partition`.
  Status WriteTo(const std::vector<Value>& partition, std::span<const std::vector<Value>> rows);
  // A batch of the writer's columns (DataFileWriter::Write) into `partition`: how columns
  // rows of Values cannot carry (structs) are written. Their locations are not recorded.
  Status WriteTo(const std::vector<Value>& partition, const arrow::RecordBatch& batch);
  // The partition tuple of a full row.
  Result<std::vector<Value>> PartitionOf(const std::vector<Value>& row) const;

  Result<std::vector<DataFile>> Close();
  int64_t rows_written() const { return rows_; }

  // Where each row given to Write went, in the order given (after Close): the index of its
  // file in what Close returned, and its position in that file.
  struct RowLocation {
    size_t file = 0;
    int64_t pos = 0;
  };
  const std::vector<RowLocation>& locations() const { return locations_; }
  std::vector<RowLocation> TakeLocations() { return std::move(locations_); }

 private:
  PartitionedWriter() = default;
  Result<DataFileWriter*> WriterFor(const std::vector<Value>& partition);

  std::shared_ptr<io::FileIO> io_;
  Schema schema_;
  PartitionSpec spec_;
  std::vector<Transform> transforms_;
  std::vector<int> source_index_;   // column index in the schema of each partition source
  std::vector<Type> source_types_;
  bool deletes_ = false;
  std::vector<int32_t> equality_ids_;
  std::string data_dir_;
  ParquetWriteOptions options_;
  std::map<std::vector<Value>, std::unique_ptr<DataFileWriter>> writers_;
  int64_t rows_ = 0;
  // Per row given to Write: its writer and its row number there (resolved by Close).
  std::vector<std::pair<const DataFileWriter*, int64_t>> written_;
  std::vector<RowLocation> locations_;
};

}  // namespace pg2iceberg::iceberg
