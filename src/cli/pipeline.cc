#include "cli/pipeline.h"
#include "cli/verify.h"

#include <cctype>
#include <cstdio>
#include <thread>

#include "base/crash_point.h"
#include "base/log.h"
#include "base/metrics.h"
#include "catalog/rest_catalog.h"
#include "catalog/sql_catalog.h"
#include "coord/pg_coordinator.h"
#include "io/arrow_file_io.h"
#include "materialize/materializer.h"
#include "obs/metrics_server.h"
#include "pg/catalog.h"
#include "pg/replication.h"
#include "pg/values.h"
#include "fold/fold.h"
#include "stage/wal_writer.h"
#include "snapshot/snapshotter.h"

#include <unistd.h>

namespace pg2iceberg::cli {
namespace {

using namespace std::chrono_literals;

int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  return 1;
}

std::string CoordConnInfo(const config::Config& cfg) {
  return cfg.state.postgres_url.empty() ? cfg.source.postgres.ConnString()
                                        : cfg.state.postgres_url;
}

std::string CoordDisplay(const config::Config& cfg) {
  return cfg.state.postgres_url.empty() ? cfg.source.postgres.RedactedConnString()
                                        : "the coordinator database (state.postgres_url)";
}

Result<std::unique_ptr<pg::Connection>> Source(const config::Config& cfg) {
  return pg::ConnectWithRetry(cfg.source.postgres.ConnString(),
                              cfg.source.postgres.RedactedConnString(), 5, Clock::Real());
}

Result<std::unique_ptr<coord::PgCoordinator>> Coordinator(const config::Config& cfg) {
  PG2I_ASSIGN_OR_RETURN(auto conn,
                        pg::ConnectWithRetry(CoordConnInfo(cfg), CoordDisplay(cfg), 5, Clock::Real()));
  return std::make_unique<coord::PgCoordinator>(std::move(conn), cfg.state.coordinator_schema);
}

io::S3Settings S3SettingsOf(const config::Config::Sink& sink) {
  io::S3Settings s;
  s.endpoint = sink.s3_endpoint;
  s.region = sink.s3_region;
  s.access_key = sink.s3_access_key;
  s.secret_key = sink.s3_secret_key;
  s.credentials = sink.credential_mode == config::CredentialMode::kIam
                      ? io::S3Settings::Credentials::kDefaultChain
                      : io::S3Settings::Credentials::kStatic;
  return s;
}

Result<std::unique_ptr<catalog::Catalog>> Catalog(const config::Config& cfg,
                                                  std::shared_ptr<io::FileIO> io) {
  if (cfg.sink.catalog_type == config::CatalogType::kRest) {
    PG2I_ASSIGN_OR_RETURN(auto c, catalog::RestCatalog::Open(cfg.sink));
    return std::unique_ptr<catalog::Catalog>(std::move(c));
  }
  PG2I_ASSIGN_OR_RETURN(auto conn,
                        pg::ConnectWithRetry(CoordConnInfo(cfg), CoordDisplay(cfg), 5, Clock::Real()));
  catalog::SqlCatalogOptions o;
  o.catalog_name = cfg.sink.catalog_name;
  o.schema = cfg.sink.catalog_schema;
  o.warehouse = cfg.sink.warehouse;
  PG2I_ASSIGN_OR_RETURN(auto c, catalog::SqlCatalog::Open(std::move(conn), std::move(io), o));
  return std::unique_ptr<catalog::Catalog>(std::move(c));
}

materialize::MaterializerOptions MaterializerOptionsOf(const config::Config& cfg) {
  materialize::MaterializerOptions mo;
  mo.group = cfg.state.group;
  mo.ns = {cfg.sink.ns};
  mo.target_file_size = cfg.sink.target_file_size;
  return mo;
}

std::string StagingUri(const config::Config& cfg) {
  std::string wh = cfg.sink.warehouse;
  while (!wh.empty() && wh.back() == '/') wh.pop_back();
  return wh + "/_pg2iceberg_staging/" + cfg.state.coordinator_schema;
}

Result<stage::StagedRelation> Discover(pg::Connection& conn, const config::TableConfig& t) {
  PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(conn, t.name));
  PG2I_ASSIGN_OR_RETURN(std::vector<std::string> key, pg::EffectivePrimaryKey(info, t));
  stage::StagedRelation rel;
  rel.table = t.name.ToString();
  for (const auto& c : info.columns) {
    pg::TypeMapping m = pg::MapType(c.base_type_oid, c.typmod);
    if (!m.warning.empty()) {
      log::Warn(m.warning, {{"table", rel.table}, {"column", c.name}});
    }
    rel.columns.push_back(stage::StagedColumn{c.name, c.base_type_oid, c.typmod, m.type, c.nullable});
  }
  for (const std::string& k : key) {
    for (size_t i = 0; i < rel.columns.size(); ++i) {
      if (rel.columns[i].name == k) rel.key.push_back(static_cast<int>(i));
    }
  }
  return rel;
}

