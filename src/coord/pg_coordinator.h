// The coordinator in PostgreSQL (see coordinator.h for the contract). Owns one connection.
#pragma once

#include <memory>
#include <string>

#include "coord/coordinator.h"
#include "pg/connection.h"

namespace pg2iceberg::coord {

class PgCoordinator final : public Coordinator {
 public:
  PgCoordinator(std::unique_ptr<pg::Connection> conn, std::string schema);

  // The DDL Migrate() runs, for `migrate-coord --dry-run` style display and docs.
  static std::string MigrationSql(const std::string& schema);
  // Drops the schema (cleanup); Iceberg tables and the SQL catalog are not touched.
  Status DropSchema();
  // The coordinator's own connection (for read-only inspection such as InspectOwner).
  pg::Connection& connection() { return *conn_; }
  // Whether the schema exists (read-only: status must not create it).
  Result<bool> SchemaExists();

  // What `status` shows of a table, beyond the Coordinator interface: when its cursor last
  // moved (the last Iceberg commit) and how long its oldest unmaterialized file has waited.
  struct TableActivity {
    std::string last_commit_at;               // ISO 8601 UTC, "" if never
    std::optional<double> last_commit_age_s;  // seconds since then
    std::optional<double> oldest_pending_age_s;
    Lsn oldest_pending_lsn;                   // commit LSN of the oldest unmaterialized change
  };
  Result<TableActivity> Activity(const std::string& group, const std::string& table);

  Status Migrate() override;
  using Coordinator::ClaimOffsets;
  Result<std::vector<LogEntry>> ClaimOffsets(const std::vector<StagedFile>& files,
                                             const StagedThrough& staged) override;
  Result<std::vector<LogEntry>> ClaimSnapshotChunk(const std::vector<StagedFile>& files,
                                                   const SnapshotChunk& chunk) override;
  Result<std::vector<SnapshotChunk>> SnapshotChunks(const std::string& table) override;
  Status CompleteSnapshot(const std::string& table, Lsn snapshot_lsn) override;
  Result<int64_t> DeferredFiles(const std::string& table) override;
  Result<std::set<std::string>> ReferencedUris() override;
  Result<int64_t> RequestResync(const std::string& table) override;
  Result<int64_t> RestartCopy(const std::string& table) override;
  Status ForgetSnapshotProgress(const std::string& table) override;
  Result<std::vector<LogEntry>> ReadLog(const std::string& table, int64_t after_offset,
                                        int limit) override;
  Result<int64_t> NextOffset(const std::string& table) override;
  Status RecordFlushedLsn(const std::string& slot, Lsn lsn) override;
  Result<std::optional<Lsn>> FlushedLsn(const std::string& slot) override;
  Result<Cursor> GetCursor(const std::string& group, const std::string& table) override;
  Status SetCursor(const std::string& group, const std::string& table,
                   const Cursor& cursor) override;
  Result<std::optional<int64_t>> MinCursor(const std::string& table) override;
  Result<std::vector<LogEntry>> TrimLog(const std::string& table, int64_t offset) override;
  Status Heartbeat(const std::string& group, const std::string& worker) override;
  Result<std::vector<std::string>> LiveWorkers(const std::string& group,
                                               std::chrono::seconds ttl) override;
  Status RemoveWorker(const std::string& group, const std::string& worker) override;
  // Every worker row of `group` (live or not), by id.
  Result<std::vector<WorkerInfo>> Workers(const std::string& group);
  // The TTL this process's heartbeats record (the one its live-worker reads use), so that
  // status calls workers live exactly as they do.
  void set_heartbeat_ttl(std::chrono::seconds ttl) { heartbeat_ttl_ = ttl; }
  // A session advisory lock per (schema, table), tried every 20 ms until `wait`.
  Result<bool> TakeCommitTurn(const std::string& ident, Clock::Duration wait) override;
  Status EndCommitTurn(const std::string& ident) override;
  Result<std::optional<std::string>> GetMeta(const std::string& key) override;
  Status SetMeta(const std::string& key, const std::string& value) override;
  Result<std::optional<TableState>> GetTable(const std::string& table) override;
  Status PutTable(const TableState& state) override;
  Result<Lsn> RecordMarker(const std::string& marker_id, Lsn commit_lsn,
                           const std::vector<std::string>& tables) override;
  Result<std::vector<MarkerEmission>> PendingMarkers(const std::string& table) override;
  Status EmitMarker(const std::string& marker_id, const std::string& table,
                    int64_t snapshot_id) override;
  Result<std::vector<MarkerEmission>> Markers(int limit) override;
  Result<std::vector<MarkerEmission>> UnrecordedMarkers(int limit) override;
  Status MarkersRecorded(const std::vector<MarkerEmission>& rows) override;

 private:
  std::chrono::seconds heartbeat_ttl_{30};
  std::string T(const char* table) const;  // schema-qualified, quoted
  Status MigrateInTransaction();
  // ClaimOffsets' work inside the caller's transaction.
  // `defer`: changes of a table whose copy is incomplete go to log_deferred.
  Result<std::vector<LogEntry>> ClaimInTransaction(const std::vector<StagedFile>& files,
                                                   bool defer = true);
  // Removes the table's files waiting in log_deferred and returns them in staging order;
  // inside the caller's transaction.
  Result<std::vector<StagedFile>> TakeDeferred(const std::string& table);
  // Runs `body` inside BEGIN … COMMIT, rolling back on error.
  template <typename F>
  auto InTransaction(F&& body) -> decltype(body());

  std::unique_ptr<pg::Connection> conn_;
  std::string schema_;
};

}  // namespace pg2iceberg::coord
