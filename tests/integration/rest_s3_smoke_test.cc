// RestCatalogServer with its warehouse on versitygw: creating a table through the REST API
// writes the table's metadata JSON into the bucket (S3FileIO, path-style, SigV4).
#include <arrow/buffer.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "fixtures/arrow_status.h"
#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/rest_catalog_server.h"
#include "fixtures/s3_server.h"

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

namespace pg2iceberg::fixtures {
namespace {

using nlohmann::json;

constexpr char kBucket[] = "warehouse";
constexpr char kPrefix[] = "iceberg";

class RestS3SmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StartForSuite(s3_, S3Server::Start(), "versitygw");
    if (!s3_) return;
    Status bucket = s3_->CreateBucket(kBucket);
    ASSERT_TRUE(bucket.ok()) << bucket.ToString();
    RestCatalogServerOptions options;
    options.s3 = S3Warehouse::On(*s3_, kBucket, kPrefix);
    StartForSuite(catalog_, RestCatalogServer::Start(options), "the REST catalog server");
  }
  static void TearDownTestSuite() {
    catalog_.reset();
    s3_.reset();
  }
  void SetUp() override {
    ASSERT_NE(s3_, nullptr) << "suite setup failed, see above";
    ASSERT_NE(catalog_, nullptr) << "suite setup failed, see above";
  }

  static inline std::unique_ptr<S3Server> s3_;
  static inline std::unique_ptr<RestCatalogServer> catalog_;
};

TEST_F(RestS3SmokeTest, CreateTableWritesMetadataToTheBucket) {
  EXPECT_EQ(catalog_->warehouse(), "s3://warehouse/iceberg");

  PG2I_ASSERT_OK_AND_ASSIGN(
      HttpResponse ns,
      HttpPostJson(catalog_->uri() + "/v1/namespaces", R"({"namespace": ["s3_ns"]})"));
  ASSERT_EQ(ns.status, 200) << ns.body;

  PG2I_ASSERT_OK_AND_ASSIGN(
      HttpResponse table,
      HttpPostJson(catalog_->uri() + "/v1/namespaces/s3_ns/tables", R"({
        "name": "orders",
        "schema": {"type": "struct", "schema-id": 0, "identifier-field-ids": [1], "fields": [
          {"id": 1, "name": "id", "required": true, "type": "long"},
          {"id": 2, "name": "note", "required": false, "type": "string"}]},
        "properties": {"format-version": "2"}
      })"));
  ASSERT_EQ(table.status, 200) << table.body << "\ncatalog log:\n" << catalog_->LogTail();
  json created = json::parse(table.body, nullptr, false);
  const std::string location = created.value("metadata-location", "");
  const std::string table_prefix = "s3://warehouse/iceberg/s3_ns/orders/metadata/";
  ASSERT_EQ(location.rfind(table_prefix, 0), 0u) << table.body;
  EXPECT_EQ(created["metadata"]["format-version"], 2) << table.body;

  // The metadata file is in the bucket, and it is the table's metadata.
  PG2I_ASSERT_OK_AND_ASSIGN(auto fs, s3_->MakeFileSystem());
  arrow::fs::FileSelector selector;
  selector.base_dir = "warehouse/iceberg/s3_ns/orders/metadata";
  auto listing = fs->GetFileInfo(selector);
  ASSERT_TRUE(listing.ok()) << listing.status().ToString();
  std::string metadata_path;
  for (const auto& info : *listing) {
    if (info.path().ends_with(".metadata.json")) metadata_path = info.path();
  }
  ASSERT_FALSE(metadata_path.empty()) << "no *.metadata.json under " << selector.base_dir;
  EXPECT_EQ("s3://" + metadata_path, location);

  auto file = fs->OpenInputFile(metadata_path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto size = (*file)->GetSize();
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  auto buffer = (*file)->Read(*size);
  ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
  json metadata = json::parse((*buffer)->ToString(), nullptr, false);
  ASSERT_TRUE(metadata.is_object()) << (*buffer)->ToString();
  EXPECT_EQ(metadata["format-version"], 2);
  EXPECT_EQ(metadata["location"], "s3://warehouse/iceberg/s3_ns/orders");
  EXPECT_EQ(metadata["table-uuid"], created["metadata"]["table-uuid"]);

  // And the table loads back through the catalog.
  PG2I_ASSERT_OK_AND_ASSIGN(HttpResponse loaded,
                            HttpGet(catalog_->uri() + "/v1/namespaces/s3_ns/tables/orders"));
  ASSERT_EQ(loaded.status, 200) << loaded.body;
  EXPECT_EQ(json::parse(loaded.body, nullptr, false)["metadata-location"], location);
}

}  // namespace
}  // namespace pg2iceberg::fixtures
