// The initial snapshot: copies tables as of one PostgreSQL snapshot into staged files, in
// CTID-range chunks of `chunk_pages` heap pages, `concurrency` chunks at a time.
//
// Every worker imports the same snapshot (`SET TRANSACTION SNAPSHOT`): the slot's exported
// snapshot on first start, else the snapshot of a temporary replication slot created here.
// Either is exact at a known LSN: every transaction that committed before it is in the copy,
// none after. Rows are staged as inserts; each chunk's files are registered together with the
// chunk's progress row in one coordinator transaction (ClaimSnapshotChunk). When a table's
// last chunk is in, the table is marked complete with that LSN (CompleteSnapshot), which
// releases its deferred CDC files behind the snapshot rows; the materializer skips the
// changes committed before that LSN, which the copy holds already (docs/snapshot.md).
//
// A copy is made under one snapshot: chunks finished under an earlier snapshot (a copy that a
// crash or a stop interrupted) are not combined with a newer one's, because replaying changes
// over rows of a newer snapshot loses unchanged TOAST values. Such a copy starts over
// (ResumeCopy).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/types.h"
#include "config/config.h"
#include "coord/coordinator.h"
#include "io/file_io.h"
#include "pg/connection.h"
#include "pg/replication.h"
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
  // A worker also stages its rows once they take this much memory (stage::MemoryBytes), so
  // wide rows do not hold batch_rows of them; 0: no bound but batch_rows.
  int64_t batch_bytes = 0;
  // The snapshot to import (the slot's, on first start) and the LSN it is exact at. Empty:
  // a temporary replication slot opened with `replication` exports one.
  std::string snapshot_name;
  Lsn snapshot_lsn;
  std::function<Result<std::unique_ptr<pg::ReplicationConnection>>()> replication;
  // Called about once a second (terminal) with every table's progress; may be empty.
  std::function<void(const std::vector<TableProgress>&, bool final)> on_progress;
  const std::atomic<bool>* stop = nullptr;  // graceful stop between batches
};

struct SnapshotResult {
  std::vector<TableProgress> tables;
  double seconds = 0;
};

// Copies `tables` (those not yet complete in the coordinator), keeping the chunks finished
// under the same snapshot (ResumeCopy).
Result<SnapshotResult> RunSnapshot(const std::vector<SnapshotTable>& tables,
                                   const SnapshotOptions& options);

// What a copy of `table` keeps of its finished chunks. `snapshot`: the LSN the copy's snapshot
// is exact at, or nullopt for a snapshot not taken yet (a new one: no chunk can be of it).
// Chunks of one snapshot that make the whole table (`whole`; only the completion mark was
// lost) mark the table complete at their LSN. Otherwise chunks of `snapshot` are kept, and
// chunks of any other snapshot make the copy start over (Coordinator::RestartCopy: the new
// copy replaces what the old one brought and the changes deferred behind it).
struct Resumed {
  std::vector<coord::SnapshotChunk> chunks;  // kept
  bool complete = false;                     // marked complete here
};
Result<Resumed> ResumeCopy(coord::Coordinator& coord, const std::string& table,
                           std::optional<Lsn> snapshot,
                           const std::function<bool(const std::vector<coord::SnapshotChunk>&)>& whole);

// A name for a temporary replication slot: `prefix` and a random suffix, at most 63
// characters of [a-z0-9_].
std::string TemporarySlotName(const std::string& prefix);

// One line per table for a terminal or a log: "public.t 1200000/5000000 rows (24%) 80/330 MB".
std::string FormatProgress(const TableProgress& p);

}  // namespace pg2iceberg::snapshot
