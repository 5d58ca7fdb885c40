// Iceberg data and delete files in Parquet: writers that produce DataFile descriptors with the
// column metrics engines prune by, and a reader that resolves columns by field id. See
// docs/io.md ("Parquet files") for the type mapping byte by byte.
//
// In memory a batch is an arrow::RecordBatch whose columns have the Arrow types of
// ArrowTypeFor (one per Iceberg primitive type); the writers also take rows of Values
// (types/value.h) and convert them. Readers return the same Arrow form, so compaction can
// read, filter and rewrite without going through Values.
//
// Writers:
//   - Parquet schema from the Iceberg schema: every column carries its field id; physical and
//     logical types as Iceberg Java writes them (spec Appendix A); zstd; dictionary encoding;
//     Parquet statistics.
//   - Files roll when the estimated size reaches target_file_size (measured on the encoded,
//     compressed pages, plus the encoded-but-unpaged tail); row groups close at
//     row_group_size. Each file is written through FileIO: visible only once complete.
//   - Metrics per field id, as Iceberg Java's default metrics mode truncate(16) produces them:
//     value_counts (nulls included), null_value_counts, nan_value_counts (float and double
//     columns only), lower/upper bounds in single-value serialization (NaN never a bound;
//     -0.0 sorts before 0.0; strings truncated to 16 code points and binary to 16 bytes, the
//     upper bound rounded up or omitted when it cannot be), column_sizes (compressed bytes of
//     the column chunks), split_offsets (row group starts). The file_path column of position
//     deletes keeps full bounds, as Java does, so engines can match delete files to data
//     files; a position delete file whose rows all name one data file records it in
//     referenced_data_file.
//   - DataFile.partition, spec_id and sort_order_id are left for the caller.
//   - A writer that is destroyed without Close, or that failed, abandons its open file
//     (nothing becomes visible); files it completed earlier (completed_files()) stay and are
//     the caller's to delete or commit.
//
// Reader: columns are matched by field id, never by name. A projected field the file lacks
// reads as NULL (a column added after the file was written); values written as int are read
// as long, float as double, decimal(P,S) as decimal(P',S) for P' ≥ P (Iceberg's type
// promotions). Anything else that differs from the projection is InvalidArgument naming the
// column and file.
//
// Errors: InvalidArgument for values that do not fit the schema (wrong representation, NULL in
// a required column, a decimal outside its precision), FileIO errors as FileIO returns them
// (file_io.h: ResourceExhausted for a full disk, Unavailable for network trouble, …), DataLoss
// for a file that is not valid Parquet.
//
// Thread safety: writers and readers belong to one thread at a time; the free functions are
// thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "iceberg/file_names.h"
#include "iceberg/data_file.h"
#include "iceberg/schema.h"
#include "io/file_io.h"
#include "types/value.h"

namespace arrow {
class Array;
class DataType;
class RecordBatch;
class Schema;
class Status;
}  // namespace arrow
namespace parquet {
class WriterProperties;
namespace schema {
class GroupNode;
}  // namespace schema
}  // namespace parquet

