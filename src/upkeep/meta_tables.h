// Meta tables (sink.meta_namespace): Iceberg tables that record what pg2iceberg did, for
// operators to query next to the data: `commits` (one row per table and materializer commit),
// `compactions`, `maintenance` and `markers` (source.logical.markers_table). Each table is created on first use; a batch of rows is
// one append commit. Recording is best effort by design: a failure is returned for the caller
// to log and never undoes or delays the data commit it describes. Not thread-safe: one
// instance per thread (its Catalog is not thread-safe either).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "io/file_io.h"
#include "upkeep/compactor.h"

namespace pg2iceberg::upkeep {

struct CommitRecord {
  std::string table;          // the configured source table (schema.table)
  std::string iceberg_table;  // namespace.name
  int64_t snapshot_id = -1;
  int64_t log_offset = 0;     // the table's cursor after the commit
  int64_t changes = 0;
  int64_t rows_written = 0;
  int64_t deletes_written = 0;
};

struct CompactionRecord {
  std::string table, iceberg_table;
  std::string trigger;  // "background" or "compact"
  int64_t snapshot_id = -1;
  int64_t partitions = 0, data_files_before = 0, data_files_after = 0, delete_files_removed = 0;
  int64_t rows = 0, bytes_before = 0, bytes_after = 0;
};

struct MaintenanceRecord {
  std::string table, iceberg_table;
  int64_t expired_snapshots = 0, deleted_files = 0, deleted_orphans = 0, orphan_bytes = 0;
};

struct MarkerRecord {
  std::string marker_id;
  std::string lsn;  // the marker's commit LSN on the source
  std::string table, iceberg_table;
  int64_t snapshot_id = -1;  // holds exactly what was committed before the marker (-1: none)
};

// The `compactions` row of a compaction's result.
CompactionRecord RecordOf(const CompactionResult& r, const std::string& table,
                          const std::string& iceberg_table, const std::string& trigger);

class MetaTables {
 public:
  // `ns` must not be empty. `pipeline` names the pipeline in every row (its coordinator
  // schema), so that several pipelines can share one meta namespace.
  MetaTables(catalog::Catalog* catalog, std::shared_ptr<io::FileIO> io, std::string ns,
             std::string pipeline, Clock* clock = nullptr);

  Status RecordCommits(const std::vector<CommitRecord>& rows);
  // Buffered: rows wait until the oldest is `every` old (or `force`), then go in one append,
  // so that the meta table gets one commit per interval rather than one per data commit.
  // Rows still buffered when the process dies are not recorded.
  void AddCommits(const std::vector<CommitRecord>& rows);
  Status FlushCommits(bool force, Clock::Duration every = std::chrono::seconds(60));
  Status RecordCompactions(const std::vector<CompactionRecord>& rows);
  Status RecordMaintenance(const std::vector<MaintenanceRecord>& rows);
  Status RecordMarkers(const std::vector<MarkerRecord>& rows);

 private:
  Status Append(const std::string& name, const std::vector<std::pair<std::string, TypeId>>& columns,
                std::vector<std::vector<Value>> rows);

  catalog::Catalog* catalog_;
  std::shared_ptr<io::FileIO> io_;
  std::string ns_;
  std::string pipeline_;
  Clock* clock_;
  std::vector<std::vector<Value>> pending_commits_;
  Clock::MonoTime oldest_pending_{};
};

// The meta tables of `ns` (commits, compactions, maintenance, markers), for upkeep of their
// own.
std::vector<catalog::TableIdent> MetaTableIdents(const std::string& ns);

}  // namespace pg2iceberg::upkeep
