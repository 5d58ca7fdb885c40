// Parquet data and delete files written through the real FileIO backends — local disk and S3
// (versitygw) — then read back twice: by our reader, and by an independent one (pyarrow, in
// parquet_io_check.py), which must see the same field ids, Parquet types and values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "fixtures/gtest_support.h"
#include "fixtures/s3_server.h"
#include "fixtures/subprocess.h"
#include "fixtures/temp_dir.h"
#include "iceberg/parquet_io.h"
#include "io/arrow_file_io.h"

namespace pg2iceberg::iceberg {
namespace {

using fixtures::S3Server;
using fixtures::Subprocess;
using fixtures::SubprocessOptions;
using fixtures::TempDir;
using nlohmann::json;

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

Field F(int32_t id, std::string name, Type type, bool required = false) {
  return Field{id, std::move(name), required, DataType::Primitive(type)};
}

Schema AllTypesSchema() {
  return Schema(
      0,
      {F(1, "b", Type{TypeId::kBoolean}), F(2, "i", Type{TypeId::kInt}, /*required=*/true),
       F(3, "l", Type{TypeId::kLong}), F(4, "f", Type{TypeId::kFloat}),
       F(5, "d", Type{TypeId::kDouble}), F(6, "dec9", Type::Decimal(9, 2)),
       F(7, "dec18", Type::Decimal(18, 4)), F(8, "dec38", Type::Decimal(38, 10)),
       F(9, "date", Type{TypeId::kDate}), F(10, "time", Type{TypeId::kTime}),
       F(11, "ts", Type{TypeId::kTimestamp}), F(12, "tstz", Type{TypeId::kTimestampTz}),
       F(13, "s", Type{TypeId::kString}), F(14, "u", Type{TypeId::kUuid}),
       F(15, "bin", Type{TypeId::kBinary})},
      {2});
}

// The Parquet column each field must become (spec Appendix A, as Iceberg Java writes it).
struct ParquetColumn {
  std::string physical;
  std::string logical;
};
const std::map<int32_t, ParquetColumn>& ExpectedColumns() {
  static const std::map<int32_t, ParquetColumn> kColumns = {
      {1, {"BOOLEAN", "None"}},
      {2, {"INT32", "None"}},
      {3, {"INT64", "None"}},
      {4, {"FLOAT", "None"}},
      {5, {"DOUBLE", "None"}},
      {6, {"INT32", "Decimal(precision=9, scale=2)"}},
      {7, {"INT64", "Decimal(precision=18, scale=4)"}},
      {8, {"FIXED_LEN_BYTE_ARRAY", "Decimal(precision=38, scale=10)"}},
      {9, {"INT32", "Date"}},
      {10, {"INT64", "Time(isAdjustedToUTC=false, timeUnit=microseconds)"}},
      {11, {"INT64", "Timestamp(isAdjustedToUTC=false, timeUnit=microseconds, "
                     "is_from_converted_type=false, force_set_converted_type=false)"}},
      {12, {"INT64", "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, "
                     "is_from_converted_type=false, force_set_converted_type=false)"}},
      {13, {"BYTE_ARRAY", "String"}},
      {14, {"FIXED_LEN_BYTE_ARRAY", "UUID"}},
      {15, {"BYTE_ARRAY", "None"}},
      {kPositionDeleteFilePathId, {"BYTE_ARRAY", "String"}},
      {kPositionDeletePosId, {"INT64", "None"}},
  };
  return kColumns;
}

__int128 Pow10(int n) {
  __int128 v = 1;
  while (n-- > 0) v *= 10;
  return v;
}

std::vector<std::vector<Value>> AllTypesRows(int n) {
  const float nan_f = std::numeric_limits<float>::quiet_NaN();
  const double nan_d = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::vector<Value>> rows = {
      // Extremes.
      {false, int32_t{std::numeric_limits<int32_t>::min()},
       int64_t{std::numeric_limits<int64_t>::min()}, -std::numeric_limits<float>::infinity(),
       -std::numeric_limits<double>::max(), Decimal128{-999'999'999, 2},
       Decimal128{-999'999'999'999'999'999, 4}, Decimal128{-(Pow10(38) - 1), 10},
       Date{-719162}, Time{0}, Timestamp{-62'135'596'800'000'000},
       TimestampTz{-62'135'596'800'000'000}, std::string(""), Uuid{}, Binary{}},
      {true, int32_t{std::numeric_limits<int32_t>::max()},
       int64_t{std::numeric_limits<int64_t>::max()}, std::numeric_limits<float>::max(),
       std::numeric_limits<double>::infinity(), Decimal128{999'999'999, 2},
       Decimal128{999'999'999'999'999'999, 4}, Decimal128{Pow10(38) - 1, 10}, Date{2932896},
       Time{86'399'999'999}, Timestamp{253'402'300'799'999'999},
       TimestampTz{253'402'300'799'999'999}, std::string("\xF4\x8F\xBF\xBF 𝄞 ✓ é"),
       Uuid{{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
             0xFF, 0xFF}},
       Binary{std::string("\x00\xff\x00", 3)}},
      // NULL everywhere it may be; -0.0 and NaN.
      {Value{}, int32_t{0}, Value{}, -0.0f, nan_d, Value{}, Value{}, Value{}, Value{}, Value{},
       Value{}, Value{}, Value{}, Value{}, Value{}},
      {Value{}, int32_t{-1}, Value{}, nan_f, -0.0, Value{}, Value{}, Value{}, Value{}, Value{},
       Value{}, Value{}, Value{}, Value{}, Value{}},
  };
  for (int i = 0; i < n; ++i) {
    const int64_t k = i;
    Uuid u;
    for (int b = 0; b < 16; ++b) u.bytes[b] = static_cast<uint8_t>((k * 31 + b * 7) & 0xFF);
    std::string bin;
    for (int b = 0; b < i % 23; ++b) bin.push_back(static_cast<char>((k + b * 13) & 0xFF));
    rows.push_back({
        i % 3 == 0 ? Value{} : Value{i % 2 == 0},
        static_cast<int32_t>(static_cast<uint32_t>(k * 2654435761u)),
        i % 7 == 0 ? Value{} : Value{k * -1'234'567'891'011},
        i % 11 == 0  ? Value{nan_f}
        : i % 5 == 0 ? Value{}
                     : Value{static_cast<float>(k) / 7.0f * (i % 2 ? -1 : 1)},
        i % 13 == 0 ? Value{nan_d} : Value{static_cast<double>(k) * 1e-3 - 5},
        Value{Decimal128{(k * 7919) % 1'999'999'999 - 999'999'999, 2}},
        i % 4 == 0 ? Value{} : Value{Decimal128{(k - n / 2) * 1'234'567'890'123, 4}},
        Value{Decimal128{(static_cast<__int128>(k - n / 2) * Pow10(25)) + k, 10}},
        Value{Date{i - 1000}},
        Value{Time{(k * 1'000'003) % 86'400'000'000}},
        Value{Timestamp{(k - n / 2) * 3'600'000'001}},
        i % 9 == 0 ? Value{} : Value{TimestampTz{k * 86'400'000'000 + 1}},
        i % 17 == 0 ? Value{}
                    : Value{"row-" + std::to_string(i) + (i % 4 == 0 ? "-ünïcødé-✓" : "")},
        Value{u},
        i % 19 == 0 ? Value{} : Value{Binary{bin}},
    });
  }
  return rows;
}

std::string Hex(const void* data, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t b = static_cast<const uint8_t*>(data)[i];
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

// The rendering parquet_io_check.py uses (see its docstring).
json Render(const Value& v) {
  return std::visit(
      [](const auto& x) -> json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
          return std::isnan(x) ? std::string("NaN") : Hex(&x, sizeof(x));
        } else if constexpr (std::is_same_v<T, Decimal128>) {
          return Decimal128{x.unscaled, 0}.ToString();
        } else if constexpr (std::is_same_v<T, Date>) {
          return std::to_string(x.days);
        } else if constexpr (std::is_same_v<T, Time> || std::is_same_v<T, Timestamp> ||
                             std::is_same_v<T, TimestampTz>) {
          return std::to_string(x.micros);
        } else if constexpr (std::is_same_v<T, std::string>) {
          return x;
        } else if constexpr (std::is_same_v<T, Uuid>) {
          return Hex(x.bytes.data(), x.bytes.size());
        } else {
          return Hex(x.bytes.data(), x.bytes.size());
        }
      },
      v);
}

std::string PythonPath() {
  const char* venv = std::getenv("PG2I_VENV");
  return std::string(venv ? venv : PG2I_DEFAULT_VENV) + "/bin/python";
}

class ParquetIoIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PG2I_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("pg2i-parquet-it-"));
    dir_ = std::make_unique<TempDir>(std::move(dir));
  }

  // Runs the pyarrow reader on `files`; returns its JSON (one object per file).
  json ReadWithPyArrow(const std::vector<std::string>& files,
                       std::vector<std::pair<std::string, std::string>> env = {}) {
    const std::string out =
        (dir_->path() / ("pyarrow-" + std::to_string(++runs_) + ".json")).string();
    const std::string log = out + ".log";
    SubprocessOptions options;
    options.argv = {PythonPath(), PG2I_PARQUET_CHECK_SCRIPT, "--out", out};
    options.argv.insert(options.argv.end(), files.begin(), files.end());
    env.emplace_back("AWS_EC2_METADATA_DISABLED", "true");
    options.env = std::move(env);
    options.log_path = log;
    auto process = Subprocess::Start(options);
    EXPECT_TRUE(process.ok()) << process.status().ToString();
    if (!process.ok()) return json();
    auto exit = (*process)->Wait(std::chrono::seconds(120));
    std::ifstream log_in(log);
    std::string log_text((std::istreambuf_iterator<char>(log_in)),
                         std::istreambuf_iterator<char>());
    EXPECT_TRUE(exit.ok() && exit->success()) << "pyarrow reader failed: " << log_text;
    std::ifstream in(out);
    if (!in) return json();
    return json::parse(in);
  }

  // Compares one file as pyarrow saw it with what was written.
  static void ExpectFile(const json& seen, const std::vector<Field>& fields,
                         const std::vector<std::vector<Value>>& rows) {
    SCOPED_TRACE(seen.value("path", std::string("?")));
    ASSERT_EQ(seen["columns"].size(), fields.size());
    EXPECT_EQ(seen["num_rows"].get<int64_t>(), static_cast<int64_t>(rows.size()));
    EXPECT_EQ(seen["compression"], json::array({"ZSTD"}));
    for (size_t c = 0; c < fields.size(); ++c) {
      const json& column = seen["columns"][c];
      SCOPED_TRACE(fields[c].name);
      EXPECT_EQ(column["name"], fields[c].name);
      EXPECT_EQ(column["field_id"], fields[c].id);
      EXPECT_EQ(column["physical"], ExpectedColumns().at(fields[c].id).physical);
      EXPECT_EQ(column["logical"], ExpectedColumns().at(fields[c].id).logical);
      EXPECT_EQ(column["max_definition_level"], fields[c].required ? 0 : 1);
    }
    ASSERT_EQ(seen["rows"].size(), rows.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      for (size_t c = 0; c < fields.size(); ++c) {
        const json expected = Render(rows[r][c]);
        if (seen["rows"][r][c] != expected) {
          ADD_FAILURE() << "row " << r << ", " << fields[c].name << ": pyarrow read "
                        << seen["rows"][r][c].dump() << ", wrote " << expected.dump();
          return;  // one mismatch is enough to see the problem
        }
      }
    }
  }

  // Writes data, equality delete and position delete files to `dir_uri` through `io`, reads
  // them with our reader and with pyarrow (`python_path` maps a URI to what pyarrow opens).
  void WriteAndReadBack(std::shared_ptr<io::FileIO> io, const std::string& dir_uri,
                        const std::function<std::string(const std::string&)>& python_path,
                        std::vector<std::pair<std::string, std::string>> python_env) {
    const Schema schema = AllTypesSchema();
    const auto rows = AllTypesRows(6000);
    ParquetWriteOptions options;
    options.new_file_uri = UniqueFileUris(dir_uri + "/data");
    options.target_file_size = 192 << 10;
    options.page_size = 16 << 10;
    options.slice_rows = 1000;
    PG2I_ASSERT_OK_AND_ASSIGN(auto writer, DataFileWriter::MakeDataWriter(io, schema, options));
    PG2I_ASSERT_OK(writer->Write(std::span(rows).subspan(0, 2500)));
    PG2I_ASSERT_OK(writer->Write(std::span(rows).subspan(2500)));
    PG2I_ASSERT_OK_AND_ASSIGN(auto files, writer->Close());
    ASSERT_GE(files.size(), 2u) << "expected the writer to roll";

    // Our reader: the files, in order, hold the rows in order.
    std::vector<std::string> python_files;
    std::vector<std::vector<std::vector<Value>>> per_file;
    size_t offset = 0;
    for (const DataFile& file : files) {
      PG2I_ASSERT_OK_AND_ASSIGN(int64_t size, io->Size(file.file_path));
      EXPECT_EQ(size, file.file_size_in_bytes);
      PG2I_ASSERT_OK_AND_ASSIGN(auto read, ReadDataFile(io, file.file_path, schema.fields()));
      ASSERT_EQ(static_cast<int64_t>(read.size()), file.record_count);
      std::vector<std::vector<Value>> expected(rows.begin() + offset,
                                               rows.begin() + offset + read.size());
      for (size_t r = 0; r < read.size(); ++r) {
        for (size_t c = 0; c < read[r].size(); ++c) {
          ASSERT_EQ(Render(read[r][c]), Render(expected[r][c]))
              << file.file_path << " row " << r << " col " << c;
        }
      }
      offset += read.size();
      per_file.push_back(std::move(expected));
      python_files.push_back(python_path(file.file_path));
    }
    EXPECT_EQ(offset, rows.size());

    // Deletes.
    PG2I_ASSERT_OK_AND_ASSIGN(
        auto eq_writer, DataFileWriter::MakeEqualityDeleteWriter(io, schema, {2, 13}, options));
    std::vector<std::vector<Value>> keys = {{int32_t{5}, std::string("five")},
                                            {int32_t{-5}, Value{}}};
    PG2I_ASSERT_OK(eq_writer->Write(keys));
    PG2I_ASSERT_OK_AND_ASSIGN(auto eq_files, eq_writer->Close());
    ASSERT_EQ(eq_files.size(), 1u);
    PG2I_ASSERT_OK_AND_ASSIGN(auto pos_writer, PositionDeleteWriter::Make(io, options));
    pos_writer->Add(files[1].file_path, 9);
    pos_writer->Add(files[0].file_path, 4);
    pos_writer->Add(files[0].file_path, 1);
    PG2I_ASSERT_OK_AND_ASSIGN(auto pos_files, pos_writer->Close());
    ASSERT_EQ(pos_files.size(), 1u);
    const std::vector<Field> eq_fields = {schema.fields()[1], schema.fields()[12]};
    PG2I_ASSERT_OK_AND_ASSIGN(auto eq_read, ReadDataFile(io, eq_files[0].file_path, eq_fields));
    EXPECT_EQ(eq_read, keys);
    const auto& [first, second] = std::minmax(files[0].file_path, files[1].file_path);
    std::vector<std::vector<Value>> positions =
        first == files[0].file_path
            ? std::vector<std::vector<Value>>{{first, int64_t{1}}, {first, int64_t{4}},
                                              {second, int64_t{9}}}
            : std::vector<std::vector<Value>>{{first, int64_t{9}}, {second, int64_t{1}},
                                              {second, int64_t{4}}};
    PG2I_ASSERT_OK_AND_ASSIGN(auto pos_read,
                              ReadDataFile(io, pos_files[0].file_path, PositionDeleteFields()));
    EXPECT_EQ(pos_read, positions);
    python_files.push_back(python_path(eq_files[0].file_path));
    python_files.push_back(python_path(pos_files[0].file_path));

    // The independent reader.
    json seen = ReadWithPyArrow(python_files, std::move(python_env));
    ASSERT_TRUE(seen.is_array()) << seen.dump();
    ASSERT_EQ(seen.size(), files.size() + 2);
    for (size_t i = 0; i < files.size(); ++i) ExpectFile(seen[i], schema.fields(), per_file[i]);
    ExpectFile(seen[files.size()], eq_fields, keys);
    ExpectFile(seen[files.size() + 1], PositionDeleteFields(), positions);
  }

  std::unique_ptr<TempDir> dir_;
  int runs_ = 0;
};

TEST_F(ParquetIoIntegrationTest, LocalDisk) {
  const std::string root = (dir_->path() / "warehouse/db/t").string();
  WriteAndReadBack(
      io::ArrowFileIO::MakeLocal(), "file://" + root,
      [](const std::string& uri) { return *io::LocalPathFromUri(uri); }, {});
}

TEST_F(ParquetIoIntegrationTest, S3) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto server, S3Server::Start());
  PG2I_ASSERT_OK(server->CreateBucket("warehouse"));
  io::S3Settings settings;
  settings.endpoint = server->endpoint();
  settings.region = server->region();
  settings.access_key = server->access_key();
  settings.secret_key = server->secret_key();
  PG2I_ASSERT_OK_AND_ASSIGN(auto io, io::MakeFileIO("s3://warehouse/wh", settings));
  WriteAndReadBack(
      io, "s3://warehouse/wh/db/t", [](const std::string& uri) { return uri; },
      {{"PG2I_S3_ENDPOINT", server->endpoint()},
       {"AWS_ACCESS_KEY_ID", server->access_key()},
       {"AWS_SECRET_ACCESS_KEY", server->secret_key()},
       {"AWS_REGION", server->region()}});
}

}  // namespace
}  // namespace pg2iceberg::iceberg
