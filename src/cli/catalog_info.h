// `pg2iceberg catalog-info [--engine NAME] [--table NAME]`: what a query engine needs to open
// the tables pg2iceberg writes — catalog kind, URI, catalog schema and name, warehouse,
// namespace, each table's Iceberg identifier and current metadata location — or, with
// --engine, a ready-to-paste snippet for DuckDB, PyIceberg, Spark, Trino or Iceberg Java.
// docs/querying.md shows the same snippets with placeholders; a test keeps the two equal.
//
// The rendering is pure: CatalogInfoOf() turns a Config into a CatalogInfo value and
// RenderSettings() / RenderSnippet() turn that into text, with no I/O. No secret ever appears
// in the text: a password, token, client secret or S3 secret key is printed as a placeholder
// (<password>, <token>, <client-secret>, <s3-secret-key>) next to the key and environment
// variable that hold it. RunCatalogInfo() adds the one piece of I/O, reading each table's
// metadata location from the catalog; an unreachable catalog is reported and the settings
// are printed anyway (exit 0). Opening the SQL catalog creates its tables if they are missing,
// as every other subcommand that opens it does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/config.h"

namespace CLI {
class App;
}  // namespace CLI

namespace pg2iceberg::cli {

enum class Engine { kDuckDb, kPyIceberg, kSpark, kTrino, kJava };

// "duckdb", "pyiceberg", "spark", "trino", "java"; InvalidArgument names the choices.
Result<Engine> ParseEngine(std::string_view name);

// The PostgreSQL that holds the SQL catalog (the coordinator database: state.postgres_url,
// else source.postgres), as an engine outside this host reaches it over TCP.
struct CatalogDatabase {
  std::string host;
  std::string port;
  std::string database;
  std::string user;
  std::string sslmode;       // empty or "disable": not added to URIs
  bool password_set = false;
  std::string password_key;  // where the password is configured (key and environment)
  std::string note;          // e.g. a Unix socket was configured, localhost assumed

  // jdbc:postgresql://host:port/db[?sslmode=…]; no user, no password.
  std::string JdbcUri() const;
};

// REST catalog settings an engine repeats; secrets are only ever placeholders.
struct RestSettings {
  std::string uri;
  config::CatalogAuth auth = config::CatalogAuth::kNone;
  std::string client_id;
  std::string signing_region;
  std::string signing_name;
  // sink.catalog_props, values of secret-looking keys replaced by "<catalog_props.KEY>".
  std::vector<std::pair<std::string, std::string>> props;
  // catalog_props `warehouse`: the warehouse identifier sent to the catalog; empty if unset.
  std::string warehouse;
};

struct S3Access {
  std::string endpoint;  // empty: AWS
  std::string region;
  std::string access_key;
  bool secret_set = false;
  config::CredentialMode mode = config::CredentialMode::kStatic;
};

struct IcebergTable {
  std::string source;             // public.orders
  std::string ns;                 // default
  std::string name;               // orders
  std::string metadata_location;  // empty: not read, see `note`
  std::string note;               // why the location is missing

  std::string Ident() const { return ns + "." + name; }
};

struct CatalogInfo {
  config::CatalogType type = config::CatalogType::kSql;
  std::string catalog_name;
  std::string catalog_schema;  // SQL catalog only
  std::string warehouse;       // absolute: file:///… or s3://…
  std::string ns;
  CatalogDatabase db;          // SQL catalog only
  RestSettings rest;           // REST catalog only
  S3Access s3;                 // when the warehouse is on S3
  std::vector<IcebergTable> tables;

  bool sql() const { return type == config::CatalogType::kSql; }
  bool on_s3() const;
  // postgresql+psycopg2://user:<password>@host:port/db?options=-csearch_path%3D<schema>
  std::string SqlAlchemyUri() const;
};

// InvalidArgument when state.postgres_url cannot be parsed.
Result<CatalogInfo> CatalogInfoOf(const config::Config& cfg);

// The settings as aligned "key: value" lines, one block per table at the end.
std::string RenderSettings(const CatalogInfo& info);

// The snippet for one table: `table` is its PostgreSQL name (public.orders), its Iceberg
// identifier (default.orders) or its bare name; empty picks the first configured table.
// InvalidArgument when no configured table matches.
Result<std::string> RenderSnippet(const CatalogInfo& info, Engine engine,
                                  std::string_view table = {});

struct CatalogInfoArgs {
  std::string engine;
  std::string table;
};

// Registers the subcommand and its options on `app`; `args` must outlive the parse.
CLI::App* AddCatalogInfoCommand(CLI::App& app, CatalogInfoArgs& args);

// Exit code: 0 printed (even when the catalog could not be reached), 2 bad usage or an
// unusable configuration.
int RunCatalogInfo(const config::Config& cfg, const CatalogInfoArgs& args);

}  // namespace pg2iceberg::cli
