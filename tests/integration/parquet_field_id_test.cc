// Pins how Arrow/Parquet C++ 26 carries Iceberg field ids: an Arrow field's metadata key
// "PARQUET:field_id" becomes the Parquet SchemaElement.field_id of that node (leaf or group),
// and reading maps it back into the Arrow field metadata. Iceberg readers resolve columns by
// these ids, so every column, nested ones included, must carry its id.
#include <arrow/api.h>
#include <arrow/array/concatenate.h>
#include <arrow/io/file.h>
#include <arrow/json/from_string.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/file_reader.h>
#include <parquet/properties.h>

#include <map>
#include <memory>
#include <string>

#include "fixtures/temp_dir.h"

namespace pg2iceberg::fixtures {
namespace {

constexpr char kFieldIdKey[] = "PARQUET:field_id";

std::shared_ptr<arrow::Field> FieldWithId(const std::string& name,
                                          std::shared_ptr<arrow::DataType> type, int id,
                                          bool nullable = true) {
  return arrow::field(name, std::move(type), nullable,
                      arrow::key_value_metadata({kFieldIdKey}, {std::to_string(id)}));
}

// Iceberg schema: 1 id int, 2 big long, 3 name string, 4 point struct<5 x int, 6 y string>,
// 7 tags list<8 element long>.
std::shared_ptr<arrow::Schema> IcebergSchema() {
  return arrow::schema({
      FieldWithId("id", arrow::int32(), 1, /*nullable=*/false),
      FieldWithId("big", arrow::int64(), 2),
      FieldWithId("name", arrow::utf8(), 3),
      FieldWithId("point",
                  arrow::struct_({FieldWithId("x", arrow::int32(), 5),
                                  FieldWithId("y", arrow::utf8(), 6)}),
                  4),
      FieldWithId("tags", arrow::list(FieldWithId("element", arrow::int64(), 8)), 7),
  });
}

constexpr char kRowsJson[] = R"([
  {"id": 1, "big": 9000000000, "name": "one", "point": {"x": 10, "y": "a"}, "tags": [1, 2]},
  {"id": 2, "big": null, "name": "two", "point": {"x": 20, "y": null}, "tags": []},
  {"id": 3, "big": -1, "name": null, "point": null, "tags": [3]}
])";

int FieldIdOf(const arrow::Field& field) {
  if (!field.metadata()) return -1;
  auto value = field.metadata()->Get(kFieldIdKey);
  return value.ok() ? std::stoi(*value) : -1;
}

// Finds a field by Iceberg id among `fields` (not recursive).
std::shared_ptr<arrow::Field> FindById(const arrow::FieldVector& fields, int id) {
  for (const auto& field : fields) {
    if (FieldIdOf(*field) == id) return field;
  }
  return nullptr;
}

class ParquetFieldIdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("pg2i-parquet-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    dir_ = std::make_unique<TempDir>(std::move(dir).value());
    path_ = (dir_->path() / "data.parquet").string();

    auto rows = arrow::json::ArrayFromJSONString(arrow::struct_(IcebergSchema()->fields()),
                                                 kRowsJson);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    auto batch = arrow::RecordBatch::FromStructArray(*rows);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    // FromStructArray keeps the struct's fields, ids included; reattach the schema to be sure
    // the top-level metadata is exactly ours.
    auto table = arrow::Table::FromRecordBatches(IcebergSchema(), {*batch});
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    written_ = *table;

    auto sink = arrow::io::FileOutputStream::Open(path_);
    ASSERT_TRUE(sink.ok()) << sink.status().ToString();
    auto properties = parquet::WriterProperties::Builder()
                          .compression(parquet::Compression::ZSTD)
                          ->build();
    arrow::Status written = parquet::arrow::WriteTable(
        *written_, arrow::default_memory_pool(), *sink, /*chunk_size=*/1024, properties);
    ASSERT_TRUE(written.ok()) << written.ToString();
    ASSERT_TRUE((*sink)->Close().ok());
  }

  std::unique_ptr<TempDir> dir_;
  std::string path_;
  std::shared_ptr<arrow::Table> written_;
};

