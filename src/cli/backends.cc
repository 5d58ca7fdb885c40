#include "cli/backends.h"

#include "base/log.h"

#include "base/clock.h"
#include "catalog/rest_catalog.h"
#include "catalog/sql_catalog.h"

namespace pg2iceberg::cli {

std::string CoordConnInfo(const config::Config& cfg) {
  return cfg.state.postgres_url.empty() ? cfg.source.postgres.ConnString()
                                        : cfg.state.postgres_url;
}

std::string CoordDisplay(const config::Config& cfg) {
  return cfg.state.postgres_url.empty() ? cfg.source.postgres.RedactedConnString()
                                        : "the coordinator database (state.postgres_url)";
}

pg::ConnectionOrigin CoordOrigin(const config::Config& cfg) {
  return cfg.state.postgres_url.empty() ? pg::ConnectionOrigin::SourcePostgres()
                                        : pg::ConnectionOrigin::StatePostgresUrl();
}

Result<std::unique_ptr<pg::Connection>> ConnectSource(const config::Config& cfg,
                                                      Patience patience) {
  return pg::ConnectWithRetry(cfg.source.postgres.ConnString(),
                              cfg.source.postgres.RedactedConnString(),
                              pg::ConnectionOrigin::SourcePostgres(), patience.pg_attempts,
                              Clock::Real());
}

Result<config::Config> WithPublishedTables(config::Config cfg) {
  if (!cfg.tables.empty() || cfg.source.mode != config::SourceMode::kLogical) return cfg;
  const std::string& pub = cfg.source.logical.publication_name;
  PG2I_ASSIGN_OR_RETURN(auto conn, ConnectSource(cfg));
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r,
                        conn->Query("SELECT schemaname, tablename FROM pg_publication_tables "
                                    "WHERE pubname = $1 ORDER BY 1, 2",
                                    {pub}));
  if (r.rows.empty()) {
    return InvalidArgument("no tables configured, and publication " + pub +
                           " names none; list them under tables: (or set TABLES), or create "
                           "the publication with the tables to replicate (CREATE PUBLICATION " +
                           pub + " FOR TABLE …)");
  }
  std::string names;
  for (const auto& row : r.rows) {
    config::TableConfig t;
    t.name = {row[0].value_or(""), row[1].value_or("")};
    if (cfg.sink.table_name != "{table}") {
      t.iceberg_name = config::ExpandTableName(cfg.sink.table_name, t.name);
    }
    names += (names.empty() ? "" : ",") + t.name.ToString();
    cfg.tables.push_back(std::move(t));
  }
  cfg.tables_from_publication = true;
  log::Info("no tables configured: replicating the tables of the publication (a table added to "
            "it later is picked up at the next start)",
            {{"publication", pub}, {"tables", names}});
  return cfg;
}

Result<std::unique_ptr<pg::Connection>> ConnectCoordinatorDatabase(const config::Config& cfg,
                                                                   Patience patience) {
  PG2I_ASSIGN_OR_RETURN(auto conn,
                        pg::ConnectWithRetry(CoordConnInfo(cfg), CoordDisplay(cfg),
                                             CoordOrigin(cfg), patience.pg_attempts,
                                             Clock::Real()));
  // The durability protocol acts on coordinator commits (deletes staged files, confirms the
  // slot, moves cursors): a commit must be on disk when it returns, whatever the server's or
  // the role's default (synchronous_commit = off would let a server crash take it back).
  PG2I_RETURN_IF_ERROR(conn->Exec("SET synchronous_commit = on"));
  return conn;
}

Result<std::unique_ptr<coord::PgCoordinator>> ConnectCoordinator(const config::Config& cfg,
                                                                 Patience patience) {
  PG2I_ASSIGN_OR_RETURN(auto conn, ConnectCoordinatorDatabase(cfg, patience));
  return std::make_unique<coord::PgCoordinator>(std::move(conn), cfg.state.coordinator_schema);
}

io::S3Settings S3SettingsOf(const config::Config::Sink& sink) {
  io::S3Settings s;
  s.endpoint = sink.s3_endpoint;
  s.region = sink.s3_region;
  s.access_key = sink.s3_access_key;
  s.secret_key = sink.s3_secret_key;
  s.credentials = sink.credential_mode == config::CredentialMode::kIam
                      ? io::S3Settings::Credentials::kDefaultChain
                      : io::S3Settings::Credentials::kStatic;
  return s;
}

Result<std::vector<const config::TableConfig*>> SelectTables(
    const config::Config& cfg, const std::vector<std::string>& names) {
  std::vector<const config::TableConfig*> out;
  for (const std::string& want : names) {
    const config::TableConfig* found = nullptr;
    for (const auto& t : cfg.tables) {
      if (t.name.ToString() == want || t.name.table == want) found = &t;
    }
    if (found == nullptr) {
      return InvalidArgument("--table " + want +
                             " is not one of the configured tables (tables[].name)");
    }
    out.push_back(found);
  }
  if (names.empty()) {
    for (const auto& t : cfg.tables) out.push_back(&t);
  }
  return out;
}

std::string StagingUri(const config::Config& cfg) {
  std::string wh = cfg.sink.warehouse;
  while (!wh.empty() && wh.back() == '/') wh.pop_back();
  return wh + "/_pg2iceberg_staging/" + io::PathSegment(cfg.state.coordinator_schema);
}

Result<std::shared_ptr<io::FileIO>> OpenWarehouse(const config::Config& cfg) {
  return io::MakeFileIO(cfg.sink.warehouse, S3SettingsOf(cfg.sink));
}

Result<std::unique_ptr<catalog::Catalog>> OpenCatalog(const config::Config& cfg,
                                                      std::shared_ptr<io::FileIO> io,
                                                      Patience patience) {
  if (cfg.sink.catalog_type == config::CatalogType::kRest) {
    catalog::RestCatalogOptions options;
    if (patience.rest_attempts > 0) options.max_attempts = patience.rest_attempts;
    PG2I_ASSIGN_OR_RETURN(auto c, catalog::RestCatalog::Open(cfg.sink, std::move(options)));
    return std::unique_ptr<catalog::Catalog>(std::move(c));
  }
  PG2I_ASSIGN_OR_RETURN(auto conn, ConnectCoordinatorDatabase(cfg, patience));
  catalog::SqlCatalogOptions o;
  o.catalog_name = cfg.sink.catalog_name;
  o.schema = cfg.sink.catalog_schema;
  o.warehouse = cfg.sink.warehouse;
  PG2I_ASSIGN_OR_RETURN(auto c, catalog::SqlCatalog::Open(std::move(conn), std::move(io), o));
  return std::unique_ptr<catalog::Catalog>(std::move(c));
}

}  // namespace pg2iceberg::cli
