// The materializer: per table per cycle, read the log past the group's cursor, fold by primary
// key, resolve unchanged TOAST from the live table, write data files and equality deletes,
// commit one Iceberg snapshot, and only then advance the cursor (durability rule 3). A commit
// whose outcome is unknown is resolved by reading the table back: every snapshot records the
// log offset it covers (summary key "pg2iceberg.offset.<group>"), so a replay after a crash
// skips what is already in Iceberg, and a replay that does happen is harmless (rule 4).
//
// Tables are created on first use from the staged relation (identifier fields = primary key);
// new columns and widened types are applied as schema evolution. Partitioned tables carry a
// second, unpartitioned spec for equality deletes, which then apply to every partition (an
// update may move a row between partitions). Staged files below every group's cursor are
// garbage-collected (rule 7). Not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "catalog/catalog.h"
#include "config/config.h"
#include "coord/coordinator.h"
#include "fold/fold.h"
#include "index/key_index.h"
#include "iceberg/parquet_io.h"
#include "iceberg/snapshot_producer.h"
#include "io/file_io.h"
#include "materialize/batch_plan.h"
#include "materialize/columns.h"
#include "materialize/history.h"

namespace pg2iceberg::materialize {

struct MaterializerOptions {
  std::string group = "default";
  std::vector<std::string> ns = {"default"};
  int64_t target_file_size = int64_t{128} << 20;
  int max_log_entries = 500;       // per table per cycle
  int64_t max_changes = 250'000;   // per table per cycle (bounds memory; at least one file)
  // The memory of a batch's decoded changes (stage::MemoryBytes): files are read until it is
  // reached (at least one). 0: no bound but max_changes.
  int64_t max_batch_bytes = 0;
  Clock* clock = nullptr;
  // The pipeline generation (coordinator meta `generation`, new after every cleanup). Commits
  // carry it in their summary; only commits of this generation move a cursor, and the first
  // copy of a table whose Iceberg table holds another generation's rows replaces them.
  // Empty or "legacy": pipelines set up before generations existed (summaries without one).
  std::string generation;
  // The source cluster (PostgreSQL system identifier; empty: unknown). Each Iceberg table
  // records which source table and cluster it mirrors (properties pg2iceberg.source.table,
  // pg2iceberg.source.system-identifier); writing one source table into a table that records
  // another is refused.
  std::string system_identifier;
  // Markers are in use (source.logical.markers_table): pending ones cut batches and are
  // emitted (docs/operations.md).
  bool markers = false;
  // sink.delete_mode (tables[].iceberg.delete_mode overrides it per table). Position deletes
  // and deletion vectors go through a primary-key index per table in `index_dir`
  // (index/key_index.h); equality mode writes an equality delete per key touched. Deletion
  // vectors need a format v3 table: tables created in dv mode are v3, and an older table in
  // dv mode is upgraded once it has no position delete files (see UpgradeForDeletionVectors).
  // A v3 table gets vectors in position mode too (v3 forbids new position delete files).
  config::DeleteMode delete_mode = config::DeleteMode::kEquality;
  std::string index_dir = "pg2iceberg-index";
  // Query mode: staged rows are upserts of polled rows, and a table whose
  // tables[].capture_operations leaves out insert or update keeps only the rows whose key is
  // (update) or is not (insert) live in the table, found through the key index.
  bool polled = false;
  // sink.include_metadata: every row carries the commit time and LSN of its last change
  // (columns _commit_ts and _lsn, added to the table's schema).
  bool include_metadata = false;
  // Called while a long piece of work (a table's replacing copy) goes on: a liveness beat.
  std::function<void()> on_progress;
};

struct TableResult {
  int64_t changes = 0;
  int64_t rows_written = 0;
  int64_t deletes_written = 0;
  int64_t snapshot_id = -1;
  int64_t cursor = 0;
  // More is staged past this batch (it was bounded): the next cycle should start at once.
  bool more = false;
};

class Materializer {
 public:
  Materializer(coord::Coordinator* coord, catalog::Catalog* catalog,
               std::shared_ptr<io::FileIO> io, std::vector<config::TableConfig> tables,
               MaterializerOptions options);

