// RestCatalogServer with a file:// warehouse answers the Iceberg REST API.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/rest_catalog_server.h"

namespace pg2iceberg::fixtures {
namespace {

using nlohmann::json;

class RestCatalogSmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    StartForSuite(catalog_, RestCatalogServer::Start(), "the REST catalog server");
  }
  static void TearDownTestSuite() { catalog_.reset(); }
  void SetUp() override { ASSERT_NE(catalog_, nullptr) << "suite setup failed, see above"; }

  static inline std::unique_ptr<RestCatalogServer> catalog_;
};

TEST_F(RestCatalogSmokeTest, ConfigHasDefaultsAndOverrides) {
  PG2I_ASSERT_OK_AND_ASSIGN(HttpResponse response, HttpGet(catalog_->uri() + "/v1/config"));
  ASSERT_EQ(response.status, 200) << response.body;
  json config = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(config.is_object()) << response.body;
  EXPECT_TRUE(config.contains("defaults") && config["defaults"].is_object()) << response.body;
  EXPECT_TRUE(config.contains("overrides") && config["overrides"].is_object()) << response.body;
  EXPECT_EQ(catalog_->uri(), "http://127.0.0.1:" + std::to_string(catalog_->port()));
  EXPECT_EQ(catalog_->warehouse().rfind("file:///", 0), 0u) << catalog_->warehouse();
}

TEST_F(RestCatalogSmokeTest, CreatesAndListsNamespace) {
  PG2I_ASSERT_OK_AND_ASSIGN(
      HttpResponse created,
      HttpPostJson(catalog_->uri() + "/v1/namespaces",
                   R"({"namespace": ["smoke_ns"], "properties": {"owner": "pg2i"}})"));
  ASSERT_EQ(created.status, 200) << created.body;
  json body = json::parse(created.body, nullptr, false);
  EXPECT_EQ(body["namespace"], json::array({"smoke_ns"})) << created.body;

  PG2I_ASSERT_OK_AND_ASSIGN(HttpResponse listed, HttpGet(catalog_->uri() + "/v1/namespaces"));
  ASSERT_EQ(listed.status, 200) << listed.body;
  json namespaces = json::parse(listed.body, nullptr, false);
  ASSERT_TRUE(namespaces.contains("namespaces")) << listed.body;
  EXPECT_NE(std::find(namespaces["namespaces"].begin(), namespaces["namespaces"].end(),
                      json::array({"smoke_ns"})),
            namespaces["namespaces"].end())
      << listed.body;

  PG2I_ASSERT_OK_AND_ASSIGN(HttpResponse loaded,
                            HttpGet(catalog_->uri() + "/v1/namespaces/smoke_ns"));
  ASSERT_EQ(loaded.status, 200) << loaded.body;
  EXPECT_EQ(json::parse(loaded.body, nullptr, false)["properties"]["owner"], "pg2i")
      << loaded.body;

  // Creating it again is a conflict, and an unknown namespace is 404: errors are real.
  PG2I_ASSERT_OK_AND_ASSIGN(
      HttpResponse again,
      HttpPostJson(catalog_->uri() + "/v1/namespaces", R"({"namespace": ["smoke_ns"]})"));
  EXPECT_EQ(again.status, 409) << again.body;
  PG2I_ASSERT_OK_AND_ASSIGN(HttpResponse unknown,
                            HttpGet(catalog_->uri() + "/v1/namespaces/no_such_ns"));
  EXPECT_EQ(unknown.status, 404) << unknown.body;
}

TEST_F(RestCatalogSmokeTest, CreatesTableInFileWarehouse) {
  PG2I_ASSERT_OK_AND_ASSIGN(
      HttpResponse ns,
      HttpPostJson(catalog_->uri() + "/v1/namespaces", R"({"namespace": ["file_ns"]})"));
  ASSERT_EQ(ns.status, 200) << ns.body;
  PG2I_ASSERT_OK_AND_ASSIGN(
      HttpResponse table,
      HttpPostJson(catalog_->uri() + "/v1/namespaces/file_ns/tables", R"({
        "name": "t",
        "schema": {"type": "struct", "schema-id": 0, "fields": [
          {"id": 1, "name": "id", "required": true, "type": "long"}]}
      })"));
  ASSERT_EQ(table.status, 200) << table.body;
  std::string location = json::parse(table.body, nullptr, false).value("metadata-location", "");
  // Hadoop's FileIO writes "file:/path" for the warehouse "file:///path".
  const std::string local_warehouse =
      catalog_->warehouse().substr(std::string("file://").size());
  const std::string expected_prefix = "file:" + local_warehouse + "/file_ns/t/metadata/";
  ASSERT_EQ(location.rfind(expected_prefix, 0), 0u) << location;
  EXPECT_TRUE(location.ends_with(".metadata.json")) << location;
  EXPECT_TRUE(std::filesystem::exists(location.substr(std::string("file:").size())))
      << location;
}

}  // namespace
}  // namespace pg2iceberg::fixtures
