// The embedded default catalog: Iceberg's JDBC catalog schema in PostgreSQL
// (`iceberg_tables`, `iceberg_namespace_properties` in schema `sink.catalog_schema`), so Spark,
// Trino, PyIceberg and Iceberg Java can open the same tables as a JDBC/SQL catalog.
//
// A commit writes a new metadata file (<location>/metadata/NNNNN-<uuid>.metadata.json) and
// swaps `metadata_location` with a compare-and-swap UPDATE on the previous location: zero rows
// updated means someone else committed first (kAborted) and the new file is deleted. A lost
// connection during the UPDATE leaves the outcome unknown (kCommitStateUnknown; the file is
// kept, since it may now be the table's metadata). Multi-table commits run in one PostgreSQL
// transaction. Not thread-safe (owns one connection).
#pragma once

#include <memory>
#include <string>

#include "base/clock.h"
#include "catalog/catalog.h"
#include "io/file_io.h"
#include "pg/connection.h"

namespace pg2iceberg::catalog {

struct SqlCatalogOptions {
  std::string catalog_name = "pg2iceberg";
  std::string schema = "iceberg";  // PostgreSQL schema of the catalog tables
  std::string warehouse;           // root of table locations: file:///… or s3://…
};

class SqlCatalog final : public Catalog {
 public:
  // Creates the catalog tables if missing (idempotent).
  static Result<std::unique_ptr<SqlCatalog>> Open(std::unique_ptr<pg::Connection> conn,
                                                  std::shared_ptr<io::FileIO> io,
                                                  SqlCatalogOptions options,
                                                  Clock* clock = nullptr);

  Status CreateNamespace(const std::vector<std::string>& ns,
                         const std::map<std::string, std::string>& properties) override;
  Result<bool> NamespaceExists(const std::vector<std::string>& ns) override;
  Result<LoadedTable> LoadTable(const TableIdent& ident) override;
  Result<LoadedTable> CreateTable(const TableIdent& ident,
                                  const CreateTableRequest& request) override;
  Result<LoadedTable> CommitTable(const TableCommit& commit) override;
  Status CommitTransaction(const std::vector<TableCommit>& commits) override;
  Status DropTable(const TableIdent& ident, bool purge) override;
  std::string kind() const override { return "sql"; }

 private:
  SqlCatalog(std::unique_ptr<pg::Connection> conn, std::shared_ptr<io::FileIO> io,
             SqlCatalogOptions options, Clock* clock);
  std::string T(const char* table) const;
  Result<std::optional<std::string>> CurrentLocation(const TableIdent& ident);
  // Applies `commit` to the current metadata and writes the new metadata file; returns
  // (previous location, new location, new metadata).
  struct Prepared {
    TableIdent ident;
    std::string previous;
    std::string location;
    iceberg::TableMetadata metadata;
  };
  Result<Prepared> Prepare(const TableCommit& commit);
  Result<std::string> WriteMetadata(const iceberg::TableMetadata& m,
                                    const std::string& previous_location);

  std::unique_ptr<pg::Connection> conn_;
  std::shared_ptr<io::FileIO> io_;
  SqlCatalogOptions options_;
  Clock* clock_;
};

// "ns1.ns2" as Iceberg's JDBC catalog stores a namespace.
std::string JoinNamespace(const std::vector<std::string>& ns);

}  // namespace pg2iceberg::catalog
