// RestCatalog against a scripted fake HttpClient: configuration, paths, auth header shapes,
// token caching and refresh, SigV4, request bodies, error mapping, retries and secrecy.
#include "catalog/rest_catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "catalog/sigv4.h"
#include "iceberg/metadata_edit.h"

namespace pg2iceberg::catalog {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Json = nlohmann::json;

constexpr char kBase[] = "http://cat.test/api";

constexpr char kMetadata[] = R"({"format-version":2,
"table-uuid":"ad34b0b7-55a5-4f5d-9d67-2ac273b914ee",
"location":"s3://bucket/wh/db/t","last-sequence-number":0,"last-updated-ms":1700000000000,
"last-column-id":2,"current-schema-id":0,"schemas":[{"type":"struct","schema-id":0,"fields":[
{"id":1,"name":"id","required":true,"type":"long"},
{"id":2,"name":"v","required":false,"type":"string"}]}],
"default-spec-id":0,"partition-specs":[{"spec-id":0,"fields":[]}],"last-partition-id":999,
"default-sort-order-id":0,"sort-orders":[{"order-id":0,"fields":[]}],"properties":{},
"current-snapshot-id":-1,"refs":{},"snapshots":[],"snapshot-log":[],"metadata-log":[]})";

HttpResponse Reply(long status, std::string body = "",
                   std::map<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

HttpResponse ErrorReply(long status, const std::string& type, const std::string& message) {
  Json j = {{"error", {{"message", message}, {"type", type}, {"code", status}}}};
  return Reply(status, j.dump());
}

std::string LoadResult(const std::string& location = "s3://bucket/wh/db/t/metadata/00001.json",
                       const std::string& extra = "") {
  return std::string(R"({"metadata-location":")") + location + R"(","metadata":)" + kMetadata +
         extra + "}";
}

// The server side of the fake: every request is recorded; `handler` answers, by default
// /v1/config with `config` and 200 {} otherwise.
struct FakeServer {
  std::vector<HttpRequest> requests;
  std::string config = R"({"defaults":{},"overrides":{}})";
  std::function<Result<HttpResponse>(const HttpRequest&)> handler;
  // Responses queued for non-config, non-token requests, served first.
  std::deque<Result<HttpResponse>> queue;

  static std::string PathOf(const HttpRequest& r) {
    const size_t v1 = r.url.find("/v1/");
    return v1 == std::string::npos ? r.url : r.url.substr(v1);
  }

  Result<HttpResponse> Answer(const HttpRequest& r) {
    requests.push_back(r);
    const std::string path = PathOf(r);
    if (path.rfind("/v1/config", 0) == 0) return Reply(200, config);
    if (!queue.empty()) {
      auto next = queue.front();
      queue.pop_front();
      return next;
    }
    if (handler) return handler(r);
    return Reply(200, "{}");
  }

  // Requests other than GET /v1/config.
  std::vector<HttpRequest> Calls() const {
    std::vector<HttpRequest> out;
    for (const auto& r : requests) {
      if (PathOf(r).rfind("/v1/config", 0) != 0) out.push_back(r);
    }
    return out;
  }
};

class FakeHttp final : public HttpClient {
 public:
  explicit FakeHttp(std::shared_ptr<FakeServer> server) : server_(std::move(server)) {}
  Result<HttpResponse> Send(const HttpRequest& request) override {
    return server_->Answer(request);
  }

 private:
  std::shared_ptr<FakeServer> server_;
};

std::string Header(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    std::string lk = k;
    std::string ln = name;
    for (char& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : ln) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lk == ln) return v;
  }
  return "";
}

bool HasHeader(const HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    std::string lk = k;
    for (char& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lk == name) return true;
  }
  return false;
}

class RestCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_shared<FakeServer>();
    sink_.catalog_type = config::CatalogType::kRest;
    sink_.catalog_uri = kBase;
  }

  Result<std::unique_ptr<RestCatalog>> Open() {
    RestCatalogOptions options;
    options.http = std::make_unique<FakeHttp>(server_);
    options.clock = &clock_;
    options.env = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    options.jitter_seed = 42;
    return RestCatalog::Open(sink_, std::move(options));
  }

  std::unique_ptr<RestCatalog> MustOpen() {
    auto c = Open();
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  std::shared_ptr<FakeServer> server_;
  config::Config::Sink sink_;
  FakeClock clock_;
  std::map<std::string, std::string> env_;
};

TableIdent Ident() { return TableIdent{{"db"}, "t"}; }

TableCommit SetPropsCommit() {
  TableCommit c;
  c.ident = Ident();
  c.requirements = {iceberg::TableRequirement::AssertRefSnapshotId("main", std::nullopt)};
  c.updates = {iceberg::TableUpdate::SetProperties({{"k", "v"}})};
  return c;
}

// ----- configuration and paths --------------------------------------------------------------