  // One pass over `tables` (names as configured); returns per-table results.
  Result<std::map<std::string, TableResult>> RunCycle(const std::vector<std::string>& tables);
  // One batch of `table`; a batch prepared against a table another writer changed meanwhile
  // (position mode) is prepared again.
  Result<TableResult> MaterializeTable(const std::string& table);

  // The Iceberg identifier of a configured table: <namespace>.<table name without schema>.
  catalog::TableIdent IdentFor(const std::string& table) const;
  // Its history table's (tables[].iceberg.mode history or both): IdentFor's, name + "_history".
  catalog::TableIdent HistoryIdentFor(const std::string& table) const;

  // Checkpoints the key indexes next to their tables (KeyIndex::Checkpoint), so that a process
  // on another machine loads them instead of rebuilding: those whose index changed since their
  // last checkpoint, at most every 10 minutes, or all of them with `now` (a clean stop).
  // Failures are logged, never returned: a missing checkpoint costs a rebuild, not data.
  void CheckpointIndexes(bool now);

 private:
  Result<TableResult> MaterializeBatch(const std::string& table);
  // The next batch of `table`: the cursor (recovered from the table's summaries), the table
  // as loaded (NotFound: not created yet), the markers still pending (those reached are
  // emitted here), the resync offset (-1: none), and the log entries past the cursor cut to
  // one batch (empty: none), of `entries_read` read.
  struct Batch {
    coord::Cursor cursor;
    Result<catalog::LoadedTable> existing = NotFound("not loaded");
    std::vector<coord::MarkerEmission> markers;
    int64_t resync_at = -1;
    std::vector<coord::LogEntry> entries;
    size_t entries_read = 0;
  };
  Result<Batch> PlanBatch(const std::string& table, const catalog::TableIdent& ident);
  // The batch's changes (`files`, cut to one key, of `batch.entries`) into one commit: shape
  // the table, fold, read the live state, write, commit, advance the cursor, update the key
  // index, emit the markers reached. The files' changes are consumed.
  Status MaterializeChanges(const std::string& table, const catalog::TableIdent& ident,
                            Batch& batch, std::vector<stage::DecodedStagedFile>& files,
                            const CopyFilter& only, bool resync_batch, const Stopwatch& started,
                            TableResult& result);
  // How the batch deletes (PlanDeletes), on the table `m` as loaded: whether it is all copy,
  // whether the table held only copied rows, whether it replaces the table's content (logged).
  DeletePlan DeletesOf(const std::string& table, const iceberg::TableMetadata& m,
                       const std::vector<coord::LogEntry>& entries, int64_t cursor_offset,
                       bool resync_batch, bool truncated, bool indexed) const;
  // The table, and the cursor it proves: a commit may have landed without its cursor (a crash
  // in between), so a larger offset in the table's summaries moves `*cursor` up. NotFound when
  // the table does not exist yet.
  Result<catalog::LoadedTable> LoadAndRecoverCursor(const std::string& table,
                                                    const catalog::TableIdent& ident,
                                                    coord::Cursor* cursor);
  // The live rows of the keys whose unchanged TOAST values the batch lacks (`need`, by key):
  // read by position through the key index (its lookups kept in `*looked_up`, for the
  // deletes), else from a scan of the live table (deletes applied). Per key: the data sequence
  // number of the file read (0 by position) and the row (by position: only the columns some
  // row lacks).
  Result<LiveRows> ReadLiveRows(const iceberg::TableMetadata& m,
                                const std::vector<iceberg::Field>& fields,
                                const std::vector<int>& key_idx, const fold::FoldResult& folded,
                                const std::map<fold::Key, const fold::FoldedRow*>& need,
                                index::KeyIndex* key_index,
                                std::map<fold::Key, std::optional<index::RowLocation>>* looked_up);
  // Tables that keep their history (materialize/history.h): the batch's changes appended to
  // the history table, committed before the mirror's commit of the same batch, with the
  // batch's end offset in its summary like the mirror's. Changes a history commit holds
  // already (a crash between the two commits) give no row. Unchanged TOAST values from before
  // the batch are read from `mirror` (as loaded for the batch, not yet committed to) through
  // `key_index` when there is one.
  // `mirror` null: the table keeps no mirror (mode history), and those values are the rows'
  // last versions in the history table (HistoryPrior). Returns the history table as
  // committed, nullopt when there was nothing to append.
  // `changes`: the batch's changes over the mirror's `fields` (ToChanges, as the fold saw
  // them), of source table `source_oid`.
  Result<std::optional<catalog::LoadedTable>> CommitHistory(
      const std::string& table, const Batch& batch, std::vector<HistoryChange> changes,
      uint32_t source_oid, const iceberg::TableMetadata* mirror,
      const std::vector<iceberg::Field>& fields, const std::vector<int>& key_idx,
      index::KeyIndex* key_index);
  // The rows of `keys` as their last history rows show them (`data` columns, keyed by
  // `key_idx` into them), unless deleted or truncated since: a scan of the history table.
  Result<std::map<fold::Key, std::vector<Value>>> HistoryPrior(
      const iceberg::TableMetadata& hist, const std::vector<iceberg::Field>& data,
      const std::vector<int>& key_idx, const std::map<fold::Key, std::set<int>>& keys);
  // A batch of a table that keeps only its history (mode history): appended, then the cursor.
  Status MaterializeHistoryOnly(const std::string& table, Batch& batch,
                                std::vector<stage::DecodedStagedFile>& files,
                                const CopyFilter& only, const Stopwatch& started,
                                TableResult& result);
  // The history table of `table`, created (partitioned by day(_commit_ts)) or evolved to hold
  // the columns `data` of its mirror. `again`: the create found it created meanwhile (a
  // catalog that then does not find it is an error, not a loop).
  Result<catalog::LoadedTable> HistoryTable(const std::string& table,
                                            const std::vector<iceberg::Field>& data,
                                            uint32_t source_oid, bool again = false);
  // A resync whose copy had no rows and nothing behind it: the table is emptied, once.
  Status EmptyForAnEmptyCopy(const std::string& table, const catalog::TableIdent& ident,
                             const coord::Cursor& cursor, int64_t resync_at,
                             Result<catalog::LoadedTable>& existing, const Stopwatch& started,
                             TableResult& result);
  // Moves the cursor past the leading `files` (staged as `entries`) whose every change
  // `only` skips, without a commit: their columns and key are older than the copy's and must
  // not reshape the table. Returns how many it passed.
  Result<size_t> PassSkippedFiles(const std::string& table, const coord::Cursor& cursor,
                                  const std::vector<stage::DecodedStagedFile>& files,
                                  const std::vector<coord::LogEntry>& entries,
                                  const CopyFilter& only, int64_t current_snapshot_id);
  // The key index of the table `m` describes, open and reflecting its current snapshot.
  Result<index::KeyIndex*> IndexFor(const std::string& table, const iceberg::TableMetadata& m,
                                    const std::vector<int32_t>& key_ids);
  const config::TableConfig* ConfigFor(const std::string& table) const;
  // The staged columns under their Iceberg names (tables[].iceberg.column_names).
  void NameColumns(const std::string& table, std::vector<stage::DecodedStagedFile>* files) const;
  // The snapshot summary key holding this group's log offset.
  std::string OffsetKey() const { return "pg2iceberg.offset." + options_.group; }
  // `error` reading a batch planned at `planned`, or Aborted when the table's cursor moved
  // meanwhile (another worker committed the batch and the log was trimmed behind it).
  Status StaleOr(const std::string& table, const coord::Cursor& planned, const Status& error);
  config::DeleteMode DeleteModeOf(const std::string& table) const;
  // A table in dv mode that is format v1/v2 is upgraded to v3 unless it has position delete
  // files (then it is returned as it is, and the batch writes position deletes).
  Result<catalog::LoadedTable> UpgradeForDeletionVectors(const std::string& table,
                                                         const catalog::TableIdent& ident,
                                                         catalog::LoadedTable loaded);
  // Deletion vectors for the keys of `deletes` that are live (`where` holds each one's row):
  // one per data file holding some, merged with the vector that file has in `m`, which
  // `change` then removes (a data file has at most one). Returns the rows deleted.
  Result<int64_t> DeletionVectorsOf(
      const iceberg::TableMetadata& m, const std::vector<std::vector<Value>>& deletes,
      const std::map<std::vector<Value>, std::optional<index::RowLocation>>& where,
      iceberg::SnapshotChange* change);
  // Position delete files for the keys of `deletes` that are live (`where` holds each one's
  // row), one per partition, added to `change`. Returns the rows deleted.
  Result<int64_t> PositionDeletesOf(
      const iceberg::TableMetadata& m, const std::vector<std::vector<Value>>& deletes,
      const std::map<std::vector<Value>, std::optional<index::RowLocation>>& where,
      const iceberg::ParquetWriteOptions& wo, iceberg::SnapshotChange* change);
  // What the copy of `table` skips (its state in the coordinator; `resync_at`: the offset of
  // a copy that replaces the table's content, -1 for none).
  Result<CopyFilter> CopyFilterOf(const std::string& table, int64_t resync_at);
  // The batch's staged changes (`files`, staged as `entries`, from `from_offset` on) projected
  // onto the table's `fields` (`plan`) without those `only` skips, folded by key (`key_idx`);
  // the same changes with what a history table keeps of them in `*history`, when given. The
  // files' changes are moved out (their relations stay).
  Result<fold::FoldResult> FoldBatch(const std::string& table,
                                     std::vector<stage::DecodedStagedFile>& files,
                                     const std::vector<coord::LogEntry>& entries,
                                     const std::vector<iceberg::Field>& fields,
                                     const ColumnPlan& plan, const std::vector<int>& key_idx,
                                     int64_t from_offset, const CopyFilter& only,
                                     std::vector<HistoryChange>* history = nullptr);
  // What a batch needs of the live table: its key index (position and dv modes; a dv-mode
  // table is upgraded to v3 first, in `loaded`), whether it gets deletion vectors, and the
  // live rows of the unchanged TOAST values the batch lacks (with the key lookups made for
  // them, kept for the deletes).
  struct LiveState {
    index::KeyIndex* key_index = nullptr;
    bool deletion_vectors = false;
    std::map<fold::Key, std::optional<index::RowLocation>> looked_up;
    LiveRows found;
  };
  // Query mode's capture_operations (MaterializerOptions::polled): drops from `folded` the
  // upserts of a left-out kind, told apart by the key index; the keys looked up go to
  // `live->looked_up`. Batches holding copied rows are left whole.
  Status FilterPolled(const std::string& table, const std::vector<coord::LogEntry>& entries,
                      fold::FoldResult* folded, LiveState* live);
  Result<LiveState> ReadLiveState(const std::string& table, const catalog::TableIdent& ident,
                                  catalog::LoadedTable& loaded,
                                  const std::vector<iceberg::Field>& fields,
                                  const std::vector<int>& key_idx,
                                  const std::vector<int32_t>& key_ids,
                                  const fold::FoldResult& folded);
  // Writes a batch's rows into `change`: data files of `rows.upserts` (with their places in
  // `index_update` when the table has a key index), and deletes of the live older versions of
  // `rows.deletes`: deletion vectors or position deletes through the key index (`looked_up`
  // holds the lookups made already), else equality deletes. Returns the rows deleted (for
  // equality deletes: the keys).
  Result<int64_t> WriteBatch(const iceberg::TableMetadata& m, BatchRows rows,
                             const std::vector<int32_t>& key_ids, index::KeyIndex* key_index,
                             bool deletion_vectors,
                             std::map<fold::Key, std::optional<index::RowLocation>>& looked_up,
                             iceberg::SnapshotChange* change, index::IndexUpdate* index_update);
  // The Iceberg table ready for a batch whose newest relation is `latest`: created if missing
  // (`existing` is the caller's load), identity checked, schema evolved (`rematch`: columns
  // matched by name, see PlanColumns), re-keyed when the key changed.
  struct TableSetup {
    catalog::LoadedTable loaded;
    ColumnPlan plan;
    std::vector<int32_t> key_ids;  // the field ids the batch is folded by
  };
  Result<TableSetup> SetUpTable(const std::string& table, const catalog::TableIdent& ident,
                                Result<catalog::LoadedTable> existing,
                                const stage::StagedRelation& latest, bool rematch);
  // The create request of a table first seen as `latest`: its columns and key, the configured
  // partition spec (Java's default field names), identity and incarnation properties, format v3
  // for deletion vectors and v2 otherwise.
  Result<catalog::CreateTableRequest> NewTableRequest(const std::string& table,
                                                      const stage::StagedRelation& latest) const;
  // Creates the namespace `ns` unless this process did already (or found it).
  Status EnsureNamespace(const std::vector<std::string>& ns);
  // Creates the namespace (once) and the table; a table created meanwhile is loaded.
  Result<catalog::LoadedTable> CreateIcebergTable(const std::string& table,
                                                  const catalog::TableIdent& ident,
                                                  const stage::StagedRelation& latest);
  // Commits the schema and attnum changes of `plan`, if any, and logs them.
  Result<catalog::LoadedTable> EvolveSchema(const catalog::TableIdent& ident,
                                            catalog::LoadedTable loaded, const ColumnPlan& plan);
  // Commits `change` (a batch read from `from_offset` on, of rows of source table
  // `source_oid`, 0 when unknown) with retries on conflict, fenced against a table committed
  // past `from_offset` by someone else. `fixed_base`: the change is only valid on the table
  // state it was prepared on (position deletes name rows of its files): when that moved, the
  // commit is not retried; Aborted, and the batch is prepared again (replan_).
  Result<catalog::LoadedTable> CommitChange(const std::string& table,
                                            const catalog::TableIdent& ident, int64_t from_offset,
                                            catalog::LoadedTable loaded,
                                            const iceberg::SnapshotChange& change,
                                            uint32_t source_oid, bool fixed_base = false);
  // The first copy of a new pipeline generation onto a table holding an earlier one's rows.
  bool ReplacesForeign(const iceberg::TableMetadata& m, const std::string& table,
                       int64_t cursor_offset) const;
  // A copy that replaces the table's content, committed as one snapshot once the copy is
  // complete (readers never see a mix or an empty table); until then the table waits.
  Result<TableResult> ReplaceWithCopy(const std::string& table, const catalog::TableIdent& ident,
                                      const coord::Cursor& cursor, int64_t resync_at,
                                      catalog::LoadedTable existing,
                                      const Stopwatch& started);
  // After a commit: the cursor, metrics, the log line, and garbage collection of staged files.
  // Emits the markers of `pending` (by offset) at or below `offset` (the table's cursor now),
  // each with the snapshot of `m` (null: no Iceberg table yet) holding exactly what came before
  // it, and removes them from `pending`.
  Status EmitMarkers(const std::string& table, std::vector<coord::MarkerEmission>* pending,
                     int64_t offset, const iceberg::TableMetadata* m);
  Status FinishBatch(const std::string& table, const catalog::TableIdent& ident,
                     const catalog::LoadedTable& committed, int64_t end_offset,
                     int64_t bytes_written, const Stopwatch& started,
                     double commit_seconds, TableResult& result);
  // Folds the table by `key_ids` from now on (the primary key changed): they become the
  // identifier fields when Iceberg allows (all required), the old key's fields become optional,
  // and the table property pg2iceberg.source.key-field-ids records the key.
  Result<catalog::LoadedTable> Rekey(const catalog::TableIdent& ident,
                                     const iceberg::TableMetadata& m,
                                     const std::vector<int32_t>& key_ids);

  coord::Coordinator* coord_;
  catalog::Catalog* catalog_;
  std::shared_ptr<io::FileIO> io_;
  std::vector<config::TableConfig> tables_;
  MaterializerOptions options_;
  Clock* clock_;
  std::set<std::vector<std::string>> namespaces_ready_;  // created (or found) this process
  std::map<std::string, std::unique_ptr<index::KeyIndex>> indexes_;  // by table UUID
  struct IndexCheckpoint {
    std::string prefix;
    std::optional<int64_t> snapshot_id;  // the index's state when last checkpointed
    int64_t at_ms = 0;
  };
  std::map<std::string, IndexCheckpoint> checkpoints_;  // by table UUID
  std::set<std::string> dv_waiting_;  // dv mode tables that wait for compaction (warned once)
  bool replan_ = false;
};

}  // namespace pg2iceberg::materialize