TEST_F(ParquetFieldIdTest, EveryParquetNodeCarriesItsFieldId) {
  std::unique_ptr<parquet::ParquetFileReader> reader =
      parquet::ParquetFileReader::OpenFile(path_);
  std::shared_ptr<parquet::FileMetaData> metadata = reader->metadata();
  const parquet::SchemaDescriptor* schema = metadata->schema();

  // Leaves, by dotted path. The LIST's middle "list" group is Parquet's, not Iceberg's.
  std::map<std::string, int> leaves;
  for (int i = 0; i < schema->num_columns(); ++i) {
    const parquet::ColumnDescriptor* column = schema->Column(i);
    leaves[column->path()->ToDotString()] = column->schema_node()->field_id();
  }
  std::map<std::string, int> expected_leaves = {
      {"id", 1}, {"big", 2}, {"name", 3}, {"point.x", 5}, {"point.y", 6},
      {"tags.list.element", 8}};
  EXPECT_EQ(leaves, expected_leaves);

  // Groups: the struct and the list carry their own ids.
  const parquet::schema::GroupNode* root = schema->group_node();
  std::map<std::string, int> top;
  for (int i = 0; i < root->field_count(); ++i) {
    top[root->field(i)->name()] = root->field(i)->field_id();
  }
  std::map<std::string, int> expected_top = {
      {"id", 1}, {"big", 2}, {"name", 3}, {"point", 4}, {"tags", 7}};
  EXPECT_EQ(top, expected_top);
  const auto& tags = static_cast<const parquet::schema::GroupNode&>(*root->field(4));
  EXPECT_EQ(tags.logical_type()->type(), parquet::LogicalType::Type::LIST);

  // Required stays required; zstd on every column chunk.
  EXPECT_EQ(root->field(0)->repetition(), parquet::Repetition::REQUIRED);
  EXPECT_EQ(root->field(1)->repetition(), parquet::Repetition::OPTIONAL);
  ASSERT_EQ(metadata->num_row_groups(), 1);
  EXPECT_EQ(metadata->num_rows(), 3);
  for (int i = 0; i < schema->num_columns(); ++i) {
    EXPECT_EQ(metadata->RowGroup(0)->ColumnChunk(i)->compression(), parquet::Compression::ZSTD)
        << schema->Column(i)->path()->ToDotString();
  }
}

TEST_F(ParquetFieldIdTest, ValuesReadBackById) {
  auto input = arrow::io::ReadableFile::Open(path_);
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  auto reader = parquet::arrow::OpenFile(*input, arrow::default_memory_pool());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto read = (*reader)->ReadTable();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  std::shared_ptr<arrow::Table> table = *read;
  ASSERT_EQ(table->num_rows(), 3);

  // Resolve every column by id, never by name or position.
  const arrow::FieldVector& fields = table->schema()->fields();
  auto column_by_id = [&](int id) -> std::shared_ptr<arrow::Array> {
    for (int i = 0; i < table->num_columns(); ++i) {
      if (FieldIdOf(*fields[i]) == id) {
        auto combined = arrow::Concatenate(table->column(i)->chunks());
        return combined.ok() ? *combined : nullptr;
      }
    }
    return nullptr;
  };
  auto expect_equals_json = [](const std::shared_ptr<arrow::Array>& actual,
                               const std::shared_ptr<arrow::DataType>& type,
                               const std::string& json) {
    ASSERT_NE(actual, nullptr);
    auto expected = arrow::json::ArrayFromJSONString(type, json);
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    EXPECT_TRUE(actual->Equals(**expected))
        << "actual: " << actual->ToString() << "\nexpected: " << (*expected)->ToString();
  };

  expect_equals_json(column_by_id(1), arrow::int32(), "[1, 2, 3]");
  expect_equals_json(column_by_id(2), arrow::int64(), "[9000000000, null, -1]");
  expect_equals_json(column_by_id(3), arrow::utf8(), R"(["one", "two", null])");

  std::shared_ptr<arrow::Field> point = FindById(fields, 4);
  ASSERT_NE(point, nullptr);
  auto point_array = std::static_pointer_cast<arrow::StructArray>(column_by_id(4));
  ASSERT_NE(point_array, nullptr);
  EXPECT_EQ(point_array->null_count(), 1);
  const arrow::FieldVector& point_fields = point->type()->fields();
  for (int child_id : {5, 6}) {
    ASSERT_NE(FindById(point_fields, child_id), nullptr) << "no child with id " << child_id;
  }
  auto child_by_id = [&](int id) {
    for (int i = 0; i < point_array->num_fields(); ++i) {
      if (FieldIdOf(*point_fields[i]) == id) return point_array->field(i);
    }
    return std::shared_ptr<arrow::Array>();
  };
  expect_equals_json(child_by_id(5), arrow::int32(), "[10, 20, null]");
  expect_equals_json(child_by_id(6), arrow::utf8(), R"(["a", null, null])");

  std::shared_ptr<arrow::Field> tags = FindById(fields, 7);
  ASSERT_NE(tags, nullptr);
  ASSERT_EQ(tags->type()->id(), arrow::Type::LIST);
  auto element = std::static_pointer_cast<arrow::ListType>(tags->type())->value_field();
  EXPECT_EQ(FieldIdOf(*element), 8);
  auto tags_array = std::static_pointer_cast<arrow::ListArray>(column_by_id(7));
  ASSERT_NE(tags_array, nullptr);
  expect_equals_json(tags_array->values(), arrow::int64(), "[1, 2, 3]");
  EXPECT_EQ(tags_array->value_length(0), 2);
  EXPECT_EQ(tags_array->value_length(1), 0);
  EXPECT_EQ(tags_array->value_length(2), 1);
}

}  // namespace
}  // namespace pg2iceberg::fixtures
