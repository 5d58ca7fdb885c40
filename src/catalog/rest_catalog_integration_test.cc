// RestCatalog against Apache Iceberg's RESTCatalogServer (1.11, JdbcCatalog on SQLite), with
// its warehouse on local disk and on versitygw S3: namespaces, a partitioned table created,
// loaded, evolved and committed to (with stale requirements refused), a multi-table
// transaction, drop; the result checked with Iceberg Java's own REST client (ReadTable
// --describe). Then the auth modes against the same server (it accepts any bearer token and
// serves the deprecated /v1/oauth/tokens), and a commit to a catalog that is not there.
//
// Needs java, the jars in .deps/java/lib, versitygw and the test-tools jar
// (scripts/bootstrap.sh). Label: integration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <strings.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/http.h"
#include "catalog/rest_catalog.h"
#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/paths.h"
#include "fixtures/rest_catalog_server.h"
#include "fixtures/s3_server.h"
#include "fixtures/temp_dir.h"
#include "iceberg/metadata_edit.h"

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

namespace pg2iceberg::catalog {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Json = nlohmann::json;
using iceberg::TableRequirement;
using iceberg::TableUpdate;

std::string SourceDir() {
  const char* env = std::getenv("PG2I_SOURCE_DIR");
  return env != nullptr && *env != '\0' ? env : PG2I_REST_TEST_SOURCE_DIR;
}

std::string ToolsJar() { return SourceDir() + "/tools/java/target/pg2iceberg-test-tools.jar"; }

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Runs a shell command; stdout and the exit code.
std::pair<std::string, int> RunCommand(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return {"", -1};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  return {out, pclose(p)};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Records what goes over the wire through the real libcurl client.
class RecordingHttp final : public HttpClient {
 public:
  explicit RecordingHttp(std::vector<HttpRequest>* log)
      : inner_(MakeCurlHttpClient()), log_(log) {}
  Result<HttpResponse> Send(const HttpRequest& request) override {
    log_->push_back(request);
    return inner_->Send(request);
  }

 private:
  std::unique_ptr<HttpClient> inner_;
  std::vector<HttpRequest>* log_;
};

std::string Header(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

iceberg::Field Col(int32_t id, std::string name, bool required, Type type) {
  iceberg::Field f;
  f.id = id;
  f.name = std::move(name);
  f.required = required;
  f.type = iceberg::DataType::Primitive(type);
  return f;
}

// Several primitive types; `id` is the identifier (primary key).
iceberg::Schema TestSchema() {
  return iceberg::Schema(0,
                         {Col(1, "id", true, Type{TypeId::kLong}),
                          Col(2, "name", false, Type{TypeId::kString}),
                          Col(3, "qty", false, Type{TypeId::kInt}),
                          Col(4, "amount", false, Type::Decimal(10, 2)),
                          Col(5, "price", false, Type{TypeId::kDouble}),
                          Col(6, "ratio", false, Type{TypeId::kFloat}),
                          Col(7, "flag", false, Type{TypeId::kBoolean}),
                          Col(8, "day", false, Type{TypeId::kDate}),
                          Col(9, "at", false, Type{TypeId::kTime}),
                          Col(10, "ts", false, Type{TypeId::kTimestamp}),
                          Col(11, "tstz", false, Type{TypeId::kTimestampTz}),
                          Col(12, "uid", false, Type{TypeId::kUuid}),
                          Col(13, "data", false, Type{TypeId::kBinary})},
                         {1});
}

// identity(day) and bucket[16](id).
iceberg::PartitionSpec TestSpec() {
  iceberg::PartitionSpec spec;
  spec.fields = {iceberg::PartitionField{8, 1000, "day", "identity"},
                 iceberg::PartitionField{1, 1001, "id_bucket", "bucket[16]"}};
  return spec;
}

enum class Warehouse { kFile, kS3 };

class RestCatalogIntegrationTest : public ::testing::TestWithParam<Warehouse> {
 protected:
  void SetUp() override {
    if (GetParam() == Warehouse::kS3) {
      fixtures::StartForSuite(s3_, fixtures::S3Server::Start(), "versitygw");
      ASSERT_NE(s3_, nullptr);
      PG2I_ASSERT_OK(s3_->CreateBucket("warehouse"));
      fixtures::RestCatalogServerOptions options;
      options.s3 = fixtures::S3Warehouse::On(*s3_, "warehouse", "rest");
      fixtures::StartForSuite(server_, fixtures::RestCatalogServer::Start(options),
                              "REST catalog server");
    } else {
      fixtures::StartForSuite(server_, fixtures::RestCatalogServer::Start(),
                              "REST catalog server");
    }
    ASSERT_NE(server_, nullptr);
    sink_.catalog_type = config::CatalogType::kRest;
    sink_.catalog_uri = server_->uri();
  }

  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
      std::cerr << "REST catalog server log tail:\n" << server_->LogTail() << "\n";
    }
    server_.reset();
    s3_.reset();
  }

  Result<std::unique_ptr<RestCatalog>> Open() {
    RestCatalogOptions options;
    options.http = std::make_unique<RecordingHttp>(&wire_);
    return RestCatalog::Open(sink_, std::move(options));
  }

  // Iceberg Java's REST client describing the table (JSON).
  Result<Json> Describe(const std::string& table) {
    if (!std::ifstream(ToolsJar()).good()) {
      return FailedPrecondition(ToolsJar() + " is missing; build it: mvn -q -B -o -f "
                                "tools/java/pom.xml package");
    }
    PG2I_ASSIGN_OR_RETURN(fixtures::TempDir dir, fixtures::TempDir::Create("pg2i-restit-"));
    const std::string err = dir.str() + "/stderr";
    std::string command = Quote(fixtures::JavaPath()) + " -cp " +
                          Quote(ToolsJar() + ":" + fixtures::JavaLibDir() + "/*") +
                          " dev.pg2iceberg.tools.ReadTable --rest-uri " +
                          Quote(server_->uri()) + " --table " + Quote(table) + " --describe";
    if (s3_) {
      for (const std::string& prop :
           {"s3.endpoint=" + s3_->endpoint(), std::string("s3.path-style-access=true"),
            "s3.access-key-id=" + s3_->access_key(),
            "s3.secret-access-key=" + s3_->secret_key(),
            std::string("client.region=us-east-1")}) {
        command += " --prop " + Quote(prop);
      }
    }
    auto [out, rc] = RunCommand(command + " 2>" + Quote(err));
    if (rc != 0) return Internal("ReadTable --describe failed: " + ReadFile(err));
    Json j = Json::parse(out, nullptr, false);
    if (j.is_discarded()) return Internal("ReadTable printed no JSON: " + out);
    return j;
  }

  static inline std::unique_ptr<fixtures::S3Server> s3_;
  static inline std::unique_ptr<fixtures::RestCatalogServer> server_;
  config::Config::Sink sink_;
  std::vector<HttpRequest> wire_;
};

TEST_P(RestCatalogIntegrationTest, TableLifecycle) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  // This server answers with its own separator and lists its endpoints.
  EXPECT_EQ(catalog->properties().at("namespace-separator"), "%2E");
  EXPECT_TRUE(catalog->SupportsTransactions());