namespace pg2iceberg::iceberg {

// Arrow field metadata key carrying the Iceberg field id; Parquet C++ maps it to and from the
// Parquet schema's field_id.
inline constexpr char kParquetFieldIdKey[] = "PARQUET:field_id";

// The in-memory Arrow type of an Iceberg primitive:
//   boolean→bool  int→int32  long→int64  float→float32  double→float64
//   decimal(P,S)→decimal128(P,S)  date→date32  time→time64[us]  timestamp→timestamp[us]
//   timestamptz→timestamp[us, tz=UTC]  string→utf8  uuid→fixed_size_binary[16]  binary→binary
std::shared_ptr<arrow::DataType> ArrowTypeFor(const Type& type);

// The Arrow schema of top-level primitive fields, each with its field id in the field
// metadata and nullable unless required. InvalidArgument for a nested or unknown type.
Result<std::shared_ptr<arrow::Schema>> ArrowSchemaFor(const std::vector<Field>& fields);

// The Value at `row` of `array`, an array of ArrowTypeFor(type). NULL is std::monostate.
Result<Value> ValueAt(const arrow::Array& array, int64_t row, const Type& type);

// Every row of `batch` as Values; the columns are `fields` in order.
Result<std::vector<std::vector<Value>>> RowsOf(const arrow::RecordBatch& batch,
                                               const std::vector<Field>& fields);

// The fields of position delete files: file_path (string, id 2147483546) and pos (long,
// id 2147483545), both required.
const std::vector<Field>& PositionDeleteFields();

// Builds an Arrow record batch (columns with Iceberg field ids) from rows of Values in
// `fields` order. InvalidArgument names the field and row of a value of the wrong type.
Result<std::shared_ptr<arrow::RecordBatch>> RecordBatchOf(
    std::span<const std::vector<Value>> rows, const std::vector<Field>& fields);

struct ParquetWriteOptions {
  // Files roll once they reach about this many bytes (sink.target_file_size).
  int64_t target_file_size = int64_t{128} << 20;
  // Row groups close at about this many bytes (capped at target_file_size). Memory per open
  // writer is about one row group of compressed pages.
  int64_t row_group_size = int64_t{128} << 20;
  // Parquet data page size.
  int64_t page_size = int64_t{1} << 20;
  // zstd level (Iceberg Java's default codec and level: zstd, 3).
  int32_t zstd_level = 3;
  // Truncation of string and binary bounds: Iceberg's truncate(16) metrics mode.
  int32_t metrics_truncate_length = 16;
  // The URI of each new file, e.g. NewDataFileUris(table_location + "/data/dt=2025-01-15", …)
  // (file_names.h).
  // Must name a new object every call.
  std::function<std::string()> new_file_uri;
  // Rows per internal write slice: how often the size is checked for rolling.
  int64_t slice_rows = 4096;
};

// Writes data files, or equality delete files, for one schema (primitive columns, and structs
// of primitives, which only batches can carry: Write(const arrow::RecordBatch&)) (and, for a partitioned table,
// one partition: the caller opens one writer per partition).
class DataFileWriter {
 public:
  // Data files with every top-level field of `schema`.
  static Result<std::unique_ptr<DataFileWriter>> MakeDataWriter(
      std::shared_ptr<io::FileIO> io, const Schema& schema, ParquetWriteOptions options);
  // Equality delete files keyed on `equality_ids` (usually the schema's identifier fields):
  // the file holds just those columns, in schema order, and DataFile.equality_ids lists them
  // in the same order. Rows passed to Write hold those columns only, in that order.
  static Result<std::unique_ptr<DataFileWriter>> MakeEqualityDeleteWriter(
      std::shared_ptr<io::FileIO> io, const Schema& schema, std::vector<int32_t> equality_ids,
      ParquetWriteOptions options);
  // Position delete files (use PositionDeleteWriter, which also sorts).
  static Result<std::unique_ptr<DataFileWriter>> MakePositionDeleteWriter(
      std::shared_ptr<io::FileIO> io, ParquetWriteOptions options);

  ~DataFileWriter();
  DataFileWriter(const DataFileWriter&) = delete;
  DataFileWriter& operator=(const DataFileWriter&) = delete;

  // The columns, in order, that rows and batches carry.
  const std::vector<Field>& fields() const { return fields_; }
  // ArrowSchemaFor(fields()).
  const std::shared_ptr<arrow::Schema>& arrow_schema() const { return arrow_schema_; }

  // Rows with one Value per column of fields().
  Status Write(std::span<const std::vector<Value>> rows);
  // A batch whose column types match arrow_schema() (names and metadata are not checked).
  Status Write(const arrow::RecordBatch& batch);

  // Completes the open file and returns every file this writer produced, in order. A writer
  // that never received a row produces no file.
  Result<std::vector<DataFile>> Close();

  // Files completed so far (before Close: the ones already rolled).
  const std::vector<DataFile>& completed_files() const { return completed_; }
  int64_t rows_written() const { return rows_written_; }
  // For each file begun (completed ones, then the open one), how many rows the writer had
  // written before it: row number r of the writer is in the last file whose entry is <= r.
  const std::vector<int64_t>& file_first_rows() const { return file_first_rows_; }

 private:
  struct OpenFile;

  DataFileWriter(std::shared_ptr<io::FileIO> io, FileContent content, std::vector<Field> fields,
                 std::vector<int32_t> equality_ids, ParquetWriteOptions options);
  Status Init();
  Status WriteSlice(const arrow::RecordBatch& slice);
  Status OpenNewFile();
  Status FinishFile();
  void AbandonFile();
  int64_t BufferedRowGroupBytes() const;
  int64_t SinkBytes() const;
  Status CloseRowGroup();
  Status Fail(Status status);

