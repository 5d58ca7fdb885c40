// `connect-pg` and `connect-iceberg`: probes that say OK only when the real work can succeed.
// connect-pg checks everything logical replication needs from this role and server (version,
// wal_level, REPLICATION, free slots and WAL senders, the configured tables and the rights to
// publish them, the coordinator schema); connect-iceberg writes, reads and deletes an object
// in the warehouse and commits a table to the catalog, then removes what it made. Each failed
// check prints the exact fix; any failure exits 1.
#include "cli/probes.h"

#include <unistd.h>

#include <cstdio>
#include <random>

#include "base/clock.h"
#include "catalog/http.h"
#include "cli/backends.h"
#include "pg/catalog.h"

namespace pg2iceberg::cli {
namespace {

// Collects check results; prints them as they come.
class Checklist {
 public:
  void Ok(const std::string& what) { std::printf("OK   %s\n", what.c_str()); }
  void Fail(const std::string& what, const std::string& fix) {
    std::printf("FAIL %s\n     fix: %s\n", what.c_str(), fix.c_str());
    ++failed_;
  }
  void Check(bool ok, const std::string& what, const std::string& fix) {
    ok ? Ok(what) : Fail(what, fix);
  }
  int failed() const { return failed_; }

 private:
  int failed_ = 0;
};

Result<std::string> Scalar(pg::Connection& conn, const std::string& sql,
                           const std::vector<std::string>& params = {}) {
  PG2I_ASSIGN_OR_RETURN(pg::QueryResult r, conn.Query(sql, params));
  if (r.rows.empty() || r.rows[0].empty()) return std::string();
  return r.rows[0][0].value_or("");
}

Status CheckServer(const config::Config& cfg, pg::Connection& conn, Checklist& c) {
  PG2I_ASSIGN_OR_RETURN(std::string version, Scalar(conn, "SHOW server_version"));
  PG2I_ASSIGN_OR_RETURN(std::string user, Scalar(conn, "SELECT current_user"));
  PG2I_ASSIGN_OR_RETURN(std::string db, Scalar(conn, "SELECT current_database()"));
  c.Ok("connected to PostgreSQL " + version + ", database " + db + " as " + user);
  c.Check(conn.ServerVersion() >= 130000, "PostgreSQL is 13 or newer",
          "pg2iceberg needs PostgreSQL 13 or newer; upgrade the server");
  if (cfg.source.mode != config::SourceMode::kLogical) return Status::Ok();
  PG2I_ASSIGN_OR_RETURN(std::string wal_level, Scalar(conn, "SHOW wal_level"));
  c.Check(wal_level == "logical", "wal_level is logical (it is " + wal_level + ")",
          "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL");
  PG2I_ASSIGN_OR_RETURN(std::string repl,
                        Scalar(conn, "SELECT (rolreplication OR rolsuper)::text FROM pg_roles "
                                     "WHERE rolname = current_user"));
  c.Check(repl == "true", "role " + user + " may start replication (REPLICATION attribute)",
          "ALTER ROLE " + pg::QuoteIdent(user) + " WITH REPLICATION; (as a superuser)");
  const std::string& slot = cfg.source.logical.slot_name;
  PG2I_ASSIGN_OR_RETURN(std::string slot_exists,
                        Scalar(conn, "SELECT count(*) FROM pg_replication_slots WHERE "
                                     "slot_name = $1", {slot}));
  PG2I_ASSIGN_OR_RETURN(
      std::string slots_free,
      Scalar(conn, "SELECT (current_setting('max_replication_slots')::int - count(*))::text "
                   "FROM pg_replication_slots"));
  c.Check(slot_exists != "0" || std::stoll(slots_free) > 0,
          "a replication slot is free (or " + slot + " exists)",
          "max_replication_slots are all in use: drop an unused slot "
          "(SELECT pg_drop_replication_slot('name')) or raise max_replication_slots and restart");
  PG2I_ASSIGN_OR_RETURN(
      std::string senders_free,
      Scalar(conn, "SELECT (current_setting('max_wal_senders')::int - count(*))::text FROM "
                   "pg_stat_replication"));
  c.Check(std::stoll(senders_free) > 0, "a WAL sender is free (max_wal_senders)",
          "raise max_wal_senders (ALTER SYSTEM SET max_wal_senders = …) and restart PostgreSQL");
  return Status::Ok();
}

Status CheckTables(const config::Config& cfg, pg::Connection& conn, Checklist& c) {
  const std::string& pub = cfg.source.logical.publication_name;
  PG2I_ASSIGN_OR_RETURN(std::string pub_exists,
                        Scalar(conn, "SELECT count(*) FROM pg_publication WHERE pubname = $1",
                               {pub}));
  PG2I_ASSIGN_OR_RETURN(std::string user, Scalar(conn, "SELECT current_user"));
  PG2I_ASSIGN_OR_RETURN(std::string db, Scalar(conn, "SELECT current_database()"));
  if (pub_exists == "0") {
    PG2I_ASSIGN_OR_RETURN(std::string can_create,
                          Scalar(conn, "SELECT has_database_privilege(current_database(), "
                                       "'CREATE')::text"));
    c.Check(can_create == "true", "the role may create publication " + pub,
            "GRANT CREATE ON DATABASE " + pg::QuoteIdent(db) + " TO " + pg::QuoteIdent(user) +
                "; (as the database owner) or create the publication yourself: CREATE "
                "PUBLICATION " +
                pg::QuoteIdent(pub) + " FOR TABLE …;");
  }
  for (const auto& t : cfg.tables) {
    const std::string name = t.name.ToString();
    auto info = pg::DiscoverTable(conn, t.name);
    if (!info.ok()) {
      c.Fail("table " + name, info.status().message());
      continue;
    }
    auto key = pg::EffectivePrimaryKey(*info, t);
    c.Check(key.ok(), "table " + name + " has a key", key.ok() ? "" : key.status().message());
    const std::string oid = std::to_string(info->oid);
    PG2I_ASSIGN_OR_RETURN(std::string select,
                          Scalar(conn, "SELECT has_table_privilege(" + oid + "::oid, "
                                       "'SELECT')::text"));
    c.Check(select == "true", "the role may read " + name,
            "GRANT SELECT ON " + t.name.Quoted() + " TO " + pg::QuoteIdent(user) +
                "; (as its owner)");
    PG2I_ASSIGN_OR_RETURN(std::string in_pub,
                          Scalar(conn, "SELECT count(*) FROM pg_publication_tables WHERE "
                                       "pubname = $1 AND schemaname = $2 AND tablename = $3",
                                 {pub, t.name.schema, t.name.table}));
    if (in_pub != "0") continue;
    PG2I_ASSIGN_OR_RETURN(std::string owner,
                          Scalar(conn, "SELECT pg_has_role(relowner, 'USAGE')::text FROM "
                                       "pg_class WHERE oid = " + oid + "::oid"));
    c.Check(owner == "true", "the role may add " + name + " to publication " + pub,
            "publishing a table requires owning it: have its owner run " +
            std::string(pub_exists == "0" ? "CREATE PUBLICATION " + pg::QuoteIdent(pub) +
                                                " FOR TABLE " + t.name.Quoted()
                                          : "ALTER PUBLICATION " + pg::QuoteIdent(pub) +
                                                " ADD TABLE " + t.name.Quoted()) +
                ";");
  }
  return Status::Ok();
}

Status CheckCoordinator(const config::Config& cfg, Checklist& c) {
  auto coord = ConnectCoordinator(cfg);
  if (!coord.ok()) {
    c.Fail("coordinator database", coord.status().message());
    return Status::Ok();
  }
  pg::Connection& conn = (*coord)->connection();
  const std::string& schema = cfg.state.coordinator_schema;
  PG2I_ASSIGN_OR_RETURN(std::string exists,
                        Scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
                               {schema}));
  PG2I_ASSIGN_OR_RETURN(std::string user, Scalar(conn, "SELECT current_user"));
  PG2I_ASSIGN_OR_RETURN(std::string db, Scalar(conn, "SELECT current_database()"));
  std::string ok;
  if (exists == "0") {
    PG2I_ASSIGN_OR_RETURN(ok, Scalar(conn, "SELECT has_database_privilege(current_database(), "
                                           "'CREATE')::text"));
  } else {
    PG2I_ASSIGN_OR_RETURN(ok, Scalar(conn, "SELECT (has_schema_privilege($1, 'CREATE') AND "
                                           "has_schema_privilege($1, 'USAGE'))::text",
                                     {schema}));
  }
  c.Check(ok == "true", "the role may create and write coordinator schema " + schema,
          (exists == "0" ? "GRANT CREATE ON DATABASE " + pg::QuoteIdent(db) + " TO " +
                               pg::QuoteIdent(user) + ";"
                         : "GRANT USAGE, CREATE ON SCHEMA " + pg::QuoteIdent(schema) + " TO " +
                               pg::QuoteIdent(user) + ";") +
              " or set state.coordinator_schema to a schema the role owns (or state.postgres_url "
              "to another database)");
  return Status::Ok();
}

std::string ProbeName() {
  std::random_device rd;
  char buf[64];
  std::snprintf(buf, sizeof buf, "_pg2iceberg_probe_%d_%08x", static_cast<int>(getpid()), rd());
  return buf;
}

// Write, read back, list and delete one object under the warehouse.
void CheckWarehouse(const config::Config& cfg, io::FileIO& io, const std::string& name,
                    Checklist& c) {
  std::string wh = cfg.sink.warehouse;
  while (!wh.empty() && wh.back() == '/') wh.pop_back();
  const std::string uri = wh + "/" + name + ".probe";
  const std::string body = "pg2iceberg connect-iceberg probe\n";
  Status w = io.WriteAll(uri, body);
  if (!w.ok()) {
    c.Fail("write an object in the warehouse " + wh, w.message() +
           "; check sink.warehouse and the credentials (sink.s3_*) / file permissions");
    return;
  }
  auto back = io.ReadAll(uri);
  c.Check(back.ok() && *back == body, "write and read back " + uri,
          back.ok() ? "the object read back differs from what was written"
                    : back.status().message());
  Status d = io.Delete(uri);
  auto gone = io.Exists(uri);
  c.Check(d.ok() && gone.ok() && !*gone, "delete " + uri,
          d.ok() ? "the object is still there after delete" : d.message() +
                   "; pg2iceberg deletes staged files once they are in Iceberg: grant delete");
}

// Create a table, commit a change to it, drop it (purge).
void CheckCatalog(const config::Config& cfg, catalog::Catalog& cat, const std::string& name,
                  Checklist& c) {
  const std::vector<std::string> ns = {cfg.sink.ns};
  auto exists = cat.NamespaceExists(ns);
  if (!exists.ok()) {
    c.Fail("reach the " + cat.kind() + " catalog", exists.status().message());
    return;
  }
  if (!*exists) {
    Status s = cat.CreateNamespace(ns, {});
    c.Check(s.ok(), "create namespace " + cfg.sink.ns + " (pg2iceberg needs it; it is kept)",
            s.ok() ? "" : s.message());
    if (!s.ok()) return;
  } else {
    c.Ok("namespace " + cfg.sink.ns + " exists in the " + cat.kind() + " catalog");
  }
  const catalog::TableIdent ident{ns, name};
  catalog::CreateTableRequest req;
  req.schema = iceberg::Schema(
      0, {iceberg::Field{1, "id", true, iceberg::DataType::Primitive(Type{TypeId::kLong}), "", {}, {}}},
      {1});
  req.properties = {{"format-version", "2"}};
  auto created = cat.CreateTable(ident, req);
  if (!created.ok()) {
    c.Fail("create table " + ident.ToString(), created.status().message());
    return;
  }
  catalog::TableCommit commit;
  commit.ident = ident;
  commit.updates.push_back(iceberg::TableUpdate::SetProperties({{"pg2iceberg.probe", "1"}}));
  auto committed = cat.CommitTable(commit);
  c.Check(committed.ok(), "commit to table " + ident.ToString(),
          committed.ok() ? "" : committed.status().message());
  Status dropped = cat.DropTable(ident, true);
  c.Check(dropped.ok(), "drop table " + ident.ToString(),
          dropped.ok() ? "" : dropped.message() + "; drop it by hand");
}

}  // namespace