std::vector<std::string> TableNames(const config::Config& cfg) {
  std::vector<std::string> out;
  for (const auto& t : cfg.tables) out.push_back(t.name.ToString());
  return out;
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
  auto last_log = std::make_shared<std::chrono::steady_clock::time_point>();
  return [tty, last_log](const std::vector<snapshot::TableProgress>& tables, bool final) {
    for (const auto& t : tables) RecordSnapshotProgress(t);
    if (tty) {
      std::string line;
      for (const auto& t : tables) line += (line.empty() ? "" : " | ") + snapshot::FormatProgress(t);
      std::fprintf(stderr, "\r\033[Ksnapshot: %s%s", line.c_str(), final ? "\n" : "");
      std::fflush(stderr);
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!final && now - *last_log < 10s) return;
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

// Copies `tables` as of the exported snapshot `snapshot_name` (empty: a fresh one), in
// parallel CTID chunks, resuming finished chunks.
Status CopyTables(const config::Config& cfg, const std::vector<snapshot::SnapshotTable>& tables,
                  const std::string& snapshot_name, Lsn label, const std::atomic<bool>* stop) {
  if (tables.empty()) return Status::Ok();
  PG2I_ASSIGN_OR_RETURN(auto io, io::MakeFileIO(cfg.sink.warehouse, S3SettingsOf(cfg.sink)));
  snapshot::SnapshotOptions o;
  o.connect = [&cfg]() { return Source(cfg); };
  o.coordinator = [&cfg]() -> Result<std::unique_ptr<coord::Coordinator>> {
    PG2I_ASSIGN_OR_RETURN(auto c, Coordinator(cfg));
    return std::unique_ptr<coord::Coordinator>(std::move(c));
  };
  o.io = io;
  o.staging_uri = StagingUri(cfg);
  o.concurrency = cfg.source.logical.snapshot_concurrency;
  o.chunk_pages = cfg.source.logical.snapshot_chunk_pages;
  o.batch_rows = std::clamp<int64_t>(cfg.sink.flush_rows, 10'000, 100'000);
  o.snapshot_name = snapshot_name;
  o.label = label;
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

Result<Prepared> Prepare(const config::Config& cfg, coord::Coordinator& coord,
                         const std::atomic<bool>* stop, obs::Health* health) {
  if (cfg.tables.empty()) {
    return InvalidArgument("no tables configured; list them under tables: (or set TABLES)");
  }
  PG2I_ASSIGN_OR_RETURN(auto conn, Source(cfg));
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
  Prepared p;
  std::vector<pg::TableInfo> infos;
  for (const auto& t : cfg.tables) {
    PG2I_ASSIGN_OR_RETURN(pg::TableInfo info, pg::DiscoverTable(*conn, t.name));
    PG2I_ASSIGN_OR_RETURN(stage::StagedRelation rel, Discover(*conn, t));
    // A table dropped and re-created under the same name is a different table.
    PG2I_ASSIGN_OR_RETURN(auto known, coord.GetTable(rel.table));
    if (known && known->relid != 0 && known->relid != info.oid) {
      return FailedPrecondition(
          "table " + rel.table + " was dropped and re-created (oid " +
          std::to_string(known->relid) + " → " + std::to_string(info.oid) +
          "); its changes in between are lost. Run pg2iceberg cleanup, drop the Iceberg table, "
          "and start again to re-snapshot");
    }
    if (!known) {
      // Tracked anew (first start, added, or forgotten on purpose): copy from scratch.
      PG2I_RETURN_IF_ERROR(coord.ForgetSnapshotProgress(rel.table));
      PG2I_RETURN_IF_ERROR(coord.PutTable({rel.table, info.oid, false, Lsn()}));
    }
    p.relations[rel.table] = std::move(rel);
    infos.push_back(std::move(info));
  }
  // A copied table that is no longer in the publication missed its changes in between:
  // re-adding it silently would hide that loss.
  const std::string& pub_name = cfg.source.logical.publication_name;
  PG2I_ASSIGN_OR_RETURN(std::string pub_exists,
                        conn->QueryScalar("SELECT count(*) FROM pg_publication WHERE pubname = " +
                                          pg::QuoteLiteral(pub_name)));
  for (size_t i = 0; pub_exists != "0" && i < cfg.tables.size(); ++i) {
    const std::string name = cfg.tables[i].name.ToString();
    PG2I_ASSIGN_OR_RETURN(auto known, coord.GetTable(name));
    if (!known || !known->snapshot_complete) continue;
    PG2I_ASSIGN_OR_RETURN(
        pg::QueryResult in_pub,
        conn->Query("SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 "
                    "AND tablename = $3",
                    {pub_name, cfg.tables[i].name.schema, cfg.tables[i].name.table}));
    if (in_pub.rows.empty()) {
      return FailedPrecondition(
          "table " + name + " left publication " + pub_name +
          " after it was copied, so its changes since then are lost. To copy it again: drop "
          "its Iceberg table, run DELETE FROM " + pg::QuoteIdent(cfg.state.coordinator_schema) +
          ".tables WHERE table_name = " + pg::QuoteLiteral(name) +
          "; and start pg2iceberg (it re-adds the table to the publication and re-copies it)");
    }
  }
  auto pub = pg::EnsurePublication(*conn, cfg.source.logical.publication_name, infos);
  if (!pub.ok()) return pg::ExplainSetupError(pub.status(), cfg.source.postgres.user);
  if (pub->created) log::Info("created publication", {{"publication", cfg.source.logical.publication_name}});
  for (const auto& a : pub->added) log::Info("added table to publication", {{"table", a}});

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

  const std::string& slot_name = cfg.source.logical.slot_name;
  PG2I_ASSIGN_OR_RETURN(auto slot, pg::ReadSlot(*conn, slot_name));
  PG2I_ASSIGN_OR_RETURN(auto flushed, coord.FlushedLsn(slot_name));
  if (!slot) {
    if (flushed) {
      return FailedPrecondition("replication slot " + slot_name +
                                " is gone although pg2iceberg used it before, so changes may be "
                                "lost; run pg2iceberg cleanup and start again to re-snapshot");
    }
    PG2I_ASSIGN_OR_RETURN(pg::CreatedSlot created, p.replication->CreateSlot(slot_name, true));
    log::Info("created replication slot", {{"slot", slot_name}, {"lsn", created.consistent_point}});
    p.start = created.consistent_point;
    // The exported snapshot is valid until the next command on the replication connection:
    // copy every table as of exactly the slot's start point now.
    PG2I_ASSIGN_OR_RETURN(auto pending, PendingSnapshots(cfg, coord, p.relations));
    if (health != nullptr && !pending.empty()) health->SetPhase("initial snapshot", false);
    PG2I_RETURN_IF_ERROR(CopyTables(cfg, pending, created.snapshot_name, created.consistent_point, stop));
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
    if (flushed && slot->confirmed_flush_lsn > *flushed) {
      return FailedPrecondition("replication slot " + slot_name + " was advanced to " +
                                slot->confirmed_flush_lsn.ToString() +
                                " by someone else (pg2iceberg confirmed only " +
                                flushed->ToString() +
                                "), so changes may be lost; run pg2iceberg cleanup and start "
                                "again to re-snapshot");
    }
    p.start = slot->confirmed_flush_lsn;
  }
  PG2I_RETURN_IF_ERROR(coord.SetMeta("slot_name", slot_name));
  return p;
}

// A loop that has not come round for this long makes /healthz fail: the WAL writer steps
// every 200 ms plus at most one flush; a materializer cycle commits every table once.
constexpr std::chrono::seconds kWriterMaxSilence{300};
constexpr std::chrono::seconds kMaterializerMaxSilence{900};

// Changes staged but not yet materialized, per table: how far Iceberg is behind staging.
Status RecordPending(const config::Config& cfg, coord::Coordinator& coord,
                     const std::vector<std::string>& tables) {
  for (const auto& t : tables) {
    PG2I_ASSIGN_OR_RETURN(int64_t next, coord.NextOffset(t));
    PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord.GetCursor(cfg.state.group, t));
    metrics::Default()
        .GetGauge("pg2iceberg_materialize_pending_changes",
                  "Staged changes not yet materialized into Iceberg (log offsets past the cursor)",
                  {{"table", t}})
        .Set(static_cast<double>(std::max<int64_t>(0, next - c.offset)));
  }
  return Status::Ok();
}

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

struct Shared {
  explicit Shared(obs::Health* h) : health(h) {}
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status error;
  obs::Health* health;
  // `component` ended with `s`: the first error is the one reported.
  void Fail(const std::string& component, const Status& s) {
    std::string label;  // "WAL writer" → "wal_writer"
    for (char c : component) label += c == ' ' ? '_' : static_cast<char>(std::tolower(c));
    metrics::CountError(label, s.code());
    const Status with = s.WithContext(component);
    health->SetFailed(with.ToString());
    std::lock_guard<std::mutex> lock(mu);
    if (error.ok()) error = with;
    failed = true;
  }
};

void WriterLoop(const config::Config& cfg, Prepared prepared, const std::atomic<bool>& stop,
                Shared* shared, std::atomic<bool>* writer_done) {
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto coord, Coordinator(cfg));
    PG2I_ASSIGN_OR_RETURN(auto warehouse_io, io::MakeFileIO(cfg.sink.warehouse, S3SettingsOf(cfg.sink)));
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
    PG2I_ASSIGN_OR_RETURN(auto disco_conn, Source(cfg));
    pg::Connection* dc = disco_conn.get();
    auto rediscover = [dc, &cfg](const std::string& table) -> Result<stage::StagedRelation> {
      for (const auto& t : cfg.tables) {
        if (t.name.ToString() == table) return Discover(*dc, t);
      }
      return NotFound("table " + table + " is not configured");
    };
    stage::WalWriterOptions wo;
    wo.slot = slot;
    wo.staging_uri = StagingUri(cfg);
    wo.flush_rows = cfg.sink.flush_rows;
    wo.flush_bytes = cfg.sink.flush_bytes;
    wo.flush_interval = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.sink.flush_interval);
    stage::WalWriter writer(std::move(stream), c, warehouse_io, std::move(prepared.relations),
                            rediscover, wo);
    log::Info("streaming", {{"slot", slot}, {"from", prepared.start}});
    shared->health->Watch("wal writer", kWriterMaxSilence);
    bool streaming = false;
    while (!stop && !shared->failed) {
      PG2I_RETURN_IF_ERROR(writer.Step(200ms));
      shared->health->Beat("wal writer");
      if (!streaming) shared->health->SetPhase("streaming", true);
      streaming = true;
    }
    PG2I_RETURN_IF_ERROR(writer.Flush());
    log::Info("WAL writer stopped", {{"confirmed", writer.confirmed()}});
    return Status::Ok();
  };
  Status s = run();
  if (!s.ok()) shared->Fail("WAL writer", s);
  *writer_done = true;
}

