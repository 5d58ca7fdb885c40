#include "cli/pg_source_catalog.h"

#include "base/clock.h"
#include "base/log.h"
#include "pg/catalog.h"
#include "pg/replication.h"
#include "pg/values.h"

namespace pg2iceberg::cli {

using namespace std::chrono_literals;

Result<stage::StagedRelation> DiscoverStaged(pg::Connection& conn, const config::TableConfig& t) {
  PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(conn, t.name));
  PG2I_ASSIGN_OR_RETURN(std::vector<std::string> key, pg::EffectivePrimaryKey(info, t));
  stage::StagedRelation rel;
  rel.table = t.name.ToString();
  rel.oid = info.oid;
  for (const auto& c : info.columns) {
    pg::TypeMapping m = pg::MapType(c.base_type_oid, c.typmod);
    if (!m.warning.empty()) {
      log::Warn(m.warning, {{"table", rel.table}, {"column", c.name}});
    }
    rel.columns.push_back(
        stage::StagedColumn{c.name, c.base_type_oid, c.typmod, m.type, c.nullable, c.attnum});
  }
  for (const std::string& k : key) {
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      if (rel.columns[i].name == k) rel.key.push_back(static_cast<int>(i));
    }
  }
  return rel;
}

Result<std::optional<uint32_t>> PgSourceCatalog::CurrentOid(const config::TableName& table) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
                   "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                   {table.schema, table.table}));
  if (r.rows.empty()) return std::optional<uint32_t>();
  return std::optional<uint32_t>(
      static_cast<uint32_t>(std::stoul(r.rows[0][0].value_or("0"))));
}

Result<uint32_t> PgSourceCatalog::Republish(const config::TableConfig& t) {
  PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(*conn_, t.name));
  PG2I_RETURN_IF_ERROR(pg::EffectivePrimaryKey(info, t).status());
  if (publication_.empty()) return info.oid;  // query mode: polled, not published
  auto pub = pg::EnsurePublication(*conn_, publication_, {info});
  if (!pub.ok()) return pg::ExplainSetupError(pub.status(), user_);
  return info.oid;
}

Result<std::vector<std::string>> PgSourceCatalog::MissingDefaults(
    uint32_t oid, const std::vector<int>& attnums) {
  std::string list;
  for (int a : attnums) list += (list.empty() ? "" : ",") + std::to_string(a);
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT DISTINCT a.attname FROM pg_attribute r "
                   "JOIN (SELECT relid FROM pg_partition_tree($1::oid) UNION SELECT $1::oid) t "
                   "ON true JOIN pg_attribute a ON a.attrelid = t.relid AND a.attname = "
                   "r.attname WHERE r.attrelid = $1::oid AND r.attnum = ANY(('{' || $2 || "
                   "'}')::int2[]) AND a.atthasmissing AND NOT a.attisdropped",
                   {std::to_string(oid), list}));
  std::vector<std::string> names;
  for (const auto& row : r.rows) names.push_back(row[0].value_or(""));
  return names;
}

Status PgSourceCatalog::AwaitVisible(Xid xid) {
  const Stopwatch waited;
  bool logged = false;
  while (true) {
    // The transaction's 64-bit id: the one nearest the snapshot's xmax with these low bits.
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        conn_->Query("SELECT pg_snapshot_xmax(s)::text, s::text FROM pg_current_snapshot() s"));
    const uint64_t xmax = std::stoull(r.rows.at(0).at(0).value_or("0"));
    const uint64_t full = xmax + static_cast<uint64_t>(static_cast<int64_t>(
                                     static_cast<int32_t>(xid.value() - static_cast<uint32_t>(xmax))));
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult v,
        conn_->Query("SELECT pg_visible_in_snapshot($1::xid8, $2::pg_snapshot)",
                     {std::to_string(full), r.rows.at(0).at(1).value_or("")}));
    if (v.rows.at(0).at(0).value_or("f") == "t") return Status::Ok();
    if (waited.Elapsed() > 20s) {
      return Unavailable("transaction " + std::to_string(xid.value()) +
                         " changed a table's columns and is in the WAL, but other sessions "
                         "still do not see it after 20 s (a commit waiting for synchronous "
                         "replication?); its columns cannot be read from the catalog yet");
    }
    if (!logged && waited.Elapsed() > 1s) {
      log::Info("waiting until a committed transaction that changed a table's columns is "
                "visible, to read them from the catalog (a commit waiting for synchronous "
                "replication?)",
                {{"xid", static_cast<int64_t>(xid.value())}});
      logged = true;
    }
    Clock::Real()->SleepFor(10ms);
  }
}

}  // namespace pg2iceberg::cli
