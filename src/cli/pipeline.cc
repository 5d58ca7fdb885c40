#include "cli/pipeline.h"

#include "cli/backends.h"
#include "cli/compact.h"
#include "cli/pg_source_catalog.h"
#include "cli/query_source.h"
#include "notify/sinks.h"
#include "pipeline/compaction_service.h"
#include "pipeline/materializer_service.h"
#include "pipeline/notification_service.h"
#include "pipeline/recovery.h"
#include "pipeline/resync.h"
#include "pipeline/startup.h"
#include "pipeline/supervisor.h"
#include "pipeline/wal_writer_service.h"
#include "cli/verify.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <thread>

#include "base/crash_point.h"
#include "base/log.h"
#include "base/metrics.h"
#include "catalog/rest_catalog.h"
#include "catalog/sql_catalog.h"
#include "coord/owner.h"
#include "coord/pg_coordinator.h"
#include "index/key_index.h"
#include "io/arrow_file_io.h"
#include "materialize/materializer.h"
#include "obs/metrics_server.h"
#include "pg/catalog.h"
#include "pg/replication.h"
#include "pg/values.h"
#include "query/query_service.h"
#include "fold/fold.h"
#include "stage/wal_writer.h"
#include "snapshot/snapshotter.h"
#include "upkeep/compactor.h"
#include "upkeep/meta_tables.h"

#include <unistd.h>