void MaterializerLoop(const config::Config& cfg, const std::atomic<bool>& writer_done,
                      Shared* shared) {
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto coord, Coordinator(cfg));
    PG2I_ASSIGN_OR_RETURN(auto io, io::MakeFileIO(cfg.sink.warehouse, S3SettingsOf(cfg.sink)));
    PG2I_ASSIGN_OR_RETURN(auto cat, Catalog(cfg, io));
    materialize::Materializer m(coord.get(), cat.get(), io, cfg.tables, MaterializerOptionsOf(cfg));
    const auto tables = TableNames(cfg);
    shared->health->Watch("materializer", std::max<std::chrono::seconds>(
                                              kMaterializerMaxSilence,
                                              10 * std::chrono::duration_cast<std::chrono::seconds>(
                                                       cfg.sink.materializer_interval)));
    while (true) {
      const bool last = writer_done.load();
      PG2I_RETURN_IF_ERROR(coord->Heartbeat(cfg.state.group, "run"));
      PG2I_RETURN_IF_ERROR(m.RunCycle(tables).status());
      PG2I_RETURN_IF_ERROR(RecordPending(cfg, *coord, tables));
      shared->health->Beat("materializer");
      if (last || shared->failed) break;
      const auto until = std::chrono::steady_clock::now() + cfg.sink.materializer_interval;
      while (std::chrono::steady_clock::now() < until && !writer_done && !shared->failed) {
        std::this_thread::sleep_for(50ms);
      }
    }
    return Status::Ok();
  };
  Status s = run();
  if (!s.ok()) shared->Fail("materializer", s);
}

}  // namespace

