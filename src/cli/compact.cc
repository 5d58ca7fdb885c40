#include "cli/compact.h"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "base/log.h"
#include "cli/backends.h"
#include "upkeep/compactor.h"
#include "upkeep/meta_tables.h"

namespace pg2iceberg::cli {

upkeep::CompactionOptions CompactionOptionsOf(const config::Config& cfg, coord::Coordinator* turns) {
  upkeep::CompactionOptions co;
  co.target_file_size = cfg.sink.target_file_size;
  co.min_data_files = cfg.sink.compaction_data_files;
  co.min_delete_files = cfg.sink.compaction_delete_files;
  if (cfg.sink.maintenance_grace) {  // a zero grace leaves no time at all
    co.max_write_time = std::max<std::chrono::steady_clock::duration>(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            *cfg.sink.maintenance_grace / 2),
        std::chrono::nanoseconds(1));
  }
  if (turns != nullptr) {
    co.take_commit_turn = [turns](const std::string& ident) {
      return turns->TakeCommitTurn(ident, std::chrono::seconds(30));
    };
    co.end_commit_turn = [turns](const std::string& ident) {
      (void)turns->EndCommitTurn(ident);
    };
  }
  return co;
}

int RunCompact(const config::Config& cfg, const CompactOptions& o) {
  auto selected = SelectTables(cfg, o.tables);
  if (!selected.ok()) {
    std::fprintf(stderr, "error: %s\n", selected.status().message().c_str());
    return 2;
  }
  const std::vector<const config::TableConfig*> tables = std::move(*selected);
  if (cfg.sink.target_file_size <= 0) {
    std::printf("nothing to do: sink.target_file_size is 0 (compaction is off)\n");
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
  // Commit turns with the running pipeline's materializers (see CompactionOptionsOf); without
  // the coordinator database the compaction commits without them.
  auto turns = ConnectCoordinator(cfg);
  if (!turns.ok()) {
    log::Warn("compacting without commit turns: the coordinator database is not reachable",
              {{"error", turns.status().ToString()}});
  }
  upkeep::CompactionOptions co = CompactionOptionsOf(cfg, turns.ok() ? turns->get() : nullptr);
  co.all = o.all;
  // An operator's compact runs while the pipeline streams: a plan another engine's commit
  // invalidates (a file it rewrites removed) is planned again more often than the background
  // compaction's, which simply tries again at its next interval.
  co.max_plans = 10;
  std::optional<upkeep::MetaTables> meta;
  if (!cfg.sink.meta_namespace.empty()) {
    meta.emplace(cat.get(), io, cfg.sink.meta_namespace, cfg.state.coordinator_schema);
  }
  int failed = 0;
  std::vector<std::pair<std::string, catalog::TableIdent>> targets;
  for (const config::TableConfig* t : tables) {
    const config::IcebergTableName target = config::IcebergNameOf(*t, cfg.sink.ns);
    targets.emplace_back(t->name.ToString(), catalog::TableIdent{{target.ns}, target.name});
  }
  if (meta && o.tables.empty()) {  // the meta tables too
    for (const catalog::TableIdent& id : upkeep::MetaTableIdents(cfg.sink.meta_namespace)) {
      targets.emplace_back(id.ToString(), id);
    }
  }
  for (const auto& [name, ident] : targets) {
    log::Info("compacting", {{"table", name}, {"iceberg", ident.ToString()}});
    Result<upkeep::CompactionResult> r = Internal("not run");
    try {
      r = upkeep::CompactTable(*cat, io, ident, co);
    } catch (const std::exception& e) {
      r = Internal(std::string("compaction threw: ") + e.what());
    }
    if (!r.ok() && IsNotFound(r.status())) {
      std::printf("table=%s skipped: no Iceberg table %s yet\n", name.c_str(),
                  ident.ToString().c_str());
      continue;
    }
    if (!r.ok()) {
      std::fprintf(stderr, "error: table=%s: %s\n", name.c_str(), r.status().message().c_str());
      ++failed;
      continue;
    }
    if (!r->skipped.empty()) {
      std::printf("table=%s not compacted: %s\n", name.c_str(), r->skipped.c_str());
      continue;
    }
    if (meta) {
      Status ms = meta->RecordCompactions({upkeep::RecordOf(*r, name, ident.ToString(), "compact")});
      if (!ms.ok()) log::Warn("compaction not recorded in the meta tables", {{"error", ms.ToString()}});
    }
    std::printf("table=%s partitions=%d data_files=%lld->%lld rows=%lld->%lld bytes=%lld->%lld "
                "delete_files_removed=%lld snapshot=%lld\n",
                name.c_str(), r->partitions, static_cast<long long>(r->data_files_read),
                static_cast<long long>(r->data_files_written), static_cast<long long>(r->rows_read),
                static_cast<long long>(r->rows_written), static_cast<long long>(r->bytes_read),
                static_cast<long long>(r->bytes_written),
                static_cast<long long>(r->delete_files_removed),
                static_cast<long long>(r->snapshot_id));
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace pg2iceberg::cli