  const std::vector<std::string> ns = {"pg2i", "rest"};
  PG2I_ASSERT_OK_AND_ASSIGN(bool exists, catalog->NamespaceExists(ns));
  EXPECT_FALSE(exists);
  PG2I_ASSERT_OK(catalog->CreateNamespace({"pg2i"}, {}));
  PG2I_ASSERT_OK(catalog->CreateNamespace(ns, {{"owner", "pg2iceberg"}}));
  PG2I_ASSERT_OK(catalog->CreateNamespace(ns, {}));  // exists: fine
  PG2I_ASSERT_OK_AND_ASSIGN(exists, catalog->NamespaceExists(ns));
  EXPECT_TRUE(exists);
  PG2I_ASSERT_OK_AND_ASSIGN(exists, catalog->NamespaceExists({"pg2i", "other"}));
  EXPECT_FALSE(exists);
  bool used_head = false;
  for (const auto& r : wire_) used_head = used_head || r.method == "HEAD";
  EXPECT_TRUE(used_head);

  // Create, partitioned by identity(day) and bucket[16](id).
  const TableIdent ident{ns, "orders"};
  CreateTableRequest create;
  create.schema = TestSchema();
  create.spec = TestSpec();
  create.properties = {{"format-version", "2"}, {"pg2iceberg.test", "yes"}};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable created, catalog->CreateTable(ident, create));
  EXPECT_FALSE(created.metadata_location.empty());
  EXPECT_THAT(created.metadata.location, StartsWith(GetParam() == Warehouse::kS3
                                                        ? "s3://warehouse/rest/"
                                                        : "file:"));
  EXPECT_EQ(created.metadata.format_version, 2);
  ASSERT_NE(created.metadata.CurrentSchema(), nullptr);
  const iceberg::Schema& schema = *created.metadata.CurrentSchema();
  ASSERT_EQ(schema.fields().size(), 13u);
  EXPECT_EQ(schema.fields()[3].type, iceberg::DataType::Primitive(Type::Decimal(10, 2)));
  EXPECT_EQ(schema.identifier_field_ids(), std::vector<int32_t>({1}));
  ASSERT_NE(created.metadata.DefaultSpec(), nullptr);
  ASSERT_EQ(created.metadata.DefaultSpec()->fields.size(), 2u);
  EXPECT_EQ(created.metadata.DefaultSpec()->fields[0].transform, "identity");
  EXPECT_EQ(created.metadata.DefaultSpec()->fields[1].transform, "bucket[16]");
  EXPECT_EQ(created.metadata.DefaultSpec()->fields[1].source_id, 1);
  EXPECT_EQ(created.metadata.properties.at("pg2iceberg.test"), "yes");

  auto again = catalog->CreateTable(ident, create);
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();

  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable loaded, catalog->LoadTable(ident));
  EXPECT_EQ(loaded.metadata_location, created.metadata_location);
  EXPECT_EQ(loaded.metadata.table_uuid, created.metadata.table_uuid);
  EXPECT_EQ(loaded.metadata.schemas, created.metadata.schemas);
  auto missing = catalog->LoadTable({ns, "nope"});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("pg2i.rest.nope"));

  // A set-properties commit under requirements that hold.
  TableCommit props;
  props.ident = ident;
  props.requirements = {TableRequirement::AssertTableUuid(loaded.metadata.table_uuid),
                        TableRequirement::AssertCurrentSchemaId(0),
                        TableRequirement::AssertRefSnapshotId("main", std::nullopt)};
  props.updates = {TableUpdate::SetProperties({{"owner", "pg2iceberg"}})};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable committed, catalog->CommitTable(props));
  EXPECT_NE(committed.metadata_location, loaded.metadata_location);
  EXPECT_EQ(committed.metadata.properties.at("owner"), "pg2iceberg");

  // Stale requirements are refused and change nothing.
  TableCommit stale_ref = props;
  stale_ref.requirements = {TableRequirement::AssertRefSnapshotId("main", 12345)};
  stale_ref.updates = {TableUpdate::SetProperties({{"owner", "someone else"}})};
  auto refused = catalog->CommitTable(stale_ref);
  EXPECT_EQ(refused.status().code(), StatusCode::kAborted) << refused.status().ToString();
  EXPECT_THAT(refused.status().message(), HasSubstr("pg2i.rest.orders"));
  TableCommit stale_schema = stale_ref;
  stale_schema.requirements = {TableRequirement::AssertCurrentSchemaId(7)};
  refused = catalog->CommitTable(stale_schema);
  EXPECT_EQ(refused.status().code(), StatusCode::kAborted) << refused.status().ToString();
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable after, catalog->LoadTable(ident));
  EXPECT_EQ(after.metadata_location, committed.metadata_location);
  EXPECT_EQ(after.metadata.properties.at("owner"), "pg2iceberg");

  // Schema evolution: a new optional column, made current.
  std::vector<iceberg::Field> fields = schema.fields();
  fields.push_back(Col(14, "note", false, Type{TypeId::kString}));
  TableCommit evolve;
  evolve.ident = ident;
  evolve.requirements = {TableRequirement::AssertCurrentSchemaId(0),
                         TableRequirement::AssertLastAssignedFieldId(13)};
  evolve.updates = {TableUpdate::AddSchema(iceberg::Schema(1, fields, {1}), 14),
                    TableUpdate::SetCurrentSchema(-1)};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable evolved, catalog->CommitTable(evolve));
  EXPECT_EQ(evolved.metadata.current_schema_id, 1);
  EXPECT_EQ(evolved.metadata.last_column_id, 14);

  // A snapshot (its manifest list is never read here) moved onto main under
  // assert-ref-snapshot-id; the same requirement then no longer holds.
  iceberg::Snapshot snap;
  snap.snapshot_id = 1001;
  snap.sequence_number = 1;
  snap.timestamp_ms = evolved.metadata.last_updated_ms + 1;
  snap.manifest_list = evolved.metadata.location + "/metadata/snap-1001-1-test.avro";
  snap.summary = {{"operation", "append"}};
  snap.schema_id = 1;
  TableCommit append;
  append.ident = ident;
  append.requirements = {TableRequirement::AssertRefSnapshotId("main", std::nullopt)};
  append.updates = {TableUpdate::AddSnapshot(snap),
                    TableUpdate::SetSnapshotRef("main", iceberg::SnapshotRef{1001, "branch"})};
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable appended, catalog->CommitTable(append));
  EXPECT_EQ(appended.metadata.current_snapshot_id, 1001);
  auto lost = catalog->CommitTable(append);
  EXPECT_EQ(lost.status().code(), StatusCode::kAborted) << lost.status().ToString();

  // A multi-table transaction: both tables or neither.
  const TableIdent second{ns, "customers"};
  CreateTableRequest create2;
  create2.schema = iceberg::Schema(0, {Col(1, "id", true, Type{TypeId::kInt})}, {1});
  PG2I_ASSERT_OK(catalog->CreateTable(second, create2));
  TableCommit t1;
  t1.ident = ident;
  t1.requirements = {TableRequirement::AssertRefSnapshotId("main", 1001)};
  t1.updates = {TableUpdate::SetProperties({{"txn", "1"}})};
  TableCommit t2;
  t2.ident = second;
  t2.requirements = {TableRequirement::AssertRefSnapshotId("main", std::nullopt)};
  t2.updates = {TableUpdate::SetProperties({{"txn", "1"}})};
  PG2I_ASSERT_OK(catalog->CommitTransaction({t1, t2}));
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable l1, catalog->LoadTable(ident));
  PG2I_ASSERT_OK_AND_ASSIGN(LoadedTable l2, catalog->LoadTable(second));
  EXPECT_EQ(l1.metadata.properties.at("txn"), "1");
  EXPECT_EQ(l2.metadata.properties.at("txn"), "1");
  TableCommit t1_next = t1;
  t1_next.updates = {TableUpdate::SetProperties({{"txn", "2"}})};
  TableCommit t2_stale = t2;
  t2_stale.requirements = {TableRequirement::AssertRefSnapshotId("main", 999)};
  t2_stale.updates = {TableUpdate::SetProperties({{"txn", "2"}})};
  Status txn = catalog->CommitTransaction({t1_next, t2_stale});
  EXPECT_EQ(txn.code(), StatusCode::kAborted) << txn.ToString();
  PG2I_ASSERT_OK_AND_ASSIGN(l1, catalog->LoadTable(ident));
  PG2I_ASSERT_OK_AND_ASSIGN(l2, catalog->LoadTable(second));
  EXPECT_EQ(l1.metadata.properties.at("txn"), "1");
  EXPECT_EQ(l2.metadata.properties.at("txn"), "1");

  // Iceberg Java's REST client sees the table as we built it.
  PG2I_ASSERT_OK_AND_ASSIGN(Json d, Describe("pg2i.rest.orders"));
  EXPECT_EQ(d["format-version"], 2);
  EXPECT_EQ(d["metadata-file"], l1.metadata_location);
  EXPECT_EQ(d["identifier-field-names"], Json::parse(R"(["id"])"));
  const std::vector<std::pair<std::string, std::string>> expected_columns = {
      {"id", "long"},         {"name", "string"},   {"qty", "int"},
      {"amount", "decimal(10, 2)"}, {"price", "double"}, {"ratio", "float"},
      {"flag", "boolean"},    {"day", "date"},      {"at", "time"},
      {"ts", "timestamp"},    {"tstz", "timestamptz"}, {"uid", "uuid"},
      {"data", "binary"},     {"note", "string"}};
  ASSERT_EQ(d["columns"].size(), expected_columns.size()) << d.dump(2);
  for (size_t i = 0; i < expected_columns.size(); ++i) {
    SCOPED_TRACE(expected_columns[i].first);
    EXPECT_EQ(d["columns"][i]["name"], expected_columns[i].first);
    EXPECT_EQ(d["columns"][i]["type"], expected_columns[i].second);
    EXPECT_EQ(d["columns"][i]["required"], i == 0);
  }
  ASSERT_EQ(d["partition-spec"]["fields"].size(), 2u) << d.dump(2);
  EXPECT_EQ(d["partition-spec"]["fields"][0]["transform"], "identity");
  EXPECT_EQ(d["partition-spec"]["fields"][0]["source-name"], "day");
  EXPECT_EQ(d["partition-spec"]["fields"][1]["transform"], "bucket[16]");
  EXPECT_EQ(d["partition-spec"]["fields"][1]["source-name"], "id");
  EXPECT_EQ(d["properties"]["owner"], "pg2iceberg");
  EXPECT_EQ(d["current-snapshot-id"], 1001);

  // Drop.
  PG2I_ASSERT_OK(catalog->DropTable(second, /*purge=*/true));
  EXPECT_EQ(catalog->LoadTable(second).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(catalog->DropTable(second, true).code(), StatusCode::kNotFound);
  PG2I_ASSERT_OK(catalog->DropTable(ident, /*purge=*/false));
  EXPECT_EQ(catalog->LoadTable(ident).status().code(), StatusCode::kNotFound);
}