namespace {

// Copies tables added to a running pipeline (or whose first copy was interrupted) while the
// WAL writer streams; their changes wait in log_deferred until the copy is in.
std::thread StartLiveSnapshot(const config::Config& cfg, Prepared& prepared,
                              const std::atomic<bool>& stop, Shared* shared) {
  if (prepared.pending_snapshots.empty()) return {};
  return std::thread([&cfg, &stop, shared, tables = std::move(prepared.pending_snapshots),
                      label = prepared.start]() {
    Status s = CopyTables(cfg, tables, "", label, &stop);
    if (!s.ok() && s.code() != StatusCode::kCancelled) shared->Fail("snapshot", s);
  });
}

// A stop requested during the initial copy is not an error: the next start resumes it.
int PrepareFailed(const Status& s) {
  if (s.code() == StatusCode::kCancelled) {
    log::Info("stopped during the initial snapshot; the next start resumes it");
    return 0;
  }
  return Fail(s);
}

}  // namespace

int RunPipeline(const config::Config& cfg, const std::atomic<bool>& stop) {
  auto o = StartObservability(cfg);
  if (!o.ok()) return Fail(o.status());
  auto coord = Coordinator(cfg);
  if (!coord.ok()) return Fail(coord.status());
  auto prepared = Prepare(cfg, **coord, &stop, &(*o)->health);
  if (!prepared.ok()) return PrepareFailed(prepared.status());
  if (stop) return 0;
  (*o)->health.SetPhase("starting replication", false);
  Shared shared(&(*o)->health);
  std::atomic<bool> writer_done{false};
  std::thread snap = StartLiveSnapshot(cfg, *prepared, stop, &shared);
  std::thread writer(WriterLoop, std::cref(cfg), std::move(*prepared), std::cref(stop), &shared,
                     &writer_done);
  std::thread mat(MaterializerLoop, std::cref(cfg), std::cref(writer_done), &shared);
  writer.join();
  mat.join();
  if (snap.joinable()) snap.join();
  if (shared.failed) return Fail(shared.error);
  log::Info("stopped cleanly");
  return 0;
}

