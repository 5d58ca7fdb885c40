// The WAL writer: owns the replication stream, buffers each transaction's changes of the
// configured tables, and on every flush stages one Parquet file per table, registers them in
// the coordinator in one transaction, and only then confirms the LSN to the slot
// (durability rule 1). Before each standby update the LSN is recorded in the coordinator
// (rule 2, through ReplicationStream's before_ack hook).
//
// Flushes happen on flush_interval, flush_rows or flush_bytes, whichever comes first.
//
// Streamed (proto v2) transactions are buffered per transaction id until Stream Commit. So
// that a transaction larger than memory need not fit in memory, an open streamed
// transaction whose buffered rows exceed spill_bytes is spilled: its rows are written as
// staged files (commit LSN 0, each row with its own subtransaction id) and only the list of
// those files is kept. A subtransaction abort drops exactly that subtransaction's rows, from
// memory and from the spilled files that hold any (they are rewritten under new names); an
// abort of the whole transaction deletes its files. At Stream Commit the spilled files, then
// the rows still in memory, join the committed rows at the transaction's place in commit
// order, and the next flush registers them with the rest. Spilled files are in no log entry
// until then: a crash leaves them as unreferenced orphans (see docs/staging.md).
//
// Metrics (rows and bytes staged per table, flush durations, replication lag) go to the
// process registry, base/metrics.h.
//
// Not thread-safe: one thread runs Step() in a loop.
#pragma once

#include <chrono>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "coord/coordinator.h"
#include "io/file_io.h"
#include "pg/replication.h"
#include "stage/staged_file.h"

namespace pg2iceberg::stage {

// Between a WAL writer and the materializer of the same process (`run`): the materializer
// asks the writer to stage what it holds when a batch starts (rather than waiting for the
// writer's flush_interval), and sees what is waiting. Thread-safe.
class FlushRequests {
 public:
  // The materializer: asks for a flush; the number to wait for with Served().
  uint64_t Request() { return ++requested_; }
  uint64_t served() const { return served_.load(); }
  // Committed rows the writer holds, not staged yet.
  int64_t ready_rows() const { return ready_rows_.load(); }
  // Flushes that registered staged files.
  uint64_t flushes() const { return flushes_.load(); }

  // The writer.
  uint64_t requested() const { return requested_.load(); }
  void Serve(uint64_t request) { served_ = request; }
  void SetReadyRows(int64_t rows) { ready_rows_ = rows; }
  void Flushed() { ++flushes_; }