INSTANTIATE_TEST_SUITE_P(Warehouses, RestCatalogIntegrationTest,
                         ::testing::Values(Warehouse::kFile, Warehouse::kS3),
                         [](const auto& info) {
                           return info.param == Warehouse::kS3 ? "S3" : "File";
                         });

// ----- auth against the real server ------------------------------------------------------------

class RestCatalogAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixtures::StartForSuite(server_, fixtures::RestCatalogServer::Start(),
                            "REST catalog server");
  }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override {
    ASSERT_NE(server_, nullptr) << "suite setup failed, see above";
    sink_.catalog_type = config::CatalogType::kRest;
    sink_.catalog_uri = server_->uri();
  }

  Result<std::unique_ptr<RestCatalog>> Open() {
    RestCatalogOptions options;
    options.http = std::make_unique<RecordingHttp>(&wire_);
    return RestCatalog::Open(sink_, std::move(options));
  }

  // Creates a namespace and reads it back through `catalog`.
  void Exercise(RestCatalog& catalog, const std::string& name) {
    PG2I_ASSERT_OK(catalog.CreateNamespace({name}, {}));
    PG2I_ASSERT_OK_AND_ASSIGN(bool exists, catalog.NamespaceExists({name}));
    EXPECT_TRUE(exists);
  }

  static inline std::unique_ptr<fixtures::RestCatalogServer> server_;
  config::Config::Sink sink_;
  std::vector<HttpRequest> wire_;
};

