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
  // rows of Values cannot carry (structs) are written, and how rows are moved without
  // converting them. Their locations are recorded after those of the rows written before.
  Status WriteTo(const std::vector<Value>& partition, const arrow::RecordBatch& batch);
  // The partition tuple of a full row.
  Result<std::vector<Value>> PartitionOf(const std::vector<Value>& row) const;

  Result<std::vector<DataFile>> Close();
  int64_t rows_written() const { return rows_; }

  // Where each row given to Write (or in a batch to WriteTo) went, in the order given (after
  // Close): the index of its file in what Close returned, and its position in that file.
  struct RowLocation {
    size_t file = 0;
    int64_t pos = 0;
    bool operator==(const RowLocation&) const = default;
  };
  // Kept as runs of rows that went to consecutive positions of one file (one run per Write
  // call and file on an unpartitioned table), not per row: a rewrite of 10,000,000 rows does
  // not hold 10,000,000 locations.
  class RowLocations {
   public:
    size_t size() const { return runs_.empty() ? 0 : runs_.back().end; }
    RowLocation operator[](size_t row) const;  // row < size()

   private:
    friend class PartitionedWriter;
    struct Run {
      size_t end = 0;  // rows before it and in it
      RowLocation first;
    };
    void Add(size_t rows, RowLocation first);
    std::vector<Run> runs_;
  };
  const RowLocations& locations() const { return locations_; }
  RowLocations TakeLocations() { return std::move(locations_); }

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
  // The rows given to Write, in order, as runs that went to consecutive rows of one writer
  // (resolved to files by Close).
  struct Written {
    const DataFileWriter* writer = nullptr;
    int64_t first_row = 0;  // the writer's row number of the run's first row
    int64_t rows = 0;
  };
  std::vector<Written> written_;
  // Appends `rows` rows written to `w` from its row `first_row` on to written_, extending the
  // last run when they follow it.
  void Record(const DataFileWriter* w, int64_t first_row, int64_t rows);
  RowLocations locations_;
};

}  // namespace pg2iceberg::iceberg
