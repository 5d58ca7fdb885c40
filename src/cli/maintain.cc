// `maintain`, per configured table:
//   1. Expiry (sink.maintenance_retention, or --retention): snapshots older than the retention
//      are removed in one commit, never the current one, one a branch or tag points at, the
//      newest --retain-last of main, or the commit that recorded the pipeline's highest offset
//      (the materializer recovers its cursor from it). Once the commit is known to have
//      landed, the files only removed snapshots read are deleted.
//   2. Orphans (sink.maintenance_grace): objects under the table's data and metadata paths
//      that the table (after expiry) does not reference and that were last modified longer ago
//      than the grace. What the product writes and has not committed yet is younger than the
//      grace (a materializer batch commits within seconds of writing), except the files of a
//      copy that replaces the table in one commit: while the coordinator says such a copy is in
//      progress the table's orphans are left for a later run. Staged and spilled files live
//      under the staging prefix, outside every table, and the WAL writer sweeps them itself.
#include "cli/maintain.h"

#include <cstdio>
#include <map>
#include <set>

#include "base/clock.h"
#include "base/log.h"
#include "cli/backends.h"
#include "coord/pg_coordinator.h"
#include "iceberg/commit_ops.h"
#include "iceberg/maintenance.h"
#include "index/key_index.h"
#include "pg/catalog.h"
#include "upkeep/meta_tables.h"

