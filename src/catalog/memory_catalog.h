// An in-memory Catalog for unit tests: tables live in a map, commits check their
// requirements and apply their updates exactly as the SQL catalog does (CheckRequirements,
// ApplyUpdates), metadata files are named but not written. `before_commit` runs at the start
// of every CommitTable, so a test can land a concurrent commit between a writer's load and
// its commit. Calls are serialised (a recursive mutex: `before_commit` may call back), so a
// test may read the catalog while a service commits from another thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "catalog/catalog.h"

namespace pg2iceberg::catalog {

class MemoryCatalog final : public Catalog {
 public:
  // Tables are created at <warehouse>/<namespace>/<name>. `clock` (null: the real one) stamps
  // last-updated-ms.
  explicit MemoryCatalog(std::string warehouse, Clock* clock = nullptr);

  Status CreateNamespace(const std::vector<std::string>& ns,
                         const std::map<std::string, std::string>& properties) override;
  Result<bool> NamespaceExists(const std::vector<std::string>& ns) override;
  Result<LoadedTable> LoadTable(const TableIdent& ident) override;
  Result<LoadedTable> CreateTable(const TableIdent& ident,
                                  const CreateTableRequest& request) override;
  Result<LoadedTable> CommitTable(const TableCommit& commit) override;
  Status CommitTransaction(const std::vector<TableCommit>& commits) override;
  Status DropTable(const TableIdent& ident, bool purge) override;
  std::string kind() const override { return "memory"; }

  std::function<void(const TableCommit&)> before_commit;
  int commits() const {
    std::lock_guard<std::recursive_mutex> lock(mu_);
    return commits_;
  }

 private:
  mutable std::recursive_mutex mu_;
  std::string warehouse_;
  Clock* clock_;
  std::set<std::vector<std::string>> namespaces_;
  std::map<std::string, LoadedTable> tables_;  // by TableIdent::ToString()
  int commits_ = 0;
};

}  // namespace pg2iceberg::catalog
