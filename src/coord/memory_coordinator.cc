#include "coord/memory_coordinator.h"

#include <algorithm>
#include <tuple>

namespace pg2iceberg::coord {

Result<std::vector<LogEntry>> MemoryCoordinator::ClaimOffsets(
    const std::vector<StagedFile>& files, const StagedThrough& staged) {
  std::lock_guard<std::mutex> lock(mu_);
  PG2I_ASSIGN_OR_RETURN(auto out, ClaimLocked(files));
  if (!staged.slot.empty()) {
    Lsn& cur = flushed_[staged.slot];
    if (staged.lsn > cur) cur = staged.lsn;
  }
  for (const auto& [k, v] : staged.meta) meta_[k] = v;
  return out;
}

Result<std::vector<LogEntry>> MemoryCoordinator::ClaimLocked(const std::vector<StagedFile>& files,
                                                             bool defer) {
  for (const StagedFile& f : files) {
    if (f.rows <= 0) return InvalidArgument("staged file " + f.uri + " holds no changes");
  }
  std::vector<LogEntry> out;
  for (const StagedFile& f : files) {
    LogEntry e = LogEntry::Of(f);
    auto t = tables_.find(f.table);
    if (defer && f.kind != io::StagedKind::kSnapshot && t != tables_.end() &&
        !t->second.snapshot_complete) {
      deferred_[f.table].push_back(f);
      e.start_offset = e.end_offset = -1;
      out.push_back(std::move(e));
      continue;
    }
    e.start_offset = next_offset_[f.table];
    e.end_offset = e.start_offset + f.rows;
    next_offset_[f.table] = e.end_offset;
    log_[{e.table, e.start_offset}] = e;
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<LogEntry>> MemoryCoordinator::ClaimSnapshotChunk(
    const std::vector<StagedFile>& files, const SnapshotChunk& chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StagedFile> marked = files;
  for (auto& f : marked) f.kind = io::StagedKind::kSnapshot;
  PG2I_ASSIGN_OR_RETURN(auto out, ClaimLocked(marked));
  chunks_[chunk.table].push_back(chunk);
  return out;
}

Result<std::vector<SnapshotChunk>> MemoryCoordinator::SnapshotChunks(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = chunks_.find(table);
  return it == chunks_.end() ? std::vector<SnapshotChunk>() : it->second;
}

Status MemoryCoordinator::CompleteSnapshot(const std::string& table, Lsn snapshot_lsn) {
  std::lock_guard<std::mutex> lock(mu_);
  TableState& t = tables_[table];
  t.table = table;
  t.snapshot_complete = true;
  t.snapshot_lsn = snapshot_lsn;
  std::vector<StagedFile> waiting = std::move(deferred_[table]);
  deferred_.erase(table);
  return ClaimLocked(waiting).status();
}

Status MemoryCoordinator::ForgetSnapshotProgress(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  chunks_.erase(table);
  return Status::Ok();
}

Result<int64_t> MemoryCoordinator::DeferredFiles(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = deferred_.find(table);
  return it == deferred_.end() ? 0 : static_cast<int64_t>(it->second.size());
}

Result<int64_t> MemoryCoordinator::RequestResync(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto t = tables_.find(table);
  if (t == tables_.end() || !t->second.snapshot_complete) {
    return FailedPrecondition("table " + table + " has no complete copy to redo");
  }
  t->second.snapshot_complete = false;
  chunks_.erase(table);
  const int64_t offset = next_offset_[table];
  meta_["resync_offset:" + table] = std::to_string(offset);
  return offset;
}

Result<int64_t> MemoryCoordinator::RestartCopy(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StagedFile> waiting = std::move(deferred_[table]);
  deferred_.erase(table);
  // Into the log, not deferred again: the new copy replaces them.
  PG2I_RETURN_IF_ERROR(ClaimLocked(waiting, /*defer=*/false).status());
  chunks_.erase(table);
  const int64_t offset = next_offset_[table];
  meta_["resync_offset:" + table] = std::to_string(offset);
  return offset;
}

Result<std::set<std::string>> MemoryCoordinator::ReferencedUris() {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<std::string> out;
  for (const auto& [key, e] : log_) out.insert(e.uri);
  for (const auto& [table, files] : deferred_) {
    for (const auto& f : files) out.insert(f.uri);
  }
  return out;
}

Result<std::vector<LogEntry>> MemoryCoordinator::ReadLog(const std::string& table,
                                                         int64_t after_offset, int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LogEntry> out;
  for (auto it = log_.lower_bound({table, INT64_MIN}); it != log_.end() && it->first.first == table;
       ++it) {
    if (it->second.end_offset <= after_offset) continue;
    if (static_cast<int>(out.size()) >= limit) break;
    out.push_back(it->second);
  }
  return out;
}

Result<int64_t> MemoryCoordinator::NextOffset(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = next_offset_.find(table);
  return it == next_offset_.end() ? 0 : it->second;
}

Status MemoryCoordinator::RecordFlushedLsn(const std::string& slot, Lsn lsn) {
  std::lock_guard<std::mutex> lock(mu_);
  Lsn& cur = flushed_[slot];
  if (lsn > cur) cur = lsn;
  return Status::Ok();
}

Result<std::optional<Lsn>> MemoryCoordinator::FlushedLsn(const std::string& slot) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = flushed_.find(slot);
  if (it == flushed_.end()) return std::optional<Lsn>();
  return std::optional<Lsn>(it->second);
}

Result<Cursor> MemoryCoordinator::GetCursor(const std::string& group, const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cursors_.find({group, table});
  return it == cursors_.end() ? Cursor{} : it->second;
}

Status MemoryCoordinator::SetCursor(const std::string& group, const std::string& table,
                                    const Cursor& cursor) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = cursors_.try_emplace({group, table}, cursor);
  if (!inserted && it->second.offset < cursor.offset) it->second = cursor;
  return Status::Ok();
}

Result<std::optional<int64_t>> MemoryCoordinator::MinCursor(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<int64_t> m;
  for (const auto& [k, c] : cursors_) {
    if (k.second == table && (!m || c.offset < *m)) m = c.offset;
  }
  return m;
}

Result<std::vector<LogEntry>> MemoryCoordinator::TrimLog(const std::string& table,
                                                         int64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LogEntry> out;
  for (auto it = log_.lower_bound({table, INT64_MIN}); it != log_.end() && it->first.first == table;) {
    if (it->second.end_offset <= offset) {
      out.push_back(it->second);
      it = log_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

Status MemoryCoordinator::Heartbeat(const std::string& group, const std::string& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  heartbeats_[{group, worker}] = clock_->Monotonic();
  return Status::Ok();
}

Result<std::vector<std::string>> MemoryCoordinator::LiveWorkers(const std::string& group,
                                                                std::chrono::seconds ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  const auto now = clock_->Monotonic();
  for (const auto& [k, t] : heartbeats_) {
    if (k.first == group && now - t < ttl) out.push_back(k.second);
  }
  return out;  // std::map keeps them sorted
}

Status MemoryCoordinator::RemoveWorker(const std::string& group, const std::string& worker) {
  std::lock_guard<std::mutex> lock(mu_);
  heartbeats_.erase({group, worker});
  return Status::Ok();
}

Result<std::optional<std::string>> MemoryCoordinator::GetMeta(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = meta_.find(key);
  if (it == meta_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemoryCoordinator::SetMeta(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  meta_[key] = value;
  return Status::Ok();
}

Result<std::optional<TableState>> MemoryCoordinator::GetTable(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tables_.find(table);
  if (it == tables_.end()) return std::optional<TableState>();
  return std::optional<TableState>(it->second);
}

Status MemoryCoordinator::PutTable(const TableState& state) {
  std::lock_guard<std::mutex> lock(mu_);
  tables_[state.table] = state;
  return Status::Ok();
}

Result<Lsn> MemoryCoordinator::RecordMarker(const std::string& marker_id, Lsn commit_lsn,
                                            const std::vector<std::string>& tables) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = markers_.find(marker_id); it != markers_.end()) return it->second;
  markers_[marker_id] = commit_lsn;
  for (const std::string& t : tables) {
    auto st = tables_.find(t);
    if (st == tables_.end() || !st->second.snapshot_complete) continue;
    auto next = next_offset_.find(t);
    emissions_[{marker_id, t}] = MarkerEmission{
        marker_id, commit_lsn, t, next == next_offset_.end() ? 0 : next->second, -1, false};
  }
  return commit_lsn;
}

Result<std::vector<MarkerEmission>> MemoryCoordinator::PendingMarkers(const std::string& table) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MarkerEmission> out;
  for (const auto& [key, e] : emissions_) {
    if (key.second == table && !e.emitted) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const MarkerEmission& a, const MarkerEmission& b) {
    return std::tie(a.log_offset, a.commit_lsn) < std::tie(b.log_offset, b.commit_lsn);
  });
  return out;
}

Status MemoryCoordinator::EmitMarker(const std::string& marker_id, const std::string& table,
                                     int64_t snapshot_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = emissions_.find({marker_id, table});
  if (it == emissions_.end()) return NotFound("no marker " + marker_id + " for " + table);
  it->second.emitted = true;
  it->second.snapshot_id = snapshot_id;
  return Status::Ok();
}

Result<std::vector<MarkerEmission>> MemoryCoordinator::Markers(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<Lsn, std::string>> order;
  for (const auto& [id, lsn] : markers_) order.emplace_back(lsn, id);
  std::sort(order.rbegin(), order.rend());
  std::vector<MarkerEmission> out;
  for (size_t i = 0; i < order.size() && static_cast<int>(i) < limit; ++i) {
    for (const auto& [key, e] : emissions_) {
      if (key.first == order[i].second) out.push_back(e);
    }
  }
  return out;
}

Result<std::vector<MarkerEmission>> MemoryCoordinator::UnrecordedMarkers(int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MarkerEmission> out;
  for (const auto& [key, e] : emissions_) {
    if (e.emitted && !e.recorded) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const MarkerEmission& a, const MarkerEmission& b) {
    return std::tie(a.commit_lsn, a.table) < std::tie(b.commit_lsn, b.table);
  });
  if (static_cast<int>(out.size()) > limit) out.resize(static_cast<size_t>(limit));
  return out;
}

Status MemoryCoordinator::MarkersRecorded(const std::vector<MarkerEmission>& rows) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const MarkerEmission& r : rows) {
    if (auto it = emissions_.find({r.marker_id, r.table}); it != emissions_.end()) {
      it->second.recorded = true;
    }
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::coord
