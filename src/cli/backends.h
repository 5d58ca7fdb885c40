// The concrete backends of a configuration: the source PostgreSQL, the coordinator, the
// warehouse's object storage and the Iceberg catalog. Only cli/ builds them (STYLE: the
// composition root picks implementations); every subcommand opens them through here, so a
// connection's messages always name the configuration keys it came from.
#pragma once

#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "config/config.h"
#include "coord/pg_coordinator.h"
#include "io/arrow_file_io.h"
#include "io/file_io.h"
#include "pg/connection.h"

namespace pg2iceberg::cli {

// How hard to try: long-running commands retry an unreachable server a few times, interactive
// look-ups (catalog-info) fail fast.
struct Patience {
  int pg_attempts = 5;
  int rest_attempts = 0;  // 0: the REST client's default
};

// The coordinator database: state.postgres_url when set, else the source database.
std::string CoordConnInfo(const config::Config& cfg);
std::string CoordDisplay(const config::Config& cfg);
pg::ConnectionOrigin CoordOrigin(const config::Config& cfg);

Result<std::unique_ptr<pg::Connection>> ConnectSource(const config::Config& cfg,
                                                      Patience patience = {});
// Coordinator (and SQL catalog) connections commit durably: synchronous_commit is set to on
// for the session, whatever the server's default.
Result<std::unique_ptr<pg::Connection>> ConnectCoordinatorDatabase(const config::Config& cfg,
                                                                   Patience patience = {});
Result<std::unique_ptr<coord::PgCoordinator>> ConnectCoordinator(const config::Config& cfg,
                                                                 Patience patience = {});

// With no tables configured (logical mode): the tables of source.logical.publication_name, as
// the one-container image is configured (environment variables only). The configuration as it
// was otherwise. InvalidArgument when neither names a table.
Result<config::Config> WithPublishedTables(config::Config cfg);

io::S3Settings S3SettingsOf(const config::Config::Sink& sink);
// The configured tables a command's repeated --table options name (by schema.table, or by table
// name alone); every configured table when `names` is empty. InvalidArgument naming the first
// unknown one.
Result<std::vector<const config::TableConfig*>> SelectTables(const config::Config& cfg,
                                                             const std::vector<std::string>& names);

// Where the WAL writer and the snapshotter stage files: <warehouse>/_pg2iceberg_staging/<schema>.
std::string StagingUri(const config::Config& cfg);
Result<std::shared_ptr<io::FileIO>> OpenWarehouse(const config::Config& cfg);
// The SQL catalog lives in the coordinator database (its tables are created if missing); the
// REST catalog is reached at sink.catalog_uri.
Result<std::unique_ptr<catalog::Catalog>> OpenCatalog(const config::Config& cfg,
                                                      std::shared_ptr<io::FileIO> io,
                                                      Patience patience = {});

}  // namespace pg2iceberg::cli