TEST_F(RestCatalogTest, ConfigMergesDefaultsPropsOverridesAndAsksForTheWarehouse) {
  sink_.catalog_props = {{"warehouse", "my wh"}, {"a", "client"}, {"b", "client"}};
  server_->config =
      R"({"defaults":{"a":"default","c":"default"},"overrides":{"b":"override","prefix":"p/1"}})";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  ASSERT_EQ(server_->requests.size(), 1u);
  EXPECT_EQ(server_->requests[0].method, "GET");
  EXPECT_EQ(server_->requests[0].url, std::string(kBase) + "/v1/config?warehouse=my%20wh");
  const auto& p = catalog->properties();
  EXPECT_EQ(p.at("a"), "client");
  EXPECT_EQ(p.at("b"), "override");
  EXPECT_EQ(p.at("c"), "default");
  EXPECT_EQ(p.at("warehouse"), "my wh");
  // The prefix is a path segment as given; the default separator is %1F.
  EXPECT_EQ(*catalog->NamespacePath({"a", "b c"}), "/v1/p/1/namespaces/a%1Fb%20c");
  EXPECT_EQ(*catalog->TablePath({{"db"}, "my table"}), "/v1/p/1/namespaces/db/tables/my%20table");
}

TEST_F(RestCatalogTest, NoWarehouseQueryWithoutTheProperty) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(server_->requests[0].url, std::string(kBase) + "/v1/config");
  EXPECT_EQ(*catalog->TablePath(Ident()), "/v1/namespaces/db/tables/t");
}

TEST_F(RestCatalogTest, HonoursTheServersNamespaceSeparator) {
  server_->config = R"({"defaults":{},"overrides":{"namespace-separator":"%2E"}})";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(*catalog->NamespacePath({"a", "b"}), "/v1/namespaces/a%2Eb");
  auto bad = catalog->NamespacePath({"a.b", "c"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("separator"));
  EXPECT_FALSE(catalog->NamespacePath({}).ok());
  EXPECT_FALSE(catalog->NamespacePath({"a", ""}).ok());
}

TEST_F(RestCatalogTest, TrailingSlashOfTheUriIsDropped) {
  sink_.catalog_uri = std::string(kBase) + "/";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(server_->requests[0].url, std::string(kBase) + "/v1/config");
}

TEST_F(RestCatalogTest, OpenErrors) {
  sink_.catalog_uri = "";
  EXPECT_EQ(Open().status().code(), StatusCode::kInvalidArgument);
  sink_.catalog_uri = "ftp://x";
  EXPECT_EQ(Open().status().code(), StatusCode::kInvalidArgument);
  sink_.catalog_uri = kBase;
  sink_.catalog_auth = config::CatalogAuth::kBearer;
  auto bearer = Open();
  EXPECT_EQ(bearer.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bearer.status().message(), HasSubstr("sink.catalog_token"));
  sink_.catalog_auth = config::CatalogAuth::kOAuth2;
  sink_.catalog_client_id = "id";
  EXPECT_EQ(Open().status().code(), StatusCode::kInvalidArgument);
  sink_.catalog_auth = config::CatalogAuth::kSigV4;
  auto sigv4 = Open();
  EXPECT_EQ(sigv4.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(sigv4.status().message(), HasSubstr("AWS_ACCESS_KEY_ID"));
  EXPECT_TRUE(server_->requests.empty());
}

TEST_F(RestCatalogTest, ConfigHttpErrors) {
  server_->config = "not json";
  EXPECT_EQ(Open().status().code(), StatusCode::kInvalidArgument);

  auto refuse = [this](long status) {
    RestCatalogOptions options;
    struct Fixed final : HttpClient {
      long status;
      explicit Fixed(long s) : status(s) {}
      Result<HttpResponse> Send(const HttpRequest&) override {
        return ErrorReply(status, "X", "nope");
      }
    };
    options.http = std::make_unique<Fixed>(status);
    options.clock = &clock_;
    options.jitter_seed = 1;
    return RestCatalog::Open(sink_, std::move(options)).status();
  };
  auto not_found = refuse(404);
  EXPECT_EQ(not_found.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(not_found.message(), HasSubstr("without /v1"));
  EXPECT_EQ(refuse(401).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refuse(403).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refuse(400).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refuse(500).code(), StatusCode::kUnavailable);
}

// ----- auth ---------------------------------------------------------------------------------

TEST_F(RestCatalogTest, NoAuthSendsNoAuthorizationButCustomHeaders) {
  sink_.catalog_props = {{"header.X-Foo", "bar"}, {"header.X-Iceberg-Tenant", "t1"}};
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->CreateNamespace({"db"}, {}).ok());
  for (const auto& r : server_->requests) {
    EXPECT_FALSE(HasHeader(r, "authorization"));
    EXPECT_EQ(Header(r, "X-Foo"), "bar");
    EXPECT_EQ(Header(r, "X-Iceberg-Tenant"), "t1");
  }
}

TEST_F(RestCatalogTest, BearerToken) {
  sink_.catalog_auth = config::CatalogAuth::kBearer;
  sink_.catalog_token = "tok-123456";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->NamespaceExists({"db"}).ok());
  ASSERT_EQ(server_->requests.size(), 2u);
  for (const auto& r : server_->requests) {
    EXPECT_EQ(Header(r, "Authorization"), "Bearer tok-123456");
  }
}

class OAuthTest : public RestCatalogTest {
 protected:
  void SetUp() override {
    RestCatalogTest::SetUp();
    sink_.catalog_auth = config::CatalogAuth::kOAuth2;
    sink_.catalog_client_id = "client-1";
    sink_.catalog_client_secret = "very-secret-value";
    server_->handler = [this](const HttpRequest& r) -> Result<HttpResponse> {
      if (r.url == token_url_) {
        ++tokens_issued_;
        Json j = {{"access_token", "access-" + std::to_string(tokens_issued_)},
                  {"token_type", "bearer"}};
        if (expires_in_ > 0) j["expires_in"] = expires_in_;
        return Reply(200, j.dump());
      }
      if (!accepted_.empty() && Header(r, "Authorization") != "Bearer " + accepted_) {
        return ErrorReply(401, "NotAuthorizedException", "token expired");
      }
      if (r.method == "POST") return Reply(200, LoadResult());
      return Reply(204);
    };
  }

  std::vector<HttpRequest> TokenRequests() const {
    std::vector<HttpRequest> out;
    for (const auto& r : server_->requests) {
      if (r.url == token_url_) out.push_back(r);
    }
    return out;
  }

  std::string token_url_ = std::string(kBase) + "/v1/oauth/tokens";
  int tokens_issued_ = 0;
  int64_t expires_in_ = 0;
  std::string accepted_;  // empty: any token
};

TEST_F(OAuthTest, ClientCredentialsThenBearerOnEveryRequest) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->NamespaceExists({"db"}).ok());
  ASSERT_TRUE(catalog->NamespaceExists({"db"}).ok());
  auto tokens = TokenRequests();
  ASSERT_EQ(tokens.size(), 1u);  // cached
  EXPECT_EQ(tokens[0].method, "POST");
  EXPECT_EQ(Header(tokens[0], "Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(tokens[0].body,
            "grant_type=client_credentials&client_id=client-1&client_secret=very-secret-value"
            "&scope=catalog");
  for (const auto& r : server_->requests) {
    if (r.url == token_url_) continue;
    EXPECT_EQ(Header(r, "Authorization"), "Bearer access-1");
  }
  // The config request is authenticated too.
  EXPECT_EQ(FakeServer::PathOf(server_->requests[1]), "/v1/config");
}

