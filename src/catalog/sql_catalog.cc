#include "catalog/sql_catalog.h"


#include "iceberg/metadata_edit.h"
#include "pg/catalog.h"

namespace pg2iceberg::catalog {
namespace {

std::string TrimSlash(std::string s) {
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

std::string JoinNamespace(const std::vector<std::string>& ns) {
  std::string out;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (i) out += '.';
    out += ns[i];
  }
  return out;
}

std::string TableIdent::ToString() const {
  return ns.empty() ? name : JoinNamespace(ns) + "." + name;
}

SqlCatalog::SqlCatalog(std::unique_ptr<pg::Connection> conn, std::shared_ptr<io::FileIO> io,
                       SqlCatalogOptions options, Clock* clock)
    : conn_(std::move(conn)),
      io_(std::move(io)),
      options_(std::move(options)),
      clock_(clock ? clock : Clock::Real()) {}

std::string SqlCatalog::T(const char* table) const {
  return pg::QuoteIdent(options_.schema) + "." + table;
}

Result<std::unique_ptr<SqlCatalog>> SqlCatalog::Open(std::unique_ptr<pg::Connection> conn,
                                                     std::shared_ptr<io::FileIO> io,
                                                     SqlCatalogOptions options, Clock* clock) {
  std::unique_ptr<SqlCatalog> c(new SqlCatalog(std::move(conn), std::move(io),
                                               std::move(options), clock));
  // Iceberg's JdbcCatalog schema (V1: with iceberg_type), created the way Java creates it.
  const std::string s = pg::QuoteIdent(c->options_.schema);
  PG2I_RETURN_IF_ERROR(c->conn_->Exec("BEGIN"));
  Status st = c->conn_->Query("SELECT pg_advisory_xact_lock(hashtext($1))",
                              {"pg2iceberg-sql-catalog:" + c->options_.schema})
                  .status();
  if (st.ok()) {
    st = c->conn_->Exec(
        "CREATE SCHEMA IF NOT EXISTS " + s + ";"
        "CREATE TABLE IF NOT EXISTS " + s + ".iceberg_tables ("
        "catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, "
        "table_name VARCHAR(255) NOT NULL, metadata_location VARCHAR(1000), "
        "previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5), "
        "PRIMARY KEY (catalog_name, table_namespace, table_name));"
        "CREATE TABLE IF NOT EXISTS " + s + ".iceberg_namespace_properties ("
        "catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL, "
        "property_key VARCHAR(255), property_value VARCHAR(1000), "
        "PRIMARY KEY (catalog_name, namespace, property_key));");
  }
  if (!st.ok()) {
    (void)c->conn_->Exec("ROLLBACK");
    return st.WithContext("creating the SQL catalog tables in schema " + c->options_.schema);
  }
  PG2I_RETURN_IF_ERROR(c->conn_->Exec("COMMIT"));
  return c;
}

Status SqlCatalog::CreateNamespace(const std::vector<std::string>& ns,
                                   const std::map<std::string, std::string>& properties) {
  const std::string name = JoinNamespace(ns);
  std::map<std::string, std::string> props = properties;
  props.emplace("exists", "true");  // Java's marker row for an empty namespace
  for (const auto& [k, v] : props) {
    PG2I_RETURN_IF_ERROR(
        conn_->Query("INSERT INTO " + T("iceberg_namespace_properties") +
                         " (catalog_name, namespace, property_key, property_value) VALUES "
                         "($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                     {options_.catalog_name, name, k, v})
            .status());
  }
  return Status::Ok();
}

Result<bool> SqlCatalog::NamespaceExists(const std::vector<std::string>& ns) {
  const std::string name = JoinNamespace(ns);
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT 1 FROM " + T("iceberg_namespace_properties") +
                       " WHERE catalog_name = $1 AND namespace = $2 UNION ALL SELECT 1 FROM " +
                       T("iceberg_tables") +
                       " WHERE catalog_name = $1 AND (table_namespace = $2 OR table_namespace "
                       "LIKE $2 || '.%') LIMIT 1",
                   {options_.catalog_name, name}));
  return !r.rows.empty();
}

Result<std::optional<std::string>> SqlCatalog::CurrentLocation(const TableIdent& ident) {
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      conn_->Query("SELECT metadata_location FROM " + T("iceberg_tables") +
                       " WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3 "
                       "AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)",
                   {options_.catalog_name, JoinNamespace(ident.ns), ident.name}));
  if (r.rows.empty() || !r.rows[0][0]) return std::optional<std::string>();
  return std::optional<std::string>(*r.rows[0][0]);
}