  std::shared_ptr<io::FileIO> io_;
  FileContent content_;
  std::vector<Field> fields_;
  std::vector<int32_t> equality_ids_;
  ParquetWriteOptions options_;
  std::shared_ptr<arrow::Schema> arrow_schema_;
  std::shared_ptr<parquet::schema::GroupNode> parquet_schema_;
  std::shared_ptr<parquet::WriterProperties> writer_properties_;
  // The Parquet leaf columns in file order: a primitive column of fields_, or a field of one
  // of its struct columns (`child`), with its definition levels.
  struct Leaf {
    Field field;
    size_t column = 0;
    int child = -1;
    bool parent_optional = false;
  };
  std::vector<Leaf> leaves_;
  // Leaves whose string/binary bounds are kept whole (position deletes' file_path).
  std::vector<bool> full_bounds_;
  std::unique_ptr<OpenFile> open_;
  std::vector<DataFile> completed_;
  int64_t rows_written_ = 0;
  std::vector<int64_t> file_first_rows_;
  // Bytes a row group occupies once written, per byte of BufferedRowGroupBytes().
  double size_ratio_ = 1.0;
  bool size_ratio_known_ = false;
  Status failed_;
  bool closed_ = false;
};

// Position deletes: collects (data file path, row position) pairs, then writes them sorted by
// path and position (duplicates dropped), as the spec requires, rolling like DataFileWriter.
// Memory: the positions plus one copy of each distinct path.
class PositionDeleteWriter {
 public:
  static Result<std::unique_ptr<PositionDeleteWriter>> Make(std::shared_ptr<io::FileIO> io,
                                                            ParquetWriteOptions options);

  void Add(std::string_view data_file_path, int64_t pos);
  int64_t pending() const { return pending_; }
  // Writes everything collected. No deletes: no files.
  Result<std::vector<DataFile>> Close();

 private:
  explicit PositionDeleteWriter(std::unique_ptr<DataFileWriter> writer)
      : writer_(std::move(writer)) {}
  std::unique_ptr<DataFileWriter> writer_;
  std::map<std::string, std::vector<int64_t>, std::less<>> positions_;
  int64_t pending_ = 0;
};

struct ParquetReadOptions {
  int64_t batch_rows = 64 * 1024;
  // Non-empty (sorted): read only the row groups holding these row positions.
  std::vector<int64_t> positions;
};

// Reads one Parquet file by field id into batches of the projection's Arrow types.
class DataFileReader {
 public:
  // `projection`: the fields to read, typed as the table's current schema says.
  static Result<std::unique_ptr<DataFileReader>> Open(std::shared_ptr<io::FileIO> io,
                                                      const std::string& uri,
                                                      std::vector<Field> projection,
                                                      ParquetReadOptions options = {});
  ~DataFileReader();

  int64_t num_rows() const;
  // The position in the file of each row group read, in order (all of them, unless
  // ParquetReadOptions::positions chose some), and its row count.
  const std::vector<std::pair<int64_t, int64_t>>& row_groups_read() const;
  // Field ids of the Parquet file's top-level columns, in file order.
  std::vector<int32_t> file_field_ids() const;
  // ArrowSchemaFor(projection).
  const std::shared_ptr<arrow::Schema>& arrow_schema() const { return arrow_schema_; }

  // The next batch in file order (columns in projection order), or nullptr after the last.
  Result<std::shared_ptr<arrow::RecordBatch>> Next();
  // Every remaining row as Values.
  Result<std::vector<std::vector<Value>>> ReadAllRows();

 private:
  struct State;
  DataFileReader() = default;

  std::string uri_;
  std::vector<Field> projection_;
  std::shared_ptr<arrow::Schema> arrow_schema_;
  std::unique_ptr<State> state_;
};

// An error reading a Parquet file: one of the storage (network, missing object, permissions)
// keeps its mapping (io::FromArrow: an outage is transient); any other means the bytes are not
// a Parquet file we can read (DataLoss).
Status ParquetReadError(const arrow::Status& status, const std::string& uri);

// The rows at `positions` (sorted, distinct) of a file, in that order, reading only the row
// groups that hold them. DataLoss when a position is past the end of the file.
Result<std::vector<std::vector<Value>>> ReadDataFileRows(std::shared_ptr<io::FileIO> io,
                                                         const std::string& uri,
                                                         std::vector<Field> projection,
                                                         const std::vector<int64_t>& positions);

// Reads a whole file (convenience for tests and small files).
Result<std::vector<std::vector<Value>>> ReadDataFile(std::shared_ptr<io::FileIO> io,
                                                     const std::string& uri,
                                                     std::vector<Field> projection);

}  // namespace pg2iceberg::iceberg
