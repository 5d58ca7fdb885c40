#include "cli/commands.h"

#include <cstdio>

#include "base/log.h"
#include "pg/connection.h"

namespace pg2iceberg::cli {

int RunConfig(const config::Config& cfg) {
  std::fputs(cfg.Redacted().c_str(), stdout);
  return 0;
}

int RunConnectPg(const config::Config& cfg) {
  const auto& pg = cfg.source.postgres;
  auto conn = pg::Connection::Connect(pg.ConnString(), pg.RedactedConnString());
  if (!conn.ok()) {
    std::fprintf(stderr, "error: %s\n", conn.status().message().c_str());
    return 1;
  }
  auto info = (*conn)->Query(
      "SELECT current_setting('server_version'), current_setting('wal_level'), "
      "current_database(), current_user, "
      "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)");
  if (!info.ok()) {
    std::fprintf(stderr, "error: %s\n", info.status().message().c_str());
    return 1;
  }
  const auto& row = info->rows.at(0);
  const std::string wal_level = row[1].value_or("");
  std::printf("OK: connected to PostgreSQL %s, database %s as %s\n", row[0]->c_str(),
              row[2]->c_str(), row[3]->c_str());
  std::printf("wal_level=%s replication_privilege=%s\n", wal_level.c_str(),
              row[4].value_or("f") == "t" ? "yes" : "no");
  if (cfg.source.mode == config::SourceMode::kLogical && wal_level != "logical") {
    log::Warn("wal_level is not logical; logical replication will not work",
              {{"fix", "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"}});
  }
  if ((*conn)->ServerVersion() < 130000) {
    std::fprintf(stderr, "error: PostgreSQL %s is older than 13, which pg2iceberg requires\n",
                 row[0]->c_str());
    return 1;
  }
  return 0;
}

}  // namespace pg2iceberg::cli
