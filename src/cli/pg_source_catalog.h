// The pipeline's SourceCatalog on a PostgreSQL connection to the source database: discovery
// (pg/catalog.h), the oid under a configured name (pg_class), the publication, PostgreSQL's
// "missing" attribute values, and a transaction's visibility (pg_current_snapshot).
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "pg/connection.h"
#include "pipeline/source_catalog.h"

namespace pg2iceberg::cli {

// A configured table's staged shape as the database has it now (with its effective key).
Result<stage::StagedRelation> DiscoverStaged(pg::Connection& conn, const config::TableConfig& t);

// `publication` empty: query mode (Republish only checks the table).
class PgSourceCatalog final : public pipeline::SourceCatalog {
 public:
  PgSourceCatalog(std::unique_ptr<pg::Connection> conn, std::string publication, std::string user)
      : conn_(std::move(conn)), publication_(std::move(publication)), user_(std::move(user)) {}

  Result<stage::StagedRelation> Discover(const config::TableConfig& table) override {
    return DiscoverStaged(*conn_, table);
  }
  Result<std::optional<uint32_t>> CurrentOid(const config::TableName& table) override;
  Result<uint32_t> Republish(const config::TableConfig& table) override;
  Result<std::vector<std::string>> MissingDefaults(uint32_t oid,
                                                   const std::vector<int>& attnums) override;
  Status AwaitVisible(Xid xid) override;

 private:
  std::unique_ptr<pg::Connection> conn_;
  std::string publication_;
  std::string user_;  // source.postgres.user, named in privilege errors
};

}  // namespace pg2iceberg::cli