namespace pg2iceberg::cli {
namespace {

using config::Duration;

constexpr char kOffsetPrefix[] = "pg2iceberg.offset.";
constexpr size_t kDeleteBatch = 1000;

// Per offset key and pipeline generation, the snapshot that recorded the highest offset.
std::set<int64_t> PipelineSnapshots(const iceberg::TableMetadata& m) {
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> best;
  for (const iceberg::Snapshot& s : m.snapshots) {
    auto gen = s.summary.find("pg2iceberg.generation");
    const std::string generation = gen == s.summary.end() ? "" : gen->second;
    for (const auto& [k, v] : s.summary) {
      if (k.rfind(kOffsetPrefix, 0) != 0) continue;
      const int64_t offset = std::atoll(v.c_str());
      auto it = best.find({k, generation});
      if (it == best.end() || offset > it->second.first) {
        best[{k, generation}] = {offset, s.snapshot_id};
      }
    }
  }
  // The generation writing the table now (a property since generations exist): an older
  // generation's commits are never read back, so they need not pin their files.
  auto current = m.properties.find("pg2iceberg.source.generation");
  std::set<int64_t> out;
  for (const auto& [k, v] : best) {
    if (current != m.properties.end() && !k.second.empty() && k.second != current->second) {
      continue;
    }
    out.insert(v.second);
  }
  return out;
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The pipeline's state in the coordinator, to tell whether a table's copy is being written.
class PipelineState {
 public:
  static Result<PipelineState> Open(const config::Config& cfg) {
    PipelineState st;
    PG2I_ASSIGN_OR_RETURN(auto conn, ConnectCoordinatorDatabase(cfg));
    PG2I_ASSIGN_OR_RETURN(std::string n,
                          conn->QueryScalar("SELECT count(*) FROM pg_namespace WHERE nspname = " +
                                            pg::QuoteLiteral(cfg.state.coordinator_schema)));
    if (n != "0") {
      st.coord_ = std::make_unique<coord::PgCoordinator>(std::move(conn),
                                                         cfg.state.coordinator_schema);
    }
    st.group_ = cfg.state.group;
    return st;
  }

  // Why the table's orphans must wait (empty: they need not).
  Result<std::string> CopyInProgress(const std::string& table) {
    if (coord_ == nullptr) return std::string();  // no pipeline (never ran, or cleaned up)
    PG2I_ASSIGN_OR_RETURN(std::optional<coord::TableState> state, coord_->GetTable(table));
    if (state && !state->snapshot_complete) return std::string("its copy is in progress");
    PG2I_ASSIGN_OR_RETURN(bool redo, coord::CopyToRedo(*coord_, table));
    if (redo) return std::string("a copy of it is to be started over");
    PG2I_ASSIGN_OR_RETURN(coord::Cursor cursor, coord_->GetCursor(group_, table));
    PG2I_ASSIGN_OR_RETURN(auto resync, coord_->GetMeta("resync_offset:" + table));
    if (resync && cursor.offset <= std::atoll(resync->c_str())) {
      return std::string("a copy that replaces its content is being written (resync)");
    }
    if (state && cursor.snapshot_id < 0) {
      return std::string("this pipeline has not committed to it yet (its first copy may be "
                         "being written)");
    }
    return std::string();
  }

 private:
  std::unique_ptr<coord::PgCoordinator> coord_;
  std::string group_;
};

struct Phases {
  std::optional<Duration> retention;
  std::optional<Duration> grace;
};

bool Under(const std::string& path, const std::string& prefix) {
  return path == prefix || path.rfind(prefix + "/", 0) == 0;
}

Status DeleteInBatches(io::FileIO& io, const std::vector<std::string>& uris,
                       const std::string& table, const char* what) {
  for (size_t i = 0; i < uris.size(); i += kDeleteBatch) {
    const size_t end = std::min(uris.size(), i + kDeleteBatch);
    PG2I_RETURN_IF_ERROR(io.DeleteMany(
        std::vector<std::string>(uris.begin() + static_cast<std::ptrdiff_t>(i),
                                 uris.begin() + static_cast<std::ptrdiff_t>(end))));
    if (uris.size() > kDeleteBatch) {
      log::Info("deleting", {{"table", table}, {"what", what},
                             {"done", static_cast<int64_t>(end)},
                             {"of", static_cast<int64_t>(uris.size())}});
    }
  }
  return Status::Ok();
}

// Expiry of one table. Returns the table as it is afterwards.
Result<catalog::LoadedTable> Expire(catalog::Catalog& cat, io::FileIO& io,
                                    const catalog::TableIdent& ident, const std::string& name,
                                    catalog::LoadedTable table, Duration retention,
                                    const MaintainOptions& o, upkeep::MaintenanceRecord* rec) {
  const int64_t older_than_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          (Clock::Real()->Now() - retention).time_since_epoch())
          .count();
  const iceberg::ExpireSnapshots expire(&io, older_than_ms, o.retain_last);
  for (int attempt = 0;; ++attempt) {
    PG2I_ASSIGN_OR_RETURN(iceberg::ExpiryPlan plan,
                          expire.Plan(table.metadata, PipelineSnapshots(table.metadata)));
    if (plan.snapshot_ids.empty()) {
      std::printf("table=%s expired_snapshots=0 deleted_files=0\n", name.c_str());
      return table;
    }
    if (o.dry_run) {
      for (int64_t id : plan.snapshot_ids) {
        std::printf("  would expire snapshot %lld\n", static_cast<long long>(id));
      }
      for (const auto& f : plan.files_to_delete) std::printf("  would delete %s\n", f.c_str());
      std::printf("table=%s would_expire_snapshots=%zu would_delete_files=%zu\n", name.c_str(),
                  plan.snapshot_ids.size(), plan.files_to_delete.size());
      return table;
    }
    auto committed = cat.CommitTable(
        {ident, {iceberg::TableRequirement::AssertTableUuid(table.metadata.table_uuid)},
         plan.updates});
    if (!committed.ok() && committed.status().code() == StatusCode::kAborted && attempt < 5) {
      PG2I_ASSIGN_OR_RETURN(table, cat.LoadTable(ident));
      continue;
    }
    if (!committed.ok() && committed.status().code() == StatusCode::kCommitStateUnknown) {
      // Deleting now could remove files of a table whose expiry did not land; a later run's
      // orphan phase deletes them once they are unreferenced.
      return committed.status().WithContext("expiring snapshots of " + name +
                                            " (files left for a later run)");
    }
    if (!committed.ok()) return committed.status().WithContext("expiring snapshots of " + name);
    PG2I_RETURN_IF_ERROR(DeleteInBatches(io, plan.files_to_delete, name, "expired files"));
    rec->expired_snapshots = static_cast<int64_t>(plan.snapshot_ids.size());
    rec->deleted_files = static_cast<int64_t>(plan.files_to_delete.size());
    std::printf("table=%s expired_snapshots=%zu deleted_files=%zu\n", name.c_str(),
                plan.snapshot_ids.size(), plan.files_to_delete.size());
    return std::move(*committed);
  }
}

Status RemoveOrphans(catalog::Catalog& cat, io::FileIO& io, const catalog::TableIdent& ident,
                     const std::string& name, const std::vector<std::string>& prefixes,
                     Duration grace, const MaintainOptions& o, upkeep::MaintenanceRecord* rec) {
  const auto cutoff = Clock::Real()->Now() - grace;
  // List first, then read what the table references: an object committed in between is
  // referenced by the newer metadata.
  std::vector<io::FileEntry> listing;
  for (const std::string& p : prefixes) {
    PG2I_ASSIGN_OR_RETURN(std::vector<io::FileEntry> l, io.List(p));
    listing.insert(listing.end(), l.begin(), l.end());
  }
  PG2I_ASSIGN_OR_RETURN(catalog::LoadedTable table, cat.LoadTable(ident));
  // The key index's checkpoints are no orphans (the materializer replaces and deletes them).
  const std::string checkpoints =
      iceberg::CanonicalLocation(index::KeyIndex::CheckpointPrefix(table.metadata.location));
  std::erase_if(listing, [&](const io::FileEntry& f) {
    return Under(iceberg::CanonicalLocation(f.uri), checkpoints);
  });
  PG2I_ASSIGN_OR_RETURN(std::set<std::string> referenced,
                        iceberg::ReferencedFiles(&io, table.metadata, table.metadata_location));
  const iceberg::OrphanPlan plan = iceberg::PlanOrphans(listing, referenced, cutoff);
  std::vector<std::string> uris;
  for (const io::FileEntry& f : plan.orphans) {
    if (o.dry_run) {
      std::printf("  would delete orphan %s (%lld bytes, modified %s)\n", f.uri.c_str(),
                  static_cast<long long>(f.size), FormatTime(f.mtime).c_str());
    }
    uris.push_back(f.uri);
  }
  if (!o.dry_run) {
    PG2I_RETURN_IF_ERROR(DeleteInBatches(io, uris, name, "orphans"));
    rec->deleted_orphans = static_cast<int64_t>(uris.size());
    rec->orphan_bytes = plan.orphan_bytes;
  }
  std::printf("table=%s %s=%zu orphan_bytes=%lld kept_younger_than_grace=%lld listed=%zu\n",
              name.c_str(), o.dry_run ? "would_delete_orphans" : "deleted_orphans", uris.size(),
              static_cast<long long>(plan.orphan_bytes), static_cast<long long>(plan.young),
              listing.size());
  return Status::Ok();
}

std::string PathProperty(const iceberg::TableMetadata& m, const char* key, const char* dir) {
  auto it = m.properties.find(key);
  if (it != m.properties.end() && !it->second.empty()) return it->second;
  std::string loc = m.location;
  while (!loc.empty() && loc.back() == '/') loc.pop_back();
  return loc + "/" + dir;
}

}  // namespace

int RunMaintain(const config::Config& cfg, const MaintainOptions& o) {
  Phases phases{cfg.sink.maintenance_retention, cfg.sink.maintenance_grace};
  if (!o.retention.empty()) {
    auto r = config::ParseDuration(o.retention);
    if (!r.ok()) {
      std::fprintf(stderr, "error: --retention: %s\n", r.status().message().c_str());
      return 2;
    }
    phases.retention = *r;
  }
  if (o.retain_last < 1) {
    std::fprintf(stderr, "error: --retain-last must be 1 or more (the current snapshot stays)\n");
    return 2;
  }
  auto selected = SelectTables(cfg, o.tables);
  if (!selected.ok()) {
    std::fprintf(stderr, "error: %s\n", selected.status().message().c_str());
    return 2;
  }
  const std::vector<const config::TableConfig*> tables = std::move(*selected);
  if (!phases.retention && !phases.grace) {
    std::printf("nothing to do: sink.maintenance_retention and sink.maintenance_grace are both "
                "empty (expiry and orphan cleanup are off)\n");
    return 0;
  }

  auto opened = [&]() -> Result<std::pair<std::shared_ptr<io::FileIO>,
                                          std::unique_ptr<catalog::Catalog>>> {
    PG2I_ASSIGN_OR_RETURN(auto io, OpenWarehouse(cfg));
    PG2I_ASSIGN_OR_RETURN(auto cat, OpenCatalog(cfg, io));
    return std::make_pair(io, std::move(cat));
  }();
  if (!opened.ok()) {
    std::fprintf(stderr, "error: %s\n", opened.status().message().c_str());
    return 1;
  }
  auto& [io, cat] = *opened;
  std::optional<PipelineState> pipeline;
  if (phases.grace) {
    auto st = PipelineState::Open(cfg);
    if (!st.ok()) {
      std::fprintf(stderr,
                   "error: reading the pipeline's state to protect copies in progress: %s "
                   "(orphan cleanup needs the coordinator; set sink.maintenance_grace empty to "
                   "expire snapshots only)\n",
                   st.status().message().c_str());
      return 1;
    }
    pipeline.emplace(std::move(*st));
  }

  // Every configured table first: orphan cleanup of one must not list another's files.
  struct Loaded {
    const config::TableConfig* config;
    catalog::TableIdent ident;
    std::optional<catalog::LoadedTable> table;
    bool history = false;  // the config's history table (iceberg.mode history or both)
  };
  std::vector<Loaded> loaded;
  int failed = 0;
  for (const auto& t : cfg.tables) {
    // The mirror and the history table (iceberg.mode) get the same upkeep.
    std::vector<config::IcebergTableName> written;
    if (t.keeps_mirror()) written.push_back(config::IcebergNameOf(t, cfg.sink.ns));
    if (t.keeps_history()) written.push_back(config::IcebergHistoryNameOf(t, cfg.sink.ns));
    for (const config::IcebergTableName& target : written) {
      catalog::TableIdent ident{{target.ns}, target.name};
      auto l = cat->LoadTable(ident);
      if (!l.ok() && !IsNotFound(l.status())) {
        std::fprintf(stderr, "error: table=%s: %s\n", t.name.ToString().c_str(),
                     l.status().message().c_str());
        ++failed;
      }
      loaded.push_back({&t, ident, l.ok() ? std::optional(std::move(*l)) : std::nullopt,
                        target.name != config::IcebergNameOf(t, cfg.sink.ns).name});
    }
  }
  // The meta tables get the same upkeep (with every run when no --table is given).
  if (!cfg.sink.meta_namespace.empty()) {
    for (const catalog::TableIdent& ident : upkeep::MetaTableIdents(cfg.sink.meta_namespace)) {
      auto l = cat->LoadTable(ident);
      if (l.ok()) loaded.push_back({nullptr, ident, std::move(*l)});
    }
  }
  std::vector<upkeep::MaintenanceRecord> records;
  const std::string staging = iceberg::CanonicalLocation(StagingUri(cfg));
  // Every table's location and data and metadata paths: another table's files under one of
  // this table's paths would look unreferenced.
  std::vector<std::pair<std::string, std::string>> locations;  // table, canonical path
  for (const Loaded& l : loaded) {
    if (!l.table) continue;
    const auto& m = l.table->metadata;
    for (const std::string& p : {m.location, PathProperty(m, "write.data.path", "data"),
                                 PathProperty(m, "write.metadata.path", "metadata")}) {
      locations.emplace_back(l.ident.ToString(), iceberg::CanonicalLocation(p));
    }
  }

  for (Loaded& l : loaded) {
    const std::string name = l.config ? l.config->name.ToString() + (l.history ? "#history" : "")
                                      : l.ident.ToString();
    bool wanted = l.config == nullptr && o.tables.empty();
    for (const auto* t : tables) wanted = wanted || t == l.config;
    if (!wanted) continue;
    if (!l.table) {
      std::printf("table=%s skipped: no Iceberg table %s yet\n", name.c_str(),
                  l.ident.ToString().c_str());
      continue;
    }
    log::Info("maintaining", {{"table", name}, {"iceberg", l.ident.ToString()},
                              {"dry_run", o.dry_run}});
    upkeep::MaintenanceRecord rec;
    rec.table = name;
    rec.iceberg_table = l.ident.ToString();
    Status st = [&]() -> Status {
      catalog::LoadedTable table = std::move(*l.table);
      if (phases.retention) {
        PG2I_ASSIGN_OR_RETURN(table, Expire(*cat, *io, l.ident, name, std::move(table),
                                            *phases.retention, o, &rec));
      }
      if (!phases.grace) return Status::Ok();
      std::string busy;
      if (l.config != nullptr) {
        PG2I_ASSIGN_OR_RETURN(busy, pipeline->CopyInProgress(l.config->name.ToString()));
      }
      if (!busy.empty()) {
        std::printf("table=%s orphans skipped: %s; run maintain again once it is committed\n",
                    name.c_str(), busy.c_str());
        return Status::Ok();
      }
      const std::vector<std::string> prefixes = {
          PathProperty(table.metadata, "write.data.path", "data"),
          PathProperty(table.metadata, "write.metadata.path", "metadata")};
      const std::string own = iceberg::CanonicalLocation(table.metadata.location);
      for (const std::string& p : prefixes) {
        const std::string cp = iceberg::CanonicalLocation(p);
        if (!Under(cp, own)) {
          std::printf("table=%s orphans skipped: its path %s is outside the table's location %s "
                      "(shared paths hold other tables' files)\n",
                      name.c_str(), p.c_str(), table.metadata.location.c_str());
          return Status::Ok();
        }
        std::string overlap;
        if (Under(staging, cp) || Under(cp, staging)) overlap = "the staging prefix " + staging;
        for (const auto& [other, loc] : locations) {
          if (other == l.ident.ToString()) continue;
          if (Under(loc, cp) || Under(cp, loc)) overlap = "table " + other;
        }
        if (!overlap.empty()) {
          std::printf("table=%s orphans skipped: its path %s overlaps %s, whose files it would "
                      "take for orphans; give the tables separate locations\n",
                      name.c_str(), p.c_str(), overlap.c_str());
          return Status::Ok();
        }
      }
      return RemoveOrphans(*cat, *io, l.ident, name, prefixes, *phases.grace, o, &rec);
    }();
    if (!st.ok()) {
      std::fprintf(stderr, "error: table=%s: %s\n", name.c_str(), st.message().c_str());
      ++failed;
    }
    if (!o.dry_run) records.push_back(rec);
  }
  if (!cfg.sink.meta_namespace.empty() && !records.empty()) {
    upkeep::MetaTables meta(cat.get(), io, cfg.sink.meta_namespace, cfg.state.coordinator_schema);
    Status ms = meta.RecordMaintenance(records);
    if (!ms.ok()) log::Warn("maintenance not recorded in the meta tables", {{"error", ms.ToString()}});
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace pg2iceberg::cli
