// What pg2iceberg reads and manages in the source database's catalog: table discovery
// (columns, types with typmods, nullability, primary key in key order, replica identity,
// partitioning), the publication, and the replication slot's health.
//
// Names are passed as parameters or quoted, so any identifier works (mixed case, spaces,
// quotes, unicode). Errors say what to run or change. Not thread-safe (uses one Connection).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/types.h"
#include "config/config.h"
#include "pg/connection.h"

namespace pg2iceberg::pg {

struct ColumnInfo {
  std::string name;
  int attnum = 0;
  uint32_t type_oid = 0;       // as declared (a domain's own oid for domain columns)
  uint32_t base_type_oid = 0;  // domains resolved to their base type
  int32_t typmod = -1;         // of the base type for domains
  std::string type_name;       // format_type(), e.g. "numeric(10,2)"
  bool nullable = true;
};

struct TableInfo {
  config::TableName name;
  uint32_t oid = 0;
  char relkind = 'r';           // 'r' table, 'p' partitioned parent
  char replica_identity = 'd';  // d, n, f, i
  bool is_partition = false;    // a partition of another table
  std::vector<ColumnInfo> columns;
  std::vector<std::string> primary_key;       // in key order; empty when none
  std::vector<std::string> replica_identity_columns;  // for 'i' (index) identity
};

// NotFound (with the fix) when the table does not exist; FailedPrecondition for objects that
// cannot be replicated (views, foreign tables).
Result<TableInfo> DiscoverTable(Connection& conn, const config::TableName& name);

// The key pg2iceberg folds by: the configured primary_key, else the table's primary key.
// FailedPrecondition naming the table and the fix when there is none, or when a configured
// column does not exist.
Result<std::vector<std::string>> EffectivePrimaryKey(const TableInfo& table,
                                                     const config::TableConfig& configured);

std::string QuoteIdent(std::string_view ident);
std::string QuoteLiteral(std::string_view s);

struct PublicationReport {
  bool created = false;
  std::vector<std::string> added;  // tables added to an existing publication
};

// Creates the publication if missing (FOR TABLE …, publish_via_partition_root = true), adds
// configured tables that are missing, never removes anything. FailedPrecondition when an
// existing publication cannot carry a configured table correctly (partitioned table without
// publish_via_partition_root, or operations not published).
Result<PublicationReport> EnsurePublication(Connection& conn, const std::string& publication,
                                            const std::vector<TableInfo>& tables);

// The DDL event trigger that makes column identity exact: after every ALTER TABLE it emits a
// transactional logical message (prefix "pg2iceberg.columns") with the table's attnum → name
// map (and the columns the statement added with a default existing rows take), which the
// stream carries in WAL order. Its function lives in `schema` (created if
// missing); a failure inside it only raises a WARNING, never fails the user's DDL.
enum class DdlTrigger { kPresent, kInstalled, kNotPermitted };
Result<DdlTrigger> EnsureDdlTrigger(Connection& conn, const std::string& schema);
// Removes what EnsureDdlTrigger created (the schema only when it is empty).
Status DropDdlTrigger(Connection& conn, const std::string& schema);
std::string DdlTriggerName(const std::string& schema);
// The second trigger EnsureDdlTrigger creates: on table_rewrite it emits "pg2iceberg.rewrite"
// ({"schema", "table", "oid", "reason"}), so that the table's copy is redone.
std::string RewriteTriggerName(const std::string& schema);

struct SlotInfo {
  std::string name;
  std::string plugin;
  std::string slot_type;
  std::string database;
  bool active = false;
  Lsn restart_lsn;
  Lsn confirmed_flush_lsn;
  std::string wal_status;  // reserved, extended, unreserved, lost
  bool conflicting = false;  // PostgreSQL 16+: invalidated by recovery conflict
  std::optional<int64_t> safe_wal_size;
};

// nullopt when no slot has that name.
Result<std::optional<SlotInfo>> ReadSlot(Connection& conn, const std::string& slot);

// OK for a usable pgoutput slot of `database`; otherwise an error saying what to do. A slot in
// wal_status "unreserved" is usable but close to being lost: `warning` is set.
Status CheckSlotHealth(const SlotInfo& slot, const std::string& database,
                       std::string* warning = nullptr);

}  // namespace pg2iceberg::pg