Result<LoadedTable> SqlCatalog::LoadTable(const TableIdent& ident) {
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> loc, CurrentLocation(ident));
  if (!loc) {
    return NotFound("table " + ident.ToString() + " does not exist in SQL catalog " +
                    options_.catalog_name);
  }
  PG2I_ASSIGN_OR_RETURN(std::string json, io_->ReadAll(*loc));
  auto parsed = iceberg::ParseTableMetadata(json);
  if (!parsed.ok()) return parsed.status().WithContext("metadata of " + ident.ToString() + " at " + *loc);
  return LoadedTable{*loc, std::move(*parsed), {}};
}

Result<std::string> SqlCatalog::WriteMetadata(const iceberg::TableMetadata& m,
                                              const std::string& previous_location) {
  const int version =
      previous_location.empty() ? 0 : iceberg::MetadataFileVersion(previous_location) + 1;
  const std::string location = iceberg::NewMetadataFileUri(m.location, version);
  PG2I_RETURN_IF_ERROR(io_->WriteAll(location, iceberg::SerializeTableMetadata(m)));
  return location;
}

Result<LoadedTable> SqlCatalog::CreateTable(const TableIdent& ident,
                                            const CreateTableRequest& request) {
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> existing, CurrentLocation(ident));
  if (existing) return AlreadyExists("table " + ident.ToString() + " already exists");
  std::string location = request.location;
  if (location.empty()) {
    location = TrimSlash(options_.warehouse);
    // Identifiers become path segments that cannot leave the warehouse ("../x" included).
    for (const auto& level : ident.ns) location += "/" + io::PathSegment(level);
    location += "/" + io::PathSegment(ident.name);
  }
  PG2I_ASSIGN_OR_RETURN(
      iceberg::TableMetadata m,
      iceberg::NewTableMetadata(location, request.schema, request.spec, request.properties,
                                io::NewUniqueName(), clock_->NowMillis()));
  PG2I_ASSIGN_OR_RETURN(std::string meta_loc, WriteMetadata(m, ""));
  auto ins = conn_->Query("INSERT INTO " + T("iceberg_tables") +
                              " (catalog_name, table_namespace, table_name, metadata_location, "
                              "previous_metadata_location, iceberg_type) VALUES ($1, $2, $3, $4, "
                              "NULL, 'TABLE') ON CONFLICT DO NOTHING RETURNING 1",
                          {options_.catalog_name, JoinNamespace(ident.ns), ident.name, meta_loc});
  if (!ins.ok() || ins->rows.empty()) {
    (void)io_->Delete(meta_loc);
    if (!ins.ok()) return ins.status();
    return AlreadyExists("table " + ident.ToString() + " already exists");
  }
  return LoadedTable{meta_loc, std::move(m), {}};
}

Result<SqlCatalog::Prepared> SqlCatalog::Prepare(const TableCommit& commit) {
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> loc, CurrentLocation(commit.ident));
  if (!loc) {
    for (const auto& r : commit.requirements) {
      if (r.kind == iceberg::TableRequirement::Kind::kAssertCreate) {
        return Unimplemented("create through commit is not supported by the SQL catalog; "
                             "use CreateTable");
      }
    }
    return NotFound("table " + commit.ident.ToString() + " does not exist");
  }
  PG2I_ASSIGN_OR_RETURN(std::string json, io_->ReadAll(*loc));
  PG2I_ASSIGN_OR_RETURN(iceberg::TableMetadata m, iceberg::ParseTableMetadata(json));
  Status req = iceberg::CheckRequirements(&m, commit.requirements);
  if (!req.ok()) {
    return Aborted("commit to " + commit.ident.ToString() + " conflicts: " + req.message());
  }
  const int64_t previous_updated = m.last_updated_ms;
  const int64_t now = clock_->NowMillis();
  PG2I_RETURN_IF_ERROR(iceberg::ApplyUpdates(&m, commit.updates, now));
  PG2I_RETURN_IF_ERROR(iceberg::AppendMetadataLog(&m, *loc, previous_updated));
  PG2I_ASSIGN_OR_RETURN(std::string new_loc, WriteMetadata(m, *loc));
  return Prepared{commit.ident, *loc, new_loc, std::move(m)};
}

