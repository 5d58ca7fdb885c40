#include "query/query_service.h"

#include <algorithm>
#include <chrono>

#include "base/log.h"
#include "pg/catalog.h"
#include "snapshot/snapshotter.h"

namespace pg2iceberg::query {

using namespace std::chrono_literals;


Status CopyTable(const QueryServiceOptions& o, const QueryTable& t, coord::Coordinator& coord,
                 const std::atomic<bool>* stop, const std::function<void()>& beat) {
  const PolledTable& pt = t.table;
  PG2I_ASSIGN_OR_RETURN(auto exporter, o.connect());
  PG2I_RETURN_IF_ERROR(exporter->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ"));
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult snap,
      exporter->Query("SELECT pg_export_snapshot(), CASE WHEN pg_is_in_recovery() THEN "
                      "pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, "
                      "pg_current_snapshot()::text"));
  const std::string snapshot_name = snap.rows[0][0].value_or("");
  PG2I_ASSIGN_OR_RETURN(Lsn lsn, Lsn::Parse(snap.rows[0][1].value_or("0/0")));
  PG2I_ASSIGN_OR_RETURN(Position fence, LastPosition(*exporter, pt));
  // A transaction id assigned after the snapshot (not on a standby, where none can be: there
  // the snapshot's xmax stands in).
  std::string later_xid;
  {
    PG2I_ASSIGN_OR_RETURN(auto other, o.connect());
    auto x = other->QueryScalar("SELECT pg_current_xact_id()");
    if (x.ok()) later_xid = *x;
  }
  // Polling starts after the fence; the rows at or before it that transactions running now
  // commit later are read once the copy is in (Progress::after_copy_xmin).
  Progress start;
  start.cursor = fence;
  start.after_copy = Progress::AfterCopy{snap.rows[0][2].value_or(""), later_xid, fence};
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             Clock::Real()->Now().time_since_epoch())
                             .count();
  start.history.emplace_back(now_ms, fence);
  start.last_sweep_ms = now_ms;
  PG2I_RETURN_IF_ERROR(coord.SetMeta(ProgressKey(pt.name), EncodeProgress(start)));
  log::Info("copying the table before polling it",
            {{"table", pt.name},
             {"fence_watermark", fence.watermark.value_or("(empty table)")},
             {"snapshot", snapshot_name}});
  snapshot::SnapshotOptions so;
  so.connect = o.connect;
  so.coordinator = o.coordinator;
  so.io = o.io;
  so.staging_uri = o.staging_uri;
  so.concurrency = o.copy_concurrency;
  so.chunk_pages = o.copy_chunk_pages;
  so.snapshot_name = snapshot_name;
  so.snapshot_lsn = lsn;
  so.stop = stop;
  // Progress is in `status` (chunks and rows copied).
  so.on_progress = [&beat](const std::vector<snapshot::TableProgress>&, bool) {
    if (beat) beat();
  };
  config::TableName name;
  {
    auto parsed = config::TableName::Parse(pt.name);
    if (!parsed.ok()) return parsed.status();
    name = *parsed;
  }
  auto copied = snapshot::RunSnapshot({snapshot::SnapshotTable{name, pt.relation}}, so);
  (void)exporter->Exec("COMMIT");
  if (!copied.ok()) return copied.status();
  if (stop != nullptr && *stop) return Cancelled("stopped during the copy of " + pt.name);
  PG2I_ASSIGN_OR_RETURN(auto st, coord.GetTable(pt.name));
  if (!st || !st->snapshot_complete) {
    return Internal("the copy of " + pt.name + " ended without completing");
  }
  return Status::Ok();
}

Status RunQueryLane(const QueryServiceOptions& o, const std::vector<QueryTable>& tables, int lane,
                    int lanes, pipeline::Supervisor& sup, const std::function<void()>& beat) {
  PG2I_ASSIGN_OR_RETURN(auto conn, o.connect());
  PG2I_ASSIGN_OR_RETURN(auto coord, o.coordinator());
  std::vector<std::unique_ptr<TablePoller>> pollers;
  for (size_t i = 0; i < tables.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(std::max(lanes, 1))) != lane) continue;
    const QueryTable& t = tables[i];
    if (t.copy) {
      PG2I_RETURN_IF_ERROR(CopyTable(o, t, *coord, &sup.stop_flag(), beat));
      beat();
    }
    auto p = std::make_unique<TablePoller>(t.table, t.options, coord.get(), o.io);
    PG2I_RETURN_IF_ERROR(p->Load());
    pollers.push_back(std::move(p));
  }
  Clock* clock = sup.clock();
  while (!sup.stopping()) {
    bool polled = false;
    for (auto& p : pollers) {
      if (sup.stopping()) break;
      if (p->next_due() > clock->Monotonic()) continue;
      auto staged = p->Poll(*conn);
      if (!staged.ok()) return staged.status().WithContext("polling " + p->name());
      polled = true;
      if (p->shape_changed()) {
        // Rows changed out of polling's sight are copied again; either way the next start
        // describes the table anew.
        if (!p->shape_now().empty() && ShapeChangeNeedsCopy(p->shape(), p->shape_now())) {
          auto resync = coord->RequestResync(p->name());
          if (!resync.ok() && resync.status().code() != StatusCode::kFailedPrecondition) {
            return resync.status();
          }
          log::Info("a column added with a default or changed type: the table is copied again",
                    {{"table", p->name()}});
        }
        sup.RequestRestart();
        return Status::Ok();
      }
    }
    beat();
    if (polled) continue;
    Clock::MonoTime next = clock->Monotonic() + 1s;
    for (auto& p : pollers) next = std::min(next, p->next_due());
    const auto wait = std::max<Clock::Duration>(next - clock->Monotonic(), Clock::Duration(0));
    sup.Wait(std::min<Clock::Duration>(wait, 1s));
  }
  return Status::Ok();
}

}  // namespace pg2iceberg::query