TEST_F(OAuthTest, ServerUriAndScopeFromProperties) {
  token_url_ = "https://idp.test/oauth2/token";
  sink_.catalog_props = {{"oauth2-server-uri", token_url_}, {"scope", "PRINCIPAL_ROLE:ALL"}};
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  auto tokens = TokenRequests();
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_THAT(tokens[0].body, HasSubstr("&scope=PRINCIPAL_ROLE%3AALL"));
}

TEST_F(OAuthTest, RefreshesBeforeExpiry) {
  expires_in_ = 3600;
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  clock_.Advance(std::chrono::minutes(50));
  ASSERT_TRUE(catalog->NamespaceExists({"db"}).ok());
  EXPECT_EQ(TokenRequests().size(), 1u);
  // Within the last minute of the hour the token is replaced before use.
  clock_.Advance(std::chrono::minutes(9) + std::chrono::seconds(30));
  ASSERT_TRUE(catalog->NamespaceExists({"db"}).ok());
  EXPECT_EQ(TokenRequests().size(), 2u);
  EXPECT_EQ(Header(server_->requests.back(), "Authorization"), "Bearer access-2");
}

TEST_F(OAuthTest, RefreshesOnceOn401AndRetries) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  accepted_ = "access-2";  // the server revoked access-1
  auto exists = catalog->NamespaceExists({"db"});
  ASSERT_TRUE(exists.ok()) << exists.status().ToString();
  EXPECT_TRUE(*exists);
  EXPECT_EQ(TokenRequests().size(), 2u);
  // A commit refused with 401 was not applied, so it is sent again with the new token.
  accepted_ = "access-3";
  auto committed = catalog->CommitTable(SetPropsCommit());
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  EXPECT_EQ(TokenRequests().size(), 3u);
  int commits = 0;
  for (const auto& r : server_->requests) {
    if (r.method == "POST" && FakeServer::PathOf(r) == "/v1/namespaces/db/tables/t") ++commits;
  }
  EXPECT_EQ(commits, 2);
  // Still refused after a fresh token: stop and tell the operator.
  accepted_ = "never";
  auto refused = catalog->NamespaceExists({"db"});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("sink.catalog_auth"));
}

TEST_F(OAuthTest, RefusedCredentialsAreFailedPreconditionWithoutTheSecret) {
  server_->handler = [this](const HttpRequest& r) -> Result<HttpResponse> {
    ++tokens_issued_;
    // A careless server echoing the request.
    Json j = {{"error", "invalid_client"}, {"error_description", "bad credentials: " + r.body}};
    return Reply(401, j.dump());
  };
  auto opened = Open();
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(opened.status().message(), HasSubstr("invalid_client"));
  EXPECT_THAT(opened.status().message(), HasSubstr("sink.catalog_client_secret"));
  EXPECT_THAT(opened.status().message(), Not(HasSubstr("very-secret-value")));
  EXPECT_EQ(tokens_issued_, 1);  // a refusal is not retried
}

