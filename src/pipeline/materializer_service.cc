#include "pipeline/materializer_service.h"

#include <algorithm>
#include <set>

#include "base/log.h"
#include "base/memory.h"
#include "base/metrics.h"
#include "pipeline/resync.h"

namespace pg2iceberg::pipeline {

using namespace std::chrono_literals;

MaterializerService::MaterializerService(coord::Coordinator* coord,
                                         materialize::Materializer* materializer,
                                         SourceCatalog* source, upkeep::MetaTables* meta,
                                         MaterializerServiceOptions options)
    : coord_(coord), m_(materializer), source_(source), meta_(meta), o_(std::move(options)) {
  for (const auto& t : o_.tables) names_.push_back(t.name.ToString());
}

std::vector<std::string> AssignTables(std::vector<std::string> tables,
                                      std::vector<std::string> live, const std::string& me) {
  std::sort(tables.begin(), tables.end());
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  const auto at = std::find(live.begin(), live.end(), me);
  if (at == live.end()) return {};
  const size_t index = static_cast<size_t>(at - live.begin());
  std::vector<std::string> mine;
  for (size_t i = 0; i < tables.size(); ++i) {
    if (i % live.size() == index) mine.push_back(tables[i]);
  }
  return mine;
}

int LaneOf(const std::string& table, int lanes) {
  if (lanes <= 1) return 0;
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : table) h = (h ^ c) * 1099511628211ull;
  return static_cast<int>(h % static_cast<uint64_t>(lanes));
}

Result<std::vector<std::string>> MaterializerService::Assign() {
  PG2I_ASSIGN_OR_RETURN(std::vector<std::string> share, Share());
  std::vector<std::string> mine;
  for (auto& t : share) {
    if (LaneOf(t, o_.lanes) == o_.lane) mine.push_back(std::move(t));
  }
  return mine;
}

Result<std::vector<std::string>> MaterializerService::Share() {
  if (!o_.worker_ttl) return names_;
  PG2I_ASSIGN_OR_RETURN(std::vector<std::string> live,
                        coord_->LiveWorkers(o_.group, *o_.worker_ttl));
  // Its own heartbeat was just written: a worker is live to itself even when the clocks of
  // the coordinator and the TTL disagree.
  live.push_back(o_.worker);
  // One worker of the group (the first live one by id) records the reached markers in the
  // meta table, not each.
  records_markers_ = *std::min_element(live.begin(), live.end()) == o_.worker;
  std::vector<std::string> mine = AssignTables(names_, live, o_.worker);
  if (mine != share_ && o_.lane == 0) {  // every lane computes it; one says it
    share_ = mine;
    std::string list;
    for (const auto& t : mine) list += (list.empty() ? "" : ",") + t;
    log::Info("tables assigned to this worker",
              {{"worker", o_.worker},
               {"workers", static_cast<int64_t>(std::set<std::string>(live.begin(), live.end()).size())},
               {"tables", list.empty() ? std::string("none") : list}});
  }
  return mine;
}