 private:
  std::atomic<uint64_t> requested_{0};
  std::atomic<uint64_t> served_{0};
  std::atomic<int64_t> ready_rows_{0};
  std::atomic<uint64_t> flushes_{0};
};

struct WalWriterOptions {
  std::string slot;
  std::string staging_uri;  // directory URI for staged files, e.g. file:///wh/_staging
  int64_t flush_rows = 1000;
  int64_t flush_bytes = int64_t{64} << 20;
  // An open streamed transaction whose buffered rows exceed this many bytes (stage::MemoryBytes,
  // as flush_bytes) is written to spilled staged files. 0: flush_bytes.
  int64_t spill_bytes = 0;
  std::chrono::milliseconds flush_interval{10'000};
  // The materializer of this process, if any (`run`): its flush requests are served as soon
  // as the writer sees them.
  FlushRequests* pull = nullptr;
  // Staged and spilled files that nothing references (interrupted flushes, files of a process
  // that crashed) are deleted once older than this; swept every grace / 2 (at least every
  // second, at most every 10 minutes). Unset: never. It must exceed the longest time between a
  // file's upload and its registration (seconds), hence minutes in production.
  std::optional<std::chrono::milliseconds> orphan_grace;
  Clock* clock = nullptr;
  // The markers table (source.markers_table, "schema.table"; empty: none): each row inserted
  // into it is a marker, reported with its commit LSN (OnMarker) once everything committed
  // before it is staged.
  std::string markers_table;
  // Per configured table, the operations not replicated (tables[].capture_operations): such
  // rows are dropped as they arrive.
  std::map<std::string, std::set<fold::Op>> skip_ops;
  // Configured tables whose history is kept (tables[].iceberg.mode history or both): their
  // UPDATEs and DELETEs are staged with the old row PostgreSQL sent (StagedChange::before).
  std::set<std::string> before_images;
};

// What the writer needs of the replication stream (pg::ReplicationStream's calls of the
// same names); a seam so tests can feed messages without a server.
class MessageSource {
 public:
  virtual ~MessageSource() = default;
  virtual Result<std::optional<pg::ReplicationStream::Received>> Next(
      std::chrono::milliseconds timeout) = 0;
  virtual void Confirm(Lsn lsn) = 0;
  virtual Status SendStatus() = 0;
  virtual Lsn confirmed() const = 0;
  // The end of the source's WAL as last reported; Lsn() when unknown.
  virtual Lsn server_wal_end() const { return Lsn(); }
};

// Prefix of the transactional logical messages the DDL event trigger emits after ALTER TABLE:
// {"schema": …, "table": …, "columns": [[attnum, name], …]} (see docs/schema-changes.md).
inline constexpr char kColumnsMessagePrefix[] = "pg2iceberg.columns";
// Prefix of the transactional logical message the rewrite event trigger emits before ALTER
// TABLE rewrites a table: {"schema": …, "table": …, "oid": …, "reason": …}.
inline constexpr char kRewriteMessagePrefix[] = "pg2iceberg.rewrite";
// Coordinator meta key of the WAL writer's column maps (see WalWriter::ddl_committed_).
inline constexpr char kColumnsMetaKey[] = "wal_writer.columns";

class WalWriter {
 public:
  // `relations`: configured tables ("schema.table") → their staged shape, from discovery.
  // `rediscover`: called when a Relation message shows a table's columns changed.
  using Rediscover = std::function<Result<StagedRelation>(const std::string& table)>;
  // Called when a transaction that changed a configured table's existing rows in a way
  // logical replication does not carry (a table rewrite, a column added with a default) has
  // committed: at once, after everything up to it is staged and before it is confirmed;
  // `why` says what happened.
  using OnRewrite = std::function<Status(const std::string& table, const std::string& why)>;

  WalWriter(std::unique_ptr<pg::ReplicationStream> stream, coord::Coordinator* coord,
            std::shared_ptr<io::FileIO> io, std::map<std::string, StagedRelation> relations,
            Rediscover rediscover, WalWriterOptions options);
  WalWriter(std::unique_ptr<MessageSource> source, coord::Coordinator* coord,
            std::shared_ptr<io::FileIO> io, std::map<std::string, StagedRelation> relations,
            Rediscover rediscover, WalWriterOptions options);

  void set_on_rewrite(OnRewrite f) { on_rewrite_ = std::move(f); }
  // Called for each marker (a row inserted into options.markers_table) once its transaction
  // committed and everything committed up to it is staged, before it is confirmed (after a
  // crash in between the stream brings it again: the callee must be idempotent).
  using OnMarker = std::function<Status(const std::string& marker_id, Lsn commit_lsn)>;
  void set_on_marker(OnMarker f) { on_marker_ = std::move(f); }
  // Without the event trigger (best effort): of the columns of `table` (source oid `oid`) with
  // these attnums, newly seen in the stream, the names of those existing rows read a default
  // for (pg_attribute.atthasmissing).
  using MissingDefaults = std::function<Result<std::vector<std::string>>(
      const std::string& table, uint32_t oid, const std::vector<int>& attnums)>;
  void set_missing_defaults(MissingDefaults f) { missing_defaults_ = std::move(f); }
  // Before the catalog is asked about a table whose shape changed in transaction `xid` (which
  // the stream just brought, committed): waits until other sessions see that transaction.
  // PostgreSQL writes the commit record, which the walsender may decode at once, before the
  // transaction becomes visible (between them a commit waits for synchronous replication), and
  // a catalog read in between shows the table as it was.
  using AwaitVisible = std::function<Status(Xid xid)>;
  void set_await_visible(AwaitVisible f) { await_visible_ = std::move(f); }