namespace pg2iceberg::cli {
namespace {

using namespace std::chrono_literals;
using pipeline::IsTransient;
using pipeline::Recovery;

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

Result<materialize::MaterializerOptions> MaterializerOptionsOf(const config::Config& cfg,
                                                               coord::Coordinator& coord) {
  materialize::MaterializerOptions mo;
  mo.group = cfg.state.group;
  mo.ns = {cfg.sink.ns};
  mo.target_file_size = cfg.sink.target_file_size;
  PG2I_ASSIGN_OR_RETURN(auto generation, coord.GetMeta("generation"));
  mo.generation = generation.value_or("legacy");
  PG2I_ASSIGN_OR_RETURN(auto system_id, coord.GetMeta("system_identifier"));
  mo.system_identifier = system_id.value_or("");
  mo.markers = cfg.source.logical.markers_table.has_value();
  mo.delete_mode = cfg.sink.delete_mode;
  mo.polled = cfg.source.mode == config::SourceMode::kQuery;
  mo.index_dir = cfg.sink.index_dir;
  mo.include_metadata = cfg.sink.include_metadata;
  // memory_limit: a batch's decoded changes take at most a quarter of it (shared by lanes),
  // the key indexes' cache and write buffers an eighth.
  mo.max_batch_bytes = cfg.memory_limit / 4;
  index::SetSharedMemory(cfg.memory_limit / 8);
  return mo;
}

// The source's catalog for the services, on its own connection (query mode: no publication).
Result<std::unique_ptr<PgSourceCatalog>> SourceCatalogOf(const config::Config& cfg) {
  PG2I_ASSIGN_OR_RETURN(auto conn, ConnectSource(cfg));
  return std::make_unique<PgSourceCatalog>(
      std::move(conn),
      cfg.source.mode == config::SourceMode::kQuery ? "" : cfg.source.logical.publication_name,
      cfg.source.postgres.user);
}

// Progress of a running snapshot: a status line on a terminal, a log line every 10 s
// otherwise.
void RecordSnapshotComplete(const std::string& table, bool complete) {
  metrics::Default()
      .GetGauge("pg2iceberg_snapshot_complete", "1 once the table's initial copy is complete",
                {{"table", table}})
      .Set(complete ? 1 : 0);
}

// Snapshot progress gauges, per table (see docs/metrics.md).
void RecordSnapshotProgress(const snapshot::TableProgress& t) {
  auto& r = metrics::Default();
  const metrics::Labels l = {{"table", t.table}};
  auto set = [&](const char* name, const char* help, int64_t v) {
    r.GetGauge(name, help, l).Set(static_cast<double>(v));
  };
  set("pg2iceberg_snapshot_rows_done", "Rows copied by the initial snapshot so far", t.rows_done);
  set("pg2iceberg_snapshot_rows_estimate",
      "Rows the initial snapshot expects to copy (pg_class.reltuples; 0 if never analyzed)",
      t.rows_estimate);
  set("pg2iceberg_snapshot_bytes_done", "Bytes received by the initial snapshot so far",
      t.bytes_done);
  set("pg2iceberg_snapshot_pages_done", "Heap pages of finished snapshot chunks", t.pages_done);
  set("pg2iceberg_snapshot_pages_total", "Heap pages of the table when its copy started",
      t.pages_total);
  set("pg2iceberg_snapshot_chunks_done", "Snapshot chunks finished and registered",
      t.chunks_done);
  set("pg2iceberg_snapshot_chunks_total", "Snapshot chunks of the table", t.chunks_total);
  RecordSnapshotComplete(t.table, t.complete);
}

std::function<void(const std::vector<snapshot::TableProgress>&, bool)> ProgressReporter() {
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto last_log = std::make_shared<std::optional<Clock::MonoTime>>();
  return [tty, last_log](const std::vector<snapshot::TableProgress>& tables, bool final) {
    for (const auto& t : tables) RecordSnapshotProgress(t);
    if (tty) {
      std::string line;
      for (const auto& t : tables) line += (line.empty() ? "" : " | ") + snapshot::FormatProgress(t);
      std::fprintf(stderr, "\r\033[Ksnapshot: %s%s", line.c_str(), final ? "\n" : "");
      std::fflush(stderr);
      return;
    }
    const Clock::MonoTime now = Clock::Real()->Monotonic();
    if (!final && *last_log && now - **last_log < 10s) return;
    *last_log = now;
    for (const auto& t : tables) {
      // Heap bytes (8 KiB pages), as the terminal line shows them.
      log::Info("snapshot progress", {{"table", t.table},
                                      {"rows", t.rows_done},
                                      {"rows_estimate", t.rows_estimate},
                                      {"heap_bytes", t.pages_done * 8192},
                                      {"heap_bytes_total", t.pages_total * 8192},
                                      {"pages", t.pages_done},
                                      {"pages_total", t.pages_total},
                                      {"chunks", t.chunks_done},
                                      {"chunks_total", t.chunks_total},
                                      {"complete", t.complete ? "true" : "false"}});
    }
  };
}

// Configured tables whose initial copy is not complete (skip_snapshot ones are marked
// complete here: they need no copy).
Result<std::vector<snapshot::SnapshotTable>> PendingSnapshots(
    const config::Config& cfg, coord::Coordinator& coord,
    const std::map<std::string, stage::StagedRelation>& relations) {
  std::vector<snapshot::SnapshotTable> out;
  for (const auto& t : cfg.tables) {
    const std::string name = t.name.ToString();
    PG2I_ASSIGN_OR_RETURN(auto st, coord.GetTable(name));
    if (st && st->snapshot_complete) {
      RecordSnapshotComplete(name, true);
      continue;
    }
    if (t.skip_snapshot) {
      PG2I_RETURN_IF_ERROR(coord.CompleteSnapshot(name, Lsn()));
      RecordSnapshotComplete(name, true);
      continue;
    }
    RecordSnapshotComplete(name, false);
    out.push_back(snapshot::SnapshotTable{t.name, relations.at(name)});
  }
  return out;
}

// Copies `tables` as of the snapshot `slot` exported (nullptr: a snapshot of its own, from a
// temporary slot), in parallel CTID chunks.
Status CopyTables(const config::Config& cfg, const std::vector<snapshot::SnapshotTable>& tables,
                  const pg::CreatedSlot* slot, const std::atomic<bool>* stop) {
  if (tables.empty()) return Status::Ok();
  PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
  snapshot::SnapshotOptions o;
  o.connect = [&cfg]() { return ConnectSource(cfg); };
  o.coordinator = [&cfg]() -> Result<std::unique_ptr<coord::Coordinator>> {
    PG2I_ASSIGN_OR_RETURN(auto c, ConnectCoordinator(cfg));
    return std::unique_ptr<coord::Coordinator>(std::move(c));
  };
  o.io = io;
  o.staging_uri = StagingUri(cfg);
  o.concurrency = cfg.source.logical.snapshot_concurrency;
  o.chunk_pages = cfg.source.logical.snapshot_chunk_pages;
  o.batch_rows = std::clamp<int64_t>(cfg.sink.flush_rows, 10'000, 100'000);
  // memory_limit: the copy's workers together hold at most an eighth of it in rows to stage.
  o.batch_bytes = std::max<int64_t>(cfg.memory_limit / 8 / std::max(1, o.concurrency), 1 << 20);
  if (slot != nullptr) {
    o.snapshot_name = slot->snapshot_name;
    o.snapshot_lsn = slot->consistent_point;
  }
  o.replication = [&cfg]() {
    return pg::ReplicationConnection::Connect(cfg.source.postgres.ConnString(),
                                              cfg.source.postgres.RedactedConnString());
  };
  o.on_progress = ProgressReporter();
  o.stop = stop;
  PG2I_ASSIGN_OR_RETURN(snapshot::SnapshotResult r, snapshot::RunSnapshot(tables, o));
  int64_t rows = 0;
  for (const auto& t : r.tables) rows += t.rows_done;
  log::Info("snapshot finished", {{"tables", static_cast<int64_t>(tables.size())},
                                  {"rows", rows},
                                  {"seconds", r.seconds}});
  return Status::Ok();
}

// Everything `run` and `stream-only` need before streaming starts, with the start-up checks
// of DESIGN.md §4.
struct Prepared {
  std::map<std::string, stage::StagedRelation> relations;
  std::unique_ptr<pg::ReplicationConnection> replication;
  Lsn start;
  // Tables still to copy while streaming goes on (added to the configuration later, or an
  // interrupted first copy); their changes wait in log_deferred until the copy is in.
  std::vector<snapshot::SnapshotTable> pending_snapshots;
};

// Runs a pipeline component's body: an exception that escapes it (a bug, or a library that
// throws) becomes an Internal error that stops the pipeline with its message, instead of
// ending the process without a word (std::terminate) while the slot holds WAL.
Status Guarded(const std::function<Status()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    return Internal(std::string("unexpected exception (a bug; please report it): ") + e.what());
  } catch (...) {
    return Internal("unexpected exception of unknown type (a bug; please report it)");
  }
}

// What a start created in PostgreSQL, so that a start that fails before replicating anything
// can remove it again (or say exactly what it left).
struct Created {
  bool slot = false;
  bool publication = false;
  bool ddl_trigger = false;
};

// A configured table that cannot be replicated is a configuration error (exit 2).
Status ConfigError(const Status& s) { return s.ok() ? s : InvalidArgument(s.message()); }

// Tracks every configured table in the coordinator (a table new to it is copied from scratch; a
// copy to redo, or a table dropped and re-created, starts its copy over) and describes it.
Status TrackTables(const config::Config& cfg, coord::Coordinator& coord, pg::Connection& conn,
                   Prepared* prepared, std::vector<pg::TableInfo>* infos) {
  for (const auto& t : cfg.tables) {
    auto discovered = pg::DiscoverTable(conn, t.name);
    if (!discovered.ok()) return ConfigError(discovered.status());
    auto described = DiscoverStaged(conn, t);
    if (!described.ok()) return ConfigError(described.status());
    std::vector<std::string> names;
    for (const auto& c : described->columns) names.push_back(c.name);
    PG2I_RETURN_IF_ERROR(config::CheckColumnNames(t, names));
    PG2I_RETURN_IF_ERROR(pipeline::TrackTable(coord, t, discovered->oid));
    prepared->relations[described->table] = std::move(*described);
    infos->push_back(std::move(*discovered));
  }
  return Status::Ok();
}

// A copied table that is no longer in the publication missed its changes in between.
Status CheckStillPublished(const config::Config& cfg, coord::Coordinator& coord,
                           pg::Connection& conn) {
  const std::string& pub_name = cfg.source.logical.publication_name;
  PG2I_ASSIGN_OR_RETURN(std::string pub_exists,
                        conn.QueryScalar("SELECT count(*) FROM pg_publication WHERE pubname = " +
                                          pg::QuoteLiteral(pub_name)));
  if (pub_exists == "0") return Status::Ok();
  return pipeline::CheckStillPublished(
      coord, cfg.tables, pub_name, cfg.state.coordinator_schema,
      [&](const config::TableName& t) -> Result<bool> {
        PG2I_ASSIGN_OR_RETURN(
            pg::QueryResult in_pub,
            conn.Query("SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = "
                       "$2 AND tablename = $3",
                       {pub_name, t.schema, t.table}));
        return !in_pub.rows.empty();
      });
}

// Markers travel in the stream with the tables: the markers table is created if missing and is
// part of the publication.
Status EnsureMarkersTable(const config::Config& cfg, pg::Connection& conn,
                          std::vector<pg::TableInfo>* infos) {
  if (const auto& m = cfg.source.logical.markers_table) {
    PG2I_ASSIGN_OR_RETURN(pg::QueryResult exists,
                          conn.Query("SELECT to_regclass($1) IS NOT NULL", {m->Quoted()}));
    if (exists.rows.at(0).at(0).value_or("f") != "t") {
      Status made = conn.Exec("CREATE TABLE " + m->Quoted() +
                               " (id text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT "
                               "now(), note text)");
      if (!made.ok()) {
        return FailedPrecondition("could not create the markers table " + m->ToString() +
                                  " (source.logical.markers_table): " + made.message() +
                                  "; create it (CREATE TABLE " + m->Quoted() +
                                  " (id text PRIMARY KEY)) or let this role create it");
      }
      log::Info("created the markers table", {{"table", m->ToString()}});
    }
    auto info = pg::DiscoverTable(conn, *m);
    if (!info.ok()) return ConfigError(info.status());
    infos->push_back(std::move(*info));
  }
  return Status::Ok();
}

// The publication of every table (created or completed) and the DDL event triggers.
Status EnsurePublicationAndTriggers(const config::Config& cfg, pg::Connection& conn,
                                    const std::vector<pg::TableInfo>& infos, Created* created) {
  auto pub = pg::EnsurePublication(conn, cfg.source.logical.publication_name, infos);
  if (!pub.ok()) return pg::ExplainSetupError(pub.status(), cfg.source.postgres.user);
  if (pub->created) {
    created->publication = true;
    log::Info("created publication", {{"publication", cfg.source.logical.publication_name}});
  }
  for (const auto& a : pub->added) log::Info("added table to publication", {{"table", a}});
  PG2I_ASSIGN_OR_RETURN(pg::DdlTrigger trigger,
                        pg::EnsureDdlTrigger(conn, cfg.state.coordinator_schema));
  if (trigger == pg::DdlTrigger::kInstalled) {
    created->ddl_trigger = true;
    log::Info("created DDL event trigger (exact column renames and drops; DDL that changes "
              "existing rows copies the table again)",
              {{"trigger", pg::DdlTriggerName(cfg.state.coordinator_schema)},
               {"rewrite_trigger", pg::RewriteTriggerName(cfg.state.coordinator_schema)}});
  } else if (trigger == pg::DdlTrigger::kNotPermitted) {
    log::Info("column renames and drops are tracked best-effort, and table rewrites are not "
              "noticed: creating the DDL event triggers needs a superuser (see "
              "docs/schema-changes.md)",
              {{"user", cfg.source.postgres.user}});
  } else {
    // Created by an older version (by a superuser): the rewrite trigger came later.
    PG2I_ASSIGN_OR_RETURN(
        std::string rewrite,
        conn.QueryScalar("SELECT count(*) FROM pg_event_trigger WHERE evtname = " +
                          pg::QuoteLiteral(pg::RewriteTriggerName(cfg.state.coordinator_schema))));
    if (rewrite == "0") {
      log::Warn("the table-rewrite event trigger is missing, so DDL that rewrites a table is not "
                "noticed; run pg2iceberg once as a superuser to create it",
                {{"trigger", pg::RewriteTriggerName(cfg.state.coordinator_schema)}});
    }
  }
  return Status::Ok();
}

// Where streaming starts: a new slot (and the initial copy under its snapshot), or the slot's
// confirmed position after checking that nobody else moved it.
Status StartFromSlot(const config::Config& cfg, coord::Coordinator& coord, pg::Connection& conn,
                     const pg::SystemIdentity& id, const std::atomic<bool>* stop,
                     obs::Health* health, Created* created, Prepared* prepared) {
  Prepared& p = *prepared;
  const std::string& slot_name = cfg.source.logical.slot_name;
  PG2I_ASSIGN_OR_RETURN(auto slot, pg::ReadSlot(conn, slot_name));
  PG2I_ASSIGN_OR_RETURN(auto flushed, coord.FlushedLsn(slot_name));
  PG2I_RETURN_IF_ERROR(pipeline::CheckSlot(
      slot_name, slot ? std::optional<Lsn>(slot->confirmed_flush_lsn) : std::nullopt, flushed));
  if (!slot) {
    PG2I_ASSIGN_OR_RETURN(pg::CreatedSlot made, p.replication->CreateSlot(slot_name, true));
    created->slot = true;
    log::Info("created replication slot", {{"slot", slot_name}, {"lsn", made.consistent_point}});
    p.start = made.consistent_point;
    // The exported snapshot is valid until the next command on the replication connection:
    // copy every table as of exactly the slot's start point now.
    PG2I_ASSIGN_OR_RETURN(auto pending, PendingSnapshots(cfg, coord, p.relations));
    if (health != nullptr && !pending.empty()) health->SetPhase("initial snapshot", false);
    PG2I_RETURN_IF_ERROR(CopyTables(cfg, pending, &made, stop));
  } else {
    PG2I_ASSIGN_OR_RETURN(p.pending_snapshots, PendingSnapshots(cfg, coord, p.relations));
    for (const auto& t : p.pending_snapshots) {
      log::Info("table needs its initial copy; copying while streaming the others",
                {{"table", t.name.ToString()}});
    }
  }
  if (slot) {
    std::string warning;
    PG2I_RETURN_IF_ERROR(pg::CheckSlotHealth(*slot, id.dbname, &warning));
    if (!warning.empty()) log::Warn(warning);
    p.start = slot->confirmed_flush_lsn;
  }
  return Status::Ok();
}

Result<Prepared> Prepare(const config::Config& cfg, coord::Coordinator& coord,
                         const std::atomic<bool>* stop, obs::Health* health,
                         Created* created) {
  if (cfg.tables.empty()) {
    return InvalidArgument("no tables configured; list them under tables: (or set TABLES)");
  }
  PG2I_ASSIGN_OR_RETURN(auto conn, ConnectSource(cfg));
  if (conn->ServerVersion() < 130000) {
    return FailedPrecondition("PostgreSQL " + std::to_string(conn->ServerVersion()) +
                              " is older than 13, which pg2iceberg requires");
  }
  PG2I_ASSIGN_OR_RETURN(std::string wal_level, conn->QueryScalar("SHOW wal_level"));
  if (wal_level != "logical") {
    return FailedPrecondition("wal_level is " + wal_level +
                              "; run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL");
  }
  PG2I_RETURN_IF_ERROR(coord.Migrate());
  PG2I_RETURN_IF_ERROR(pipeline::CheckWarehouse(coord, cfg.sink.warehouse));
  PG2I_RETURN_IF_ERROR(pipeline::EnsureGeneration(coord));
  Prepared p;
  std::vector<pg::TableInfo> infos;
  PG2I_RETURN_IF_ERROR(TrackTables(cfg, coord, *conn, &p, &infos));
  PG2I_RETURN_IF_ERROR(CheckStillPublished(cfg, coord, *conn));
  PG2I_RETURN_IF_ERROR(EnsureMarkersTable(cfg, *conn, &infos));
  PG2I_RETURN_IF_ERROR(EnsurePublicationAndTriggers(cfg, *conn, infos, created));

  PG2I_ASSIGN_OR_RETURN(p.replication,
                        pg::ReplicationConnection::Connect(cfg.source.postgres.ConnString(),
                                                           cfg.source.postgres.RedactedConnString()));
  PG2I_ASSIGN_OR_RETURN(pg::SystemIdentity id, p.replication->IdentifySystem());
  PG2I_ASSIGN_OR_RETURN(auto recorded, coord.GetMeta("system_identifier"));
  if (recorded && *recorded != id.system_id) {
    return FailedPrecondition("this PostgreSQL cluster (system identifier " + id.system_id +
                              ") is not the one the coordinator was set up for (" + *recorded +
                              "); point source.postgres at the original cluster, or run "
                              "pg2iceberg cleanup to start over");
  }
  if (!recorded) PG2I_RETURN_IF_ERROR(coord.SetMeta("system_identifier", id.system_id));
  PG2I_RETURN_IF_ERROR(StartFromSlot(cfg, coord, *conn, id, stop, health, created, &p));
  PG2I_RETURN_IF_ERROR(coord.SetMeta("slot_name", cfg.source.logical.slot_name));
  return p;
}

// A loop that has not come round for this long makes /healthz fail: the WAL writer steps
// every 200 ms plus at most one flush; a materializer cycle commits every table once.
constexpr std::chrono::seconds kWriterMaxSilence{300};
constexpr std::chrono::seconds kMaterializerMaxSilence{900};

// The /metrics, /healthz and /ready endpoint of a long-running command (none when
// metrics_addr is empty).
struct Observability {
  obs::Health health;
  std::unique_ptr<obs::MetricsServer> server;
};

Result<std::unique_ptr<Observability>> StartObservability(const config::Config& cfg) {
  auto o = std::make_unique<Observability>();
  if (cfg.metrics_addr.empty()) return o;
  obs::RegisterProcessMetrics(metrics::Default(), kVersion);
  PG2I_ASSIGN_OR_RETURN(o->server, obs::MetricsServer::Start(cfg.metrics_addr,
                                                             &metrics::Default(), &o->health));
  log::Info("serving metrics", {{"addr", cfg.metrics_addr},
                                {"port", static_cast<int64_t>(o->server->port())}});
  return o;
}

// The name of the WAL writer's service (the materializer follows it: its last cycle commits
// what the writer flushed on its way out).
constexpr char kWalWriter[] = "WAL writer";

// What an attempt's services share: health, what the attempt copies, and its supervisor (one
// stop for all; the first error stops everything; pipeline/supervisor.h).
struct Shared {
  Shared(obs::Health* h, const std::atomic<bool>* process_stop)
      : health(h), sup(Clock::Real(), process_stop) {
    sup.on_failure = [this](const std::string& component, const Status& s) {
      Report(component, s);
    };
  }
  std::atomic<bool> streaming{false};  // the WAL writer streams (query mode: the pollers poll)
  // The materializer asks the WAL writer to stage what it holds when a batch starts.
  stage::FlushRequests pull;
  // The service the materializer's last cycle follows: the WAL writer, or query mode's poller.
  std::string source_service = kWalWriter;
  bool materializing = false;  // `run` (not `stream-only`)
  // Tables this attempt copies while streaming (a resync asks for a new attempt to copy more),
  // while its live copy runs.
  std::set<std::string> copying;
  std::atomic<bool> copy_running{false};
  // Tables the materializer committed to, for commit notifications to announce at once.
  pipeline::CommitSignal commits;
  // Called once every component has come round after the WAL writer started streaming.
  std::function<void()> on_healthy;
  std::atomic<bool> healthy_reported{false};
  void ReportHealthy() {
    if (on_healthy && !healthy_reported.exchange(true)) on_healthy();
  }
  obs::Health* health;
  // Transient faults of this attempt are retried (the pipeline had started once).
  std::atomic<bool> retried{false};
  // Last: destroyed first, joining the services that use the members above.
  pipeline::Supervisor sup;