// ----- SigV4 --------------------------------------------------------------------------------

TEST_F(RestCatalogTest, SigV4SignsEveryRequest) {
  sink_.catalog_auth = config::CatalogAuth::kSigV4;
  sink_.s3_region = "us-east-1";
  sink_.catalog_props = {{"rest.signing-region", "eu-west-1"}, {"rest.signing-name", "glue"}};
  env_ = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
          {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
          {"AWS_SESSION_TOKEN", "session-token-value"}};
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  ASSERT_TRUE(catalog->CreateNamespace({"db"}, {{"owner", "me"}}).ok());
  ASSERT_EQ(server_->requests.size(), 2u);
  for (const auto& r : server_->requests) {
    SCOPED_TRACE(r.method + " " + r.url);
    EXPECT_THAT(Header(r, "Authorization"),
                StartsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/glue/"
                           "aws4_request, SignedHeaders="));
    EXPECT_EQ(Header(r, "X-Amz-Date"), "20231114T221320Z");
    EXPECT_EQ(Header(r, "X-Amz-Security-Token"), "session-token-value");
    EXPECT_EQ(Header(r, "X-Amz-Content-Sha256"), Sha256Hex(r.body));
    // Re-signing what went on the wire, minus what the signer added, gives the same.
    SigV4Request again;
    again.method = r.method;
    again.url = r.url;
    for (const auto& [k, v] : r.headers) {
      std::string lk = k;
      for (char& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lk == "authorization" || lk == "x-amz-date" || lk == "x-amz-security-token" ||
          lk == "x-amz-content-sha256" || lk == "host") {
        continue;
      }
      again.headers.emplace_back(k, v);
    }
    again.body = r.body;
    SigV4Config cfg;
    cfg.region = "eu-west-1";
    cfg.service = "glue";
    cfg.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                       "session-token-value"};
    cfg.time = std::chrono::sys_seconds(std::chrono::seconds(1'700'000'000));
    cfg.content_sha256_header = true;
    auto sig = SignRequest(again, cfg);
    ASSERT_TRUE(sig.ok()) << sig.status().ToString();
    EXPECT_EQ(Header(r, "Authorization"), sig->authorization);
  }
}

TEST_F(RestCatalogTest, SigV4DefaultsAndStaticKeys) {
  sink_.catalog_auth = config::CatalogAuth::kSigV4;
  sink_.s3_region = "ap-south-1";
  sink_.s3_access_key = "AKIASTATIC";
  sink_.s3_secret_key = "static-secret-key";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  EXPECT_THAT(Header(server_->requests[0], "Authorization"),
              HasSubstr("Credential=AKIASTATIC/20231114/ap-south-1/execute-api/aws4_request"));
  EXPECT_FALSE(HasHeader(server_->requests[0], "x-amz-security-token"));
}

// ----- namespaces ---------------------------------------------------------------------------

TEST_F(RestCatalogTest, CreateNamespaceBodyAndConflictIsOk) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {ErrorReply(409, "AlreadyExistsException", "Namespace already exists: a")};
  ASSERT_TRUE(catalog->CreateNamespace({"a", "b"}, {{"owner", "me"}}).ok());
  auto calls = server_->Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "POST");
  EXPECT_EQ(FakeServer::PathOf(calls[0]), "/v1/namespaces");
  EXPECT_EQ(Header(calls[0], "Content-Type"), "application/json");
  EXPECT_EQ(Json::parse(calls[0].body),
            Json::parse(R"({"namespace":["a","b"],"properties":{"owner":"me"}})"));
  server_->queue = {ErrorReply(403, "ForbiddenException", "no")};
  auto forbidden = catalog->CreateNamespace({"a"}, {});
  EXPECT_EQ(forbidden.code(), StatusCode::kFailedPrecondition);
}

TEST_F(RestCatalogTest, NamespaceExistsUsesHeadWhenListed) {
  server_->config =
      R"({"defaults":{},"overrides":{},"endpoints":["HEAD /v1/{prefix}/namespaces/{namespace}"]})";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {Reply(204), Reply(404)};
  EXPECT_TRUE(*catalog->NamespaceExists({"a"}));
  EXPECT_FALSE(*catalog->NamespaceExists({"b"}));
  auto calls = server_->Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "HEAD");
  EXPECT_EQ(FakeServer::PathOf(calls[1]), "/v1/namespaces/b");
}

TEST_F(RestCatalogTest, NamespaceExistsFallsBackToGet) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {Reply(200, R"({"namespace":["a"]})")};
  EXPECT_TRUE(*catalog->NamespaceExists({"a"}));
  EXPECT_EQ(server_->Calls()[0].method, "GET");
}

// ----- tables -------------------------------------------------------------------------------