int RunConnectPg(const config::Config& cfg) {
  Checklist c;
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto conn, ConnectSource(cfg));
    PG2I_RETURN_IF_ERROR(CheckServer(cfg, *conn, c));
    PG2I_RETURN_IF_ERROR(CheckTables(cfg, *conn, c));
    return CheckCoordinator(cfg, c);
  };
  Status s = run();
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return 1;
  }
  if (c.failed() > 0) {
    std::fprintf(stderr, "error: %d check(s) failed; logical replication cannot work until "
                         "they are fixed (see fix: above)\n", c.failed());
    return 1;
  }
  std::printf("OK: PostgreSQL is ready for pg2iceberg\n");
  return 0;
}

int RunConnectIceberg(const config::Config& cfg) {
  Checklist c;
  auto run = [&]() -> Status {
    const std::string name = ProbeName();
    PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
    CheckWarehouse(cfg, *io, name, c);
    PG2I_ASSIGN_OR_RETURN(auto cat, OpenCatalog(cfg, io));
    CheckCatalog(cfg, *cat, name, c);
    return Status::Ok();
  };
  Status s = run();
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return 1;
  }
  if (c.failed() > 0) {
    std::fprintf(stderr, "error: %d check(s) failed; pg2iceberg cannot write Iceberg tables "
                         "until they are fixed (see fix: above)\n", c.failed());
    return 1;
  }
  std::printf("OK: the warehouse %s and the %s catalog are ready for pg2iceberg\n",
              cfg.sink.warehouse.c_str(),
              cfg.sink.catalog_type == config::CatalogType::kRest ? "REST" : "SQL");
  return 0;
}

int RunHealth(const config::Config& cfg) {
  if (cfg.metrics_addr.empty()) {
    std::fprintf(stderr, "health: metrics_addr is empty, so there is no /healthz to ask\n");
    return 1;
  }
  std::string addr = cfg.metrics_addr;
  if (addr.rfind("0.0.0.0:", 0) == 0) addr = "127.0.0.1:" + addr.substr(8);
  catalog::HttpRequest req;
  req.url = "http://" + addr + "/healthz";
  req.timeout = std::chrono::seconds(5);
  auto resp = catalog::MakeCurlHttpClient({"metrics_addr", "pg2iceberg"})->Send(req);
  if (!resp.ok()) {
    std::fprintf(stderr, "health: %s\n", resp.status().ToString().c_str());
    return 1;
  }
  std::printf("%ld %s\n", resp->status, resp->body.c_str());
  return resp->status == 200 ? 0 : 1;
}

}  // namespace pg2iceberg::cli