int RunStreamOnly(const config::Config& cfg, const std::atomic<bool>& stop) {
  auto o = StartObservability(cfg);
  if (!o.ok()) return Fail(o.status());
  auto coord = Coordinator(cfg);
  if (!coord.ok()) return Fail(coord.status());
  auto prepared = Prepare(cfg, **coord, &stop, &(*o)->health);
  if (!prepared.ok()) return PrepareFailed(prepared.status());
  if (stop) return 0;
  (*o)->health.SetPhase("starting replication", false);
  Shared shared(&(*o)->health);
  std::atomic<bool> writer_done{false};
  std::thread snap = StartLiveSnapshot(cfg, *prepared, stop, &shared);
  WriterLoop(cfg, std::move(*prepared), stop, &shared, &writer_done);
  if (snap.joinable()) snap.join();
  if (shared.failed) return Fail(shared.error);
  return 0;
}

int RunSnapshotCommand(const config::Config& cfg, const std::atomic<bool>& stop) {
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto coord, Coordinator(cfg));
    PG2I_ASSIGN_OR_RETURN(auto o, StartObservability(cfg));
    o->health.SetPhase("snapshot", false);
    // Nothing to do: say so without changing anything in PostgreSQL or the catalog.
    bool all_complete = !cfg.tables.empty();
    for (const auto& t : cfg.tables) {
      auto st = coord->GetTable(t.name.ToString());
      all_complete = all_complete && st.ok() && st->has_value() && (*st)->snapshot_complete;
    }
    if (all_complete) {
      std::printf("OK: snapshot already complete\n");
      return Status::Ok();
    }
    PG2I_ASSIGN_OR_RETURN(Prepared p, Prepare(cfg, *coord, &stop, &o->health));
    PG2I_RETURN_IF_ERROR(CopyTables(cfg, p.pending_snapshots, "", p.start, &stop));
    if (stop) return Cancelled("stopped; run pg2iceberg snapshot again to resume");
    // Make the copy visible in Iceberg.
    PG2I_ASSIGN_OR_RETURN(auto io, io::MakeFileIO(cfg.sink.warehouse, S3SettingsOf(cfg.sink)));
    PG2I_ASSIGN_OR_RETURN(auto cat, Catalog(cfg, io));
    materialize::Materializer m(coord.get(), cat.get(), io, cfg.tables, MaterializerOptionsOf(cfg));
    for (const auto& t : cfg.tables) {
      const std::string name = t.name.ToString();
      PG2I_ASSIGN_OR_RETURN(int64_t target, coord->NextOffset(name));
      while (true) {
        PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord->GetCursor(cfg.state.group, name));
        if (c.offset >= target) break;
        if (stop) return Cancelled("stopped; run pg2iceberg snapshot again to resume");
        PG2I_RETURN_IF_ERROR(m.MaterializeTable(name).status());
      }
      std::printf("table=%s snapshot complete, materialized offset %lld\n", name.c_str(),
                  static_cast<long long>(target));
    }
    std::printf("OK: snapshot complete\n");
    return Status::Ok();
  };
  Status s = run();
  return s.ok() ? 0 : Fail(s);
}

