// Parquet data and delete files on the in-memory FileIO: the Parquet schema (types, field
// ids), exact metrics, rolling, deletes, the reader's schema-evolution rules and failures.
#include "iceberg/parquet_io.h"

#include <arrow/api.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/schema.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <numeric>

#include "fixtures/gtest_support.h"
#include "fixtures/temp_dir.h"
#include "iceberg/single_value.h"
#include "io/arrow_file_io.h"
#include "io/fault_injection.h"
#include "io/memory_file_io.h"

namespace pg2iceberg::iceberg {
namespace {

using ::testing::ElementsAre;

Field F(int32_t id, std::string name, Type type, bool required = false) {
  return Field{id, std::move(name), required, DataType::Primitive(type)};
}

Type T(TypeId id) { return Type{id}; }

// Every primitive type pg2iceberg writes.
Schema AllTypesSchema() {
  return Schema(0,
                {F(1, "b", T(TypeId::kBoolean)), F(2, "i", T(TypeId::kInt), /*required=*/true),
                 F(3, "l", T(TypeId::kLong)), F(4, "f", T(TypeId::kFloat)),
                 F(5, "d", T(TypeId::kDouble)), F(6, "dec9", Type::Decimal(9, 2)),
                 F(7, "dec18", Type::Decimal(18, 4)), F(8, "dec38", Type::Decimal(38, 10)),
                 F(9, "date", T(TypeId::kDate)), F(10, "time", T(TypeId::kTime)),
                 F(11, "ts", T(TypeId::kTimestamp)), F(12, "tstz", T(TypeId::kTimestampTz)),
                 F(13, "s", T(TypeId::kString)), F(14, "u", T(TypeId::kUuid)),
                 F(15, "bin", T(TypeId::kBinary))},
                {2});
}

Uuid MakeUuid(uint8_t first, uint8_t last) {
  Uuid u;
  u.bytes.fill(0x11);
  u.bytes[0] = first;
  u.bytes[15] = last;
  return u;
}

__int128 Big(int64_t hi_decimal_part) {  // hi * 10^20 + 12345, a 38-digit-scale value
  __int128 v = hi_decimal_part;
  for (int i = 0; i < 20; ++i) v *= 10;
  return v + (hi_decimal_part < 0 ? -12345 : 12345);
}

std::vector<std::vector<Value>> AllTypesRows() {
  return {
      {true, int32_t{1}, int64_t{10}, 1.5f, 2.5, Decimal128{12345, 2}, Decimal128{-99, 4},
       Decimal128{Big(7), 10}, Date{19000}, Time{3'600'000'000},
       Timestamp{1'700'000'000'000'000},
       TimestampTz{1'700'000'000'000'001}, std::string("hello"), MakeUuid(0x10, 1),
       Binary{std::string("\x00\x01", 2)}},
      {false, int32_t{-2147483647 - 1}, int64_t{-9'000'000'000'000'000'000},
       -std::numeric_limits<float>::infinity(), -1e300, Decimal128{-999'999'999, 2},
       Decimal128{999'999'999'999'999'999, 4}, Decimal128{Big(-123456789012345678), 10},
       Date{-719162}, Time{0}, Timestamp{-1}, TimestampTz{-62'135'596'800'000'000},
       std::string(""), MakeUuid(0xFF, 2), Binary{std::string("\xff\xfe", 2)}},
      {Value{}, int32_t{2147483647}, Value{}, Value{}, Value{}, Value{}, Value{}, Value{},
       Value{}, Value{}, Value{}, Value{}, Value{}, Value{}, Value{}},
      {true, int32_t{0}, int64_t{9'000'000'000'000'000'000}, 0.0f, -0.0, Decimal128{0, 2},
       Decimal128{0, 4}, Decimal128{0, 10}, Date{0}, Time{86'399'999'999},
       Timestamp{253'402'300'799'999'999}, TimestampTz{0}, std::string("zürich ✓"),
       MakeUuid(0x00, 3), Binary{std::string()}},
  };
}

ParquetWriteOptions Options(const std::string& dir = "mem://wh/t/data") {
  ParquetWriteOptions options;
  options.new_file_uri = UniqueFileUris(dir);
  return options;
}

class ParquetIoTest : public ::testing::Test {
 protected:
  std::shared_ptr<io::MemoryFileIO> io_ = std::make_shared<io::MemoryFileIO>();

  // Writes `rows` as one data file and returns its descriptor.
  DataFile WriteOne(const Schema& schema, const std::vector<std::vector<Value>>& rows,
                    ParquetWriteOptions options = Options()) {
    auto writer = DataFileWriter::MakeDataWriter(io_, schema, std::move(options));
    EXPECT_TRUE(writer.ok()) << writer.status().ToString();
    if (!writer.ok()) return {};
    Status st = (*writer)->Write(rows);
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto files = (*writer)->Close();
    EXPECT_TRUE(files.ok()) << files.status().ToString();
    if (!files.ok() || files->size() != 1) {
      ADD_FAILURE() << "expected one file";
      return {};
    }
    return files->front();
  }

  std::unique_ptr<parquet::ParquetFileReader> OpenRaw(const std::string& uri) {
    auto file = io_->OpenReader(uri);
    EXPECT_TRUE(file.ok());
    return parquet::ParquetFileReader::Open(*file);
  }

  static Value Bound(const std::map<int32_t, std::string>& bounds, int32_t id,
                     const Type& type) {
    auto it = bounds.find(id);
    if (it == bounds.end()) return Value{};
    auto v = DeserializeSingleValue(type, it->second);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : Value{};
  }
};

TEST_F(ParquetIoTest, ParquetSchemaCarriesIdsAndIcebergTypes) {
  DataFile file = WriteOne(AllTypesSchema(), AllTypesRows());
  auto reader = OpenRaw(file.file_path);
  const parquet::SchemaDescriptor& schema = *reader->metadata()->schema();
  ASSERT_EQ(schema.num_columns(), 15);

  struct Expect {
    parquet::Type::type physical;
    std::string logical;
    int length = -1;
  };
  const std::vector<Expect> expected = {
      {parquet::Type::BOOLEAN, "None"},
      {parquet::Type::INT32, "None"},
      {parquet::Type::INT64, "None"},
      {parquet::Type::FLOAT, "None"},
      {parquet::Type::DOUBLE, "None"},
      {parquet::Type::INT32, "Decimal(precision=9, scale=2)"},
      {parquet::Type::INT64, "Decimal(precision=18, scale=4)"},
      {parquet::Type::FIXED_LEN_BYTE_ARRAY, "Decimal(precision=38, scale=10)", 16},
      {parquet::Type::INT32, "Date"},
      {parquet::Type::INT64, "Time(isAdjustedToUTC=false, timeUnit=microseconds)"},
      {parquet::Type::INT64,
       "Timestamp(isAdjustedToUTC=false, timeUnit=microseconds, is_from_converted_type=false, "
       "force_set_converted_type=false)"},
      {parquet::Type::INT64,
       "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, "
       "force_set_converted_type=false)"},
      {parquet::Type::BYTE_ARRAY, "String"},
      {parquet::Type::FIXED_LEN_BYTE_ARRAY, "UUID", 16},
      {parquet::Type::BYTE_ARRAY, "None"},
  };
  for (int i = 0; i < schema.num_columns(); ++i) {
    const parquet::ColumnDescriptor* column = schema.Column(i);
    SCOPED_TRACE(column->name());
    EXPECT_EQ(column->schema_node()->field_id(), i + 1);
    EXPECT_EQ(column->physical_type(), expected[i].physical);
    EXPECT_EQ(column->logical_type()->ToString(), expected[i].logical);
    if (expected[i].length > 0) {
      EXPECT_EQ(column->type_length(), expected[i].length);
    }
    EXPECT_EQ(column->max_definition_level(), i == 1 ? 0 : 1);  // "i" is required
    EXPECT_EQ(reader->metadata()->RowGroup(0)->ColumnChunk(i)->compression(),
              parquet::Compression::ZSTD);
  }
  // A decimal(20,s) needs 9 bytes; the FLBA width follows the precision.
  Schema wide(0, {F(1, "x", Type::Decimal(20, 0))});
  DataFile w = WriteOne(wide, {{Decimal128{-1, 0}}});
  EXPECT_EQ(OpenRaw(w.file_path)->metadata()->schema()->Column(0)->type_length(), 9);
}

TEST_F(ParquetIoTest, RoundTripsEveryTypeThroughOurReader) {
  const Schema schema = AllTypesSchema();
  const auto rows = AllTypesRows();
  DataFile file = WriteOne(schema, rows);
  EXPECT_EQ(file.content, FileContent::kData);
  EXPECT_EQ(file.file_format, "PARQUET");
  EXPECT_EQ(file.record_count, 4);
  PG2I_ASSERT_OK_AND_ASSIGN(int64_t size, io_->Size(file.file_path));
  EXPECT_EQ(file.file_size_in_bytes, size);
  PG2I_ASSERT_OK_AND_ASSIGN(auto read, ReadDataFile(io_, file.file_path, schema.fields()));
  ASSERT_EQ(read.size(), rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      // -0.0 == 0.0 compares equal, so compare doubles by bits as well.
      EXPECT_EQ(DebugString(read[r][c]), DebugString(rows[r][c]))
          << "row " << r << " col " << c;
      EXPECT_TRUE(read[r][c] == rows[r][c]) << "row " << r << " col " << c;
    }
  }
  double zero = std::get<double>(read[3][4]);
  EXPECT_TRUE(std::signbit(zero));
}

TEST_F(ParquetIoTest, MetricsAreExactForEveryType) {
  const Schema schema = AllTypesSchema();
  DataFile file = WriteOne(schema, AllTypesRows());
  for (const Field& field : schema.fields()) {
    SCOPED_TRACE(field.name);
    EXPECT_EQ(file.value_counts.at(field.id), 4);
    EXPECT_EQ(file.null_value_counts.at(field.id), field.required ? 0 : 1);
    EXPECT_GT(file.column_sizes.at(field.id), 0);
  }
  EXPECT_EQ(file.nan_value_counts, (std::map<int32_t, int64_t>{{4, 0}, {5, 0}}));
  auto lower = [&](int32_t id) {
    return Bound(file.lower_bounds, id, schema.FindById(id)->type.primitive);
  };
  auto upper = [&](int32_t id) {
    return Bound(file.upper_bounds, id, schema.FindById(id)->type.primitive);
  };
  EXPECT_EQ(lower(1), Value{false});
  EXPECT_EQ(upper(1), Value{true});
  EXPECT_EQ(lower(2), Value{int32_t{-2147483647 - 1}});
  EXPECT_EQ(upper(2), Value{int32_t{2147483647}});
  EXPECT_EQ(lower(3), Value{int64_t{-9'000'000'000'000'000'000}});
  EXPECT_EQ(upper(3), Value{int64_t{9'000'000'000'000'000'000}});
  EXPECT_EQ(lower(4), Value{-std::numeric_limits<float>::infinity()});
  EXPECT_EQ(upper(4), Value{1.5f});
  EXPECT_EQ(lower(5), Value{-1e300});
  EXPECT_EQ(upper(5), Value{2.5});
  EXPECT_EQ(lower(6), (Value{Decimal128{-999'999'999, 2}}));
  EXPECT_EQ(upper(6), (Value{Decimal128{12345, 2}}));
  EXPECT_EQ(lower(7), (Value{Decimal128{-99, 4}}));
  EXPECT_EQ(upper(7), (Value{Decimal128{999'999'999'999'999'999, 4}}));
  EXPECT_EQ(lower(8), (Value{Decimal128{Big(-123456789012345678), 10}}));
  EXPECT_EQ(upper(8), (Value{Decimal128{Big(7), 10}}));
  EXPECT_EQ(lower(9), Value{Date{-719162}});
  EXPECT_EQ(upper(9), Value{Date{19000}});
  EXPECT_EQ(lower(10), Value{Time{0}});
  EXPECT_EQ(upper(10), Value{Time{86'399'999'999}});
  EXPECT_EQ(lower(11), Value{Timestamp{-1}});
  EXPECT_EQ(upper(11), Value{Timestamp{253'402'300'799'999'999}});
  EXPECT_EQ(lower(12), Value{TimestampTz{-62'135'596'800'000'000}});
  EXPECT_EQ(upper(12), Value{TimestampTz{1'700'000'000'000'001}});
  EXPECT_EQ(lower(13), Value{std::string("")});
  EXPECT_EQ(upper(13), Value{std::string("zürich ✓")});
  EXPECT_EQ(lower(14), Value{MakeUuid(0x00, 3)});  // unsigned byte order: 0x00 < 0x10 < 0xFF
  EXPECT_EQ(upper(14), Value{MakeUuid(0xFF, 2)});
  EXPECT_EQ(lower(15), Value{Binary{std::string()}});
  EXPECT_EQ(upper(15), Value{Binary{std::string("\xff\xfe", 2)}});
  // The bound bytes are exactly the single-value serialization (e.g. int little-endian).
  EXPECT_EQ(file.lower_bounds.at(2), std::string("\x00\x00\x00\x80", 4));
  EXPECT_EQ(file.upper_bounds.at(6), MinimalBigEndianBytes(12345));
}

TEST_F(ParquetIoTest, NaNIsCountedAndNeverABound) {
  const float nan_f = std::numeric_limits<float>::quiet_NaN();
  const double nan_d = std::numeric_limits<double>::quiet_NaN();
  Schema schema(0, {F(1, "f", T(TypeId::kFloat)), F(2, "d", T(TypeId::kDouble)),
                    F(3, "only_nan", T(TypeId::kDouble)), F(4, "zeros", T(TypeId::kFloat))});
  DataFile file = WriteOne(schema, {
                                       {nan_f, 3.0, nan_d, 0.0f},
                                       {-2.5f, nan_d, nan_d, -0.0f},
                                       {Value{}, -std::numeric_limits<double>::infinity(),
                                        Value{}, 0.0f},
                                       {nan_f, nan_d, nan_d, -0.0f},
                                   });
  using Counts = std::map<int32_t, int64_t>;
  EXPECT_EQ(file.nan_value_counts, (Counts{{1, 2}, {2, 2}, {3, 3}, {4, 0}}));
  EXPECT_EQ(file.null_value_counts, (Counts{{1, 1}, {2, 0}, {3, 1}, {4, 0}}));
  EXPECT_EQ(file.value_counts.at(3), 4);
  EXPECT_EQ(Bound(file.lower_bounds, 1, T(TypeId::kFloat)), Value{-2.5f});
  EXPECT_EQ(Bound(file.upper_bounds, 1, T(TypeId::kFloat)), Value{-2.5f});
  EXPECT_EQ(Bound(file.lower_bounds, 2, T(TypeId::kDouble)),
            Value{-std::numeric_limits<double>::infinity()});
  EXPECT_EQ(Bound(file.upper_bounds, 2, T(TypeId::kDouble)), Value{3.0});
  EXPECT_EQ(file.lower_bounds.count(3), 0u);  // only NaN and NULL: no bounds
  EXPECT_EQ(file.upper_bounds.count(3), 0u);
  // -0.0 sorts before 0.0.
  EXPECT_EQ(file.lower_bounds.at(4), std::string("\x00\x00\x00\x80", 4));
  EXPECT_EQ(file.upper_bounds.at(4), std::string("\x00\x00\x00\x00", 4));
}

TEST_F(ParquetIoTest, AllNullColumnHasCountsButNoBounds) {
  Schema schema(0, {F(1, "id", T(TypeId::kLong), true), F(2, "s", T(TypeId::kString))});
  DataFile file = WriteOne(schema, {{int64_t{1}, Value{}}, {int64_t{2}, Value{}}});
  EXPECT_EQ(file.value_counts.at(2), 2);
  EXPECT_EQ(file.null_value_counts.at(2), 2);
  EXPECT_EQ(file.lower_bounds.count(2), 0u);
  EXPECT_EQ(file.upper_bounds.count(2), 0u);
  EXPECT_EQ(file.nan_value_counts.count(2), 0u);
}

TEST_F(ParquetIoTest, StringAndBinaryBoundsAreTruncatedTo16) {
  Schema schema(0, {F(1, "s", T(TypeId::kString)), F(2, "b", T(TypeId::kBinary)),
                    F(3, "max_cp", T(TypeId::kString)), F(4, "short", T(TypeId::kString))});
  const std::string e17 = [] {
    std::string s;
    for (int i = 0; i < 17; ++i) s += "é";  // 2 bytes each
    return s;
  }();
  const std::string emoji17 = [] {
    std::string s;
    for (int i = 0; i < 17; ++i) s += "\xF4\x8F\xBF\xBF";  // U+10FFFF, cannot be incremented
    return s;
  }();
  DataFile file = WriteOne(
      schema, {
                  {std::string("aaaa") + e17, Binary{std::string(20, '\xff')}, emoji17,
                   std::string("short")},
                  {std::string("aaaa"), Binary{std::string(20, '\x01')}, emoji17,
                   std::string("shorter")},
              });
  // Lower: the first 16 code points of the minimum ("aaaa" is itself short).
  EXPECT_EQ(Bound(file.lower_bounds, 1, T(TypeId::kString)), Value{std::string("aaaa")});
  // Upper: "aaaa" + 12 × é, the last one incremented to ê (U+00EA).
  std::string upper = "aaaa";
  for (int i = 0; i < 11; ++i) upper += "é";
  upper += "ê";
  EXPECT_EQ(Bound(file.upper_bounds, 1, T(TypeId::kString)), Value{upper});
  EXPECT_EQ(Bound(file.lower_bounds, 2, T(TypeId::kBinary)),
            Value{Binary{std::string(16, '\x01')}});
  EXPECT_EQ(file.upper_bounds.count(2), 0u);  // 16 × 0xFF cannot be rounded up
  std::string emoji16;
  for (int i = 0; i < 16; ++i) emoji16 += "\xF4\x8F\xBF\xBF";
  EXPECT_EQ(Bound(file.lower_bounds, 3, T(TypeId::kString)), Value{emoji16});
  EXPECT_EQ(file.upper_bounds.count(3), 0u);
  EXPECT_EQ(Bound(file.lower_bounds, 4, T(TypeId::kString)), Value{std::string("short")});
  EXPECT_EQ(Bound(file.upper_bounds, 4, T(TypeId::kString)), Value{std::string("shorter")});
}

std::vector<std::vector<Value>> ManyRows(int n, int offset = 0) {
  std::vector<std::vector<Value>> rows;
  rows.reserve(n);
  for (int i = offset; i < offset + n; ++i) {
    rows.push_back({int64_t{i}, "name-" + std::to_string(int64_t{i} * 7919 % 100003),
                    static_cast<double>(i) / 3.0, Timestamp{int64_t{i} * 1'000'003},
                    i % 10 == 0 ? Value{} : Value{Decimal128{i * 101, 2}}});
  }
  return rows;
}

Schema FiveColumns() {
  return Schema(0, {F(1, "id", T(TypeId::kLong), true), F(2, "name", T(TypeId::kString)),
                    F(3, "score", T(TypeId::kDouble)), F(4, "at", T(TypeId::kTimestamp)),
                    F(5, "amount", Type::Decimal(12, 2))},
                {1});
}

TEST_F(ParquetIoTest, RollsAtTargetSizeAndCountsAddUp) {
  ParquetWriteOptions options = Options();
  options.target_file_size = 64 << 10;
  options.page_size = 8 << 10;
  options.slice_rows = 1000;
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                            DataFileWriter::MakeDataWriter(io_, FiveColumns(), options));
  for (int batch = 0; batch < 10; ++batch) {
    PG2I_ASSERT_OK(writer->Write(ManyRows(5000, batch * 5000)));
  }
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  ASSERT_GE(files.size(), 4u);
  int64_t total = 0;
  int64_t next_id = 0;
  for (const DataFile& file : files) {
    SCOPED_TRACE(file.file_path);
    total += file.record_count;
    PG2I_ASSERT_OK_AND_ASSIGN(int64_t size, io_->Size(file.file_path));
    EXPECT_EQ(file.file_size_in_bytes, size);
    // Sized toward the target: never far past it (one slice of slack).
    EXPECT_LT(size, options.target_file_size * 2);
    EXPECT_EQ(file.value_counts.at(1), file.record_count);
    // Ids are written in order, so each file's bounds continue the previous one's.
    EXPECT_EQ(Bound(file.lower_bounds, 1, T(TypeId::kLong)), Value{next_id});
    next_id += file.record_count;
    EXPECT_EQ(Bound(file.upper_bounds, 1, T(TypeId::kLong)), Value{next_id - 1});
    PG2I_ASSERT_OK_AND_ASSIGN(auto rows,
                              ReadDataFile(io_, file.file_path, FiveColumns().fields()));
    EXPECT_EQ(static_cast<int64_t>(rows.size()), file.record_count);
  }
  EXPECT_EQ(total, 50'000);
  EXPECT_EQ(writer->rows_written(), 50'000);
  EXPECT_EQ(io_->Uris().size(), files.size());
}

TEST_F(ParquetIoTest, RowGroupsAreSplitOffsets) {
  ParquetWriteOptions options = Options();
  options.row_group_size = 32 << 10;
  options.page_size = 4 << 10;
  options.slice_rows = 500;
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                            DataFileWriter::MakeDataWriter(io_, FiveColumns(), options));
  PG2I_ASSERT_OK(writer->Write(ManyRows(20'000)));
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  ASSERT_EQ(files.size(), 1u);
  const DataFile& file = files[0];
  auto reader = OpenRaw(file.file_path);
  const int row_groups = reader->metadata()->num_row_groups();
  ASSERT_GT(row_groups, 2);
  ASSERT_EQ(file.split_offsets.size(), static_cast<size_t>(row_groups));
  EXPECT_EQ(file.split_offsets[0], 4);  // right after the "PAR1" magic
  EXPECT_TRUE(std::is_sorted(file.split_offsets.begin(), file.split_offsets.end()));
  int64_t column_total = 0;
  for (int rg = 0; rg < row_groups; ++rg) {
    auto chunk = reader->metadata()->RowGroup(rg)->ColumnChunk(0);
    int64_t start = chunk->has_dictionary_page() ? chunk->dictionary_page_offset()
                                                 : chunk->data_page_offset();
    EXPECT_EQ(file.split_offsets[rg], start);
    for (int c = 0; c < 5; ++c) {
      column_total += reader->metadata()->RowGroup(rg)->ColumnChunk(c)->total_compressed_size();
    }
  }
  int64_t sizes = 0;
  for (const auto& [id, size] : file.column_sizes) sizes += size;
  EXPECT_EQ(sizes, column_total);
  EXPECT_LT(sizes, file.file_size_in_bytes);
}

TEST_F(ParquetIoTest, EqualityDeletesHoldTheKeyColumnsInSchemaOrder) {
  Schema schema(0, {F(1, "a", T(TypeId::kInt), true), F(2, "v", T(TypeId::kString)),
                    F(3, "b", T(TypeId::kString), true)},
                {3, 1});
  PG2I_ASSERT_OK_AND_ASSIGN(
      auto writer, DataFileWriter::MakeEqualityDeleteWriter(io_, schema, {3, 1}, Options()));
  ASSERT_EQ(writer->fields().size(), 2u);
  EXPECT_EQ(writer->fields()[0].id, 1);
  EXPECT_EQ(writer->fields()[1].id, 3);
  PG2I_ASSERT_OK(writer->Write(std::vector<std::vector<Value>>{
      {int32_t{5}, std::string("x")}, {int32_t{-5}, std::string("y")}}));
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].content, FileContent::kEqualityDeletes);
  EXPECT_THAT(files[0].equality_ids, ElementsAre(1, 3));
  EXPECT_EQ(Bound(files[0].lower_bounds, 1, T(TypeId::kInt)), Value{int32_t{-5}});
  EXPECT_EQ(files[0].value_counts.count(2), 0u);
  auto raw = OpenRaw(files[0].file_path);
  EXPECT_EQ(raw->metadata()->schema()->Column(1)->schema_node()->field_id(), 3);
  EXPECT_EQ(
      DataFileWriter::MakeEqualityDeleteWriter(io_, schema, {9}, Options()).status().code(),
      StatusCode::kInvalidArgument);
}

TEST_F(ParquetIoTest, PositionDeletesAreSortedAndKeepFullPathBounds) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer, PositionDeleteWriter::Make(io_, Options()));
  const std::string b = "s3://bucket/warehouse/db/t/data/00001-b-very-long-name.parquet";
  const std::string a = "s3://bucket/warehouse/db/t/data/00000-a-very-long-name.parquet";
  writer->Add(b, 7);
  writer->Add(a, 100);
  writer->Add(b, 2);
  writer->Add(a, 3);
  writer->Add(b, 7);  // duplicate
  EXPECT_EQ(writer->pending(), 5);
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  ASSERT_EQ(files.size(), 1u);
  const DataFile& file = files[0];
  EXPECT_EQ(file.content, FileContent::kPositionDeletes);
  EXPECT_EQ(file.record_count, 4);
  EXPECT_EQ(file.lower_bounds.at(kPositionDeleteFilePathId), a);  // not truncated
  EXPECT_EQ(file.upper_bounds.at(kPositionDeleteFilePathId), b);
  EXPECT_FALSE(file.referenced_data_file.has_value());
  EXPECT_EQ(Bound(file.lower_bounds, kPositionDeletePosId, T(TypeId::kLong)),
            Value{int64_t{2}});
  EXPECT_EQ(Bound(file.upper_bounds, kPositionDeletePosId, T(TypeId::kLong)),
            Value{int64_t{100}});
  PG2I_ASSERT_OK_AND_ASSIGN(auto rows,
                            ReadDataFile(io_, file.file_path, PositionDeleteFields()));
  std::vector<std::vector<Value>> expected = {{a, int64_t{3}}, {a, int64_t{100}},
                                              {b, int64_t{2}}, {b, int64_t{7}}};
  EXPECT_EQ(rows, expected);
  auto raw = OpenRaw(file.file_path);
  EXPECT_EQ(raw->metadata()->schema()->Column(0)->schema_node()->field_id(),
            kPositionDeleteFilePathId);
  EXPECT_EQ(raw->metadata()->schema()->Column(0)->name(), "file_path");
  EXPECT_EQ(raw->metadata()->schema()->Column(1)->schema_node()->field_id(),
            kPositionDeletePosId);
  EXPECT_EQ(raw->metadata()->schema()->Column(1)->max_definition_level(), 0);  // required

  PG2I_ASSERT_OK_AND_ASSIGN(auto single, PositionDeleteWriter::Make(io_, Options()));
  single->Add(a, 1);
  PG2I_ASSERT_OK_AND_ASSIGN(auto single_files, single->Close());
  ASSERT_EQ(single_files.size(), 1u);
  EXPECT_EQ(single_files[0].referenced_data_file, a);
}

TEST_F(ParquetIoTest, ReaderResolvesByIdAndPromotes) {
  // Written with an older schema: id int, ratio float, amount decimal(9,2), name string.
  Schema old_schema(0, {F(1, "id", T(TypeId::kInt), true), F(2, "ratio", T(TypeId::kFloat)),
                        F(3, "amount", Type::Decimal(9, 2)), F(4, "name", T(TypeId::kString))});
  DataFile file =
      WriteOne(old_schema, {{int32_t{-7}, 0.5f, Decimal128{-12345, 2}, std::string("a")},
                            {int32_t{8}, Value{}, Decimal128{1, 2}, Value{}}});
  // Read with the current schema: promoted types, a renamed column, a new column (id 5), a
  // dropped column (id 4), and a different order.
  std::vector<Field> current = {F(5, "added", T(TypeId::kString)),
                                F(3, "amount", Type::Decimal(20, 2)),
                                F(1, "renamed_id", T(TypeId::kLong), true),
                                F(2, "ratio", T(TypeId::kDouble))};
  PG2I_ASSERT_OK_AND_ASSIGN(auto reader, DataFileReader::Open(io_, file.file_path, current));
  EXPECT_EQ(reader->num_rows(), 2);
  EXPECT_THAT(reader->file_field_ids(), ElementsAre(1, 2, 3, 4));
  PG2I_ASSERT_OK_AND_ASSIGN(auto rows, reader->ReadAllRows());
  std::vector<std::vector<Value>> expected = {
      {Value{}, Decimal128{-12345, 2}, int64_t{-7}, 0.5},
      {Value{}, Decimal128{1, 2}, int64_t{8}, Value{}},
  };
  EXPECT_EQ(rows, expected);

  // Only missing columns: NULLs, one per row.
  PG2I_ASSERT_OK_AND_ASSIGN(auto only_new,
                            ReadDataFile(io_, file.file_path, {F(9, "x", T(TypeId::kDate))}));
  EXPECT_EQ(only_new, (std::vector<std::vector<Value>>{{Value{}}, {Value{}}}));

  // Narrowing or changing types is not a promotion.
  auto narrowed =
      DataFileReader::Open(io_, file.file_path, {F(3, "amount", Type::Decimal(9, 3))});
  ASSERT_TRUE(narrowed.ok());
  Status status = (*narrowed)->Next().status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("amount"), std::string::npos) << status.message();
  auto as_date = ReadDataFile(io_, file.file_path, {F(1, "id", T(TypeId::kDate))});
  EXPECT_EQ(as_date.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ParquetIoTest, ArrowBatchesRoundTripWithoutValues) {
  // Compaction's path: read batches, write them to a new file unchanged.
  DataFile source = WriteOne(AllTypesSchema(), AllTypesRows());
  PG2I_ASSERT_OK_AND_ASSIGN(auto reader,
                            DataFileReader::Open(io_, source.file_path,
                                                 AllTypesSchema().fields()));
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                            DataFileWriter::MakeDataWriter(io_, AllTypesSchema(), Options()));
  while (true) {
    PG2I_ASSERT_OK_AND_ASSIGN(auto batch, reader->Next());
    if (batch == nullptr) break;
    PG2I_ASSERT_OK(writer->Write(*batch));
  }
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  ASSERT_EQ(files.size(), 1u);
  DataFile copy = files[0];
  EXPECT_EQ(copy.lower_bounds, source.lower_bounds);
  EXPECT_EQ(copy.upper_bounds, source.upper_bounds);
  EXPECT_EQ(copy.null_value_counts, source.null_value_counts);
  PG2I_ASSERT_OK_AND_ASSIGN(auto rows,
                            ReadDataFile(io_, copy.file_path, AllTypesSchema().fields()));
  EXPECT_EQ(rows.size(), 4u);

  // A batch of the wrong shape is refused.
  auto bad = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("x", arrow::int64())}), 0,
      std::vector<std::shared_ptr<arrow::Array>>{*arrow::MakeArrayOfNull(arrow::int64(), 0)});
  EXPECT_EQ(writer->Write(*bad).code(), StatusCode::kInvalidArgument);
}

// A struct of primitives (a history table's _before): a Parquet group carrying the struct's
// field id, leaves with theirs, NULL structs as definition level 0, metrics per leaf.
TEST_F(ParquetIoTest, StructsOfPrimitivesAreWrittenFromBatches) {
  Field before{2, "_before", false, DataType{DataType::Kind::kStruct, {}, {
      F(3, "id", T(TypeId::kInt)), F(4, "s", T(TypeId::kString))}, {}}};
  const Schema schema(0, {F(1, "id", T(TypeId::kInt), true), before});
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer, DataFileWriter::MakeDataWriter(io_, schema, Options()));
  arrow::Int32Builder ids, before_ids;
  arrow::StringBuilder before_s;
  ASSERT_TRUE(ids.AppendValues({1, 2, 3}).ok());
  ASSERT_TRUE(before_ids.AppendNull().ok());  // row 0: no struct
  ASSERT_TRUE(before_ids.AppendValues({1, 2}).ok());
  ASSERT_TRUE(before_s.AppendNull().ok());
  ASSERT_TRUE(before_s.Append("a").ok());
  ASSERT_TRUE(before_s.AppendNull().ok());  // row 2: a struct with a NULL field
  const auto struct_type = writer->arrow_schema()->field(1)->type();
  auto validity = arrow::AllocateBitmap(3).ValueOrDie();
  arrow::bit_util::ClearBit(validity->mutable_data(), 0);
  arrow::bit_util::SetBit(validity->mutable_data(), 1);
  arrow::bit_util::SetBit(validity->mutable_data(), 2);
  auto structs = std::make_shared<arrow::StructArray>(
      struct_type, 3,
      std::vector<std::shared_ptr<arrow::Array>>{before_ids.Finish().ValueOrDie(),
                                                 before_s.Finish().ValueOrDie()},
      validity, 1);
  auto batch = arrow::RecordBatch::Make(writer->arrow_schema(), 3,
                                        {ids.Finish().ValueOrDie(), structs});
  PG2I_ASSERT_OK(writer->Write(*batch));
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  ASSERT_EQ(files.size(), 1u);
  const DataFile& f = files[0];
  EXPECT_EQ(f.record_count, 3);
  EXPECT_EQ(f.value_counts, (std::map<int32_t, int64_t>{{1, 3}, {3, 3}, {4, 3}}));
  EXPECT_EQ(f.null_value_counts, (std::map<int32_t, int64_t>{{1, 0}, {3, 1}, {4, 2}}));
  EXPECT_EQ(Bound(f.lower_bounds, 3, T(TypeId::kInt)), Value(int32_t{1}));
  EXPECT_EQ(Bound(f.upper_bounds, 3, T(TypeId::kInt)), Value(int32_t{2}));
  EXPECT_EQ(Bound(f.upper_bounds, 4, T(TypeId::kString)), Value(std::string("a")));
  EXPECT_EQ(f.column_sizes.size(), 3u);

  auto raw = OpenRaw(f.file_path);
  const parquet::SchemaDescriptor& ps = *raw->metadata()->schema();
  const auto& group = *ps.group_node()->field(1);
  EXPECT_FALSE(group.is_primitive());
  EXPECT_EQ(group.field_id(), 2);
  EXPECT_EQ(ps.Column(1)->schema_node()->field_id(), 3);
  EXPECT_EQ(ps.Column(2)->schema_node()->field_id(), 4);
  EXPECT_EQ(ps.Column(2)->max_definition_level(), 2);
  // Read back through Arrow's own reader: the NULL struct, the values, the NULL field.
  auto file = io_->OpenReader(f.file_path);
  ASSERT_TRUE(file.ok());
  auto reader = parquet::arrow::OpenFile(*file, arrow::default_memory_pool()).ValueOrDie();
  std::shared_ptr<arrow::Table> table = reader->ReadTable().ValueOrDie();
  auto back = std::static_pointer_cast<arrow::StructArray>(table->column(1)->chunk(0));
  EXPECT_TRUE(back->IsNull(0));
  EXPECT_TRUE(back->IsValid(1));
  EXPECT_EQ(std::static_pointer_cast<arrow::Int32Array>(back->field(0))->Value(2), 2);
  EXPECT_EQ(std::static_pointer_cast<arrow::StringArray>(back->field(1))->GetString(1), "a");
  EXPECT_TRUE(back->field(1)->IsNull(2));
  // Our reader reads the primitive columns of such a file.
  PG2I_ASSERT_OK_AND_ASSIGN(auto rows, ReadDataFile(io_, f.file_path, {schema.fields()[0]}));
  EXPECT_EQ(rows.size(), 3u);

  // A value under a NULL struct is refused (it would count in the leaf's metrics).
  PG2I_ASSERT_OK_AND_ASSIGN(auto second, DataFileWriter::MakeDataWriter(io_, schema, Options()));
  arrow::Int32Builder some;
  ASSERT_TRUE(some.AppendValues({7, 8, 9}).ok());
  auto bad_structs = std::make_shared<arrow::StructArray>(
      struct_type, 3,
      std::vector<std::shared_ptr<arrow::Array>>{some.Finish().ValueOrDie(),
                                                 structs->field(1)},
      validity, 1);
  auto bad = arrow::RecordBatch::Make(second->arrow_schema(), 3,
                                      {batch->column(0), bad_structs});
  EXPECT_EQ(second->Write(*bad).code(), StatusCode::kInvalidArgument);
  // Rows of Values cannot carry a struct.
  EXPECT_EQ(second->Write(std::vector<std::vector<Value>>{{int32_t{1}, Value()}}).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ParquetIoTest, BadValuesAreInvalidArgument) {
  const Schema schema(0, {F(1, "id", T(TypeId::kInt), true),
                          F(2, "amount", Type::Decimal(5, 2)),
                          F(3, "at", T(TypeId::kTimestampTz))});
  auto attempt = [&](std::vector<Value> row) {
    auto writer = DataFileWriter::MakeDataWriter(io_, schema, Options());
    EXPECT_TRUE(writer.ok());
    return (*writer)->Write(std::vector<std::vector<Value>>{std::move(row)});
  };
  EXPECT_EQ(attempt({Value{}, Value{}, Value{}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(attempt({int64_t{1}, Value{}, Value{}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(attempt({int32_t{1}, Decimal128{100000, 2}, Value{}}).code(),
            StatusCode::kInvalidArgument);  // 1000.00 needs precision 6
  EXPECT_EQ(attempt({int32_t{1}, Decimal128{1, 3}, Value{}}).code(),
            StatusCode::kInvalidArgument);  // wrong scale
  EXPECT_EQ(attempt({int32_t{1}, Value{}, Timestamp{1}}).code(),
            StatusCode::kInvalidArgument);  // timestamp is not timestamptz
  EXPECT_EQ(attempt({int32_t{1}, Value{}}).code(), StatusCode::kInvalidArgument);
  Status ok = attempt({int32_t{1}, Decimal128{-99999, 2}, TimestampTz{1}});
  PG2I_EXPECT_OK(ok);
  EXPECT_TRUE(io_->Uris().empty());  // no writer was closed: nothing visible

  Schema empty(0, {Field{1, "s", false, DataType{DataType::Kind::kStruct, {}, {}, {}}}});
  EXPECT_EQ(DataFileWriter::MakeDataWriter(io_, empty, Options()).status().code(),
            StatusCode::kInvalidArgument);
  Field inner{3, "inner", false, DataType{DataType::Kind::kStruct, {}, {F(4, "x", T(TypeId::kInt))}, {}}};
  Schema nested(0, {Field{1, "s", false, DataType{DataType::Kind::kStruct, {}, {inner}, {}}}});
  EXPECT_EQ(DataFileWriter::MakeDataWriter(io_, nested, Options()).status().code(),
            StatusCode::kInvalidArgument);
  ParquetWriteOptions no_namer;
  EXPECT_EQ(DataFileWriter::MakeDataWriter(io_, schema, no_namer).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ParquetIoTest, EmptyWriterWritesNothing) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                            DataFileWriter::MakeDataWriter(io_, FiveColumns(), Options()));
  PG2I_ASSERT_OK(writer->Write(std::vector<std::vector<Value>>{}));
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  EXPECT_TRUE(files.empty());
  EXPECT_TRUE(io_->Uris().empty());
  PG2I_ASSERT_OK_AND_ASSIGN(auto deletes, PositionDeleteWriter::Make(io_, Options()));
  PG2I_ASSERT_OK_AND_ASSIGN(auto delete_files, deletes->Close());
  EXPECT_TRUE(delete_files.empty());
}

TEST_F(ParquetIoTest, DroppedWriterLeavesNoFile) {
  {
    PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                              DataFileWriter::MakeDataWriter(io_, FiveColumns(), Options()));
    PG2I_ASSERT_OK(writer->Write(ManyRows(1000)));
  }
  EXPECT_TRUE(io_->Uris().empty());
}

TEST_F(ParquetIoTest, FullDiskIsResourceExhaustedAndLeavesNoPartialFile) {
  auto faulty = std::make_shared<io::FaultInjectingFileIO>(io_);
  // The first file completes (small target: it rolls), then the disk fills up for good.
  ParquetWriteOptions options = Options();
  options.target_file_size = 16 << 10;
  options.page_size = 4 << 10;
  options.slice_rows = 500;
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                            DataFileWriter::MakeDataWriter(faulty, FiveColumns(), options));
  Status status;
  int batches = 0;
  for (; batches < 50 && status.ok(); ++batches) {
    if (batches == 1) {
      faulty->FailNth(io::FaultOp::kWrite, faulty->count(io::FaultOp::kWrite) + 1,
                      ResourceExhausted("No space left on device"), io::FaultTiming::kBefore,
                      /*sticky=*/true);
    }
    status = writer->Write(ManyRows(2000, batches * 2000));
  }
  EXPECT_EQ(status.code(), StatusCode::kResourceExhausted) << status.ToString();
  EXPECT_NE(status.message().find("No space left"), std::string::npos) << status.message();
  const auto completed = writer->completed_files();
  ASSERT_GE(completed.size(), 1u);
  // Exactly the completed files are visible, each readable in full.
  std::vector<std::string> visible = io_->Uris();
  EXPECT_EQ(visible.size(), completed.size());
  for (const DataFile& file : completed) {
    PG2I_ASSERT_OK_AND_ASSIGN(auto rows,
                              ReadDataFile(io_, file.file_path, FiveColumns().fields()));
    EXPECT_EQ(static_cast<int64_t>(rows.size()), file.record_count);
  }
  // The writer stays failed.
  EXPECT_EQ(writer->Write(ManyRows(1)).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(writer->Close().status().code(), StatusCode::kResourceExhausted);
}

TEST_F(ParquetIoTest, CrashOnCloseLeavesNoFile) {
  auto faulty = std::make_shared<io::FaultInjectingFileIO>(io_);
  faulty->FailNth(io::FaultOp::kClose, 1, Unavailable("connection reset"));
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                            DataFileWriter::MakeDataWriter(faulty, FiveColumns(), Options()));
  PG2I_ASSERT_OK(writer->Write(ManyRows(100)));
  EXPECT_EQ(writer->Close().status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(io_->Uris().empty());
}

TEST_F(ParquetIoTest, ReaderErrors) {
  EXPECT_TRUE(IsNotFound(
      DataFileReader::Open(io_, "mem://wh/none.parquet", FiveColumns().fields()).status()));
  PG2I_ASSERT_OK(io_->WriteAll("mem://wh/garbage.parquet", "this is not parquet at all"));
  Status garbage =
      DataFileReader::Open(io_, "mem://wh/garbage.parquet", FiveColumns().fields()).status();
  EXPECT_EQ(garbage.code(), StatusCode::kDataLoss) << garbage.ToString();
  // A truncated file (a crash mid-upload that a non-atomic store would expose).
  DataFile file = WriteOne(FiveColumns(), ManyRows(100));
  PG2I_ASSERT_OK_AND_ASSIGN(std::string bytes, io_->ReadAll(file.file_path));
  PG2I_ASSERT_OK(
      io_->WriteAll("mem://wh/truncated.parquet", bytes.substr(0, bytes.size() / 2)));
  Status truncated =
      DataFileReader::Open(io_, "mem://wh/truncated.parquet", FiveColumns().fields()).status();
  EXPECT_EQ(truncated.code(), StatusCode::kDataLoss) << truncated.ToString();
}

// Throughput, not a check: run with --gtest_also_run_disabled_tests in a Release build.
// 1M rows of FiveColumns() (long, string, double, timestamp, decimal) to local disk, in batches
// of 10,000 rows, through the Value-row API and through Arrow batches.
// An object store that drops the connection in the middle of a read is an outage (retried),
// not a corrupt file; bytes that are not Parquet are.
TEST(ParquetReadErrorTest, AnOutageIsTransientAndBadBytesAreDataLoss) {
  const Status outage = ParquetReadError(
      arrow::Status::IOError("AWS Error NETWORK_CONNECTION during GetObject operation: curlCode: "
                             "7, Could not connect to server"),
      "staged file s3://b/x.parquet");
  EXPECT_EQ(outage.code(), StatusCode::kUnavailable) << outage.ToString();
  EXPECT_THAT(outage.message(), ::testing::HasSubstr("s3://b/x.parquet"));
  const Status bad = ParquetReadError(
      arrow::Status::IOError("Parquet magic bytes not found in footer. Either the file is "
                             "corrupted or this is not a parquet file."),
      "staged file s3://b/x.parquet");
  EXPECT_EQ(bad.code(), StatusCode::kDataLoss) << bad.ToString();
}

TEST(ParquetIoBenchmark, DISABLED_WriteThroughput1MRows5Columns) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto dir, fixtures::TempDir::Create("pg2i-parquet-bench-"));
  auto io = io::ArrowFileIO::MakeLocal();
  constexpr int kRows = 1'000'000;
  constexpr int kBatch = 10'000;
  std::vector<std::vector<std::vector<Value>>> batches;
  for (int b = 0; b < kRows / kBatch; ++b) batches.push_back(ManyRows(kBatch, b * kBatch));

  ParquetWriteOptions options;
  options.new_file_uri = UniqueFileUris("file://" + dir.str() + "/rows");
  auto start = std::chrono::steady_clock::now();
  PG2I_ASSERT_OK_AND_ASSIGN(auto writer,
                            DataFileWriter::MakeDataWriter(io, FiveColumns(), options));
  for (const auto& batch : batches) PG2I_ASSERT_OK(writer->Write(batch));
  PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  double seconds = elapsed();
  int64_t bytes = 0;
  for (const DataFile& f : files) bytes += f.file_size_in_bytes;
  std::cout << "rows API:  " << kRows << " rows in " << seconds << " s = "
            << static_cast<int64_t>(kRows / seconds) << " rows/s, " << files.size()
            << " file(s), " << bytes << " bytes\n";

  // Reading it back, in batches of 10,000 rows.
  start = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<arrow::RecordBatch>> arrow_batches;
  for (const DataFile& f : files) {
    PG2I_ASSERT_OK_AND_ASSIGN(auto reader, DataFileReader::Open(io, f.file_path,
                                                                FiveColumns().fields(),
                                                                ParquetReadOptions{kBatch}));
    while (true) {
      PG2I_ASSERT_OK_AND_ASSIGN(auto batch, reader->Next());
      if (batch == nullptr) break;
      arrow_batches.push_back(std::move(batch));
    }
  }
  seconds = elapsed();
  std::cout << "read:      " << kRows << " rows in " << seconds << " s = "
            << static_cast<int64_t>(kRows / seconds) << " rows/s\n";

  // The same rows as Arrow batches (compaction's path).
  options.new_file_uri = UniqueFileUris("file://" + dir.str() + "/arrow");
  start = std::chrono::steady_clock::now();
  PG2I_ASSERT_OK_AND_ASSIGN(writer, DataFileWriter::MakeDataWriter(io, FiveColumns(), options));
  for (const auto& batch : arrow_batches) PG2I_ASSERT_OK(writer->Write(*batch));
  PG2I_ASSERT_OK_AND_ASSIGN(files, writer->Close());
  seconds = elapsed();
  std::cout << "arrow API: " << kRows << " rows in " << seconds << " s = "
            << static_cast<int64_t>(kRows / seconds) << " rows/s\n";
}

TEST(ArrowTypeForTest, SchemaCarriesFieldIds) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto schema, ArrowSchemaFor(AllTypesSchema().fields()));
  ASSERT_EQ(schema->num_fields(), 15);
  EXPECT_EQ(schema->field(1)->metadata()->Get(kParquetFieldIdKey).ValueOrDie(), "2");
  EXPECT_FALSE(schema->field(1)->nullable());
  EXPECT_TRUE(schema->field(0)->nullable());
  EXPECT_EQ(schema->field(11)->type()->ToString(), "timestamp[us, tz=UTC]");
  EXPECT_EQ(schema->field(10)->type()->ToString(), "timestamp[us]");
  EXPECT_EQ(schema->field(9)->type()->ToString(), "time64[us]");
  EXPECT_EQ(schema->field(7)->type()->ToString(), "decimal128(38, 10)");
  EXPECT_EQ(schema->field(13)->type()->ToString(), "fixed_size_binary[16]");
}

}  // namespace
}  // namespace pg2iceberg::iceberg
