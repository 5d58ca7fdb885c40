// The initial snapshot: copies tables as of one PostgreSQL snapshot into staged files, in
// CTID-range chunks of `chunk_pages` heap pages, `concurrency` chunks at a time.
//
// Every worker imports the same snapshot (`SET TRANSACTION SNAPSHOT`): the slot's exported
// snapshot on first start, else one exported here by a REPEATABLE READ transaction. Rows are
// staged as inserts; each chunk's files are registered together with the chunk's progress row
// in one coordinator transaction (ClaimSnapshotChunk), so after a crash finished chunks are
// skipped and unfinished ones are redone from scratch. When a table's last chunk is in, the
// table is marked complete (CompleteSnapshot), which releases its deferred CDC files behind
// the snapshot rows: a change is never overwritten by an older snapshot row.
//
// Resumed chunks read a newer snapshot than finished ones; that is harmless (except for
// unchanged TOAST values after a key change: a known issue, docs/snapshot.md) because the
// change stream from the slot's position re-applies every change after it, by primary key
// (DESIGN.md §4 rule 4).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/types.h"
#include "config/config.h"
#include "coord/coordinator.h"
#include "io/file_io.h"
#include "pg/connection.h"
#include "stage/staged_file.h"

namespace pg2iceberg::snapshot {

struct SnapshotTable {
  config::TableName name;
  stage::StagedRelation relation;  // the columns copied, in staged order
};

// Per-table progress; rows/bytes done against the estimate from pg_class.
struct TableProgress {
  std::string table;
  int64_t rows_done = 0;
  int64_t bytes_done = 0;       // text bytes received from PostgreSQL
  int64_t pages_done = 0;
  int64_t rows_estimate = 0;    // reltuples (0 when never analyzed)
  int64_t pages_total = 0;
  int64_t chunks_done = 0;
  int64_t chunks_total = 0;
  bool complete = false;
};

struct SnapshotOptions {
  std::function<Result<std::unique_ptr<pg::Connection>>()> connect;
  std::function<Result<std::unique_ptr<coord::Coordinator>>()> coordinator;
  std::shared_ptr<io::FileIO> io;
  std::string staging_uri;        // directory; files go to <dir>/<table>/snapshot-<uuid>.parquet
  int concurrency = 2;
  int64_t chunk_pages = 2048;
  int64_t batch_rows = 10'000;    // rows per staged file
  std::string snapshot_name;      // exported snapshot to import; empty: export one here
  Lsn label;                      // commit LSN recorded for the snapshot (status, logs)
  // Called about once a second (terminal) with every table's progress; may be empty.
  std::function<void(const std::vector<TableProgress>&, bool final)> on_progress;
  const std::atomic<bool>* stop = nullptr;  // graceful stop between batches
};

struct SnapshotResult {
  std::vector<TableProgress> tables;
  double seconds = 0;
};

// Copies `tables` (those not yet complete in the coordinator), resuming finished chunks.
Result<SnapshotResult> RunSnapshot(const std::vector<SnapshotTable>& tables,
                                   const SnapshotOptions& options);

// One line per table for a terminal or a log: "public.t 1200000/5000000 rows (24%) 80/330 MB".
std::string FormatProgress(const TableProgress& p);

}  // namespace pg2iceberg::snapshot
