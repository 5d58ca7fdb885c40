// The coordinator: pg2iceberg's durable state in PostgreSQL (schema
// `state.coordinator_schema`, default `_pg2iceberg`, table names as upstream). It is the
// hand-off between the WAL writer and the materializers and the memory of the pipeline:
//
//   log_seq, log_index   staged files, each covering a contiguous range of per-table offsets;
//                        ClaimOffsets() assigns the ranges and inserts the index rows in ONE
//                        transaction per flush (durability rule 1)
//   flushed_lsn          the LSN about to be confirmed to the slot, written before every
//                        standby update (rule 2), and with each claim of the WAL writer's
//                        files (the transactions up to it are staged)
//   mat_cursor           per consumer group and table: the last offset materialized and the
//                        Iceberg snapshot that contains it (rule 3)
//   consumer             materializer heartbeats, per group and worker
//   owner                the process that owns the pipeline (see owner.h): host, pid,
//                        command, heartbeat, and the error it stopped with
//   pipeline_meta        system identifier, slot, schema version
//   tables               per-table oid and snapshot state
//   snapshot_progress    finished initial-snapshot chunks
//   log_deferred         staged CDC files of a table whose initial snapshot is not complete
//                        yet: they get offsets (after every snapshot file) when it completes,
//                        so older snapshot rows are never applied over newer changes
//   query_watermarks, pending_markers, marker_emissions   query mode and markers
//
// Writes happen per flush or per tick, never per replicated message. Implementations must be
// safe to call from one thread at a time per instance; create one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "base/types.h"
#include "io/object_names.h"

namespace pg2iceberg::coord {

// A staged file about to be registered: which table, how many changes, what LSNs.
struct StagedFile {
  std::string table;  // "schema.table" as configured
  std::string uri;    // object URI of the staged Parquet file
  int64_t rows = 0;   // changes in the file; the offsets it gets are [start, start + rows)
  int64_t bytes = 0;
  Lsn min_commit_lsn;
  Lsn max_commit_lsn;
  // What it holds (recorded with its log entry): rows of a copy (ClaimSnapshotChunk, never
  // deferred) or changes (deferred while the table's copy is incomplete, see log_deferred).
  io::StagedKind kind = io::StagedKind::kChanges;
};

struct LogEntry {
  std::string table;
  int64_t start_offset = 0;  // inclusive
  int64_t end_offset = 0;    // exclusive
  std::string uri;
  int64_t rows = 0;
  int64_t bytes = 0;
  Lsn min_commit_lsn;
  Lsn max_commit_lsn;
  io::StagedKind kind = io::StagedKind::kChanges;
  bool operator==(const LogEntry&) const = default;

  // The entry of a staged file, before it is given its offsets.
  static LogEntry Of(const StagedFile& f) {
    LogEntry e;
    e.table = f.table;
    e.uri = f.uri;
    e.rows = f.rows;
    e.bytes = f.bytes;
    e.min_commit_lsn = f.min_commit_lsn;
    e.max_commit_lsn = f.max_commit_lsn;
    e.kind = f.kind;
    return e;
  }
};

struct Cursor {
  int64_t offset = 0;          // every change below this offset is materialized
  int64_t snapshot_id = -1;    // the Iceberg snapshot holding them (-1: none yet)
};

// A finished CTID-range chunk of a table's initial snapshot. Pages [start, end) of one heap
// (for a partitioned table: `part` indexes its leaf partitions in name order); end < 0 means
// "to the end of the heap" (the last chunk). `lsn`: the LSN the copy's snapshot is exact at
// (chunks of different snapshots never make one copy; 0/0 for chunks of older versions).
struct SnapshotChunk {
  std::string table;
  int64_t part = 0;
  int64_t start = 0;
  int64_t end = -1;
  int64_t rows = 0;
  Lsn lsn;
  bool operator==(const SnapshotChunk&) const = default;
};

// A marker (source.markers_table): a row inserted on the source, recorded with the log offset
// of every copied table at its commit, so that the snapshot holding exactly the changes
// committed before it can be named per table (`snapshot_id` once the materializer did).
struct MarkerEmission {
  std::string marker_id;
  Lsn commit_lsn;
  std::string table;
  int64_t log_offset = 0;     // every change of `table` committed before the marker is below
  int64_t snapshot_id = -1;   // -1 while pending (or when the table had no Iceberg table)
  bool emitted = false;
  bool recorded = false;      // appended to the meta table `markers`
  bool operator==(const MarkerEmission&) const = default;
};

// What a claim of the WAL writer's files records with them: the slot position they stage
// through (empty slot: none), and pipeline_meta rows to write.
struct StagedThrough {
  std::string slot;
  Lsn lsn;
  std::map<std::string, std::string> meta;
};

// A worker's heartbeat row (PgCoordinator::Workers).
struct WorkerInfo {
  std::string id;
  std::string host;
  int64_t pid = 0;
  double heartbeat_age_seconds = 0;
  std::string started_at;  // ISO 8601 UTC
  std::chrono::seconds ttl{30};  // the worker's --worker-ttl
};

struct TableState {
  std::string table;
  uint32_t relid = 0;
  bool snapshot_complete = false;
  Lsn snapshot_lsn;
};

class Coordinator {
 public:
  virtual ~Coordinator() = default;

