// `compact`: one compaction pass over every configured table, then exit (docs/operations.md).
// Runs next to a live `run`: the rewrite keeps the data sequence numbers of what it replaces
// and plans again when a concurrent commit invalidates it (upkeep/compactor.h).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "coord/coordinator.h"
#include "upkeep/compactor.h"

namespace pg2iceberg::cli {

struct CompactOptions {
  std::vector<std::string> tables;  // configured tables to compact; empty: all
  bool all = false;                 // every partition with more than one file or any delete
};

// The compaction options of the configuration (`compact` and the background compaction).
// With `turns`, its commit attempts take the table's commit turn there (waiting up to 30 s).
upkeep::CompactionOptions CompactionOptionsOf(const config::Config& cfg, coord::Coordinator* turns);

// Exit code: 0 done (also when compaction is off), 1 a table failed (the others were still
// compacted), 2 bad options.
int RunCompact(const config::Config& cfg, const CompactOptions& options);

}  // namespace pg2iceberg::cli