Result<LoadedTable> SqlCatalog::CommitTable(const TableCommit& commit) {
  PG2I_ASSIGN_OR_RETURN(Prepared p, Prepare(commit));
  auto upd = conn_->Query(
      "UPDATE " + T("iceberg_tables") +
          " SET metadata_location = $4, previous_metadata_location = $5 WHERE catalog_name = "
          "$1 AND table_namespace = $2 AND table_name = $3 AND metadata_location = $5 "
          "RETURNING 1",
      {options_.catalog_name, JoinNamespace(p.ident.ns), p.ident.name, p.location, p.previous});
  if (!upd.ok()) {
    if (upd.status().code() == StatusCode::kUnavailable) {
      // The UPDATE may have run before the connection dropped: keep the file, let the
      // caller read the table back.
      return CommitStateUnknown("commit to " + p.ident.ToString() +
                                " lost its connection: " + upd.status().message());
    }
    (void)io_->Delete(p.location);
    return upd.status();
  }
  if (upd->rows.empty()) {
    (void)io_->Delete(p.location);
    return Aborted("commit to " + p.ident.ToString() +
                   " lost a race: the table changed since it was read; reload and retry");
  }
  return LoadedTable{p.location, std::move(p.metadata), {}};
}

Status SqlCatalog::CommitTransaction(const std::vector<TableCommit>& commits) {
  std::vector<Prepared> prepared;
  for (const TableCommit& c : commits) {
    auto p = Prepare(c);
    if (!p.ok()) {
      for (const auto& done : prepared) (void)io_->Delete(done.location);
      return p.status();
    }
    prepared.push_back(std::move(*p));
  }
  auto cleanup = [&] {
    for (const auto& p : prepared) (void)io_->Delete(p.location);
  };
  PG2I_RETURN_IF_ERROR(conn_->Exec("BEGIN"));
  for (const Prepared& p : prepared) {
    auto r = conn_->Query(
        "UPDATE " + T("iceberg_tables") +
            " SET metadata_location = $4, previous_metadata_location = $5 WHERE catalog_name "
            "= $1 AND table_namespace = $2 AND table_name = $3 AND metadata_location = $5 "
            "RETURNING 1",
        {options_.catalog_name, JoinNamespace(p.ident.ns), p.ident.name, p.location,
         p.previous});
    if (!r.ok() || r->rows.empty()) {
      (void)conn_->Exec("ROLLBACK");
      cleanup();
      if (!r.ok()) return r.status();
      return Aborted("transaction lost a race on " + p.ident.ToString() +
                     ": the table changed since it was read; reload and retry");
    }
  }
  Status c = conn_->Exec("COMMIT");
  if (!c.ok()) {
    if (c.code() == StatusCode::kUnavailable) {
      return CommitStateUnknown("multi-table commit lost its connection at COMMIT: " +
                                c.message());
    }
    cleanup();
    return c;
  }
  return Status::Ok();
}

Status SqlCatalog::DropTable(const TableIdent& ident, bool purge) {
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> loc, CurrentLocation(ident));
  if (!loc) return NotFound("table " + ident.ToString() + " does not exist");
  PG2I_RETURN_IF_ERROR(
      conn_->Query("DELETE FROM " + T("iceberg_tables") +
                       " WHERE catalog_name = $1 AND table_namespace = $2 AND table_name = $3",
                   {options_.catalog_name, JoinNamespace(ident.ns), ident.name})
          .status());
  if (purge) {
    auto m = io_->ReadAll(*loc);
    if (m.ok()) {
      auto parsed = iceberg::ParseTableMetadata(*m);
      if (parsed.ok()) {
        PG2I_ASSIGN_OR_RETURN(auto files, io_->List(TrimSlash(parsed->location) + "/"));
        std::vector<std::string> uris;
        for (const auto& f : files) uris.push_back(f.uri);
        PG2I_RETURN_IF_ERROR(io_->DeleteMany(uris));
      }
    }
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::catalog