  // Receives for up to `wait`, then flushes if a trigger fired.
  Status Step(std::chrono::milliseconds wait);
  // Stages and registers everything committed so far, confirms it, and sends a status update.
  Status Flush();
  // Deletes unreferenced staged and spilled files older than orphan_grace (none of this
  // writer's open spilled files); returns how many. Step() calls it when due.
  Result<int64_t> SweepOrphans();

  int64_t rows_staged() const { return rows_staged_; }
  // Spilled files of open streamed transactions (all of them), and files written so far.
  int64_t spilled_files_open() const;
  int64_t spill_files_written() const { return spill_files_written_; }
  Lsn confirmed() const { return stream_->confirmed(); }

 private:
  using RelPtr = std::shared_ptr<const StagedRelation>;
  struct Pending {
    std::string table;
    RelPtr relation;  // the table's shape when this row was received
    StagedChange change;
  };
  // A staged file written before its transaction committed; its rows carry commit LSN 0.
  struct SpilledFile {
    std::string table;
    std::string uri;
    int64_t rows = 0;
    int64_t bytes = 0;
    std::set<Xid> xids;  // (sub)transactions with rows in the file
  };
  // Committed rows of one table and one relation shape: one staged file at the next flush.
  // Or a spilled file of a committed streamed transaction: registered as it is.
  struct Group {
    RelPtr relation;
    std::vector<StagedChange> changes;
    std::optional<SpilledFile> spilled;
    Lsn commit_lsn;  // of the spilled file's transaction
  };
  // A table's oid and column name → attnum, from a DDL event trigger message.
  struct DdlColumns {
    uint32_t oid = 0;  // 0: sent by an older trigger function without it
    std::map<std::string, int> attnums;
  };
  struct Txn {
    std::vector<Pending> rows;
    int64_t bytes = 0;
    int64_t next_seq = 0;  // position in the transaction of the next row
    std::vector<SpilledFile> spilled;  // in the order written
    // Tables whose rows this transaction changed out of the stream's sight (OnRewrite), with
    // the (sub)transaction that did it.
    struct Rewrite {
      Xid xid;
      std::string table;
      std::string why;
    };
    std::vector<Rewrite> rewrites;
    // Markers inserted by the transaction: (sub)transaction, marker id.
    std::vector<std::pair<Xid, std::string>> markers;
    // Column maps of the transaction's DDL (event trigger messages), in WAL order.
    struct Ddl {
      Xid xid;
      std::string table;
      DdlColumns columns;
    };
    std::vector<Ddl> ddl;
  };

  Status Handle(pg::ReplicationStream::Received r);
  Status OnRelation(const pg::RelationMsg& rel);
  // ddl_committed_ as recorded in the coordinator, and reading it back at start.
  std::string ColumnMapsJson() const;
  Status LoadColumnMaps();
  // A column map from the DDL event trigger (kColumnsMessagePrefix), in WAL order.
  void OnColumnsMessage(const pg::LogicalMessageMsg& msg);
  void OnRewriteMessage(const pg::LogicalMessageMsg& msg);
  Status OnMarkerRow(const pg::InsertMsg& ins);
  // The open transaction a message belongs to.
  Txn& TxnOf();
  Status ReportRewrites(const std::vector<Txn::Rewrite>& rewrites);
  // Reports rewrites_ (OnRewrite), then confirms what is staged and sends a status update.
  Status ReportAndConfirm();
  // Sends a status update with what the stream has confirmed (noted in reported_).
  Status SendStatus();
  Result<std::vector<Value>> Typed(const StagedRelation& rel, const pg::Tuple& t,
                                   std::vector<int>* unchanged);
  Status AddRow(Xid row_xid, const std::string& table, fold::Change change,
                BeforeImage before = {});
  void CommitTxn(Txn txn, Lsn commit_lsn, Lsn end_lsn, int64_t commit_ts);
  Status Spill(Txn& txn);
  Status AbortSubtransaction(Txn& txn, Xid subxid);
  void DeleteSpilled(const Txn& txn, const char* why);
  std::string StagingDir() const;
  bool FlushDue() const;
  // Flushes what is ready if the materializer asked since the last time (options_.pull; the
  // rows it holds are published where they change: at a commit and a flush).
  Status ServePull();
  // Replication lag and buffer gauges (see docs/metrics.md).
  void RecordGauges() const;