Result<MaterializerCycle> MaterializerService::Cycle(bool ending) {
  MaterializerCycle cycle;
  PG2I_RETURN_IF_ERROR(coord_->Heartbeat(o_.group, o_.worker));
  PG2I_ASSIGN_OR_RETURN(assigned_, Assign());
  // Materialize what is staged first, then look for tables that went away.
  auto results = m_->RunCycle(assigned_);
  if (!results.ok() && o_.worker_ttl && results.status().code() == StatusCode::kAborted) {
    // While assignments change, two workers may hold a table for a cycle: the commit fencing
    // refused this one's batch because the other committed those offsets first. Expected in
    // a rebalance, not a fault: the next cycle starts from the table.
    log::Info("a batch went stale: another worker committed the table meanwhile (a rebalance); "
              "the next cycle starts from the table",
              {{"worker", o_.worker}, {"error", results.status().ToString()}});
    cycle.more = true;
    return cycle;
  }
  PG2I_ASSIGN_OR_RETURN(cycle.results, std::move(results));
  // A batch's memory goes back to the system rather than staying at its peak.
  if (std::any_of(cycle.results.begin(), cycle.results.end(),
                  [](const auto& r) { return r.second.changes > 0; })) {
    ReleaseFreedMemory();
  }
  RecordCommits(cycle.results, ending);
  if (o_.on_commit) {
    for (const auto& [t, r] : cycle.results) {
      if (r.snapshot_id >= 0) o_.on_commit(t);
    }
  }
  PG2I_RETURN_IF_ERROR(RecordPending());
  for (const auto& [t, r] : cycle.results) cycle.more = cycle.more || r.more;
  // A worker leaves the tables' checks and copies to the process that owns the slot.
  if (o_.worker_ttl) return cycle;
  PG2I_ASSIGN_OR_RETURN(
      cycle.restart,
      CheckSourceTables(*coord_, source_, o_.tables,
                        [this](const std::string& t) {
                          return std::find(assigned_.begin(), assigned_.end(), t) !=
                                 assigned_.end();
                        },
                        o_.copying));
  return cycle;
}

Status MaterializerService::Run(Supervisor& sup, const std::string& follows,
                                const std::function<void()>& on_cycle) {
  auto followed_ended = [&] { return follows.empty() ? sup.stopping() : sup.Ended(follows); };
  while (true) {
    const bool last = followed_ended();
    if (!last) PullStaged(sup);
    cycle_started_ = sup.clock()->Monotonic();
    if (o_.pull != nullptr) flushes_at_start_ = o_.pull->flushes();
    PG2I_ASSIGN_OR_RETURN(MaterializerCycle cycle,
                          Cycle(last || sup.failed() || sup.restart_requested()));
    if (cycle.restart) sup.RequestRestart();
    if (sup.restart_requested()) break;
    m_->CheckpointIndexes(/*now=*/false);
    if (on_cycle) on_cycle();
    if (last || sup.failed()) break;
    // While work is waiting (a batch was bounded), the next cycle starts at once; the
    // interval is the cadence when caught up. (Not the process stop: the last cycle waits for
    // the followed service's last flush.)
    if (cycle.more) continue;
    PG2I_RETURN_IF_ERROR(
        WaitForWork(sup, cycle, [&] { return followed_ended() || sup.failed(); }));
  }
  Finish(sup.failed());
  return Status::Ok();
}

void MaterializerService::Finish(bool failed) {
  RecordCommits({}, /*force=*/true);
  if (!failed) m_->CheckpointIndexes(/*now=*/true);
}

Status WorkerHeartbeats(coord::Coordinator& coord, const Supervisor& sup, const std::string& group,
                        const std::string& worker, std::chrono::seconds ttl) {
  const auto every = std::max<Clock::Duration>(std::chrono::milliseconds(200), ttl / 3);
  do {
    PG2I_RETURN_IF_ERROR(coord.Heartbeat(group, worker));
  } while (!sup.Wait(every));
  return Status::Ok();
}

void LeaveGroup(coord::Coordinator& coord, const std::string& group, const std::string& worker) {
  Status left = coord.RemoveWorker(group, worker);
  if (!left.ok()) {
    log::Warn("could not remove this worker's heartbeat; the others take its tables once it "
              "is older than the worker TTL",
              {{"worker", worker}, {"error", left.ToString()}});
  } else {
    log::Info("worker left the group", {{"worker", worker}});
  }
}

void MaterializerService::PullStaged(const Supervisor& sup) {
  if (o_.pull == nullptr || o_.pull->ready_rows() == 0) return;
  const uint64_t asked = o_.pull->Request();
  // The writer serves it between two messages; a writer busy elsewhere (a large transaction,
  // a slow upload) leaves it to the next cycle.
  WaitUntil(sup.clock(), 1s, 5ms, [&] { return o_.pull->served() >= asked || sup.stopping(); });
}