TEST_F(RestCatalogTest, LoadTableParsesMetadataAndConfig) {
  sink_.credential_mode = config::CredentialMode::kVended;
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {Reply(
      200, LoadResult("s3://bucket/wh/db/t/metadata/00001.json",
                      R"(,"config":{"s3.access-key-id":"AK","s3.secret-access-key":"SK",
                      "s3.endpoint":"http://s3"},
                      "storage-credentials":[
                        {"prefix":"s3://other","config":{"s3.access-key-id":"X"}},
                        {"prefix":"s3://bucket/wh",
                         "config":{"s3.session-token":"ST","s3.access-key-id":"AK2"}}])"))};
  auto loaded = catalog->LoadTable(Ident());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->metadata_location, "s3://bucket/wh/db/t/metadata/00001.json");
  EXPECT_EQ(loaded->metadata.location, "s3://bucket/wh/db/t");
  ASSERT_NE(loaded->metadata.CurrentSchema(), nullptr);
  EXPECT_EQ(loaded->metadata.CurrentSchema()->fields().size(), 2u);
  EXPECT_EQ(loaded->config.at("s3.access-key-id"), "AK2");
  EXPECT_EQ(loaded->config.at("s3.secret-access-key"), "SK");
  EXPECT_EQ(loaded->config.at("s3.session-token"), "ST");
  EXPECT_EQ(loaded->config.at("s3.endpoint"), "http://s3");
  auto calls = server_->Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "GET");
  EXPECT_EQ(FakeServer::PathOf(calls[0]), "/v1/namespaces/db/tables/t");
  EXPECT_EQ(Header(calls[0], "X-Iceberg-Access-Delegation"), "vended-credentials");
}

TEST_F(RestCatalogTest, LoadTableErrors) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {ErrorReply(404, "NoSuchTableException", "Table does not exist: db.t")};
  auto missing = catalog->LoadTable(Ident());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("db.t"));
  EXPECT_FALSE(HasHeader(server_->Calls()[0], "x-iceberg-access-delegation"));

  server_->queue = {Reply(200, R"({"metadata-location":"x"})")};
  EXPECT_EQ(catalog->LoadTable(Ident()).status().code(), StatusCode::kInvalidArgument);
  server_->queue = {ErrorReply(400, "BadRequestException", "malformed")};
  EXPECT_EQ(catalog->LoadTable(Ident()).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RestCatalogTest, CreateTableBody) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  CreateTableRequest req;
  req.schema = iceberg::Schema(
      0,
      {iceberg::Field{1, "id", true, iceberg::DataType::Primitive(Type{TypeId::kLong})},
       iceberg::Field{2, "v", false, iceberg::DataType::Primitive(Type{TypeId::kString})}},
      {1});
  req.spec.fields = {iceberg::PartitionField{1, 1000, "id_bucket", "bucket[8]"}};
  req.properties = {{"format-version", "2"}};
  req.location = "s3://bucket/custom";
  server_->queue = {Reply(200, LoadResult())};
  auto created = catalog->CreateTable(Ident(), req);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto calls = server_->Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "POST");
  EXPECT_EQ(FakeServer::PathOf(calls[0]), "/v1/namespaces/db/tables");
  Json body = Json::parse(calls[0].body);
  EXPECT_EQ(body["name"], "t");
  EXPECT_EQ(body["location"], "s3://bucket/custom");
  EXPECT_EQ(body["stage-create"], false);
  EXPECT_EQ(body["properties"], Json::parse(R"({"format-version":"2"})"));
  EXPECT_EQ(body["schema"]["type"], "struct");
  EXPECT_EQ(body["schema"]["fields"].size(), 2u);
  EXPECT_EQ(body["schema"]["fields"][0]["type"], "long");
  EXPECT_EQ(body["schema"]["identifier-field-ids"], Json::parse("[1]"));
  EXPECT_EQ(body["partition-spec"]["fields"][0]["transform"], "bucket[8]");
  EXPECT_EQ(body["partition-spec"]["fields"][0]["source-id"], 1);

  server_->queue = {ErrorReply(409, "AlreadyExistsException", "Table already exists: db.t")};
  EXPECT_EQ(catalog->CreateTable(Ident(), req).status().code(), StatusCode::kAlreadyExists);
  server_->queue = {ErrorReply(404, "NoSuchNamespaceException", "Namespace does not exist")};
  EXPECT_EQ(catalog->CreateTable(Ident(), req).status().code(), StatusCode::kNotFound);
  // A create that may have happened is not repeated.
  server_->queue = {CommitStateUnknown("POST …: Timeout was reached")};
  const size_t before = server_->Calls().size();
  auto unknown = catalog->CreateTable(Ident(), req);
  EXPECT_EQ(unknown.status().code(), StatusCode::kCommitStateUnknown);
  EXPECT_THAT(unknown.status().message(), HasSubstr("load table db.t"));
  EXPECT_EQ(server_->Calls().size(), before + 1);
}

// ----- commits ------------------------------------------------------------------------------

