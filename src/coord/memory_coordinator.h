// An in-memory Coordinator for unit tests and the deterministic simulation. Same contract as
// PgCoordinator (the conformance suite runs against both); heartbeats use the given Clock.
// Thread-safe (one mutex).
#pragma once

#include <map>
#include <mutex>
#include <set>

#include "base/clock.h"
#include "coord/coordinator.h"

namespace pg2iceberg::coord {

class MemoryCoordinator final : public Coordinator {
 public:
  explicit MemoryCoordinator(Clock* clock) : clock_(clock) {}

  Status Migrate() override { return Status::Ok(); }
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
  // `defer`: changes of a table whose copy is incomplete wait in deferred_.
  Result<std::vector<LogEntry>> ClaimLocked(const std::vector<StagedFile>& files,
                                            bool defer = true);

  Clock* clock_;
  std::mutex mu_;
  std::map<std::string, std::vector<StagedFile>> deferred_;
  std::map<std::string, std::vector<SnapshotChunk>> chunks_;
  std::map<std::string, int64_t> next_offset_;
  std::map<std::pair<std::string, int64_t>, LogEntry> log_;  // (table, start) → entry
  std::map<std::string, Lsn> flushed_;
  std::map<std::pair<std::string, std::string>, Cursor> cursors_;
  std::map<std::pair<std::string, std::string>, Clock::MonoTime> heartbeats_;
  std::map<std::string, std::string> meta_;
  std::map<std::string, TableState> tables_;
  std::map<std::string, Lsn> markers_;  // marker id → commit LSN
  std::map<std::pair<std::string, std::string>, MarkerEmission> emissions_;  // (marker, table)
};

}  // namespace pg2iceberg::coord