Status MaterializerService::WaitForWork(const Supervisor& sup, const MaterializerCycle& cycle,
                                        const std::function<bool()>& done) {
  Clock* clock = sup.clock();
  Clock::MonoTime last_look = clock->Monotonic();
  Status looked;
  const auto half = std::chrono::duration_cast<Clock::Duration>(o_.interval / 2);
  WaitUntil(clock, o_.interval, 50ms, [&] {
    if (done()) return true;
    if (o_.pull != nullptr &&
        (o_.pull->ready_rows() > 0 || o_.pull->flushes() != flushes_at_start_) &&
        clock->Monotonic() - cycle_started_ >= half) {
      return true;
    }
    if (clock->Monotonic() - last_look < 1s) return false;
    last_look = clock->Monotonic();
    for (const auto& [t, r] : cycle.results) {
      Result<int64_t> next = coord_->NextOffset(t);
      if (!next.ok()) looked = next.status();
      if (!next.ok() || *next - r.cursor >= o_.max_changes) return true;
    }
    return false;
  });
  return looked;
}

void MaterializerService::RecordCommits(
    const std::map<std::string, materialize::TableResult>& results, bool force) {
  pipeline::RecordCommits(meta_, *m_, results, force,
                          o_.record_markers && o_.lane == 0 && records_markers_ ? coord_
                                                                                : nullptr);
}

void RecordCommits(upkeep::MetaTables* meta, const materialize::Materializer& m,
                   const std::map<std::string, materialize::TableResult>& results, bool force,
                   coord::Coordinator* markers_from) {
  if (meta == nullptr) return;
  std::vector<upkeep::CommitRecord> rows;
  for (const auto& [name, r] : results) {
    if (r.snapshot_id < 0) continue;
    rows.push_back({name, m.IdentFor(name).ToString(), r.snapshot_id, r.cursor, r.changes,
                    r.rows_written, r.deletes_written});
  }
  meta->AddCommits(rows);
  Status s = meta->FlushCommits(force);
  if (!s.ok()) {
    metrics::CountError("meta_tables", s.code());
    log::Warn("commits not recorded in the meta tables; the data commits stand",
              {{"error", s.ToString()}});
  }
  // Markers the materializer reached, from the coordinator: what a crash kept from the meta
  // table is appended on the next cycle (at least once).
  if (markers_from == nullptr) return;
  auto reached = markers_from->UnrecordedMarkers(100);
  std::vector<upkeep::MarkerRecord> markers;
  if (reached.ok()) {
    for (const auto& e : *reached) {
      markers.push_back({e.marker_id, e.commit_lsn.ToString(), e.table,
                         m.IdentFor(e.table).ToString(), e.snapshot_id});
    }
  }
  Status ms = reached.ok() ? (markers.empty() ? Status::Ok() : meta->RecordMarkers(markers))
                           : reached.status();
  if (ms.ok() && !markers.empty()) ms = markers_from->MarkersRecorded(*reached);
  if (!ms.ok()) {
    metrics::CountError("meta_tables", ms.code());
    log::Warn("markers not recorded in the meta table yet; the next cycle tries again (pg2iceberg "
              "status lists them)",
              {{"error", ms.ToString()}});
  }
}

Status MaterializerService::RecordPending() {
  for (const auto& t : assigned_) {
    PG2I_ASSIGN_OR_RETURN(int64_t next, coord_->NextOffset(t));
    PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord_->GetCursor(o_.group, t));
    metrics::Default()
        .GetGauge("pg2iceberg_materialize_pending_changes",
                  "Staged changes not yet materialized into Iceberg (log offsets past the cursor)",
                  {{"table", t}})
        .Set(static_cast<double>(std::max<int64_t>(0, next - c.offset)));
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::pipeline