TEST_F(RestCatalogTest, CommitBodyAndResponse) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  // The config of the last load comes back with the commit's result.
  server_->queue = {Reply(200, LoadResult("m1", R"(,"config":{"s3.endpoint":"http://s3"})")),
                    Reply(200, LoadResult("m2"))};
  ASSERT_TRUE(catalog->LoadTable(Ident()).ok());
  auto committed = catalog->CommitTable(SetPropsCommit());
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  EXPECT_EQ(committed->metadata_location, "m2");
  EXPECT_EQ(committed->config.at("s3.endpoint"), "http://s3");
  const HttpRequest r = server_->Calls().back();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(FakeServer::PathOf(r), "/v1/namespaces/db/tables/t");
  EXPECT_EQ(Json::parse(r.body), Json::parse(R"({
    "identifier":{"namespace":["db"],"name":"t"},
    "requirements":[{"type":"assert-ref-snapshot-id","ref":"main","snapshot-id":null}],
    "updates":[{"action":"set-properties","updates":{"k":"v"}}]})"));
}

struct CommitCase {
  std::string name;
  std::vector<Result<HttpResponse>> responses;
  StatusCode code;
  size_t sends;  // how many commit requests went out
};

class CommitErrorTest : public RestCatalogTest,
                        public ::testing::WithParamInterface<CommitCase> {};

TEST_P(CommitErrorTest, Maps) {
  const CommitCase& c = GetParam();
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  for (const auto& r : c.responses) server_->queue.push_back(r);
  server_->handler = [](const HttpRequest&) -> Result<HttpResponse> {
    return Reply(200, LoadResult());
  };
  auto result = catalog->CommitTable(SetPropsCommit());
  EXPECT_EQ(result.status().code(), c.code) << result.status().ToString();
  if (!result.ok()) {
    EXPECT_THAT(result.status().message(), HasSubstr("db.t"));
  }
  EXPECT_EQ(server_->Calls().size(), c.sends);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CommitErrorTest,
    ::testing::Values(
        CommitCase{"Conflict",
                   {ErrorReply(409, "CommitFailedException", "Requirement failed")},
                   StatusCode::kAborted, 1},
        CommitCase{"ServerError",
                   {ErrorReply(500, "CommitStateUnknownException", "boom")},
                   StatusCode::kCommitStateUnknown, 1},
        CommitCase{"BadGateway", {Reply(502, "<html>bad gateway</html>")},
                   StatusCode::kCommitStateUnknown, 1},
        CommitCase{"GatewayTimeout", {Reply(504)}, StatusCode::kCommitStateUnknown, 1},
        CommitCase{"Timeout", {CommitStateUnknown("Timeout was reached")},
                   StatusCode::kCommitStateUnknown, 1},
        CommitCase{"NotDeliveredIsRetried",
                   {Unavailable("Couldn't connect to server")}, StatusCode::kOk, 2},
        CommitCase{"ThrottledIsRetried", {Reply(429, "", {{"retry-after", "2"}})},
                   StatusCode::kOk, 2},
        CommitCase{"UnavailableIsRetried", {ErrorReply(503, "ServiceUnavailable", "busy")},
                   StatusCode::kOk, 2},
        // The 503 attempt may have been applied after all: the conflict may be our own.
        CommitCase{"ConflictAfter503IsUnknown",
                   {Reply(503), ErrorReply(409, "CommitFailedException", "Requirement failed")},
                   StatusCode::kCommitStateUnknown, 2},
        CommitCase{"AlwaysUnavailable",
                   {Reply(503), Reply(503), Reply(503), Reply(503), Reply(503)},
                   StatusCode::kCommitStateUnknown, 5},
        CommitCase{"AlwaysThrottled",
                   {Reply(429), Reply(429), Reply(429), Reply(429), Reply(429)},
                   StatusCode::kUnavailable, 5},
        CommitCase{"BadRequest",
                   {ErrorReply(400, "BadRequestException", "unknown update")},
                   StatusCode::kInvalidArgument, 1},
        CommitCase{"Forbidden", {ErrorReply(403, "ForbiddenException", "no")},
                   StatusCode::kFailedPrecondition, 1},
        CommitCase{"Dropped", {ErrorReply(404, "NoSuchTableException", "gone")},
                   StatusCode::kNotFound, 1},
        CommitCase{"Malformed200", {Reply(200, "{}")}, StatusCode::kCommitStateUnknown, 1}),
    [](const auto& info) { return info.param.name; });

TEST_F(RestCatalogTest, ConflictMessageCarriesTheServersWordsAndAdvice) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {
      ErrorReply(409, "CommitFailedException", "Requirement failed: branch main has changed")};
  auto result = catalog->CommitTable(SetPropsCommit());
  EXPECT_THAT(result.status().message(), HasSubstr("branch main has changed"));
  EXPECT_THAT(result.status().message(), HasSubstr("CommitFailedException"));
  EXPECT_THAT(result.status().message(), HasSubstr("reload"));
}