  // Creates the schema and tables if missing, adds missing columns; idempotent.
  virtual Status Migrate() = 0;

  // Assigns each file its offset range and inserts its log_index row, all in one
  // transaction. On error nothing was registered (the caller may retry with the same files:
  // staged objects have unique names). Entries come back in input order. A CDC file of a
  // table whose snapshot is not complete is deferred instead (its entry has offsets -1).
  // With `staged.slot` set, the same transaction records staged.lsn as the slot's flushed LSN
  // (never moving it back): the WAL writer's files hold every change of the transactions
  // that end at or before it, so a process that receives one of them again (it crashed before
  // the slot heard of the claim) knows its rows are in the log already. staged.meta rows are
  // set (SetMeta) in the same transaction.
  virtual Result<std::vector<LogEntry>> ClaimOffsets(const std::vector<StagedFile>& files,
                                                     const StagedThrough& staged) = 0;
  Result<std::vector<LogEntry>> ClaimOffsets(const std::vector<StagedFile>& files) {
    return ClaimOffsets(files, StagedThrough{});
  }

  // Registers the staged files of one snapshot chunk and records the chunk as done, in one
  // transaction: a chunk is either fully registered or redone.
  virtual Result<std::vector<LogEntry>> ClaimSnapshotChunk(const std::vector<StagedFile>& files,
                                                           const SnapshotChunk& chunk) = 0;
  // The finished chunks of `table`.
  virtual Result<std::vector<SnapshotChunk>> SnapshotChunks(const std::string& table) = 0;
  // Marks `table`'s snapshot complete and gives its deferred CDC files offsets (in the order
  // they were staged), in one transaction; from then on its CDC files get offsets directly.
  virtual Status CompleteSnapshot(const std::string& table, Lsn snapshot_lsn) = 0;
  // Forgets `table`'s finished chunks (a table tracked anew is copied from scratch).
  virtual Status ForgetSnapshotProgress(const std::string& table) = 0;
  // Resync: in one transaction, marks a copied table's snapshot incomplete again (its CDC
  // files are deferred from now on and its copy is redone) and records in pipeline_meta
  // `resync_offset:<table>` the log offset the new copy starts at, where the materializer
  // replaces the table's content. Returns that offset. FailedPrecondition when the table's
  // copy is not complete (never copied, or being copied).
  virtual Result<int64_t> RequestResync(const std::string& table) = 0;
  // Starts an incomplete copy of `table` over, in one transaction: the CDC files deferred
  // behind it get offsets now (they predate the new copy, which replaces them), its finished
  // chunks are forgotten, and `resync_offset:<table>` becomes the offset after them, where the
  // new copy starts. Only while no copy of the table runs. Returns that offset.
  virtual Result<int64_t> RestartCopy(const std::string& table) = 0;
  // Deferred CDC files waiting for `table`'s snapshot.
  virtual Result<int64_t> DeferredFiles(const std::string& table) = 0;
  // Every staged file the log or the deferred log still references (any table). A staged file
  // outside this set, older than any upload in flight, is an orphan (docs/staging.md).
  virtual Result<std::set<std::string>> ReferencedUris() = 0;

  // Entries of `table` whose end is past `after_offset`, in offset order, at most `limit`.
  virtual Result<std::vector<LogEntry>> ReadLog(const std::string& table, int64_t after_offset,
                                                int limit) = 0;
  // The next offset ClaimOffsets would assign for `table` (0 when none yet).
  virtual Result<int64_t> NextOffset(const std::string& table) = 0;