  void Fail(const std::string& component, const Status& s) { sup.Fail(component, s); }

 private:
  // The attempt's first error, as health and metrics show it.
  void Report(const std::string& component, const Status& s) {
    std::string label;  // "WAL writer" → "wal_writer"; "materializer 1" (a lane) → "materializer"
    const std::string name =
        component.rfind("materializer", 0) == 0 ? std::string("materializer") : component;
    for (char c : name) label += c == ' ' ? '_' : static_cast<char>(std::tolower(c));
    metrics::CountError(label, s.code());
    const Status with = s.WithContext(component);
    if (retried && IsTransient(s)) {
      health->SetRecovering(with.ToString() + "; stopping the pipeline to start it again");
    } else {
      health->SetFailed(with.ToString());
    }
  }
};

stage::WalWriterOptions WalWriterOptionsOf(const config::Config& cfg) {
  stage::WalWriterOptions wo;
  wo.slot = cfg.source.logical.slot_name;
  wo.staging_uri = StagingUri(cfg);
  wo.flush_rows = cfg.sink.flush_rows;
  // memory_limit: the writer buffers at most an eighth of it (and spills an open transaction
  // at that size, spill_bytes defaulting to flush_bytes).
  wo.flush_bytes = std::min(cfg.sink.flush_bytes, cfg.memory_limit / 8);
  wo.flush_interval = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.sink.flush_interval);
  if (cfg.sink.maintenance_grace) {
    wo.orphan_grace =
        std::chrono::duration_cast<std::chrono::milliseconds>(*cfg.sink.maintenance_grace);
  }
  if (cfg.source.logical.markers_table) wo.markers_table = cfg.source.logical.markers_table->ToString();
  for (const auto& t : cfg.tables) {
    if (t.keeps_history()) wo.before_images.insert(t.name.ToString());
  }
  for (const auto& t : cfg.tables) {
    if (t.capture_operations.empty()) continue;
    std::set<fold::Op>& skip = wo.skip_ops[t.name.ToString()];
    const std::pair<const char*, fold::Op> ops[] = {{"insert", fold::Op::kInsert},
                                                    {"update", fold::Op::kUpdate},
                                                    {"delete", fold::Op::kDelete},
                                                    {"truncate", fold::Op::kTruncate}};
    for (const auto& [name, op] : ops) {
      if (std::find(t.capture_operations.begin(), t.capture_operations.end(), name) ==
          t.capture_operations.end()) {
        skip.insert(op);
      }
    }
  }
  return wo;
}

