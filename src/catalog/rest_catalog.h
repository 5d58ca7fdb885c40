// The Iceberg REST catalog client (rest-catalog-open-api.yaml): Polaris, Lakekeeper, Nessie,
// Gravitino, Glue and S3 Tables endpoints, R2, Iceberg's own RESTCatalogServer. See
// docs/rest-catalog.md for the configuration keys, auth modes, error mapping and retries.
//
// Open() reads GET /v1/config (with ?warehouse= when sink.catalog_props has `warehouse`) and
// merges the server's defaults and overrides around sink.catalog_props; from the result it
// takes `prefix` (routes become /v1/{prefix}/…), `namespace-separator` (default %1F) and the
// `endpoints` list (which decides HEAD vs GET for namespaces and whether the multi-table
// transaction route exists; without a list the transaction route is tried once and
// remembered as missing if the server does not know it).
//
// Auth (sink.catalog_auth): none; bearer (sink.catalog_token); oauth2 client credentials
// (sink.catalog_client_id/secret, token from `oauth2-server-uri` or {uri}/v1/oauth/tokens,
// cached until shortly before `expires_in`, fetched again once after a 401/419); sigv4
// (every request signed; region `rest.signing-region` or sink.s3_region, service
// `rest.signing-name` or execute-api, keys from sink.s3_access_key/secret or the AWS_*
// environment). `header.<Name>` properties become request headers. With
// sink.credential_mode vended, table loads ask for vended credentials, which come back in
// LoadedTable::config (storage-credentials win over config).
//
// Errors are those of catalog.h; in addition:
//   kInvalidArgument     the server refused the request as malformed (HTTP 400), or the
//                        configuration is incomplete (Open)
//   kFailedPrecondition  not authorised (401/403 after a token refresh), or another 4xx the
//                        operator must look at
//   kUnimplemented       the server lacks the route (transactions/commit)
// Retries: requests whose repetition cannot apply a change twice (GET, HEAD, DELETE, create
// namespace, token requests) are retried with exponential backoff and jitter on transport
// errors and on 429, 500, 502, 503 and 504; any request is retried on "not delivered" and on
// 429/503 (the server did not handle it; Retry-After is honoured up to a minute). A commit or
// create-table whose outcome is unknown (timeout after sending, 500/502/504, 503 to the
// last attempt, or a 409 after a 503 attempt) is never retried: it returns
// kCommitStateUnknown.
//
// No secret (token, client secret, access token, AWS secret or session token) appears in a
// Status message or a log line. Not thread-safe: one RestCatalog per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "catalog/http.h"
#include "config/config.h"

namespace pg2iceberg::catalog {

struct RestCatalogOptions {
  // Null: MakeCurlHttpClient().
  std::unique_ptr<HttpClient> http;
  // Null: Clock::Real(). Backoff sleeps, token expiry and SigV4 signing times use it.
  Clock* clock = nullptr;
  // Where the AWS_* variables come from for sigv4; null: the process environment.
  config::EnvLookup env;
  // Attempts per request, the first included, for the retryable cases above.
  int max_attempts = 5;
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{10'000};
  std::chrono::milliseconds request_timeout{30'000};
  // Seed of the backoff jitter (tests fix it; 0 picks one at random).
  uint64_t jitter_seed = 0;
};

class RestCatalog final : public Catalog {
 public:
  // Errors: InvalidArgument (no sink.catalog_uri, auth material missing for the chosen
  // sink.catalog_auth, malformed /v1/config), FailedPrecondition (credentials refused),
  // Unavailable (the catalog did not answer after the retries).
  static Result<std::unique_ptr<RestCatalog>> Open(const config::Config::Sink& sink,
                                                   RestCatalogOptions options = {});

  ~RestCatalog() override;
  RestCatalog(const RestCatalog&) = delete;
  RestCatalog& operator=(const RestCatalog&) = delete;

  Status CreateNamespace(const std::vector<std::string>& ns,
                         const std::map<std::string, std::string>& properties) override;
  Result<bool> NamespaceExists(const std::vector<std::string>& ns) override;
  Result<LoadedTable> LoadTable(const TableIdent& ident) override;
  Result<LoadedTable> CreateTable(const TableIdent& ident,
                                  const CreateTableRequest& request) override;
  // The returned config is the one of the table's last load or create by this catalog.
  Result<LoadedTable> CommitTable(const TableCommit& commit) override;
  Status CommitTransaction(const std::vector<TableCommit>& commits) override;
  Status DropTable(const TableIdent& ident, bool purge) override;
  std::string kind() const override { return "rest"; }

  // The catalog properties after /v1/config: server defaults, then sink.catalog_props, then
  // server overrides. May hold secrets of the operator's props; do not log.
  const std::map<std::string, std::string>& properties() const;
  // True when the server lists POST /v1/{prefix}/transactions/commit (or listed nothing and
  // has not refused it yet).
  bool SupportsTransactions() const;

  // Path building, exposed for tests: "/v1/{prefix}/namespaces/{ns}" with the levels
  // percent-encoded and joined by the namespace separator. InvalidArgument if a level is
  // empty or contains the separator character.
  Result<std::string> NamespacePath(const std::vector<std::string>& ns) const;
  Result<std::string> TablePath(const TableIdent& ident) const;

  class Impl;  // defined in rest_catalog.cc

 private:
  explicit RestCatalog(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace pg2iceberg::catalog
