#include "catalog/memory_catalog.h"

#include "iceberg/metadata_edit.h"
#include "io/file_io.h"

namespace pg2iceberg::catalog {

MemoryCatalog::MemoryCatalog(std::string warehouse, Clock* clock)
    : warehouse_(std::move(warehouse)), clock_(clock ? clock : Clock::Real()) {
  while (!warehouse_.empty() && warehouse_.back() == '/') warehouse_.pop_back();
}

Status MemoryCatalog::CreateNamespace(const std::vector<std::string>& ns,
                                      const std::map<std::string, std::string>&) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  namespaces_.insert(ns);
  return Status::Ok();
}

Result<bool> MemoryCatalog::NamespaceExists(const std::vector<std::string>& ns) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  return namespaces_.count(ns) > 0;
}

Result<LoadedTable> MemoryCatalog::LoadTable(const TableIdent& ident) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto it = tables_.find(ident.ToString());
  if (it == tables_.end()) return NotFound("table " + ident.ToString() + " does not exist");
  return it->second;
}

Result<LoadedTable> MemoryCatalog::CreateTable(const TableIdent& ident,
                                               const CreateTableRequest& request) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (tables_.count(ident.ToString())) {
    return AlreadyExists("table " + ident.ToString() + " already exists");
  }
  std::string location = request.location;
  if (location.empty()) {
    location = warehouse_;
    for (const auto& level : ident.ns) location += "/" + io::PathSegment(level);
    location += "/" + io::PathSegment(ident.name);
  }
  PG2I_ASSIGN_OR_RETURN(iceberg::TableMetadata m,
                        iceberg::NewTableMetadata(location, request.schema, request.spec,
                                                  request.properties, io::NewUniqueName(),
                                                  clock_->NowMillis()));
  LoadedTable t;
  t.metadata = std::move(m);
  t.metadata_location = iceberg::NewMetadataFileUri(location, 0);
  tables_[ident.ToString()] = t;
  return t;
}

Result<LoadedTable> MemoryCatalog::CommitTable(const TableCommit& commit) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (before_commit) before_commit(commit);
  auto it = tables_.find(commit.ident.ToString());
  if (it == tables_.end()) return NotFound("table " + commit.ident.ToString() + " does not exist");
  PG2I_RETURN_IF_ERROR(iceberg::CheckRequirements(&it->second.metadata, commit.requirements));
  iceberg::TableMetadata next = it->second.metadata;
  PG2I_RETURN_IF_ERROR(iceberg::ApplyUpdates(&next, commit.updates, clock_->NowMillis()));
  ++commits_;
  it->second.metadata = std::move(next);
  it->second.metadata_location = iceberg::NewMetadataFileUri(
      it->second.metadata.location,
      iceberg::MetadataFileVersion(it->second.metadata_location) + 1);
  return it->second;
}

Status MemoryCatalog::CommitTransaction(const std::vector<TableCommit>& commits) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  // All or none: on the first failure the tables are as before.
  const auto tables = tables_;
  const int commits_before = commits_;
  for (const TableCommit& c : commits) {
    auto r = CommitTable(c);
    if (!r.ok()) {
      tables_ = tables;
      commits_ = commits_before;
      return r.status();
    }
  }
  return Status::Ok();
}

Status MemoryCatalog::DropTable(const TableIdent& ident, bool) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  if (tables_.erase(ident.ToString()) == 0) {
    return NotFound("table " + ident.ToString() + " does not exist");
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::catalog