// The WAL writer service (pipeline/wal_writer_service.h) on the slot's replication stream.
Status WriterLoop(const config::Config& cfg, Prepared prepared, Shared* shared) {
  pipeline::Supervisor& sup = shared->sup;
  PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
  PG2I_ASSIGN_OR_RETURN(auto warehouse_io, OpenWarehouse(cfg));
  pg::StreamOptions so;
  so.publications = {cfg.source.logical.publication_name};
  so.messages = true;
  PG2I_RETURN_IF_ERROR(prepared.replication->StartReplication(cfg.source.logical.slot_name,
                                                               prepared.start, so));
  pg::ReplicationStream::Options ro;
  ro.standby_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
      cfg.source.logical.standby_interval);
  coord::Coordinator* c = coord.get();
  const std::string slot = cfg.source.logical.slot_name;
  ro.before_ack = [c, slot](Lsn lsn) -> Status {
    PG2I_RETURN_IF_ERROR(c->RecordFlushedLsn(slot, lsn));
    CrashPoint("after_flushed_lsn");
    return Status::Ok();
  };
  auto stream = std::make_unique<pg::ReplicationStream>(std::move(prepared.replication),
                                                        prepared.start, ro);
  PG2I_ASSIGN_OR_RETURN(auto source, SourceCatalogOf(cfg));
  stage::WalWriterOptions wo = WalWriterOptionsOf(cfg);
  wo.pull = &shared->pull;
  stage::WalWriter writer(std::move(stream), c, warehouse_io, std::move(prepared.relations),
                          pipeline::RediscoverFrom(source.get(), cfg.tables), std::move(wo));
  pipeline::WalWriterService service(&writer, c, source.get(), cfg.tables,
                                     [shared] { shared->sup.RequestRestart(); });
  log::Info("streaming", {{"slot", slot}, {"from", prepared.start}});
  shared->health->Watch("wal writer", kWriterMaxSilence);
  return service.Run(sup, [shared] {
    shared->health->Beat("wal writer");
    if (!shared->streaming.exchange(true)) {
      shared->health->SetPhase("streaming", true);
      if (!shared->materializing) shared->ReportHealthy();
    }
  });
}

// How many materializer lanes a process runs (sink.materializer_concurrency; 0: one per core,
// at most 4).
int MaterializerLanes(const config::Config& cfg) {
  if (cfg.sink.materializer_concurrency > 0) return cfg.sink.materializer_concurrency;
  const unsigned cores = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(cores, 1u, 4u));
}

// The name of lane `lane` of the materializer service (its health loop and its errors).
std::string MaterializerName(int lane, int lanes) {
  return lanes == 1 ? std::string("materializer") : "materializer " + std::to_string(lane);
}

// One lane of the materializer service (pipeline/materializer_service.h) with what it holds:
// its own coordinator and catalog connections, its materializer and meta tables.
struct MaterializerLane {
  std::string name;
  std::unique_ptr<coord::PgCoordinator> coord;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<materialize::Materializer> m;
  std::optional<upkeep::MetaTables> meta;
  std::unique_ptr<pipeline::MaterializerService> service;
};

// Opens lane `lane` of `lanes`; `o` brings what the caller decides (copying, worker), the rest
// comes from the configuration. Its health loop is watched from here on.
Result<std::unique_ptr<MaterializerLane>> OpenMaterializerLane(
    const config::Config& cfg, int lane, int lanes, obs::Health* health,
    pipeline::SourceCatalog* source, pipeline::MaterializerServiceOptions o) {
  auto l = std::make_unique<MaterializerLane>();
  l->name = MaterializerName(lane, lanes);
  PG2I_ASSIGN_OR_RETURN(l->coord, ConnectCoordinator(cfg));
  if (o.worker_ttl) l->coord->set_heartbeat_ttl(*o.worker_ttl);
  PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
  PG2I_ASSIGN_OR_RETURN(l->cat, OpenCatalog(cfg, io));
  PG2I_ASSIGN_OR_RETURN(auto mo, MaterializerOptionsOf(cfg, *l->coord));
  mo.max_batch_bytes /= lanes;
  mo.on_progress = [health, name = l->name] { health->Beat(name); };
  l->m = std::make_unique<materialize::Materializer>(l->coord.get(), l->cat.get(), io,
                                                     cfg.tables, mo);
  if (!cfg.sink.meta_namespace.empty()) {
    l->meta.emplace(l->cat.get(), io, cfg.sink.meta_namespace, cfg.state.coordinator_schema);
  }
  o.group = cfg.state.group;
  o.tables = cfg.tables;
  // Where reached markers wait for the meta table (markers need sink.meta_namespace).
  o.record_markers = cfg.source.logical.markers_table.has_value();
  o.max_changes = mo.max_changes;
  o.interval = cfg.sink.materializer_interval;
  o.lane = lane;
  o.lanes = lanes;
  l->service = std::make_unique<pipeline::MaterializerService>(
      l->coord.get(), l->m.get(), source, l->meta ? &*l->meta : nullptr, std::move(o));
  health->Watch(l->name, std::max<std::chrono::seconds>(
                             kMaterializerMaxSilence,
                             10 * std::chrono::duration_cast<std::chrono::seconds>(
                                      cfg.sink.materializer_interval)));
  return l;
}

// Lane `lane` of `run`'s materializer: its last cycle follows the WAL writer's last flush.
Status MaterializerLoop(const config::Config& cfg, Shared* shared, int lane, int lanes) {
  PG2I_ASSIGN_OR_RETURN(auto source, SourceCatalogOf(cfg));
  pipeline::MaterializerServiceOptions o;
  o.copying = [shared](const std::string& t) {
    return shared->copy_running && shared->copying.count(t) > 0;
  };
  o.on_commit = [shared](const std::string& t) { shared->commits.Add(t); };
  o.pull = &shared->pull;
  PG2I_ASSIGN_OR_RETURN(auto l, OpenMaterializerLane(cfg, lane, lanes, shared->health,
                                                     source.get(), std::move(o)));
  return l->service->Run(shared->sup, shared->source_service, [shared, name = l->name] {
    shared->health->Beat(name);
    if (shared->streaming) shared->ReportHealthy();
  });
}

// Background compaction (pipeline/compaction_service.h): the configured tables not being
// copied by this attempt, then the meta tables (appends pile up there too). Never stops
// replication: a failure to start is logged.
void CompactionLoop(const config::Config& cfg, Shared* shared) {
  Status s = Guarded([&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
    PG2I_ASSIGN_OR_RETURN(auto cat, OpenCatalog(cfg, io));
    // Its own coordinator connection, for the tables' commit turns.
    PG2I_ASSIGN_OR_RETURN(auto turns, ConnectCoordinator(cfg));
    upkeep::CompactionOptions co = CompactionOptionsOf(cfg, turns.get());
    std::optional<upkeep::MetaTables> meta;
    if (!cfg.sink.meta_namespace.empty()) {
      meta.emplace(cat.get(), io, cfg.sink.meta_namespace, cfg.state.coordinator_schema);
    }
    pipeline::CompactionService service(cat.get(), io, meta ? &*meta : nullptr, co,
                                        *cfg.sink.compaction_interval, shared->sup.clock());
    service.Run(shared->sup, [&] {
      std::vector<pipeline::CompactionTarget> targets;
      for (const auto& t : cfg.tables) {
        const std::string name = t.name.ToString();
        if (shared->copy_running && shared->copying.count(name)) continue;
        // History tables are append-only, written a file per batch and day: not compacted.
        if (!t.keeps_mirror()) continue;
        const config::IcebergTableName target = config::IcebergNameOf(t, cfg.sink.ns);
        targets.push_back({name, catalog::TableIdent{{target.ns}, target.name}});
      }
      if (meta) {
        for (const catalog::TableIdent& id : upkeep::MetaTableIdents(cfg.sink.meta_namespace)) {
          targets.push_back({id.ToString(), id});
        }
      }
      return targets;
    });
    return Status::Ok();
  });
  if (!s.ok()) {
    log::Warn("background compaction stopped for this attempt; replication goes on",
              {{"error", s.ToString()}});
  }
}

// Commit notifications (pipeline/notification_service.h) for the configured tables, on their
// own connections. Never stops replication: a failure to start is logged, and the next attempt
// (or process) announces what this one did not.
void NotificationLoop(const config::Config& cfg, Shared* shared) {
  Status s = Guarded([&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
    PG2I_ASSIGN_OR_RETURN(auto cat, OpenCatalog(cfg, io));
    PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
    std::vector<std::unique_ptr<notify::EventSink>> sinks;
    const config::Config::Notifications& n = cfg.notifications;
    if (!n.webhook_url.empty()) {
      sinks.push_back(notify::MakeWebhookSink(
          n.webhook_url, std::chrono::duration_cast<std::chrono::milliseconds>(n.webhook_timeout),
          catalog::MakeCurlHttpClient(
              {"notifications.webhook_url", "the webhook receiver", /*origin_only=*/true})));
    }
    if (!n.channel.empty()) {
      sinks.push_back(notify::MakePgNotifySink(
          n.channel, [&cfg] { return ConnectCoordinatorDatabase(cfg); }));
    }
    pipeline::NotificationOptions o;
    o.poll_interval = std::chrono::duration_cast<Clock::Duration>(n.poll_interval);
    pipeline::NotificationService service(cat.get(), coord.get(), std::move(sinks),
                                          shared->sup.clock(), o);
    std::vector<pipeline::NotifyTarget> targets;
    for (const auto& t : cfg.tables) {
      std::vector<config::IcebergTableName> written;
      if (t.keeps_mirror()) written.push_back(config::IcebergNameOf(t, cfg.sink.ns));
      if (t.keeps_history()) written.push_back(config::IcebergHistoryNameOf(t, cfg.sink.ns));
      for (const config::IcebergTableName& target : written) {
        targets.push_back({t.name.ToString(), catalog::TableIdent{{target.ns}, target.name}});
      }
    }
    service.Run(shared->sup, &shared->commits, [&] { return targets; });
    return Status::Ok();
  });
  if (!s.ok()) {
    log::Warn("commit notifications stopped for this attempt; replication goes on, and the "
              "next attempt announces what this one did not",
              {{"error", s.ToString()}});
  }
}

