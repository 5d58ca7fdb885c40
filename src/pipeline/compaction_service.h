// Background compaction (sink.compaction_interval): every interval, one table at a time, the
// partitions past the thresholds. It commits like any other writer, so the materializer's next
// commit may need one retry. A failure is logged and counted and never stops replication; a
// table whose compaction failed waits longer each time (up to an hour), so that a rewrite that
// cannot finish does not eat the machine every interval.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "catalog/catalog.h"
#include "io/file_io.h"
#include "pipeline/supervisor.h"
#include "upkeep/compactor.h"
#include "upkeep/meta_tables.h"

namespace pg2iceberg::pipeline {

struct CompactionTarget {
  std::string name;  // as logged and labelled: the source table, or the meta table
  catalog::TableIdent ident;
};

class CompactionService {
 public:
  // `meta` may be null (no meta tables). `options.cancel` is the service's own.
  CompactionService(catalog::Catalog* catalog, std::shared_ptr<io::FileIO> io,
                    upkeep::MetaTables* meta, upkeep::CompactionOptions options,
                    Clock::Duration interval, Clock* clock);

  // One round: every target once, except those waiting after a failure; stops early when
  // `stopping()`. Returns the compactions committed.
  int Round(const std::vector<CompactionTarget>& targets, const std::function<bool()>& stopping);
  // A round of `targets()` every interval until `sup` stops; a compaction running then is
  // cancelled.
  void Run(const Supervisor& sup, const std::function<std::vector<CompactionTarget>()>& targets);

 private:
  void Record(const CompactionTarget& target, const upkeep::CompactionResult& r);

  catalog::Catalog* catalog_;
  std::shared_ptr<io::FileIO> io_;
  upkeep::MetaTables* meta_;
  upkeep::CompactionOptions co_;
  Clock::Duration interval_;
  Clock* clock_;
  std::atomic<bool> cancel_{false};
  std::map<std::string, std::string> skipped_logged_;  // table → last reason logged
  // table → (failures in a row, no attempt before)
  std::map<std::string, std::pair<int, Clock::MonoTime>> backoff_;
};

}  // namespace pg2iceberg::pipeline