int RunStatus(const config::Config& cfg, bool wait, std::chrono::seconds timeout) {
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto src, Source(cfg));
    PG2I_ASSIGN_OR_RETURN(auto coord, Coordinator(cfg));
    const std::string slot = cfg.source.logical.slot_name;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (wait) {
      // A transactional marker: once the WAL writer confirmed past it, everything committed
      // before this call is staged.
      PG2I_ASSIGN_OR_RETURN(std::string marker_text,
                            src->QueryScalar("SELECT pg_logical_emit_message(true, 'pg2iceberg', "
                                             "'status --wait')::text"));
      PG2I_ASSIGN_OR_RETURN(Lsn marker, Lsn::Parse(marker_text));
      while (true) {
        PG2I_ASSIGN_OR_RETURN(auto flushed, coord->FlushedLsn(slot));
        if (flushed && *flushed > marker) break;
        if (std::chrono::steady_clock::now() > deadline) {
          return Unavailable("timed out waiting for the WAL writer to stage changes up to " +
                             marker.ToString() + " (is pg2iceberg run going?)");
        }
        std::this_thread::sleep_for(100ms);
      }
      for (const auto& t : TableNames(cfg)) {
        // A table being copied: wait for the copy (its changes wait behind it).
        while (true) {
          PG2I_ASSIGN_OR_RETURN(auto st, coord->GetTable(t));
          if (st && st->snapshot_complete) break;
          if (std::chrono::steady_clock::now() > deadline) {
            return Unavailable("timed out waiting for the initial copy of " + t);
          }
          std::this_thread::sleep_for(200ms);
        }
        PG2I_ASSIGN_OR_RETURN(int64_t target, coord->NextOffset(t));
        while (true) {
          PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord->GetCursor(cfg.state.group, t));
          if (c.offset >= target) break;
          if (std::chrono::steady_clock::now() > deadline) {
            return Unavailable("timed out waiting for " + t + " to be materialized (offset " +
                               std::to_string(c.offset) + " of " + std::to_string(target) + ")");
          }
          std::this_thread::sleep_for(100ms);
        }
      }
    }
    PG2I_ASSIGN_OR_RETURN(std::string cur_text, src->QueryScalar("SELECT pg_current_wal_lsn()::text"));
    PG2I_ASSIGN_OR_RETURN(Lsn current, Lsn::Parse(cur_text));
    PG2I_ASSIGN_OR_RETURN(auto flushed, coord->FlushedLsn(slot));
    const Lsn staged = flushed.value_or(Lsn());
    std::printf("source_lsn=%s staged_lsn=%s lag_bytes=%llu\n", current.ToString().c_str(),
                staged.ToString().c_str(),
                static_cast<unsigned long long>(Lsn::BytesBetween(staged, current)));
    for (const auto& t : TableNames(cfg)) {
      PG2I_ASSIGN_OR_RETURN(int64_t next, coord->NextOffset(t));
      PG2I_ASSIGN_OR_RETURN(coord::Cursor c, coord->GetCursor(cfg.state.group, t));
      PG2I_ASSIGN_OR_RETURN(auto st, coord->GetTable(t));
      std::string copy = "complete";
      if (!st || !st->snapshot_complete) {
        PG2I_ASSIGN_OR_RETURN(auto chunks, coord->SnapshotChunks(t));
        PG2I_ASSIGN_OR_RETURN(int64_t waiting, coord->DeferredFiles(t));
        int64_t rows = 0;
        for (const auto& ch : chunks) rows += ch.rows;
        copy = "copying(chunks_done=" + std::to_string(chunks.size()) + ",rows=" +
               std::to_string(rows) + ",deferred_files=" + std::to_string(waiting) + ")";
      }
      std::printf("table=%s snapshot=%s staged_offset=%lld materialized_offset=%lld pending=%lld "
                  "snapshot_id=%lld\n",
                  t.c_str(), copy.c_str(), static_cast<long long>(next),
                  static_cast<long long>(c.offset), static_cast<long long>(next - c.offset),
                  static_cast<long long>(c.snapshot_id));
    }
    return Status::Ok();
  };
  Status s = run();
  return s.ok() ? 0 : Fail(s);
}

