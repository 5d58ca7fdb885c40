// A Catalog that forwards every call to another one: the base of test doubles that change a
// call or two (a hook before a commit, injected faults) and keep the rest.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "catalog/catalog.h"

namespace pg2iceberg::catalog {

class ForwardingCatalog : public Catalog {
 public:
  // `inner` must outlive this object.
  explicit ForwardingCatalog(Catalog* inner) : inner_(inner) {}

  Status CreateNamespace(const std::vector<std::string>& ns,
                         const std::map<std::string, std::string>& properties) override {
    return inner_->CreateNamespace(ns, properties);
  }
  Result<bool> NamespaceExists(const std::vector<std::string>& ns) override {
    return inner_->NamespaceExists(ns);
  }
  Result<LoadedTable> LoadTable(const TableIdent& ident) override {
    return inner_->LoadTable(ident);
  }
  Result<LoadedTable> CreateTable(const TableIdent& ident,
                                  const CreateTableRequest& request) override {
    return inner_->CreateTable(ident, request);
  }
  Result<LoadedTable> CommitTable(const TableCommit& commit) override {
    return inner_->CommitTable(commit);
  }
  Status CommitTransaction(const std::vector<TableCommit>& commits) override {
    return inner_->CommitTransaction(commits);
  }
  Status DropTable(const TableIdent& ident, bool purge) override {
    return inner_->DropTable(ident, purge);
  }
  std::string kind() const override { return inner_->kind(); }

 protected:
  Catalog* inner() const { return inner_; }

 private:
  Catalog* inner_;
};

}  // namespace pg2iceberg::catalog