  std::unique_ptr<MessageSource> stream_;
  coord::Coordinator* coord_;
  std::shared_ptr<io::FileIO> io_;
  std::map<std::string, RelPtr> relations_;
  Rediscover rediscover_;
  OnRewrite on_rewrite_;
  MissingDefaults missing_defaults_;
  AwaitVisible await_visible_;
  WalWriterOptions options_;
  Clock* clock_;
  std::optional<Clock::MonoTime> next_sweep_;

  std::map<uint32_t, std::string> relid_to_table_;  // configured tables only
  // Configured table → its column map as of the last DDL event trigger message seen; and what
  // a streamed transaction replaced, to restore if it aborts.
  std::map<std::string, DdlColumns> ddl_attnums_;
  // The maps of committed transactions up to ready_end_: recorded in the coordinator
  // (kColumnsMetaKey) with the claim or before the confirmation that passes their DDL, and
  // read back when a writer starts. Without them, a process that starts after the DDL's
  // message was confirmed (PostgreSQL does not send it again) but before the table's next
  // change would take the catalog's attnums, which may be further on (a column dropped and
  // another added since), for the stream's columns.
  std::map<std::string, DdlColumns> ddl_committed_;
  bool ddl_unrecorded_ = false;  // ddl_committed_ changed since it was last recorded
  std::map<Xid, std::vector<std::pair<std::string, std::optional<DdlColumns>>>> ddl_undo_;
  Xid current_xid_;
  Txn current_;                      // the open non-streamed transaction
  std::map<Xid, Txn> streams_;       // open streamed transactions by top-level xid
  Xid stream_xid_;                   // inside Stream Start … Stop
  std::map<std::string, std::vector<Group>> ready_;  // committed, not yet staged
  int64_t ready_rows_ = 0;
  uint64_t pull_served_ = 0;  // the last of options_.pull's requests served
  int64_t ready_bytes_ = 0;
  Lsn ready_end_;                    // end LSN of the last committed transaction received
  // The coordinator's flushed LSN for the slot when this writer started (read at the first
  // Step): transactions that end at or before it are staged already. PostgreSQL sends them
  // again when the process ended between a claim and the slot's confirmation; their rows are
  // dropped (a second copy in the log would be applied to a table that is ahead of it, and
  // its unchanged TOAST values read from a later version of the row).
  std::optional<Lsn> staged_through_;
  int64_t transactions_restaged_ = 0;  // dropped that way
  // Of committed transactions, reported at the next flush (before it confirms them).
  std::vector<Txn::Rewrite> rewrites_;
  // Committed markers not yet reported (id, commit LSN), and the markers table's relation id
  // and the position of its `id` column in the stream (-1: not seen yet).
  std::vector<std::pair<std::string, Lsn>> markers_;
  uint32_t markers_relid_ = 0;
  int markers_id_column_ = -1;
  OnMarker on_marker_;
  int64_t oldest_ready_commit_ts_ = 0;  // commit time (Unix µs) of the oldest ready row
  Clock::MonoTime last_flush_;
  Lsn reported_;  // the position confirmed in the last status this writer sent
  int64_t rows_staged_ = 0;
  int64_t spill_files_written_ = 0;
};

}  // namespace pg2iceberg::stage