TEST_F(RestCatalogAuthTest, Bearer) {
  sink_.catalog_auth = config::CatalogAuth::kBearer;
  sink_.catalog_token = "static-bearer-token";
  PG2I_ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  Exercise(*catalog, "bearer");
  ASSERT_GE(wire_.size(), 3u);
  for (const auto& r : wire_) EXPECT_EQ(Header(r, "Authorization"), "Bearer static-bearer-token");
}

TEST_F(RestCatalogAuthTest, OAuth2ClientCredentialsViaTheServersTokenEndpoint) {
  sink_.catalog_auth = config::CatalogAuth::kOAuth2;
  sink_.catalog_client_id = "pg2i-client";
  sink_.catalog_client_secret = "pg2i-client-secret";
  PG2I_ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  Exercise(*catalog, "oauth2");
  ASSERT_GE(wire_.size(), 4u);
  EXPECT_EQ(wire_[0].method, "POST");
  EXPECT_EQ(wire_[0].url, server_->uri() + "/v1/oauth/tokens");
  int token_requests = 0;
  for (size_t i = 1; i < wire_.size(); ++i) {
    if (wire_[i].url == wire_[0].url) {
      ++token_requests;
      continue;
    }
    // RESTCatalogServer's token endpoint issues "client-credentials-token:sub=<client id>".
    EXPECT_EQ(Header(wire_[i], "Authorization"),
              "Bearer client-credentials-token:sub=pg2i-client");
  }
  EXPECT_EQ(token_requests, 0);  // cached
}

