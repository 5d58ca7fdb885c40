// What the pipeline's services ask the source database besides the replication stream: a
// table's shape and identity now, and whether a transaction seen in the WAL is visible yet.
// cli/ implements it on a PostgreSQL connection (PgSourceCatalog); the simulation and the unit
// tests on a model of the source.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/types.h"
#include "config/config.h"
#include "stage/staged_file.h"

namespace pg2iceberg::pipeline {

class SourceCatalog {
 public:
  virtual ~SourceCatalog() = default;

  // The configured table as the database has it now (its staged shape).
  virtual Result<stage::StagedRelation> Discover(const config::TableConfig& table) = 0;
  // The oid of the table under this name now; nullopt when there is none (dropped or renamed).
  virtual Result<std::optional<uint32_t>> CurrentOid(const config::TableName& table) = 0;
  // A table re-created under a configured name: checks it can be replicated (a primary key)
  // and adds it to the publication; returns its oid.
  virtual Result<uint32_t> Republish(const config::TableConfig& table) = 0;
  // Of the columns of table `oid` with these attnums, the names of those existing rows read a
  // default for without any change carrying it (PostgreSQL's "missing" attribute values).
  virtual Result<std::vector<std::string>> MissingDefaults(uint32_t oid,
                                                           const std::vector<int>& attnums) = 0;
  // Waits until transaction `xid`, seen committed in the WAL, is visible to other sessions.
  virtual Status AwaitVisible(Xid xid) = 0;
};

}  // namespace pg2iceberg::pipeline