TEST_F(RestCatalogTest, ThrottleHonoursRetryAfter) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {Reply(429, "", {{"retry-after", "7"}}), Reply(200, LoadResult())};
  const auto t0 = clock_.Monotonic();
  ASSERT_TRUE(catalog->LoadTable(Ident()).ok());
  EXPECT_GE(clock_.Monotonic() - t0, std::chrono::seconds(7));
}

// ----- retries of idempotent requests --------------------------------------------------------

TEST_F(RestCatalogTest, ReadsAreRetriedWithGrowingBackoff) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {Reply(500), CommitStateUnknown("Timeout was reached"), Reply(502),
                    Reply(200, LoadResult())};
  const auto t0 = clock_.Monotonic();
  auto loaded = catalog->LoadTable(Ident());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(server_->Calls().size(), 4u);
  // 200 ms, 400 ms, 800 ms, each at least half of it.
  EXPECT_GE(clock_.Monotonic() - t0, std::chrono::milliseconds(700));
  EXPECT_LE(clock_.Monotonic() - t0, std::chrono::milliseconds(1400));
}

TEST_F(RestCatalogTest, ReadsGiveUpAsUnavailable) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->handler = [](const HttpRequest&) -> Result<HttpResponse> {
    return CommitStateUnknown("Timeout was reached");
  };
  auto loaded = catalog->LoadTable(Ident());
  EXPECT_EQ(loaded.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(server_->Calls().size(), 5u);
  server_->handler = [](const HttpRequest&) -> Result<HttpResponse> { return Reply(503); };
  EXPECT_EQ(catalog->LoadTable(Ident()).status().code(), StatusCode::kUnavailable);
  server_->handler = [](const HttpRequest&) -> Result<HttpResponse> {
    return FailedPrecondition("TLS certificate not trusted");
  };
  EXPECT_EQ(catalog->LoadTable(Ident()).status().code(), StatusCode::kFailedPrecondition);
}

// ----- transactions -------------------------------------------------------------------------

TEST_F(RestCatalogTest, TransactionWhenOffered) {
  server_->config =
      R"({"defaults":{},"overrides":{},"endpoints":["POST /v1/{prefix}/transactions/commit"]})";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  EXPECT_TRUE(catalog->SupportsTransactions());
  TableCommit a = SetPropsCommit();
  TableCommit b = SetPropsCommit();
  b.ident = {{"db", "x"}, "u"};
  server_->queue = {Reply(204)};
  ASSERT_TRUE(catalog->CommitTransaction({a, b}).ok());
  const HttpRequest r = server_->Calls().back();
  EXPECT_EQ(FakeServer::PathOf(r), "/v1/transactions/commit");
  Json body = Json::parse(r.body);
  ASSERT_EQ(body["table-changes"].size(), 2u);
  EXPECT_EQ(body["table-changes"][1]["identifier"],
            Json::parse(R"({"namespace":["db","x"],"name":"u"})"));
  EXPECT_EQ(body["table-changes"][0]["updates"][0]["action"], "set-properties");

  server_->queue = {ErrorReply(409, "CommitFailedException", "stale")};
  auto conflict = catalog->CommitTransaction({a, b});
  EXPECT_EQ(conflict.code(), StatusCode::kAborted);
  EXPECT_THAT(conflict.message(), HasSubstr("db.x.u"));
  server_->queue = {Reply(500)};
  EXPECT_EQ(catalog->CommitTransaction({a, b}).code(), StatusCode::kCommitStateUnknown);
  EXPECT_TRUE(catalog->CommitTransaction({}).ok());
}

TEST_F(RestCatalogTest, TransactionNotListedIsUnimplemented) {
  server_->config = R"({"defaults":{},"overrides":{},"endpoints":["GET /v1/{prefix}/namespaces"]})";
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  EXPECT_FALSE(catalog->SupportsTransactions());
  EXPECT_EQ(catalog->CommitTransaction({SetPropsCommit()}).code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(server_->Calls().empty());
}

TEST_F(RestCatalogTest, TransactionWithoutEndpointListIsTriedOnce) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  EXPECT_TRUE(catalog->SupportsTransactions());
  server_->queue = {Reply(404, "<html><title>Not Found</title></html>")};
  EXPECT_EQ(catalog->CommitTransaction({SetPropsCommit()}).code(), StatusCode::kUnimplemented);
  EXPECT_FALSE(catalog->SupportsTransactions());
  EXPECT_EQ(catalog->CommitTransaction({SetPropsCommit()}).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(server_->Calls().size(), 1u);
}

TEST_F(RestCatalogTest, TransactionOnAMissingTableIsNotFound) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {ErrorReply(404, "NoSuchTableException", "Table does not exist: db.t")};
  EXPECT_EQ(catalog->CommitTransaction({SetPropsCommit()}).code(), StatusCode::kNotFound);
  EXPECT_TRUE(catalog->SupportsTransactions());
}

// ----- drop ---------------------------------------------------------------------------------

