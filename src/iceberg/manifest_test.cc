#include "iceberg/manifest.h"

#include <gtest/gtest.h>

#include "avro/container.h"

namespace pg2iceberg::iceberg {
namespace {

Schema TestSchema() {
  return Schema(0,
                {Field{1, "id", true, DataType::Primitive(Type{TypeId::kLong}), "", {}, {}},
                 Field{2, "ts", false, DataType::Primitive(Type{TypeId::kTimestampTz}), "", {}, {}},
                 Field{3, "amount", false, DataType::Primitive(Type::Decimal(10, 2)), "", {}, {}},
                 Field{4, "region", false, DataType::Primitive(Type{TypeId::kString}), "", {}, {}}},
                {1});
}

DataFile File(const std::string& path, std::vector<Value> partition, int64_t rows) {
  DataFile f;
  f.file_path = path;
  f.partition = std::move(partition);
  f.record_count = rows;
  f.file_size_in_bytes = rows * 100;
  f.column_sizes = {{1, 80}, {2, 90}};
  f.value_counts = {{1, rows}};
  f.null_value_counts = {{1, 0}, {4, 2}};
  f.lower_bounds = {{1, std::string("\x01\0\0\0\0\0\0\0", 8)}};
  f.upper_bounds = {{1, std::string("\x09\0\0\0\0\0\0\0", 8)}};
  f.split_offsets = {4};
  return f;
}

TEST(ManifestTest, RoundTripWithPartitionsMetricsAndInheritance) {
  const Schema schema = TestSchema();
  PartitionSpec spec{3, {{2, 1000, "ts_day", "day"}, {3, 1001, "amount_trunc", "truncate[100]"},
                         {4, 1002, "region", "identity"}}};
  std::vector<ManifestEntry> entries;
  ManifestEntry added;
  added.status = ManifestEntry::EntryStatus::kAdded;
  added.file = File("s3://b/t/data/a.parquet", {Value(int32_t{20103}), Value(Decimal128{1200, 2}), Value(std::string("eu"))}, 7);
  entries.push_back(added);
  ManifestEntry existing;
  existing.status = ManifestEntry::EntryStatus::kExisting;
  existing.snapshot_id = 11;
  existing.sequence_number = 4;
  existing.file_sequence_number = 4;
  existing.file = File("s3://b/t/data/b.parquet", {Value(int32_t{-3}), Value(), Value(std::string("us"))}, 3);
  entries.push_back(existing);
  auto w = WriteManifest(2, schema, spec, ManifestContent::kData, 99, entries);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->summary.added_files_count, 1);
  EXPECT_EQ(w->summary.existing_files_count, 1);
  EXPECT_EQ(w->summary.added_rows_count, 7);
  ASSERT_EQ(w->summary.partitions.size(), 3u);
  EXPECT_FALSE(w->summary.partitions[0].contains_null);
  EXPECT_TRUE(w->summary.partitions[1].contains_null);
  // day ordinals: the lower bound is -3 as a 4-byte little-endian int.
  EXPECT_EQ(*w->summary.partitions[0].lower_bound, std::string("\xFD\xFF\xFF\xFF", 4));

  // The file carries the metadata the spec requires.
  auto reader = avro::ContainerReader::Open(w->bytes);
  ASSERT_TRUE(reader.ok());
  const auto& meta = reader->metadata();
  EXPECT_EQ(meta.at("format-version"), "2");
  EXPECT_EQ(meta.at("content"), "data");
  EXPECT_EQ(meta.at("partition-spec-id"), "3");
  EXPECT_NE(meta.at("schema").find("\"identifier-field-ids\""), std::string::npos);
  EXPECT_NE(meta.at("partition-spec").find("truncate[100]"), std::string::npos);

  ManifestFile from = w->summary;
  from.sequence_number = 5;
  from.added_snapshot_id = 99;
  auto back = ReadManifest(w->bytes, from);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  const ManifestEntry& a = (*back)[0];
  EXPECT_EQ(a.snapshot_id, 99);       // inherited
  EXPECT_EQ(a.sequence_number, 5);    // inherited from the manifest list
  EXPECT_EQ(a.file.partition[0], Value(int32_t{20103}));
  EXPECT_EQ(a.file.partition[1], Value(Decimal128{1200, 2}));
  EXPECT_EQ(a.file.partition[2], Value(std::string("eu")));
  EXPECT_EQ(a.file.column_sizes, added.file.column_sizes);
  EXPECT_EQ(a.file.null_value_counts, added.file.null_value_counts);
  EXPECT_EQ(a.file.lower_bounds, added.file.lower_bounds);
  EXPECT_EQ(a.file.split_offsets, std::vector<int64_t>{4});
  EXPECT_EQ(a.file.spec_id, 3);
  const ManifestEntry& b = (*back)[1];
  EXPECT_EQ(b.sequence_number, 4);    // explicit, not inherited
  EXPECT_EQ(b.snapshot_id, 11);
  EXPECT_TRUE(IsNull(b.file.partition[1]));
}

// Manifests of other writers: Iceberg Java and Spark write a day() partition value as an Avro
// int with logicalType "date", which reads back as a date. Rewriting such entries into our
// manifests (a manifest merge after Spark's rewrite_data_files) must keep the ordinal, and a
// value of an unrelated type is an error, never an exception that ends the process.
TEST(ManifestTest, PartitionValuesOfOtherWritersAreWrittenAsTheirFieldType) {
  const Schema schema = TestSchema();
  PartitionSpec spec{3, {{2, 1000, "ts_day", "day"}, {3, 1001, "amount_trunc", "truncate[100]"},
                         {4, 1002, "region", "identity"}}};
  ManifestEntry e;
  e.status = ManifestEntry::EntryStatus::kExisting;
  e.snapshot_id = 11;
  e.sequence_number = 4;
  e.file_sequence_number = 4;
  e.file = File("s3://b/t/data/spark.parquet",
                {Value(Date{20103}), Value(Decimal128{1200, 2}), Value(std::string("eu"))}, 5);
  auto w = WriteManifest(2, schema, spec, ManifestContent::kData, 99, {e});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(*w->summary.partitions[0].lower_bound, std::string("\x87\x4E\0\0", 4));  // 20103
  auto back = ReadManifest(w->bytes, w->summary);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ((*back)[0].file.partition[0], Value(int32_t{20103}));

  e.file.partition[0] = Value(std::string("2025-01-15"));
  auto bad = WriteManifest(2, schema, spec, ManifestContent::kData, 99, {e});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("spark.parquet"), std::string::npos);

