#include "upkeep/meta_tables.h"

#include "iceberg/commit_ops.h"
#include "iceberg/partitioned_writer.h"

namespace pg2iceberg::upkeep {
namespace {

using Columns = std::vector<std::pair<std::string, TypeId>>;

const Columns& CommitColumns() {
  static const Columns c = {{"recorded_at", TypeId::kTimestampTz}, {"pipeline", TypeId::kString},
                            {"source_table", TypeId::kString},     {"iceberg_table", TypeId::kString},
                            {"snapshot_id", TypeId::kLong},        {"log_offset", TypeId::kLong},
                            {"changes", TypeId::kLong},            {"rows_written", TypeId::kLong},
                            {"deletes_written", TypeId::kLong}};
  return c;
}

const Columns& CompactionColumns() {
  static const Columns c = {
      {"recorded_at", TypeId::kTimestampTz}, {"pipeline", TypeId::kString},
      {"source_table", TypeId::kString},     {"iceberg_table", TypeId::kString},
      {"trigger", TypeId::kString},          {"snapshot_id", TypeId::kLong},
      {"partitions", TypeId::kLong},         {"data_files_before", TypeId::kLong},
      {"data_files_after", TypeId::kLong},   {"delete_files_removed", TypeId::kLong},
      {"rows", TypeId::kLong},               {"bytes_before", TypeId::kLong},
      {"bytes_after", TypeId::kLong}};
  return c;
}

const Columns& MaintenanceColumns() {
  static const Columns c = {{"recorded_at", TypeId::kTimestampTz}, {"pipeline", TypeId::kString},
                            {"source_table", TypeId::kString},     {"iceberg_table", TypeId::kString},
                            {"expired_snapshots", TypeId::kLong},  {"deleted_files", TypeId::kLong},
                            {"deleted_orphans", TypeId::kLong},    {"orphan_bytes", TypeId::kLong}};
  return c;
}

const Columns& MarkerColumns() {
  static const Columns c = {{"recorded_at", TypeId::kTimestampTz}, {"pipeline", TypeId::kString},
                            {"marker_id", TypeId::kString},        {"source_lsn", TypeId::kString},
                            {"source_table", TypeId::kString},     {"iceberg_table", TypeId::kString},
                            {"snapshot_id", TypeId::kLong}};
  return c;
}

}  // namespace

CompactionRecord RecordOf(const CompactionResult& r, const std::string& table,
                          const std::string& iceberg_table, const std::string& trigger) {
  CompactionRecord c;
  c.table = table;
  c.iceberg_table = iceberg_table;
  c.trigger = trigger;
  c.snapshot_id = r.snapshot_id;
  c.partitions = r.partitions;
  c.data_files_before = r.data_files_read;
  c.data_files_after = r.data_files_written;
  c.delete_files_removed = r.delete_files_removed;
  c.rows = r.rows_written;
  c.bytes_before = r.bytes_read;
  c.bytes_after = r.bytes_written;
  return c;
}

MetaTables::MetaTables(catalog::Catalog* catalog, std::shared_ptr<io::FileIO> io, std::string ns,
                       std::string pipeline, Clock* clock)
    : catalog_(catalog), io_(std::move(io)), ns_(std::move(ns)), pipeline_(std::move(pipeline)),
      clock_(clock ? clock : Clock::Real()) {}

Status MetaTables::Append(const std::string& name, const Columns& columns,
                          std::vector<std::vector<Value>> rows) {
  if (rows.empty()) return Status::Ok();
  const catalog::TableIdent ident{{ns_}, name};
  auto loaded = catalog_->LoadTable(ident);
  if (!loaded.ok() && IsNotFound(loaded.status())) {
    PG2I_RETURN_IF_ERROR(catalog_->CreateNamespace({ns_}, {}));
    std::vector<iceberg::Field> fields;
    for (size_t i = 0; i < columns.size(); ++i) {
      fields.push_back(iceberg::Field{static_cast<int32_t>(i + 1), columns[i].first, i == 0,
                                      iceberg::DataType::Primitive(Type{columns[i].second}), "",
                                      {}, {}});
    }
    catalog::CreateTableRequest req;
    req.schema = iceberg::Schema(0, fields);
    req.properties = {{"pg2iceberg.meta-table", name}};
    loaded = catalog_->CreateTable(ident, req);
    if (!loaded.ok() && loaded.status().code() == StatusCode::kAlreadyExists) {
      loaded = catalog_->LoadTable(ident);  // another pipeline created it meanwhile
    }
  }
  if (!loaded.ok()) return loaded.status().WithContext("meta table " + ident.ToString());
  if (!loaded->metadata.properties.count("pg2iceberg.meta-table")) {
    return FailedPrecondition("Iceberg table " + ident.ToString() +
                              " exists but is not a pg2iceberg meta table (no property "
                              "pg2iceberg.meta-table); not writing into it. Set "
                              "sink.meta_namespace to a namespace of its own");
  }
  // Columns by name, so that a table an older version created (or one with more columns)
  // still takes the rows.
  const std::vector<iceberg::Field> fields = loaded->metadata.CurrentSchema()->fields();
  std::vector<int> position(fields.size(), -1);
  for (size_t f = 0; f < fields.size(); ++f) {
    for (size_t c = 0; c < columns.size(); ++c) {
      if (fields[f].name == columns[c].first) position[f] = static_cast<int>(c);
    }
  }
  std::vector<std::vector<Value>> shaped;
  for (auto& row : rows) {
    std::vector<Value> out(fields.size());
    for (size_t f = 0; f < fields.size(); ++f) {
      if (position[f] >= 0) out[f] = std::move(row[static_cast<size_t>(position[f])]);
    }
    shaped.push_back(std::move(out));
  }
  PG2I_ASSIGN_OR_RETURN(auto writer, iceberg::PartitionedWriter::MakeData(io_, loaded->metadata));
  PG2I_RETURN_IF_ERROR(writer->Write(shaped));
  PG2I_ASSIGN_OR_RETURN(std::vector<iceberg::DataFile> files, writer->Close());
  iceberg::AppendFiles producer(io_.get(), clock_, std::move(files));
  catalog::LoadedTable base = std::move(*loaded);
  for (int attempt = 0;; ++attempt) {
    PG2I_ASSIGN_OR_RETURN(iceberg::PendingSnapshot pending, producer.Produce(base.metadata));
    auto committed = catalog_->CommitTable({ident, pending.requirements, pending.updates});
    if (committed.ok()) return Status::Ok();
    if (committed.status().code() != StatusCode::kAborted || attempt >= 5) {
      return committed.status().WithContext("appending to meta table " + ident.ToString());
    }
    PG2I_ASSIGN_OR_RETURN(base, catalog_->LoadTable(ident));
  }
}

Status MetaTables::RecordCommits(const std::vector<CommitRecord>& rows) {
  AddCommits(rows);
  return FlushCommits(true);
}

void MetaTables::AddCommits(const std::vector<CommitRecord>& rows) {
  const Value now = TimestampTz{clock_->NowMillis() * 1000};
  if (pending_commits_.empty() && !rows.empty()) oldest_pending_ = clock_->Monotonic();
  for (const CommitRecord& r : rows) {
    pending_commits_.push_back({now, pipeline_, r.table, r.iceberg_table, r.snapshot_id,
                                r.log_offset, r.changes, r.rows_written, r.deletes_written});
  }
}

Status MetaTables::FlushCommits(bool force, Clock::Duration every) {
  if (pending_commits_.empty()) return Status::Ok();
  if (!force && clock_->Monotonic() - oldest_pending_ < every) return Status::Ok();
  std::vector<std::vector<Value>> rows = std::move(pending_commits_);
  pending_commits_.clear();
  return Append("commits", CommitColumns(), std::move(rows));
}

std::vector<catalog::TableIdent> MetaTableIdents(const std::string& ns) {
  return {{{ns}, "commits"}, {{ns}, "compactions"}, {{ns}, "maintenance"}, {{ns}, "markers"}};
}

Status MetaTables::RecordCompactions(const std::vector<CompactionRecord>& rows) {
  const Value now = TimestampTz{clock_->NowMillis() * 1000};
  std::vector<std::vector<Value>> out;
  for (const CompactionRecord& r : rows) {
    out.push_back({now, pipeline_, r.table, r.iceberg_table, r.trigger, r.snapshot_id,
                   r.partitions, r.data_files_before, r.data_files_after, r.delete_files_removed,
                   r.rows, r.bytes_before, r.bytes_after});
  }
  return Append("compactions", CompactionColumns(), std::move(out));
}

Status MetaTables::RecordMaintenance(const std::vector<MaintenanceRecord>& rows) {
  const Value now = TimestampTz{clock_->NowMillis() * 1000};
  std::vector<std::vector<Value>> out;
  for (const MaintenanceRecord& r : rows) {
    out.push_back({now, pipeline_, r.table, r.iceberg_table, r.expired_snapshots, r.deleted_files,
                   r.deleted_orphans, r.orphan_bytes});
  }
  return Append("maintenance", MaintenanceColumns(), std::move(out));
}

Status MetaTables::RecordMarkers(const std::vector<MarkerRecord>& rows) {
  const Value now = TimestampTz{clock_->NowMillis() * 1000};
  std::vector<std::vector<Value>> out;
  for (const MarkerRecord& r : rows) {
    out.push_back({now, pipeline_, r.marker_id, r.lsn, r.table, r.iceberg_table,
                   r.snapshot_id < 0 ? Value() : Value(r.snapshot_id)});
  }
  return Append("markers", MarkerColumns(), std::move(out));
}

}  // namespace pg2iceberg::upkeep
