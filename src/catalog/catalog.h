// Iceberg catalogs behind one interface, with operations named as in the REST catalog spec.
//
// A commit is data (iceberg-cpp's table_requirement idea): the requirements it asserts (for
// pg2iceberg mostly "main still points at the snapshot I built on") and the updates to apply.
// The catalog checks the requirements atomically with the swap. Error codes:
//   kNotFound            no such table / namespace
//   kAlreadyExists       create of an existing table
//   kAborted             a requirement failed (someone else committed): reload and retry
//   kCommitStateUnknown  the commit may or may not have happened: read the table back before
//                        any retry or cleanup
//   kUnavailable         transient; retry the call
// Implementations are not thread-safe; use one per thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "iceberg/metadata.h"
#include "iceberg/metadata_edit.h"

namespace pg2iceberg::catalog {

struct TableIdent {
  std::vector<std::string> ns;  // namespace levels
  std::string name;
  std::string ToString() const;  // "ns1.ns2.name"
  bool operator==(const TableIdent&) const = default;
};

struct LoadedTable {
  std::string metadata_location;
  iceberg::TableMetadata metadata;
  // Table-level configuration returned by the catalog, e.g. vended S3 credentials
  // (s3.access-key-id, s3.secret-access-key, s3.session-token) or s3.endpoint.
  std::map<std::string, std::string> config;
};

struct CreateTableRequest {
  iceberg::Schema schema;                 // field ids are (re)assigned by the catalog
  iceberg::PartitionSpec spec;            // source ids refer to `schema`
  std::map<std::string, std::string> properties;
  std::string location;                   // empty: <warehouse>/<ns>/<name>
};

struct TableCommit {
  TableIdent ident;
  std::vector<iceberg::TableRequirement> requirements;
  std::vector<iceberg::TableUpdate> updates;
};

class Catalog {
 public:
  virtual ~Catalog() = default;

  // Creating an existing namespace is not an error.
  virtual Status CreateNamespace(const std::vector<std::string>& ns,
                                 const std::map<std::string, std::string>& properties) = 0;
  virtual Result<bool> NamespaceExists(const std::vector<std::string>& ns) = 0;

  virtual Result<LoadedTable> LoadTable(const TableIdent& ident) = 0;
  virtual Result<LoadedTable> CreateTable(const TableIdent& ident,
                                          const CreateTableRequest& request) = 0;
  virtual Result<LoadedTable> CommitTable(const TableCommit& commit) = 0;
  // All commits or none; Unimplemented when the catalog offers no multi-table transaction.
  virtual Status CommitTransaction(const std::vector<TableCommit>& commits) = 0;
  virtual Status DropTable(const TableIdent& ident, bool purge) = 0;

  // "sql" or "rest", for messages.
  virtual std::string kind() const = 0;
};

}  // namespace pg2iceberg::catalog