  EXPECT_EQ(*PartitionValueAs(Type{TypeId::kLong}, Value(int32_t{7})), Value(int64_t{7}));
  EXPECT_EQ(*PartitionValueAs(Type{TypeId::kDate}, Value(int32_t{7})), Value(Date{7}));
  EXPECT_TRUE(IsNull(*PartitionValueAs(Type{TypeId::kInt}, Value())));
}

// A manifest or manifest list whose known fields have other Avro types than the spec's is
// refused with a status before any value is read (found by fuzz/iceberg_manifest_fuzz.cc).
TEST(ManifestTest, FieldsOfAnotherAvroTypeAreRefused) {
  auto field = [](std::string name, avro::Schema type) {
    avro::Field f;
    f.name = std::move(name);
    f.type = std::move(type);
    return f;
  };
  avro::Schema data_file = avro::Schema::Record(
      "r2", {field("file_path", avro::Schema::String()), field("record_count", avro::Schema::Long()),
             field("file_size_in_bytes", avro::Schema::Long()),
             field("lower_bounds", avro::Schema::Array(avro::Schema::Record(
                                       "k126_v127", {field("key", avro::Schema::Int()),
                                                     field("value", avro::Schema::String())})))});
  avro::Schema entry = avro::Schema::Record(
      "manifest_entry", {field("status", avro::Schema::Int()), field("data_file", data_file)});
  auto w = avro::ContainerWriter::Create(entry, {});
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Append(avro::Datum::Record(
                            {{"status", avro::Datum::Int(1)},
                             {"data_file",
                              avro::Datum::Record(
                                  {{"file_path", avro::Datum::String("a.parquet")},
                                   {"record_count", avro::Datum::Long(1)},
                                   {"file_size_in_bytes", avro::Datum::Long(1)},
                                   {"lower_bounds",
                                    avro::Datum::Array({avro::Datum::Record(
                                        {{"key", avro::Datum::Int(1)},
                                         {"value", avro::Datum::String("x")}})})}})}}))
                  .ok());
  auto bytes = w->Finish();
  ASSERT_TRUE(bytes.ok());
  auto read = ReadManifest(*bytes, ManifestFile{});
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("data_file.lower_bounds[].value"), std::string::npos)
      << read.status().ToString();
  auto list = ReadManifestList(*bytes);  // not a manifest list at all: nothing it must have
  EXPECT_TRUE(list.ok() || list.status().code() == StatusCode::kDataLoss);
}

TEST(ManifestTest, DeleteManifestsAndManifestLists) {
  const Schema schema = TestSchema();
  PartitionSpec unpartitioned{0, {}};
  ManifestEntry del;
  del.file = File("s3://b/t/data/eq.parquet", {}, 2);
  del.file.content = FileContent::kEqualityDeletes;
  del.file.equality_ids = {1};
  auto w = WriteManifest(2, schema, unpartitioned, ManifestContent::kDeletes, 7, {del});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ManifestFile mf = w->summary;
  mf.manifest_path = "s3://b/t/metadata/m.avro";
  mf.manifest_length = static_cast<int64_t>(w->bytes.size());
  mf.sequence_number = 3;
  mf.min_sequence_number = 2;
  auto back = ReadManifest(w->bytes, mf);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)[0].file.content, FileContent::kEqualityDeletes);
  EXPECT_EQ((*back)[0].file.equality_ids, std::vector<int32_t>{1});

  auto list = WriteManifestList(2, 7, 6, 3, {mf});
  ASSERT_TRUE(list.ok());
  auto lr = avro::ContainerReader::Open(*list);
  ASSERT_TRUE(lr.ok());
  EXPECT_EQ(lr->metadata().at("snapshot-id"), "7");
  EXPECT_EQ(lr->metadata().at("parent-snapshot-id"), "6");
  EXPECT_EQ(lr->metadata().at("sequence-number"), "3");
  auto files = ReadManifestList(*list);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);
  EXPECT_EQ((*files)[0], mf);
  // Truncated bytes are an error, not a crash.
  EXPECT_FALSE(ReadManifestList(list->substr(0, list->size() / 2)).ok());
}

}  // namespace
}  // namespace pg2iceberg::iceberg