int RunMigrateCoord(const config::Config& cfg) {
  auto coord = Coordinator(cfg);
  if (!coord.ok()) return Fail(coord.status());
  Status s = (*coord)->Migrate();
  if (!s.ok()) return Fail(s);
  std::printf("OK: coordinator schema %s is up to date\n", cfg.state.coordinator_schema.c_str());
  return 0;
}

int RunCleanup(const config::Config& cfg) {
  auto run = [&]() -> Status {
    PG2I_ASSIGN_OR_RETURN(auto src, Source(cfg));
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
    PG2I_RETURN_IF_ERROR(src->Exec("DROP PUBLICATION IF EXISTS " +
                                   pg::QuoteIdent(cfg.source.logical.publication_name)));
    std::printf("dropped publication %s (if it existed)\n",
                cfg.source.logical.publication_name.c_str());
    PG2I_ASSIGN_OR_RETURN(auto coord, Coordinator(cfg));
    PG2I_RETURN_IF_ERROR(coord->DropSchema());
    std::printf("dropped coordinator schema %s; Iceberg tables were not touched\n",
                cfg.state.coordinator_schema.c_str());
    return Status::Ok();
  };
  Status s = run();
  return s.ok() ? 0 : Fail(s);
}

int RunConnectIceberg(const config::Config& cfg) {
  auto io = io::MakeFileIO(cfg.sink.warehouse, S3SettingsOf(cfg.sink));
  if (!io.ok()) return Fail(io.status());
  auto cat = Catalog(cfg, *io);
  if (!cat.ok()) return Fail(cat.status());
  auto exists = (*cat)->NamespaceExists({cfg.sink.ns});
  if (!exists.ok()) return Fail(exists.status());
  std::printf("OK: %s catalog reachable; namespace %s %s; warehouse %s\n",
              (*cat)->kind().c_str(), cfg.sink.ns.c_str(), *exists ? "exists" : "does not exist yet",
              cfg.sink.warehouse.c_str());
  return 0;
}

int RunVerify(const config::Config& cfg) {
  auto run = [&]() -> Result<bool> {
    PG2I_ASSIGN_OR_RETURN(auto src, Source(cfg));
    PG2I_ASSIGN_OR_RETURN(auto io, io::MakeFileIO(cfg.sink.warehouse, S3SettingsOf(cfg.sink)));
    PG2I_ASSIGN_OR_RETURN(auto cat, Catalog(cfg, io));
    bool clean = true;
    for (const auto& t : cfg.tables) {
      PG2I_ASSIGN_OR_RETURN(TableDiff d, VerifyTable(*src, t, *cat, io, {cfg.sink.ns}));
      std::printf("table=%s pg_rows=%lld iceberg_rows=%lld missing=%lld extra=%lld "
                  "different=%lld duplicates=%lld %s\n",
                  d.table.c_str(), static_cast<long long>(d.pg_rows),
                  static_cast<long long>(d.iceberg_rows), static_cast<long long>(d.missing),
                  static_cast<long long>(d.extra), static_cast<long long>(d.different),
                  static_cast<long long>(d.duplicates), d.clean() ? "OK" : "DIFF");
      for (const auto& s : d.samples) std::printf("  %s\n", s.c_str());
      clean = clean && d.clean();
    }
    return clean;
  };
  auto r = run();
  if (!r.ok()) return Fail(r.status());
  if (!*r) {
    std::fprintf(stderr, "error: PostgreSQL and Iceberg differ (see above)\n");
    return 1;
  }
  return 0;
}

}  // namespace pg2iceberg::cli