TEST_F(RestCatalogAuthTest, SigV4SignedRequestsGoThrough) {
  // The test server does not check signatures; this proves the signed requests are well
  // formed on the wire (Host and X-Amz-* headers as curl sends them).
  sink_.catalog_auth = config::CatalogAuth::kSigV4;
  sink_.s3_access_key = "AKIAINTEGRATION";
  sink_.s3_secret_key = "integration-secret";
  PG2I_ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  Exercise(*catalog, "sigv4");
  for (const auto& r : wire_) {
    EXPECT_THAT(Header(r, "Authorization"),
                StartsWith("AWS4-HMAC-SHA256 Credential=AKIAINTEGRATION/"));
    EXPECT_THAT(Header(r, "Authorization"), HasSubstr("/us-east-1/execute-api/aws4_request"));
  }
}

TEST_F(RestCatalogAuthTest, CustomHeadersReachTheServer) {
  sink_.catalog_props = {{"header.X-Pg2i-Test", "yes"}};
  PG2I_ASSERT_OK_AND_ASSIGN(auto catalog, Open());
  Exercise(*catalog, "headers");
  for (const auto& r : wire_) EXPECT_EQ(Header(r, "X-Pg2i-Test"), "yes");
}

TEST(RestCatalogUnreachableTest, CommitToAStoppedCatalogIsUnavailableNotUnknown) {
  PG2I_ASSERT_OK_AND_ASSIGN(auto server, fixtures::RestCatalogServer::Start());
  config::Config::Sink sink;
  sink.catalog_type = config::CatalogType::kRest;
  sink.catalog_uri = server->uri();
  RestCatalogOptions options;
  options.max_attempts = 3;
  options.initial_backoff = std::chrono::milliseconds(10);
  PG2I_ASSERT_OK_AND_ASSIGN(auto catalog, RestCatalog::Open(sink, std::move(options)));
  PG2I_ASSERT_OK(catalog->CreateNamespace({"gone"}, {}));
  PG2I_ASSERT_OK(server->Stop());

  TableCommit commit;
  commit.ident = {{"gone"}, "t"};
  commit.updates = {TableUpdate::SetProperties({{"k", "v"}})};
  auto result = catalog->CommitTable(commit);
  // Connection refused: certainly not delivered, so retryable rather than unknown.
  EXPECT_EQ(result.status().code(), StatusCode::kUnavailable) << result.status().ToString();
  EXPECT_THAT(result.status().message(), HasSubstr("3 attempt"));
  EXPECT_THAT(result.status().message(), HasSubstr("gone.t"));
}

}  // namespace
}  // namespace pg2iceberg::catalog
