// `status`: what an operator needs to know about a pipeline, from PostgreSQL alone (the
// coordinator and the source), without touching anything: whether a pipeline process is alive
// (and which one), how far behind each table is in bytes and seconds, when Iceberg last got a
// commit, the initial copy's state, and the error the pipeline stopped with. `--wait` blocks
// until everything committed before the call is in Iceberg, and gives up at once (after a
// short grace for a process that is starting) when no live process is advancing the pipeline.
#include "cli/status.h"

#include "pipeline/materializer_service.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <cstdio>
#include <optional>

#include "base/clock.h"
#include "cli/backends.h"
#include "coord/owner.h"
#include "coord/pg_coordinator.h"
#include "cli/pg_source_catalog.h"
#include "pg/catalog.h"
#include "query/poller.h"

namespace pg2iceberg::cli {
namespace {

using namespace std::chrono_literals;

// How long --wait tolerates seeing no live owner (a `run` started just before may not hold
// the lock yet).
constexpr auto kOwnerGrace = 5s;
// How long `status --wait` waits for a materializer-only worker to register next to a running
// stream-only before it says none is running (workers started with it take a moment to join).
constexpr auto kWorkerJoinGrace = 30s;

struct TableStatus {
  std::string name;
  std::string snapshot = "not started";  // not started | copying | incomplete | complete
  int64_t chunks_done = 0;
  int64_t rows_copied = 0;
  int64_t deferred_files = 0;
  int64_t staged_offset = 0;
  int64_t materialized_offset = 0;
  int64_t pending_changes = 0;
  bool cursor_ahead = false;  // the cursor is past the log (state from an earlier pipeline)
  std::optional<uint64_t> lag_bytes;
  std::optional<double> lag_seconds;
  std::string last_commit_at;
  std::optional<double> last_commit_age_s;
  int64_t iceberg_snapshot_id = -1;
  std::string worker;  // distributed mode: the live worker that holds the table
  // Query mode: the watermark (and key) every row up to which is staged; nullopt: none yet.
  std::optional<query::Position> polled_through;
};

// A materializer-only worker of the group (distributed mode).
struct WorkerStatus {
  coord::WorkerInfo info;
  bool live = false;  // its heartbeat is younger than its --worker-ttl
  std::vector<std::string> tables;
};

struct Report {
  bool query_mode = false;  // source.mode query: no slot, tables polled
  std::string schema;
  bool set_up = false;
  coord::OwnerInfo owner;
  Lsn current;
  std::string slot;
  std::optional<pg::SlotInfo> slot_info;
  std::optional<Lsn> staged;
  std::optional<double> writer_lag_s;
  std::vector<TableStatus> tables;
  std::vector<coord::MarkerEmission> markers;  // the newest few, with markers_table set
  std::vector<WorkerStatus> workers;
};

// The group's workers and the tables each holds, as they compute it (the tables sorted, the
// live workers sorted, round robin); `run`'s own heartbeat is not a worker.
Status GatherWorkers(const config::Config& cfg, coord::PgCoordinator& coord, Report* r) {
  PG2I_ASSIGN_OR_RETURN(std::vector<coord::WorkerInfo> rows, coord.Workers(cfg.state.group));
  std::vector<std::string> live;
  for (auto& w : rows) {
    if (w.id == "run") continue;
    WorkerStatus ws{std::move(w), false, {}};
    ws.live = ws.info.heartbeat_age_seconds < static_cast<double>(ws.info.ttl.count());
    if (ws.live) live.push_back(ws.info.id);
    r->workers.push_back(std::move(ws));
  }
  std::vector<std::string> names;
  for (const auto& t : r->tables) names.push_back(t.name);
  std::map<std::string, std::string> holder;
  for (auto& w : r->workers) {
    if (!w.live) continue;
    w.tables = pipeline::AssignTables(names, live, w.info.id);
    for (const auto& t : w.tables) holder[t] = w.info.id;
  }
  for (auto& t : r->tables) {
    if (auto h = holder.find(t.name); h != holder.end()) t.worker = h->second;
  }
  return Status::Ok();
}

std::string OwnerState(const coord::OwnerInfo& o) {
  // A process that recorded its stop holds the lock until the server has seen it go.
  if (o.alive && o.recorded && !o.stopped_at.empty()) return "stopping";
  if (o.alive) return "running";
  if (!o.recorded) return "never started";
  if (!o.stopped_at.empty()) return o.last_error.empty() ? "stopped" : "failed";
  return "gone";
}

std::string OwnerLine(const Report& r) {
  const auto& o = r.owner;
  if (!r.set_up) {
    return "not set up: coordinator schema " + r.schema +
           " does not exist (pg2iceberg run creates it)";
  }
  char age[64];
  std::snprintf(age, sizeof age, "%.0f s ago", o.heartbeat_age_seconds);
  const std::string state = OwnerState(o);
  if (state == "running") {
    // The heartbeat comes every 5 s; a much older one means the process is alive but stuck.
    const bool stale = o.recorded && o.heartbeat_age_seconds > 60;
    return "running: " + o.Describe() + " (heartbeat " + (o.recorded ? age : "unknown") +
           (stale ? "; stale: the process holds the pipeline but may be hung" : "") +
           (o.last_error.empty() ? "" : "; recovering from: " + o.last_error) + ")";
  }
  if (state == "stopping") return "stopping: " + o.Describe() + " (stop recorded at " + o.stopped_at + ")";
  if (state == "never started") return "not running: no pg2iceberg run has owned this pipeline";
  if (state == "stopped") return "stopped: " + o.Describe() + ", stopped cleanly at " + o.stopped_at;
  if (state == "failed") {
    return "failed: " + o.Describe() + ", stopped at " + o.stopped_at + " with error: " +
           o.last_error;
  }
  return "not running: " + o.Describe() + " is gone without a clean stop (killed, or lost its "
         "connection); last heartbeat " + o.heartbeat_at + ", " + age;
}

// Why no live process advances the pipeline (for --wait).
std::string WhyNotAdvancing(const Report& r) {
  return "no live pg2iceberg process is advancing this pipeline (" + OwnerLine(r) +
         "); start pg2iceberg run and wait again";
}

Result<TableStatus> GatherTable(const config::Config& cfg, coord::PgCoordinator& coord,
                                const Report& r, const std::string& name) {
  TableStatus t;
  t.name = name;
  PG2I_ASSIGN_OR_RETURN(auto st, coord.GetTable(name));
  PG2I_ASSIGN_OR_RETURN(t.staged_offset, coord.NextOffset(name));
  PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord.GetCursor(cfg.state.group, name));
  t.materialized_offset = c.offset;
  t.iceberg_snapshot_id = c.snapshot_id;
  t.cursor_ahead = c.offset > t.staged_offset;
  t.pending_changes = std::max<int64_t>(0, t.staged_offset - c.offset);
  // A copy to redo (the table changed while it was copied) is not complete, whatever the
  // stale copy recorded.
  PG2I_ASSIGN_OR_RETURN(const bool redo, coord::CopyToRedo(coord, name));
  if (st && st->snapshot_complete && !redo) {
    t.snapshot = "complete";
  } else if (st) {
    PG2I_ASSIGN_OR_RETURN(auto chunks, coord.SnapshotChunks(name));
    PG2I_ASSIGN_OR_RETURN(t.deferred_files, coord.DeferredFiles(name));
    t.chunks_done = static_cast<int64_t>(chunks.size());
    for (const auto& ch : chunks) t.rows_copied += ch.rows;
    t.snapshot = r.owner.alive ? "copying" : "incomplete";
  }
  if (r.query_mode) {
    PG2I_ASSIGN_OR_RETURN(auto text, coord.GetMeta(query::ProgressKey(name)));
    if (text && !text->empty()) {
      auto p = query::DecodeProgress(*text);
      if (p.ok()) t.polled_through = p->cursor;
    }
  }
  PG2I_ASSIGN_OR_RETURN(auto a, coord.Activity(cfg.state.group, name));
  t.last_commit_at = a.last_commit_at;
  t.last_commit_age_s = a.last_commit_age_s;
  // Bytes: from the oldest change not yet in Iceberg (staged but not committed, else the
  // first one the slot has not confirmed) to the server's current position.
  const bool pending = t.pending_changes > 0 && a.oldest_pending_lsn.valid();
  if (pending) {
    t.lag_bytes = Lsn::BytesBetween(a.oldest_pending_lsn, r.current);
  } else if (r.slot_info) {
    t.lag_bytes = Lsn::BytesBetween(r.slot_info->confirmed_flush_lsn, r.current);
  }
  // Seconds: the age of the oldest staged change waiting for Iceberg, or of the oldest change
  // the WAL writer has not confirmed (the walsender's flush lag). Unknown while nothing runs
  // and there is WAL it has not read.
  if (pending && a.oldest_pending_age_s) {
    t.lag_seconds = std::max(*a.oldest_pending_age_s, r.writer_lag_s.value_or(0));
  } else if (r.owner.alive) {
    t.lag_seconds = r.writer_lag_s.value_or(0);
  } else if (t.lag_bytes && *t.lag_bytes == 0) {
    t.lag_seconds = 0;
  }
  return t;
}

Result<Report> Gather(const config::Config& cfg, pg::Connection& src,
                      coord::PgCoordinator& coord) {
  Report r;
  r.schema = cfg.state.coordinator_schema;
  r.query_mode = cfg.source.mode == config::SourceMode::kQuery;
  r.slot = r.query_mode ? "" : cfg.source.logical.slot_name;
  // A standby (query mode polls replicas) has no current WAL position of its own: its replay.
  PG2I_ASSIGN_OR_RETURN(std::string cur,
                        src.QueryScalar("SELECT (CASE WHEN pg_is_in_recovery() THEN "
                                        "pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() "
                                        "END)::text"));
  PG2I_ASSIGN_OR_RETURN(r.current, Lsn::Parse(cur.empty() ? "0/0" : cur));
  if (!r.query_mode) {
    PG2I_ASSIGN_OR_RETURN(r.slot_info, pg::ReadSlot(src, r.slot));
  }
  PG2I_ASSIGN_OR_RETURN(
      pg::QueryResult lag,
      src.Query("SELECT COALESCE(extract(epoch FROM r.flush_lag), 0)::float8 FROM "
                "pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid "
                "WHERE s.slot_name = $1",
                {r.slot}));
  if (!lag.rows.empty()) r.writer_lag_s = std::stod(lag.rows[0][0].value_or("0"));
  PG2I_ASSIGN_OR_RETURN(r.set_up, coord.SchemaExists());
  PG2I_ASSIGN_OR_RETURN(r.owner, coord::InspectOwner(coord.connection(), r.schema));
  if (!r.set_up) {
    for (const auto& t : cfg.tables) r.tables.push_back(TableStatus{.name = t.name.ToString()});
    return r;
  }
  if (!r.query_mode) {
    PG2I_ASSIGN_OR_RETURN(r.staged, coord.FlushedLsn(r.slot));
  }
  for (const auto& t : cfg.tables) {
    PG2I_ASSIGN_OR_RETURN(TableStatus ts, GatherTable(cfg, coord, r, t.name.ToString()));
    r.tables.push_back(std::move(ts));
  }
  if (cfg.source.logical.markers_table) {
    PG2I_ASSIGN_OR_RETURN(r.markers, coord.Markers(5));
  }
  PG2I_RETURN_IF_ERROR(GatherWorkers(cfg, coord, &r));
  return r;
}

std::string MarkerSnapshot(const coord::MarkerEmission& m) {
  if (!m.emitted) return "pending";
  return m.snapshot_id < 0 ? "none" : std::to_string(m.snapshot_id);
}

template <typename T>
nlohmann::json OrNull(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json ToJson(const Report& r) {
  nlohmann::json j;
  const auto& o = r.owner;
  j["coordinator_schema"] = r.schema;
  j["set_up"] = r.set_up;
  j["pipeline"] = {{"state", r.set_up ? OwnerState(o) : "not set up"},
                   {"alive", o.alive},
                   {"summary", OwnerLine(r)}};
  if (o.recorded) {
    j["pipeline"]["process"] = {{"command", o.command},        {"host", o.host},
                                {"pid", o.pid},                {"since", o.started_at},
                                {"heartbeat_at", o.heartbeat_at},
                                {"heartbeat_age_seconds", o.heartbeat_age_seconds},
                                {"stopped_at", o.stopped_at},  {"last_error", o.last_error}};
  }
  j["source"] = {{"mode", r.query_mode ? "query" : "logical"},
                 {"current_lsn", r.current.ToString()},
                 {"slot", r.slot},
                 {"slot_exists", r.slot_info.has_value()},
                 {"slot_active", r.slot_info && r.slot_info->active},
                 {"confirmed_lsn", r.slot_info ? nlohmann::json(r.slot_info->confirmed_flush_lsn.ToString())
                                               : nlohmann::json(nullptr)},
                 {"staged_lsn", r.staged ? nlohmann::json(r.staged->ToString()) : nlohmann::json(nullptr)},
                 {"writer_lag_seconds", OrNull(r.writer_lag_s)}};
  j["tables"] = nlohmann::json::array();
  for (const auto& t : r.tables) {
    j["tables"].push_back({{"table", t.name},
                           {"snapshot", t.snapshot},
                           {"snapshot_chunks_done", t.chunks_done},
                           {"snapshot_rows_copied", t.rows_copied},
                           {"deferred_files", t.deferred_files},
                           {"staged_offset", t.staged_offset},
                           {"materialized_offset", t.materialized_offset},
                           {"pending_changes", t.pending_changes},
                           {"cursor_ahead_of_log", t.cursor_ahead},
                           {"lag_bytes", OrNull(t.lag_bytes)},
                           {"lag_seconds", OrNull(t.lag_seconds)},
                           {"last_commit_at", t.last_commit_at.empty() ? nlohmann::json(nullptr)
                                                                       : nlohmann::json(t.last_commit_at)},
                           {"last_commit_age_seconds", OrNull(t.last_commit_age_s)},
                           {"iceberg_snapshot_id", t.iceberg_snapshot_id},
                           {"worker", t.worker.empty() ? nlohmann::json(nullptr)
                                                       : nlohmann::json(t.worker)}});
    if (r.query_mode) {
      nlohmann::json through = nullptr;
      if (t.polled_through && t.polled_through->watermark) {
        through = {{"watermark", *t.polled_through->watermark},
                   {"key", t.polled_through->key}};
      }
      j["tables"].back()["polled_through"] = through;
    }
  }
  j["workers"] = nlohmann::json::array();
  for (const auto& w : r.workers) {
    j["workers"].push_back({{"worker", w.info.id},
                            {"host", w.info.host},
                            {"pid", w.info.pid},
                            {"since", w.info.started_at},
                            {"heartbeat_age_seconds", w.info.heartbeat_age_seconds},
                            {"live", w.live},
                            {"tables", w.tables}});
  }
  j["markers"] = nlohmann::json::array();
  for (const auto& m : r.markers) {
    j["markers"].push_back({{"marker", m.marker_id},
                            {"lsn", m.commit_lsn.ToString()},
                            {"table", m.table},
                            {"emitted", m.emitted},
                            {"snapshot_id", m.emitted && m.snapshot_id >= 0
                                                ? nlohmann::json(m.snapshot_id)
                                                : nlohmann::json(nullptr)}});
  }
  return j;
}

std::string Seconds(const std::optional<double>& s) {
  if (!s) return "unknown";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", *s);
  return buf;
}

void PrintText(const Report& r) {
  std::printf("pipeline: %s\n", OwnerLine(r).c_str());
  std::string slot = "missing";
  if (r.slot_info) {
    slot = std::string(r.slot_info->active ? "active" : "inactive") + ", confirmed " +
           r.slot_info->confirmed_flush_lsn.ToString();
  }
  if (r.query_mode) {
    std::printf("source: mode=query (polling; no slot) current_lsn=%s\n",
                r.current.ToString().c_str());
  } else {
    std::printf("source: current_lsn=%s slot=%s (%s) staged_lsn=%s\n",
                r.current.ToString().c_str(), r.slot.c_str(), slot.c_str(),
                r.staged ? r.staged->ToString().c_str() : "none yet");
  }
  for (const auto& t : r.tables) {
    std::string snap = t.snapshot;
    if (t.snapshot == "copying" || t.snapshot == "incomplete") {
      snap += "(chunks_done=" + std::to_string(t.chunks_done) + ",rows=" +
              std::to_string(t.rows_copied) + ",deferred_files=" +
              std::to_string(t.deferred_files) + ")";
    }
    std::string last = "never";
    if (!t.last_commit_at.empty()) last = t.last_commit_at + " (" + Seconds(t.last_commit_age_s) + " s ago)";
    std::printf("table=%s snapshot=%s lag_bytes=%s lag_seconds=%s pending_changes=%lld "
                "last_commit=%s iceberg_snapshot_id=%lld%s%s\n",
                t.name.c_str(), snap.c_str(),
                t.lag_bytes ? std::to_string(*t.lag_bytes).c_str() : "unknown",
                Seconds(t.lag_seconds).c_str(), static_cast<long long>(t.pending_changes),
                last.c_str(), static_cast<long long>(t.iceberg_snapshot_id),
                t.worker.empty() ? "" : (" worker=" + t.worker).c_str(),
                t.cursor_ahead ? " warning=cursor_ahead_of_log(the Iceberg state is from an "
                                 "earlier pipeline)"
                               : "");
    if (r.query_mode) {
      std::printf("  polled_through=%s\n",
                  t.polled_through && t.polled_through->watermark
                      ? t.polled_through->watermark->c_str()
                      : "(nothing yet)");
    }
  }
  for (const auto& w : r.workers) {
    std::string tables;
    for (const auto& t : w.tables) tables += (tables.empty() ? "" : ",") + t;
    std::printf("worker=%s host=%s pid=%lld since=%s heartbeat_age_s=%.1f state=%s tables=%s\n",
                w.info.id.c_str(), w.info.host.c_str(), static_cast<long long>(w.info.pid),
                w.info.started_at.c_str(), w.info.heartbeat_age_seconds,
                w.live ? "live" : "gone", tables.empty() ? "none" : tables.c_str());
  }
  for (const auto& m : r.markers) {
    std::printf("marker=%s lsn=%s table=%s snapshot_id=%s\n", m.marker_id.c_str(),
                m.commit_lsn.ToString().c_str(), m.table.c_str(), MarkerSnapshot(m).c_str());
  }
}

// Polls until `done` or the deadline; fails fast when no live owner advances the pipeline.
class Waiter {
 public:
  Waiter(const config::Config& cfg, coord::PgCoordinator& coord, std::chrono::seconds timeout)
      : cfg_(cfg), coord_(coord), clock_(Clock::Real()),
        deadline_(clock_->Monotonic() + timeout), last_alive_(clock_->Monotonic()),
        last_worker_(clock_->Monotonic()) {}

  // `done` returns true when the condition holds; `what` names it for the timeout message.
  Status Until(const std::function<Result<bool>()>& done, const std::string& what,
               bool needs_materializer) {
    while (true) {
      PG2I_ASSIGN_OR_RETURN(bool ok, done());
      if (ok) return Status::Ok();
      if (Status a = CheckAdvancing(needs_materializer); !a.ok()) {
        return Status(a.code(), "waiting for " + what + ": " + a.message());
      }
      if (clock_->Monotonic() > deadline_) return Unavailable("timed out waiting for " + what);
      clock_->SleepFor(100ms);
    }
  }

 private:
  Status CheckAdvancing(bool needs_materializer) {
    const auto now = clock_->Monotonic();
    if (now - last_check_ < 1s) return Status::Ok();
    last_check_ = now;
    // Only who owns the pipeline matters here, not the whole report.
    Report report;
    report.schema = cfg_.state.coordinator_schema;
    report.set_up = true;  // WaitCaughtUp checked it
    PG2I_ASSIGN_OR_RETURN(report.owner, coord::InspectOwner(coord_.connection(), report.schema));
    if (report.owner.alive) {
      last_alive_ = now;
      if (needs_materializer && report.owner.recorded && report.owner.command == "stream-only") {
        // Distributed mode: materializer-only workers commit what stream-only stages.
        // Live as the workers count each other: a heartbeat younger than the worker's TTL.
        PG2I_ASSIGN_OR_RETURN(auto workers, coord_.Workers(cfg_.state.group));
        bool live = false;
        for (const coord::WorkerInfo& w : workers) {
          live = live || (w.id != "run" &&
                          w.heartbeat_age_seconds < static_cast<double>(w.ttl.count()));
        }
        if (live) last_worker_ = now;
        if (!live && now - last_worker_ >= kWorkerJoinGrace) {
          return FailedPrecondition(
              "the running process is pg2iceberg stream-only (" + report.owner.Describe() +
              "), which stages changes but does not commit them to Iceberg, and no "
              "materializer-only worker of group " + cfg_.state.group + " is running; run "
              "pg2iceberg run instead, or start pg2iceberg materializer-only --worker-id ID");
        }
      }
      return Status::Ok();
    }
    if (now - last_alive_ < kOwnerGrace) return Status::Ok();
    return FailedPrecondition(WhyNotAdvancing(report));
  }

  const config::Config& cfg_;
  coord::PgCoordinator& coord_;
  Clock* clock_;
  Clock::MonoTime deadline_;
  Clock::MonoTime last_alive_;
  Clock::MonoTime last_worker_;
  Clock::MonoTime last_check_{};
};

// Query mode: waits until each table's poller has staged every row that is in the table now
// (no row between its cursor and the table's largest (watermark, key) of this moment). A table
// polled through a custom query is not checked here (the query decides which rows count).
Status WaitPolled(const config::Config& cfg, pg::Connection& src, coord::PgCoordinator& coord,
                  Waiter& w) {
  for (const auto& t : cfg.tables) {
    if (!t.custom_query.empty()) continue;
    const std::string name = t.name.ToString();
    PG2I_ASSIGN_OR_RETURN(stage::StagedRelation rel, DiscoverStaged(src, t));
    const std::string quoted = pg::QuoteIdent(t.name.schema) + "." + pg::QuoteIdent(t.name.table);
    std::string tuple = "q." + pg::QuoteIdent(t.watermark_column);
    for (int k : rel.key) {
      tuple += ", q." + pg::QuoteIdent(rel.columns[static_cast<size_t>(k)].name);
    }
    query::PolledTable polled;
    polled.quoted = quoted;
    polled.relation = rel;
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      if (rel.columns[i].name == t.watermark_column) polled.watermark = static_cast<int>(i);
    }
    if (polled.watermark < 0) continue;  // `run` refuses such a table with what to do
    PG2I_ASSIGN_OR_RETURN(query::Position top, query::LastPosition(src, polled));
    if (!top.watermark) continue;  // nothing to poll (the copy is waited for below)
    std::vector<std::optional<std::string>> target = {top.watermark};
    target.insert(target.end(), top.key.begin(), top.key.end());
    PG2I_RETURN_IF_ERROR(w.Until(
        [&]() -> Result<bool> {
          PG2I_ASSIGN_OR_RETURN(auto text, coord.GetMeta(query::ProgressKey(name)));
          if (!text || text->empty()) return false;
          PG2I_ASSIGN_OR_RETURN(query::Progress p, query::DecodeProgress(*text));
          if (!p.cursor.watermark || p.after_copy) return false;
          // No row after the cursor and at or before the target.
          std::vector<std::optional<std::string>> params = {p.cursor.watermark};
          for (const auto& k : p.cursor.key) params.push_back(k);
          std::string after, upto;
          for (size_t i = 0; i < params.size(); ++i) {
            after += (i ? ", $" : "$") + std::to_string(i + 1);
          }
          for (size_t i = 0; i < target.size(); ++i) {
            upto += (i ? ", $" : "$") + std::to_string(params.size() + i + 1);
          }
          params.insert(params.end(), target.begin(), target.end());
          if (p.cursor.key.size() != rel.key.size()) return false;
          PG2I_ASSIGN_OR_RETURN(
              pg::QueryResult r,
              src.QueryNullable("SELECT NOT EXISTS (SELECT 1 FROM " + quoted + " q WHERE (" +
                                    tuple + ") > (" + after + ") AND (" + tuple + ") <= (" +
                                    upto + "))",
                                params));
          return !r.rows.empty() && r.rows[0][0] == "t";
        },
        "the poller to stage " + name + " up to its rows of now", false));
  }
  return Status::Ok();
}

Status WaitCaughtUp(const config::Config& cfg, pg::Connection& src, coord::PgCoordinator& coord,
                    std::chrono::seconds timeout) {
  PG2I_ASSIGN_OR_RETURN(bool set_up, coord.SchemaExists());
  if (!set_up) {
    return FailedPrecondition("coordinator schema " + cfg.state.coordinator_schema +
                              " does not exist: no pipeline has run yet; start pg2iceberg run");
  }
  Waiter w(cfg, coord, timeout);
  if (cfg.source.mode == config::SourceMode::kQuery) {
    PG2I_RETURN_IF_ERROR(WaitPolled(cfg, src, coord, w));
  } else {
    // A transactional marker: once the WAL writer confirmed past it, everything committed
    // before this call is staged.
    PG2I_ASSIGN_OR_RETURN(std::string marker_text,
                          src.QueryScalar("SELECT pg_logical_emit_message(true, 'pg2iceberg', "
                                          "'status --wait')::text"));
    PG2I_ASSIGN_OR_RETURN(Lsn marker, Lsn::Parse(marker_text));
    const std::string slot = cfg.source.logical.slot_name;
    PG2I_RETURN_IF_ERROR(w.Until(
        [&]() -> Result<bool> {
          PG2I_ASSIGN_OR_RETURN(auto flushed, coord.FlushedLsn(slot));
          return flushed && *flushed > marker;
        },
        "the WAL writer to stage changes up to " + marker.ToString(), false));
  }
  for (const auto& t : cfg.tables) {
    const std::string name = t.name.ToString();
    // A table being copied: wait for the copy (its changes wait behind it). A copy to redo is
    // not complete even when the stale one finished: the next start marks the table
    // incomplete, then clears the redo, so the redo is read first.
    PG2I_RETURN_IF_ERROR(w.Until(
        [&]() -> Result<bool> {
          PG2I_ASSIGN_OR_RETURN(const bool redo, coord::CopyToRedo(coord, name));
          if (redo) return false;
          PG2I_ASSIGN_OR_RETURN(auto st, coord.GetTable(name));
          return st && st->snapshot_complete;
        },
        "the initial copy of " + name, false));
    PG2I_ASSIGN_OR_RETURN(int64_t target, coord.NextOffset(name));
    PG2I_RETURN_IF_ERROR(w.Until(
        [&]() -> Result<bool> {
          PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord.GetCursor(cfg.state.group, name));
          return c.offset >= target;
        },
        name + " to be materialized up to offset " + std::to_string(target), true));
  }
  return Status::Ok();
}

}  // namespace

int RunStatus(const config::Config& cfg, const StatusOptions& options) {
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto src, ConnectSource(cfg));
    PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
    if (options.wait) PG2I_RETURN_IF_ERROR(WaitCaughtUp(cfg, *src, *coord, options.timeout));
    PG2I_ASSIGN_OR_RETURN(Report r, Gather(cfg, *src, *coord));
    if (options.json) {
      std::printf("%s\n", ToJson(r).dump(2).c_str());
    } else {
      PrintText(r);
    }
    return Status::Ok();
  };
  Status s = run();
  if (s.ok()) return 0;
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

}  // namespace pg2iceberg::cli