// Starts commit notifications. What starts the notifications of a sink is recorded here, before
// the attempt's services commit anything.
void StartNotifications(const config::Config& cfg, coord::Coordinator& coord, Shared* shared) {
  if (!cfg.notifications.enabled()) return;
  std::vector<std::string> sinks;
  if (!cfg.notifications.webhook_url.empty()) sinks.push_back(notify::kWebhookSink);
  if (!cfg.notifications.channel.empty()) sinks.push_back(notify::kNotifySink);
  Status started = pipeline::RecordNotificationStart(coord, sinks, shared->sup.clock());
  if (!started.ok()) {
    log::Warn("commit notifications: where they start was not recorded; the service tries again",
              {{"error", started.ToString()}});
  }
  shared->sup.Start("notifications", [&cfg, shared] {
    NotificationLoop(cfg, shared);
    return Status::Ok();
  }, /*critical=*/false);
}

}  // namespace

namespace {

// Copies tables added to a running pipeline (or whose first copy was interrupted) while the
// WAL writer streams; their changes wait in log_deferred until the copy is in. Stops with the
// attempt.
Status LiveCopy(const config::Config& cfg, const std::vector<snapshot::SnapshotTable>& tables,
                Shared* shared) {
  pipeline::Supervisor& sup = shared->sup;
  // A copy that cannot get what it needs from the server (a free replication slot or WAL
  // sender for its snapshot, a connection, disk) waits and tries again while the other
  // tables keep streaming; any other error ends the attempt.
  Clock::Duration wait = std::chrono::seconds(1);
  Status s;
  while (true) {
    s = Guarded([&] { return CopyTables(cfg, tables, nullptr, &sup.stop_flag()); });
    if (s.code() != StatusCode::kResourceExhausted || sup.stopping()) break;
    metrics::CountError("snapshot", s.code());
    log::Warn("the copy cannot start now; the other tables keep streaming and it is tried "
              "again",
              {{"error", s.ToString()},
               {"retry_in_s", static_cast<int64_t>(
                                  std::chrono::duration_cast<std::chrono::seconds>(wait).count())}});
    if (sup.Wait(wait)) break;
    wait = std::min<Clock::Duration>(wait * 2, std::chrono::minutes(1));
  }
  shared->copy_running = false;
  const bool waited_out = sup.stopping() && s.code() == StatusCode::kResourceExhausted;
  return s.code() == StatusCode::kCancelled || waited_out ? Status::Ok() : s;
}

// What every writing command (run, stream-only, snapshot) holds for its life: the metrics
// endpoint, the shared failure state, the pipeline's ownership (taken before anything is
// created), the coordinator, and what this start created in PostgreSQL.
struct Session {
  std::string command;
  std::unique_ptr<Observability> obs;
  const std::atomic<bool>* stop = nullptr;  // the process's
  std::unique_ptr<Shared> shared;  // of the running attempt
  // Losing the lease fails the running attempt; a recovery attempt takes it again.
  std::mutex lease_mu;
  std::atomic<bool> lease_lost{false};
  std::unique_ptr<coord::OwnerLease> lease;  // after `shared`: its callback uses it
  std::unique_ptr<coord::PgCoordinator> coord;
  Created created;

  ~Session() { lease.reset(); }  // its thread may call back until it is gone

  // Takes the pipeline's ownership (again, after it was lost) and opens the coordinator. On an
  // error no lease is kept.
  Status Own(const config::Config& cfg) {
    lease.reset();
    lease_lost = false;
    PG2I_ASSIGN_OR_RETURN(auto conn, ConnectCoordinatorDatabase(cfg));
    coord::OwnerLease::Options lo;
    lo.schema = cfg.state.coordinator_schema;
    lo.command = command;
    lo.on_lost = [this](const Status& lost) {
      std::lock_guard<std::mutex> lock(lease_mu);
      lease_lost = true;
      if (shared) shared->Fail("owner", lost);
    };
    auto acquired = coord::OwnerLease::Acquire(std::move(conn), std::move(lo));
    if (!acquired.ok()) {
      // After a lost connection the server may not have ended this process's own previous
      // session yet: that is not another owner, only a wait.
      if (acquired.status().code() == StatusCode::kFailedPrecondition) {
        auto again = ConnectCoordinatorDatabase(cfg);
        char host[256] = {0};
        gethostname(host, sizeof host - 1);
        if (again.ok()) {
          auto owner = coord::InspectOwner(**again, cfg.state.coordinator_schema);
          if (owner.ok() && owner->pid == static_cast<int64_t>(getpid()) && owner->host == host) {
            return Unavailable("this process's previous session still holds the pipeline's "
                               "lock; waiting for PostgreSQL to end it");
          }
        }
      }
      return acquired.status();
    }
    lease = std::move(*acquired);
    Status registered = [&]() -> Status {
      PG2I_ASSIGN_OR_RETURN(coord, ConnectCoordinator(cfg));
      PG2I_RETURN_IF_ERROR(coord->Migrate());
      return lease->Register();
    }();
    if (!registered.ok()) lease.reset();
    return registered;
  }