TEST_F(RestCatalogTest, DropTable) {
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->queue = {Reply(204)};
  ASSERT_TRUE(catalog->DropTable(Ident(), true).ok());
  const HttpRequest r = server_->Calls().back();
  EXPECT_EQ(r.method, "DELETE");
  EXPECT_EQ(FakeServer::PathOf(r), "/v1/namespaces/db/tables/t?purgeRequested=true");
  server_->queue = {ErrorReply(404, "NoSuchTableException", "Table does not exist: db.t")};
  EXPECT_EQ(catalog->DropTable(Ident(), false).code(), StatusCode::kNotFound);
  EXPECT_THAT(FakeServer::PathOf(server_->Calls().back()), HasSubstr("purgeRequested=false"));
  // The first attempt timed out after being sent; the table being gone is its doing.
  server_->queue = {CommitStateUnknown("Timeout was reached"),
                    ErrorReply(404, "NoSuchTableException", "Table does not exist: db.t")};
  EXPECT_TRUE(catalog->DropTable(Ident(), false).ok());
}

// ----- secrets ------------------------------------------------------------------------------

TEST_F(RestCatalogTest, NoSecretInErrorsOrLogs) {
  std::vector<std::string> lines;
  log::Init(log::Level::kDebug, log::Format::kText);
  log::SetSinkForTest([&](std::string_view line) { lines.emplace_back(line); });

  sink_.catalog_auth = config::CatalogAuth::kBearer;
  sink_.catalog_token = "bearer-secret-token";
  sink_.s3_secret_key = "s3-secret-key-value";
  sink_.catalog_uri = "http://user:url-password@cat.test/api";
  sink_.catalog_props = {{"header.X-Api-Key", "api-key-value"}};
  // A server that echoes the request's Authorization header in its errors and transport
  // errors that quote the URL.
  server_->handler = [](const HttpRequest& r) -> Result<HttpResponse> {
    if (r.method == "DELETE") return CommitStateUnknown("DELETE " + r.url + ": timed out");
    return ErrorReply(r.method == "POST" ? 500 : 503, "X",
                      "denied for " + Header(r, "Authorization") + ", " +
                          Header(r, "X-Api-Key") + " and s3-secret-key-value");
  };
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  std::vector<Status> errors;
  errors.push_back(catalog->LoadTable(Ident()).status());
  errors.push_back(catalog->CommitTable(SetPropsCommit()).status());
  errors.push_back(catalog->CreateNamespace({"db"}, {}));
  errors.push_back(catalog->DropTable(Ident(), false));
  errors.push_back(catalog->CommitTransaction({SetPropsCommit()}));
  log::SetSinkForTest(nullptr);
  log::Init(log::Level::kInfo, log::Format::kText);

  for (const Status& s : errors) {
    SCOPED_TRACE(s.ToString());
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s.message(), Not(HasSubstr("bearer-secret-token")));
    EXPECT_THAT(s.message(), Not(HasSubstr("s3-secret-key-value")));
    EXPECT_THAT(s.message(), Not(HasSubstr("url-password")));
    EXPECT_THAT(s.message(), Not(HasSubstr("api-key-value")));
  }
  EXPECT_THAT(errors[0].message(), HasSubstr("********"));
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : lines) {
    EXPECT_THAT(line, Not(HasSubstr("bearer-secret-token")));
    EXPECT_THAT(line, Not(HasSubstr("s3-secret-key-value")));
    EXPECT_THAT(line, Not(HasSubstr("url-password")));
    EXPECT_THAT(line, Not(HasSubstr("api-key-value")));
  }
}

TEST_F(OAuthTest, AccessTokenAndVendedSecretsNeverLogged) {
  std::vector<std::string> lines;
  log::Init(log::Level::kDebug, log::Format::kJson);
  log::SetSinkForTest([&](std::string_view line) { lines.emplace_back(line); });
  auto catalog = MustOpen();
  ASSERT_NE(catalog, nullptr);
  server_->handler = [this](const HttpRequest& r) -> Result<HttpResponse> {
    if (r.url == token_url_) {
      ++tokens_issued_;
      return Reply(200, R"({"access_token":"access-1","token_type":"bearer"})");
    }
    if (r.method == "GET") {
      return Reply(200, LoadResult("m", R"(,"config":{"s3.secret-access-key":"vended-secret"})"));
    }
    return ErrorReply(500, "X", "echo " + Header(r, "Authorization") + " vended-secret");
  };
  ASSERT_TRUE(catalog->LoadTable(Ident()).ok());
  auto failed = catalog->CommitTable(SetPropsCommit());
  log::SetSinkForTest(nullptr);
  log::Init(log::Level::kInfo, log::Format::kText);
  EXPECT_EQ(failed.status().code(), StatusCode::kCommitStateUnknown);
  EXPECT_THAT(failed.status().message(), Not(HasSubstr("access-1")));
  EXPECT_THAT(failed.status().message(), Not(HasSubstr("vended-secret")));
  for (const std::string& line : lines) {
    EXPECT_THAT(line, Not(HasSubstr("access-1")));
    EXPECT_THAT(line, Not(HasSubstr("very-secret-value")));
    EXPECT_THAT(line, Not(HasSubstr("vended-secret")));
  }
}

}  // namespace
}  // namespace pg2iceberg::catalog
