#include "pipeline/compaction_service.h"

#include <thread>

#include "base/log.h"
#include "base/metrics.h"

namespace pg2iceberg::pipeline {

using namespace std::chrono_literals;

CompactionService::CompactionService(catalog::Catalog* catalog, std::shared_ptr<io::FileIO> io,
                                     upkeep::MetaTables* meta, upkeep::CompactionOptions options,
                                     Clock::Duration interval, Clock* clock)
    : catalog_(catalog),
      io_(std::move(io)),
      meta_(meta),
      co_(std::move(options)),
      interval_(interval),
      clock_(clock) {
  co_.cancel = &cancel_;
}

int CompactionService::Round(const std::vector<CompactionTarget>& targets,
                             const std::function<bool()>& stopping) {
  int committed = 0;
  for (const CompactionTarget& target : targets) {
    const std::string& name = target.name;
    if (auto b = backoff_.find(name);
        b != backoff_.end() && clock_->Monotonic() < b->second.second) {
      continue;
    }
    Result<upkeep::CompactionResult> r = [&]() -> Result<upkeep::CompactionResult> {
      try {
        return upkeep::CompactTable(*catalog_, io_, target.ident, co_, clock_);
      } catch (const std::exception& e) {
        return Internal(std::string("compaction threw: ") + e.what());
      }
    }();
    const bool stopped = stopping() && !(r.ok() && r->snapshot_id >= 0);
    if (!r.ok()) {
      if (stopping()) return committed;
      if (IsNotFound(r.status())) continue;  // no such table yet
      metrics::CountError("compaction", r.status().code());
      auto& [failures, next] = backoff_[name];
      ++failures;
      const auto wait = std::min<Clock::Duration>(interval_ * (1LL << std::min(failures, 6)),
                                                  std::chrono::hours(1));
      next = clock_->Monotonic() + wait;
      log::Warn("background compaction failed; replication goes on",
                {{"table", name},
                 {"error", r.status().ToString()},
                 {"next_attempt_in_s",
                  static_cast<int64_t>(
                      std::chrono::duration_cast<std::chrono::seconds>(wait).count())}});
      continue;
    }
    backoff_.erase(name);
    if (stopped) return committed;
    if (!r->skipped.empty() && r->skipped != "no partition reached the thresholds" &&
        skipped_logged_[name] != r->skipped) {
      log::Info("not compacted", {{"table", name}, {"reason", r->skipped}});
    }
    skipped_logged_[name] = r->skipped;
    if (r->snapshot_id < 0) continue;
    Record(target, *r);
    ++committed;
  }
  return committed;
}

void CompactionService::Run(const Supervisor& sup,
                            const std::function<std::vector<CompactionTarget>()>& targets) {
  std::atomic<bool> done{false};
  // Cancels a running compaction when the attempt stops.
  std::thread watch([&] {
    while (!sup.Wait(std::chrono::hours(1), [&] { return done.load(); })) {
    }
    cancel_ = true;
  });
  // Joined on every way out, an exception included (a joinable thread's destructor would end
  // the process).
  struct Join {
    std::atomic<bool>& done;
    std::thread& t;
    ~Join() {
      done = true;
      t.join();
    }
  } join{done, watch};
  auto stopping = [&] { return sup.stopping(); };
  while (!sup.Wait(interval_)) Round(targets(), stopping);
}

void CompactionService::Record(const CompactionTarget& target, const upkeep::CompactionResult& r) {
  const std::string& name = target.name;
  if (meta_ != nullptr) {
    Status ms = meta_->RecordCompactions(
        {upkeep::RecordOf(r, name, target.ident.ToString(), "background")});
    if (!ms.ok()) {
      metrics::CountError("meta_tables", ms.code());
      log::Warn("compaction not recorded in the meta tables", {{"error", ms.ToString()}});
    }
  }
  metrics::Default()
      .GetCounter("pg2iceberg_compactions_total", "Compaction commits (background and compact)",
                  {{"table", name}})
      .Add(1);
  metrics::Default()
      .GetCounter("pg2iceberg_compaction_files_rewritten_total",
                  "Data files replaced by compaction", {{"table", name}})
      .Add(static_cast<double>(r.data_files_read));
  log::Info("compacted", {{"table", name},
                          {"partitions", static_cast<int64_t>(r.partitions)},
                          {"data_files", std::to_string(r.data_files_read) + "->" +
                                             std::to_string(r.data_files_written)},
                          {"delete_files_removed", r.delete_files_removed},
                          {"rows", r.rows_written},
                          {"deletes_carried", r.deletes_carried}});
}

}  // namespace pg2iceberg::pipeline