  // A fresh failure state for the next attempt.
  void NewAttempt() {
    auto next = std::make_unique<Shared>(&obs->health, stop);
    std::lock_guard<std::mutex> lock(lease_mu);
    shared = std::move(next);
  }
};

Result<std::unique_ptr<Session>> OpenSession(const config::Config& cfg,
                                             const std::string& command,
                                             const std::atomic<bool>* stop) {
  auto s = std::make_unique<Session>();
  s->command = command;
  s->stop = stop;
  PG2I_ASSIGN_OR_RETURN(s->obs, StartObservability(cfg));
  s->shared = std::make_unique<Shared>(&s->obs->health, stop);
  PG2I_RETURN_IF_ERROR(s->Own(cfg));
  return s;
}

// Drops what a failed start created when nothing was replicated through it; otherwise says
// what it left on the server (a slot holds WAL until it is used or dropped).
void ReportLeftovers(const config::Config& cfg, Session& session) {
  auto src = ConnectSource(cfg);
  if (!src.ok()) return;
  const std::string& slot = cfg.source.logical.slot_name;
  const std::string& pub = cfg.source.logical.publication_name;
  auto info = pg::ReadSlot(**src, slot);
  if (!info.ok() || !info->has_value()) return;
  bool untouched = session.created.slot;
  auto flushed = session.coord->FlushedLsn(slot);
  untouched = untouched && flushed.ok() && !flushed->has_value();
  for (const auto& t : cfg.tables) {
    auto chunks = session.coord->SnapshotChunks(t.name.ToString());
    untouched = untouched && chunks.ok() && chunks->empty();
  }
  if (untouched) {
    // The replication connection that created the slot may take a moment to let go of it.
    Status dropped;
    for (int i = 0; i < 20; ++i) {
      dropped = (*src)->Query("SELECT pg_drop_replication_slot($1)", {slot}).status();
      if (dropped.ok()) break;
      Clock::Real()->SleepFor(250ms);
    }
    if (dropped.ok()) {
      std::string also;
      if (session.created.publication &&
          (*src)->Exec("DROP PUBLICATION IF EXISTS " + pg::QuoteIdent(pub)).ok()) {
        also = " and publication " + pub;
      }
      if (session.created.ddl_trigger) {
        (void)pg::DropDdlTrigger(**src, cfg.state.coordinator_schema);
      }
      std::fprintf(stderr, "note: removed replication slot %s%s that this run created; "
                           "nothing had been replicated yet\n", slot.c_str(), also.c_str());
      return;
    }
  }
  std::fprintf(stderr,
               "note: replication slot %s stays on the server and holds WAL until pg2iceberg "
               "runs again (it resumes from the slot); to give up on this pipeline instead, run "
               "pg2iceberg cleanup (drops the slot, publication %s and coordinator schema %s)\n",
               slot.c_str(), pub.c_str(), cfg.state.coordinator_schema.c_str());
}

// Ends a writing command: records how it stopped in the owner row and returns the exit code
// (2 for a configuration error, 1 for failed work). A stop requested during the initial copy
// is not an error: the next start copies the tables not complete again.
int Finish(const config::Config& cfg, Session* session, const Status& result) {
  if (result.ok() || result.code() == StatusCode::kCancelled) {
    if (!result.ok()) {
      log::Info("stopped during the initial snapshot; the next start copies the tables whose "
                "copy was not complete again, from the beginning");
    }
    if (session && session->lease) session->lease->RecordStop("");
    return 0;
  }
  std::fprintf(stderr, "error: %s\n", result.message().c_str());
  if (session) {
    if (session->lease) session->lease->RecordStop(result.message());
    ReportLeftovers(cfg, *session);
  }
  return result.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace

namespace {

// Starts the attempt's materializer lanes and, when configured, background compaction (which
// never stops replication: it logs its own failures).
void StartMaterializing(const config::Config& cfg, coord::Coordinator& coord, Shared* shared) {
  StartNotifications(cfg, coord, shared);
  const int lanes = MaterializerLanes(cfg);
  for (int lane = 0; lane < lanes; ++lane) {
    shared->sup.Start(MaterializerName(lane, lanes), [&cfg, shared, lane, lanes] {
      return MaterializerLoop(cfg, shared, lane, lanes);
    });
  }
  if (cfg.sink.compaction_interval && cfg.sink.target_file_size > 0) {
    shared->sup.Start("compaction", [&cfg, shared] {
      CompactionLoop(cfg, shared);
      return Status::Ok();
    }, /*critical=*/false);
  }
}

// One attempt of `run` or `stream-only`: prepare (catch-up checks, pending copies), then the WAL
// writer (and the materializer) until a stop or a failure. `on_prepared` is called once the
// pipeline is prepared, `on_healthy` once every component has come round while streaming.
Status StreamOnce(const config::Config& cfg, const std::atomic<bool>& stop, bool materialize,
                  Session& s, const std::function<void()>& on_prepared,
                  const std::function<void()>& on_healthy) {
  auto prepared = Prepare(cfg, *s.coord, &stop, &s.obs->health, &s.created);
  if (!prepared.ok()) return prepared.status();
  on_prepared();
  s.shared->retried = true;
  if (stop) return Status::Ok();
  s.obs->health.SetPhase("starting replication", false);
  Shared* shared = s.shared.get();
  shared->on_healthy = on_healthy;
  shared->materializing = materialize;
  for (const auto& t : prepared->pending_snapshots) shared->copying.insert(t.name.ToString());
  // The attempt's services under one supervisor: the first error, a restart or the process
  // stop ends them all; the materializer's last cycle follows the WAL writer's last flush.
  pipeline::Supervisor& sup = shared->sup;
  if (!prepared->pending_snapshots.empty()) {
    shared->copy_running = true;
    sup.Start("snapshot", [&cfg, shared, tables = std::move(prepared->pending_snapshots)] {
      return LiveCopy(cfg, tables, shared);
    });
  }
  if (materialize) {
    StartMaterializing(cfg, *s.coord, shared);
  } else {
    StartNotifications(cfg, *s.coord, shared);  // the workers commit; their commits are polled
    // stream-only: nobody else notices a table dropped or re-created, or a resync request.
    sup.Start("table watch", [&cfg, shared]() -> Status {
      PG2I_ASSIGN_OR_RETURN(auto source, SourceCatalogOf(cfg));
      PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
      return pipeline::WatchSourceTables(
          shared->sup, *coord, *source, cfg.tables,
          [shared](const std::string& t) {
            return shared->copy_running && shared->copying.count(t) > 0;
          },
          cfg.sink.materializer_interval);
    });
  }
  auto writer_input = std::make_shared<Prepared>(std::move(*prepared));
  sup.Start(kWalWriter, [&cfg, shared, writer_input] {
    return WriterLoop(cfg, std::move(*writer_input), shared);
  });
  return sup.Join();
}

// The name of query mode's source service (lane 0; lane k > 0 is "query poller k").
constexpr char kQueryPoller[] = "query poller";

// One attempt of `run` in query mode: the tables checked, then the pollers (copying first the
// tables not copied yet) and the materializer, until a stop or a failure.
Status QueryOnce(const config::Config& cfg, const std::atomic<bool>& stop, Session& s,
                 const std::function<void()>& on_prepared,
                 const std::function<void()>& on_healthy) {
  if (cfg.tables.empty()) {
    return InvalidArgument("no tables configured; list them under tables: (or set TABLES)");
  }
  std::vector<query::QueryTable> tables;
  {
    PG2I_ASSIGN_OR_RETURN(auto conn, ConnectSource(cfg));
    if (conn->ServerVersion() < 130000) {
      return FailedPrecondition("PostgreSQL " + std::to_string(conn->ServerVersion()) +
                                " is older than 13, which pg2iceberg requires");
    }
    PG2I_RETURN_IF_ERROR(s.coord->Migrate());
    PG2I_RETURN_IF_ERROR(pipeline::CheckWarehouse(*s.coord, cfg.sink.warehouse));
    PG2I_RETURN_IF_ERROR(pipeline::EnsureGeneration(*s.coord));
    PG2I_ASSIGN_OR_RETURN(tables, PrepareQueryTables(cfg, *s.coord, *conn));
  }
  on_prepared();
  s.shared->retried = true;
  if (stop) return Status::Ok();
  s.obs->health.SetPhase("starting to poll", false);
  Shared* shared = s.shared.get();
  shared->on_healthy = on_healthy;
  shared->materializing = true;
  shared->source_service = kQueryPoller;
  for (const auto& t : tables) {
    if (t.copy) shared->copying.insert(t.table.name);
  }
  shared->copy_running = !shared->copying.empty();
  pipeline::Supervisor& sup = shared->sup;
  StartMaterializing(cfg, *s.coord, shared);
  auto qo = std::make_shared<query::QueryServiceOptions>();
  qo->connect = [&cfg]() { return ConnectSource(cfg); };
  qo->coordinator = [&cfg]() -> Result<std::unique_ptr<coord::Coordinator>> {
    PG2I_ASSIGN_OR_RETURN(auto c, ConnectCoordinator(cfg));
    return std::unique_ptr<coord::Coordinator>(std::move(c));
  };
  PG2I_ASSIGN_OR_RETURN(qo->io, OpenWarehouse(cfg));
  qo->staging_uri = StagingUri(cfg);
  qo->connections = std::max(1, std::min<int>(cfg.source.query.max_connections,
                                              static_cast<int>(tables.size())));
  qo->copy_concurrency = cfg.source.logical.snapshot_concurrency;
  qo->copy_chunk_pages = cfg.source.logical.snapshot_chunk_pages;
  auto shared_tables = std::make_shared<std::vector<query::QueryTable>>(std::move(tables));
  for (int lane = 0; lane < qo->connections; ++lane) {
    const std::string name =
        lane == 0 ? std::string(kQueryPoller) : std::string(kQueryPoller) + " " + std::to_string(lane);
    shared->health->Watch(name, kWriterMaxSilence);
    sup.Start(name, [qo, shared_tables, shared, lane, name] {
      return query::RunQueryLane(*qo, *shared_tables, lane, qo->connections, shared->sup,
                                 [shared, name] {
                                   shared->health->Beat(name);
                                   if (!shared->streaming.exchange(true)) {
                                     shared->health->SetPhase("polling", true);
                                   }
                                 });
    });
  }
  return sup.Join();
}

// Waits `d` unless a stop comes first; false on a stop.
bool WaitUnlessStopped(std::chrono::milliseconds d, const std::atomic<bool>& stop) {
  return !WaitUntil(Clock::Real(), d, 50ms, [&] { return stop.load(); });
}

// The error a retrying command ends with: a transient one says why it is no longer retried.
Status GaveUp(const Status& s, const Recovery::Decision& d) {
  if (!IsTransient(s)) return s;
  return Status(s.code(), s.message() + " (gave up: " + d.give_up + ")");
}

void RecordRecovering(bool recovering) {
  metrics::Default()
      .GetGauge("pg2iceberg_recovering",
                "1 while a transient fault is being retried (see /ready for the reason)")
      .Set(recovering ? 1 : 0);
}

}  // namespace

// `run` and `stream-only`: the WAL writer (and, for run, the materializer) until a stop. Once
// the pipeline has started, a transient fault starts it again inside this process, from what
// is durable, with capped exponential backoff (pipeline/recovery.h); a start-up error still ends
// the process at once, so that a mistake is seen while the operator watches.
static int RunStreaming(const config::Config& cfg, const std::atomic<bool>& stop,
                        bool materialize) {
  auto session = OpenSession(cfg, materialize ? "run" : "stream-only", &stop);
  if (!session.ok()) return Finish(cfg, nullptr, session.status());
  Session& s = **session;
  Recovery::Options ro;
  if (cfg.max_outage) {
    ro.max_outage = std::chrono::duration_cast<std::chrono::milliseconds>(*cfg.max_outage);
  }
  Recovery recovery(ro);
  bool started = false;  // prepared at least once: from then on transient faults are retried
  std::atomic<bool> recovering{false};
  RecordRecovering(false);
  // Before the next attempt: ownership (kept while held, taken again when its session was
  // lost) and a new coordinator connection; failures here are judged like the pipeline's own.
  // False when the process must end (exit_code set) or a stop came.
  int exit_code = 0;
  auto resume = [&](const std::string& why) -> bool {
    s.NewAttempt();
    while (true) {
      if (s.lease && !s.lease_lost && !s.lease->Check().ok()) s.lease_lost = true;
      Status resumed = s.lease_lost || !s.lease ? s.Own(cfg) : Status::Ok();
      if (resumed.ok()) {
        auto coord = ConnectCoordinator(cfg);
        if (coord.ok()) s.coord = std::move(*coord);
        resumed = coord.status();
      }
      if (resumed.ok()) {
        s.obs->health.SetRecovering(why);  // not ready until it streams again
        return true;
      }
      const Recovery::Decision again = recovery.Failed(resumed);
      if (!again.retry) {
        exit_code = Finish(cfg, &s, GaveUp(resumed, again));
        return false;
      }
      s.obs->health.SetRecovering(resumed.message());
      log::Warn("cannot resume yet", {{"error", resumed.ToString()},
                                      {"wait_ms", static_cast<int64_t>(again.wait.count())}});
      if (!WaitUnlessStopped(again.wait, stop)) {
        exit_code = Finish(cfg, &s, Status::Ok());
        return false;
      }
    }
  };
  while (true) {
    auto on_prepared = [&] { started = true; };
    auto on_healthy = [&] {
      recovery.Healthy();
      if (recovering) s.lease->RecordProblem("");
      recovering = false;
      RecordRecovering(false);
    };
    Status result = cfg.source.mode == config::SourceMode::kQuery
                        ? QueryOnce(cfg, stop, s, on_prepared, on_healthy)
                        : StreamOnce(cfg, stop, materialize, s, on_prepared, on_healthy);
    if (result.ok() && !stop && s.shared->sup.restart_requested()) {
      if (!resume("starting the pipeline again to copy a table (resync)")) return exit_code;
      continue;
    }
    if (result.ok() || stop) {
      if (!result.ok() && result.code() != StatusCode::kCancelled) {
        log::Warn("stopped with an error while stopping", {{"error", result.ToString()}});
      }
      break;
    }
    const Recovery::Decision d = recovery.Failed(result);
    if (!started || !d.retry) return Finish(cfg, &s, started ? GaveUp(result, d) : result);
    metrics::Default()
        .GetCounter("pg2iceberg_recoveries_total",
                    "Pipeline restarts inside the process after a transient fault",
                    {{"code", std::string(StatusCodeName(result.code()))}})
        .Add();
    RecordRecovering(true);
    const std::string why = result.message() + "; retry " + std::to_string(d.attempt) + " in " +
                            std::to_string(d.wait.count()) + " ms";
    s.obs->health.SetRecovering(why);
    recovering = true;
    if (s.lease) s.lease->RecordProblem(result.message());
    log::Warn("transient fault: starting the pipeline again after a pause",
              {{"error", result.ToString()},
               {"attempt", static_cast<int64_t>(d.attempt)},
               {"wait_ms", static_cast<int64_t>(d.wait.count())},
               {"outage_s", static_cast<int64_t>(d.outage.count() / 1000)}});
    if (!WaitUnlessStopped(d.wait, stop)) break;
    if (!resume("starting the pipeline again")) return exit_code;
    if (stop) break;
  }
  RecordRecovering(false);
  log::Info("stopped cleanly");
  return Finish(cfg, &s, Status::Ok());
}

int RunPipeline(const config::Config& cfg, const std::atomic<bool>& stop) {
  return RunStreaming(cfg, stop, true);
}

int RunStreamOnly(const config::Config& cfg, const std::atomic<bool>& stop) {
  return RunStreaming(cfg, stop, false);
}

namespace {

// Whether a worker may join this pipeline: its coordinator exists (a stream-only has started
// it), and no `run` owns it (a run materializes every table itself).
Status CheckWorkerMayJoin(const config::Config& cfg, coord::PgCoordinator& coord) {
  PG2I_ASSIGN_OR_RETURN(bool exists, coord.SchemaExists());
  if (!exists) {
    return FailedPrecondition("no pipeline in coordinator schema " +
                              cfg.state.coordinator_schema +
                              " yet: start pg2iceberg stream-only with this configuration first "
                              "(it owns the replication slot and stages the changes the "
                              "workers materialize)");
  }
  PG2I_ASSIGN_OR_RETURN(auto conn, ConnectCoordinatorDatabase(cfg));
  PG2I_ASSIGN_OR_RETURN(coord::OwnerInfo owner,
                        coord::InspectOwner(*conn, cfg.state.coordinator_schema));
  if (owner.alive && owner.command == "run") {
    return FailedPrecondition("a pg2iceberg run owns this pipeline and materializes every table "
                              "itself (" + owner.Describe() + "); materializer-only workers go "
                              "with stream-only: run stream-only instead of run, then the "
                              "workers");
  }
  return Status::Ok();
}

// One attempt of a worker: the materializer service over this worker's share of the tables,
// until the process stop (its last cycle then) or an error.
Status WorkerOnce(const config::Config& cfg, const std::atomic<bool>& stop,
                  const WorkerOptions& w, obs::Health* health, coord::WorkerLock* lock) {
  pipeline::Supervisor sup(Clock::Real(), &stop);
  sup.on_failure = [health](const std::string& component, const Status& s) {
    metrics::CountError("materializer", s.code());
    health->SetFailed(s.WithContext(component).ToString());
  };
  sup.Start("worker heartbeat", [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
    coord->set_heartbeat_ttl(w.ttl);
    return pipeline::WorkerHeartbeats(*coord, sup, cfg.state.group, w.worker_id, w.ttl);
  });
  const int lanes = MaterializerLanes(cfg);
  for (int lane = 0; lane < lanes; ++lane) {
    sup.Start(MaterializerName(lane, lanes), [&, lane]() -> Status {
      pipeline::MaterializerServiceOptions o;
      o.worker = w.worker_id;
      o.worker_ttl = w.ttl;
      PG2I_ASSIGN_OR_RETURN(auto l, OpenMaterializerLane(cfg, lane, lanes, health,
                                                         /*source=*/nullptr, std::move(o)));
      return l->service->Run(sup, /*follows=*/"", [&, name = l->name] {
        health->Beat(name);
        health->SetPhase("materializing", true);
        // Another process with this id may start once the lock is gone: stop, take it again.
        if (lane == 0) {
          if (Status held = lock->Check(); !held.ok()) sup.Fail("worker id lock", held);
        }
      });
    });
  }
  return sup.Join();
}

}  // namespace

int RunMaterializerOnly(const config::Config& cfg, const std::atomic<bool>& stop,
                        const WorkerOptions& w) {
  if (cfg.source.mode == config::SourceMode::kQuery) {
    std::fprintf(stderr, "error: materializer-only workers go with source.mode logical\n");
    return 2;
  }
  auto coord = ConnectCoordinator(cfg);
  if (!coord.ok()) return Fail(coord.status());
  if (Status s = CheckWorkerMayJoin(cfg, **coord); !s.ok()) return Fail(s);
  // The coordinator's tables as this version has them (a stream-only of an older version set
  // them up); idempotent.
  if (Status s = (*coord)->Migrate(); !s.ok()) return Fail(s);
  auto lock_conn = ConnectCoordinatorDatabase(cfg);
  if (!lock_conn.ok()) return Fail(lock_conn.status());
  auto lock = coord::WorkerLock::Acquire(std::move(*lock_conn), cfg.state.coordinator_schema,
                                         cfg.state.group, w.worker_id);
  if (!lock.ok()) return Fail(lock.status());
  auto obs = StartObservability(cfg);
  if (!obs.ok()) return Fail(obs.status());
  log::Info("materializer worker starting",
            {{"worker", w.worker_id}, {"group", cfg.state.group},
             {"worker_ttl_s", static_cast<int64_t>(w.ttl.count())}});
  Recovery::Options ro;
  if (cfg.max_outage) {
    ro.max_outage = std::chrono::duration_cast<std::chrono::milliseconds>(*cfg.max_outage);
  }
  Recovery recovery(ro);
  while (true) {
    Status result = WorkerOnce(cfg, stop, w, &(*obs)->health, lock->get());
    if (result.ok() || stop) break;
    const Recovery::Decision d = recovery.Failed(result);
    if (!d.retry) return Fail(GaveUp(result, d));
    (*obs)->health.SetRecovering(result.message());
    log::Warn("transient fault: the worker starts again after a pause",
              {{"error", result.ToString()},
               {"attempt", static_cast<int64_t>(d.attempt)},
               {"wait_ms", static_cast<int64_t>(d.wait.count())}});
    if (!WaitUnlessStopped(d.wait, stop)) break;
    if (Status held = (*lock)->Check(); !held.ok()) {
      // The id's lock went with the coordinator's session: take it again (or find that another
      // process with this id took it meanwhile).
      auto again = ConnectCoordinatorDatabase(cfg);
      if (!again.ok()) continue;
      auto relocked = coord::WorkerLock::Acquire(std::move(*again), cfg.state.coordinator_schema,
                                                 cfg.state.group, w.worker_id);
      if (!relocked.ok()) return Fail(relocked.status());
      *lock = std::move(*relocked);
    }
  }
  // A graceful leave, once nothing of this worker beats any more.
  pipeline::LeaveGroup(**coord, cfg.state.group, w.worker_id);
  log::Info("worker stopped cleanly", {{"worker", w.worker_id}});
  return 0;
}

int RunSnapshotCommand(const config::Config& cfg, const std::atomic<bool>& stop) {
  {
    // Nothing to do: say so without changing anything in PostgreSQL or the catalog.
    auto coord = ConnectCoordinator(cfg);
    if (!coord.ok()) return Finish(cfg, nullptr, coord.status());
    auto exists = (*coord)->SchemaExists();
    bool all_complete = !cfg.tables.empty() && exists.ok() && *exists;
    for (const auto& t : cfg.tables) {
      if (!all_complete) break;
      auto st = (*coord)->GetTable(t.name.ToString());
      all_complete = st.ok() && st->has_value() && (*st)->snapshot_complete;
    }
    if (all_complete) {
      std::printf("OK: snapshot already complete\n");
      return 0;
    }
  }
  auto session = OpenSession(cfg, "snapshot", &stop);
  if (!session.ok()) return Finish(cfg, nullptr, session.status());
  Session& sess = **session;
  auto run = [&]() -> Status {
    coord::PgCoordinator* coord = sess.coord.get();
    sess.obs->health.SetPhase("snapshot", false);
    PG2I_ASSIGN_OR_RETURN(Prepared p, Prepare(cfg, *coord, &stop, &sess.obs->health, &sess.created));
    PG2I_RETURN_IF_ERROR(CopyTables(cfg, p.pending_snapshots, nullptr, &stop));
    if (stop) {
      return Cancelled("stopped; run pg2iceberg snapshot again to finish (a table whose copy "
                       "was not complete is copied again from the beginning)");
    }
    // Make the copy visible in Iceberg.
    PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
    PG2I_ASSIGN_OR_RETURN(auto cat, OpenCatalog(cfg, io));
    PG2I_ASSIGN_OR_RETURN(auto mo, MaterializerOptionsOf(cfg, *coord));
    materialize::Materializer m(coord, cat.get(), io, cfg.tables, mo);
    std::optional<upkeep::MetaTables> meta;
    if (!cfg.sink.meta_namespace.empty()) {
      meta.emplace(cat.get(), io, cfg.sink.meta_namespace, cfg.state.coordinator_schema);
    }
    for (const auto& t : cfg.tables) {
      const std::string name = t.name.ToString();
      PG2I_ASSIGN_OR_RETURN(int64_t target, coord->NextOffset(name));
      while (true) {
        PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord->GetCursor(cfg.state.group, name));
        if (c.offset >= target) break;
        if (stop) return Cancelled("stopped; run pg2iceberg snapshot again to resume");
        PG2I_ASSIGN_OR_RETURN(materialize::TableResult r, m.MaterializeTable(name));
        pipeline::RecordCommits(meta ? &*meta : nullptr, m, {{name, r}}, /*force=*/true);
      }
      std::printf("table=%s snapshot complete, materialized offset %lld\n", name.c_str(),
                  static_cast<long long>(target));
    }
    std::printf("OK: snapshot complete\n");
    return Status::Ok();
  };
  Status s = run();
  if (s.code() == StatusCode::kCancelled) {
    sess.lease->RecordStop("");
    return Fail(s);
  }
  return Finish(cfg, &sess, s);
}

int RunMigrateCoord(const config::Config& cfg) {
  auto coord = ConnectCoordinator(cfg);
  if (!coord.ok()) return Fail(coord.status());
  Status s = (*coord)->Migrate();
  if (!s.ok()) return Fail(s);
  std::printf("OK: coordinator schema %s is up to date\n", cfg.state.coordinator_schema.c_str());
  return 0;
}

int RunResync(const config::Config& cfg, const std::vector<std::string>& tables) {
  auto run = [&]() -> Status {
    std::vector<std::string> names;
    for (const std::string& t : tables) {
      std::string name;
      for (const auto& c : cfg.tables) {
        if (c.name.ToString() == t || c.name.Quoted() == t || c.name.table == t) {
          name = c.name.ToString();
        }
      }
      if (name.empty()) {
        return InvalidArgument("table " + t + " is not configured (tables[]); resync copies "
                               "configured tables only");
      }
      for (const auto& c : cfg.tables) {
        if (c.name.ToString() == name && c.skip_snapshot) {
          return InvalidArgument("table " + name + " has skip_snapshot: its Iceberg content is "
                                 "declared, not copied, so there is nothing to copy again");
        }
      }
      names.push_back(name);
    }
    PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
    PG2I_ASSIGN_OR_RETURN(coord::OwnerInfo owner,
                          coord::InspectOwner(coord->connection(), cfg.state.coordinator_schema));
    for (const std::string& name : names) {
      auto offset = coord->RequestResync(name);
      if (!offset.ok()) {
        return FailedPrecondition(offset.status().message() +
                                  "; a table is copied by the pipeline's first start, and a copy "
                                  "in progress finishes on its own (see pg2iceberg status)");
      }
      std::printf("resync of %s requested: its changes wait while it is copied again; the copy "
                  "replaces its Iceberg content\n",
                  name.c_str());
    }
    if (owner.alive && owner.command == "run") {
      std::printf("the running pipeline (%s) copies it within one materializer interval; the "
                  "other tables keep streaming. Follow it with: pg2iceberg status --wait\n",
                  owner.Describe().c_str());
    } else {
      std::printf("no `pg2iceberg run` is running on this pipeline: the next start copies it\n");
    }
    return Status::Ok();
  };
  Status s = run();
  if (s.ok()) return 0;
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

int RunCleanup(const config::Config& cfg) {
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto src, ConnectSource(cfg));
    {
      PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
      PG2I_ASSIGN_OR_RETURN(coord::OwnerInfo owner,
                            coord::InspectOwner(coord->connection(), cfg.state.coordinator_schema));
      if (owner.alive) {
        return FailedPrecondition("pg2iceberg is running on this pipeline (" + owner.Describe() +
                                  "); stop it first, then run cleanup");
      }
    }
    const std::string& slot = cfg.source.logical.slot_name;
    PG2I_ASSIGN_OR_RETURN(auto info, pg::ReadSlot(*src, slot));
    if (info) {
      if (info->active) {
        return FailedPrecondition("replication slot " + slot +
                                  " is in use; stop pg2iceberg first");
      }
      PG2I_RETURN_IF_ERROR(src->Query("SELECT pg_drop_replication_slot($1)", {slot}).status());
      std::printf("dropped replication slot %s\n", slot.c_str());
    }
    const std::string& pub = cfg.source.logical.publication_name;
    if (cfg.tables_from_publication) {
      std::printf("kept publication %s: it lists the tables to replicate (none are configured)\n",
                  pub.c_str());
    } else {
      PG2I_RETURN_IF_ERROR(src->Exec("DROP PUBLICATION IF EXISTS " + pg::QuoteIdent(pub)));
    }
    if (Status t = pg::DropDdlTrigger(*src, cfg.state.coordinator_schema); !t.ok()) {
      std::printf("could not drop the DDL event triggers %s and %s (%s); a superuser can: "
                  "DROP EVENT TRIGGER %s; DROP EVENT TRIGGER %s;\n",
                  pg::DdlTriggerName(cfg.state.coordinator_schema).c_str(),
                  pg::RewriteTriggerName(cfg.state.coordinator_schema).c_str(),
                  t.ToString().c_str(),
                  pg::QuoteIdent(pg::DdlTriggerName(cfg.state.coordinator_schema)).c_str(),
                  pg::QuoteIdent(pg::RewriteTriggerName(cfg.state.coordinator_schema)).c_str());
    }
    if (!cfg.tables_from_publication) {
      std::printf("dropped publication %s (if it existed)\n", pub.c_str());
    }
    PG2I_ASSIGN_OR_RETURN(auto coord, ConnectCoordinator(cfg));
    PG2I_RETURN_IF_ERROR(coord->DropSchema());
    std::printf("dropped coordinator schema %s; Iceberg tables were not touched\n",
                cfg.state.coordinator_schema.c_str());
    return Status::Ok();
  };
  Status s = run();
  return s.ok() ? 0 : Fail(s);
}

}  // namespace pg2iceberg::cli