  virtual Status RecordFlushedLsn(const std::string& slot, Lsn lsn) = 0;
  virtual Result<std::optional<Lsn>> FlushedLsn(const std::string& slot) = 0;

  virtual Result<Cursor> GetCursor(const std::string& group, const std::string& table) = 0;
  // Moves the cursor forward only (a smaller offset is ignored, so a replay is harmless).
  virtual Status SetCursor(const std::string& group, const std::string& table,
                           const Cursor& cursor) = 0;
  // The smallest cursor of `table` over every group (what garbage collection may drop).
  virtual Result<std::optional<int64_t>> MinCursor(const std::string& table) = 0;
  // Removes log_index rows of `table` that end at or below `offset` and returns them, so the
  // caller can delete their staged files.
  virtual Result<std::vector<LogEntry>> TrimLog(const std::string& table, int64_t offset) = 0;

  virtual Status Heartbeat(const std::string& group, const std::string& worker) = 0;
  // Workers of `group` whose last heartbeat is younger than `ttl`, sorted.
  virtual Result<std::vector<std::string>> LiveWorkers(const std::string& group,
                                                       std::chrono::seconds ttl) = 0;
  virtual Status RemoveWorker(const std::string& group, const std::string& worker) = 0;

  // Commit turns, for liveness only (Iceberg commits stay optimistic and fenced): the writers
  // of one Iceberg table `ident` (the materializer lanes and workers, compaction, `compact`)
  // take turns at committing, so that a slow committer (a compaction's replace, which reads
  // and writes more per attempt) is not beaten every time by one that commits continuously.
  // Waits at most `wait` for the turn; false when it did not come (the caller commits anyway).
  // Without an implementation there are no turns.
  virtual Result<bool> TakeCommitTurn(const std::string& ident, Clock::Duration wait) {
    (void)ident;
    (void)wait;
    return true;
  }
  virtual Status EndCommitTurn(const std::string& ident) {
    (void)ident;
    return Status::Ok();
  }

  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Status SetMeta(const std::string& key, const std::string& value) = 0;

  virtual Result<std::optional<TableState>> GetTable(const std::string& table) = 0;
  virtual Status PutTable(const TableState& state) = 0;

  // Records marker `marker_id`, committed at `commit_lsn`, in one transaction: pending for each
  // of `tables` whose copy is complete, at its next log offset (everything staged so far is
  // below it). Idempotent (the same marker again changes nothing); returns the LSN the marker
  // was first recorded at, which differs when the id was used before.
  virtual Result<Lsn> RecordMarker(const std::string& marker_id, Lsn commit_lsn,
                                   const std::vector<std::string>& tables) = 0;
  // `table`'s markers not yet emitted, by offset.
  virtual Result<std::vector<MarkerEmission>> PendingMarkers(const std::string& table) = 0;
  // The snapshot of `table` that holds exactly what was committed before the marker.
  virtual Status EmitMarker(const std::string& marker_id, const std::string& table,
                            int64_t snapshot_id) = 0;
  // Every marker's rows, newest marker first, at most `limit` markers.
  virtual Result<std::vector<MarkerEmission>> Markers(int limit) = 0;
  // Emitted rows not yet appended to the meta table `markers` (at most `limit`, oldest first),
  // and marking them appended: so that a crash in between repeats the append (at least once).
  virtual Result<std::vector<MarkerEmission>> UnrecordedMarkers(int limit) = 0;
  virtual Status MarkersRecorded(const std::vector<MarkerEmission>& rows) = 0;
};

// Coordinator meta "redo_copy:<table>" = "1": the table changed while a copy of it may have been
// running in the pipeline's process. That copy is stale even if it completes; the pipeline's
// next start copies the table again and sets the key to "".
inline std::string RedoCopyKey(const std::string& table) { return "redo_copy:" + table; }

// Whether `table`'s copy is to be redone (a complete copy it has is stale).
inline Result<bool> CopyToRedo(Coordinator& coord, const std::string& table) {
  PG2I_ASSIGN_OR_RETURN(std::optional<std::string> redo, coord.GetMeta(RedoCopyKey(table)));
  return redo && !redo->empty();
}

}  // namespace pg2iceberg::coord
